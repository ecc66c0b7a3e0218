//! What an operator sees of a scripted workload on the local stack, read the way CloudWatch reads it: the metric
//! lines (Embedded Metric Format, as Lambda prints them) parsed and checked against what the client saw and what
//! the event store holds, and the JSON log lines (Lambda's format) followed by one trace id from `POST /transfers`
//! through the command, the publish, the relay, the process manager, the accounts' commands it sends and every
//! read model's write.
//!
//! One test per binary: it installs the process's log subscriber and metrics capture.

mod common;

use common::{client_as, post, test_config};
use devstack::Devstack;
use futures::future::join_all;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use tributary_core::TraceParent;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_runtime::metrics::Capture;
use tributary_store::EventStore;
use tributary_testkit::dynamo;

/// Log lines as Lambda would print them, kept in memory.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn lines(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(|line| serde_json::from_str(line).expect("every log line is JSON"))
            .collect()
    }
}

/// The EMF documents captured so far, each checked to be a well-formed EMF document.
fn documents(capture: &Capture) -> Vec<Value> {
    capture
        .lines()
        .iter()
        .map(|line| {
            let doc: Value = serde_json::from_str(line).expect("an EMF line is JSON");
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            assert!(doc["_aws"]["Timestamp"].as_i64().unwrap() > 0, "{doc}");
            assert_eq!(directive["Namespace"], "Tributary", "{doc}");
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(doc[name].is_number(), "{name} has a value: {doc}");
                assert!(
                    ["Count", "Milliseconds"].contains(&metric["Unit"].as_str().unwrap()),
                    "{doc}"
                );
            }
            for set in directive["Dimensions"].as_array().unwrap() {
                for dimension in set.as_array().unwrap() {
                    assert!(doc[dimension.as_str().unwrap()].is_string(), "{doc}");
                }
            }
            doc
        })
        .collect()
}

/// The sum of `metric` over documents whose dimension `key` is `value` (any, for `None`).
fn sum(docs: &[Value], metric: &str, dimension: Option<(&str, &str)>) -> u64 {
    docs.iter()
        .filter(|d| dimension.is_none_or(|(k, v)| d[k] == v))
        .filter_map(|d| d[metric].as_u64())
        .sum()
}

async fn events_in(store: &dyn EventStore, stream: &str) -> u64 {
    store.load(stream).await.unwrap().len() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_and_one_trace_follow_a_workload_through_every_function() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO))
            .with(tributary_runtime::logging::json_layer(move || {
                writer.clone()
            })),
    )
    .expect("the only subscriber of this test binary");
    let capture = Capture::start();
    let config = test_config().await;
    let prefix = config.mapping.group_prefix.clone();
    let stack = Devstack::start(config).await.expect("devstack starts");
    let base = stack.base_url();
    let (alice, bob) = (client_as("alice"), client_as("bob"));

    // The workload; what the client saw is tallied by outcome.
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    let mut tally = |reply: &common::Reply| {
        let outcome = match reply.status {
            200..=299 if reply.header("idempotent-replayed") == "true" => "replayed",
            200..=299 => "committed",
            409 => "conflict",
            422 if reply.body["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("insufficient-funds")) =>
            {
                "rejected"
            }
            400..=499 => "client_error",
            _ => "server_error",
        };
        *seen.entry(outcome).or_default() += 1;
    };
    let opened = post(
        &alice,
        &format!("{base}/accounts"),
        &[],
        Some(r#"{"currency":"EUR"}"#),
    )
    .await;
    tally(&opened);
    let a = opened.body["account_id"].as_str().unwrap().to_owned();
    let opened = post(
        &bob,
        &format!("{base}/accounts"),
        &[],
        Some(r#"{"currency":"EUR"}"#),
    )
    .await;
    tally(&opened);
    let b = opened.body["account_id"].as_str().unwrap().to_owned();
    let deposits = format!("{base}/accounts/{a}/deposits");
    let key = [("idempotency-key", "first-deposit")];
    tally(&post(&alice, &deposits, &key, Some(r#"{"amount":5000}"#)).await);
    let replay = post(&alice, &deposits, &key, Some(r#"{"amount":5000}"#)).await;
    assert_eq!(replay.header("idempotent-replayed"), "true");
    tally(&replay);
    let refused = post(
        &alice,
        &format!("{base}/accounts/{a}/withdrawals"),
        &[],
        Some(r#"{"amount":999999}"#),
    )
    .await;
    assert_eq!(refused.status, 422);
    tally(&refused);
    let malformed = post(&alice, &deposits, &[], Some(r#"{"amount":"lots"}"#)).await;
    assert_eq!(malformed.status, 400);
    tally(&malformed);
    // Racing deposits: some lose the race for the stream and retry (AppendConflicts).
    let racing =
        join_all((0..20).map(|_| post(&alice, &deposits, &[], Some(r#"{"amount":10}"#)))).await;
    racing.iter().for_each(&mut tally);
    // The traced request.
    let trace = TraceParent::new_root();
    let requested = post(
        &alice,
        &format!("{base}/transfers"),
        &[("traceparent", &trace.to_string())],
        Some(&format!(r#"{{"from":"{a}","to":"{b}","amount":1200}}"#)),
    )
    .await;
    assert_eq!(requested.status, 202, "{:?}", requested.body);
    tally(&requested);
    let transfer = requested.body["transfer_id"].as_str().unwrap().to_owned();

    // Every consumer has applied everything the store holds.
    let store = DynamoDbEventStore::shared(dynamo().client(), &dynamo().events_table);
    let transfer_stream = format!("transfer-{transfer}");
    // The transfer's deadline, set with its request: a schedule, its events relayed like any.
    let deadline_stream =
        tributary_scheduler::deadline_id(&transfer_stream, bank_account::transfer::DEADLINE_KIND)
            .stream_id();
    let group = |name: &str| devstack::kafka_mapping::group_id(&prefix, name);
    let mut docs = Vec::new();
    let deadline = tokio::time::Instant::now() + tributary_testkit::EVENTUALLY;
    while tokio::time::Instant::now() < deadline {
        let (in_a, in_b) = (
            events_in(&store, &format!("account-{a}")).await,
            events_in(&store, &format!("account-{b}")).await,
        );
        let in_transfer = events_in(&store, &transfer_stream).await;
        let in_deadline = events_in(&store, &deadline_stream).await;
        docs = documents(&capture);
        let accounts_done = ["account-summary", "statement", "accounts-by-owner"]
            .iter()
            .all(|m| sum(&docs, "EventsApplied", Some(("Consumer", &group(m)))) == in_a + in_b);
        let transfers_done = sum(
            &docs,
            "EventsApplied",
            Some(("Consumer", &group("transfers"))),
        ) == in_transfer;
        let relayed =
            sum(&docs, "RelayDeliveries", None) == in_a + in_b + in_transfer + in_deadline;
        let reacted = sum(
            &docs,
            "EventsApplied",
            Some(("Consumer", &group("transfer-process"))),
        ) >= in_transfer;
        // Requested, debited, credited: the transfer has completed.
        if in_transfer == 3 && accounts_done && transfers_done && relayed && reacted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_events = events_in(&store, &format!("account-{a}")).await
        + events_in(&store, &format!("account-{b}")).await
        + events_in(&store, &transfer_stream).await
        + events_in(&store, &deadline_stream).await;
    assert_eq!(
        events_in(&store, &transfer_stream).await,
        3,
        "the transfer completed"
    );

    // Commands by outcome: what the client saw.
    for (outcome, count) in &seen {
        assert_eq!(
            sum(&docs, "Commands", Some(("Outcome", outcome))),
            *count,
            "Commands{{Outcome={outcome}}}; the client saw {seen:?}"
        );
    }
    assert_eq!(sum(&docs, "Commands", None), seen.values().sum::<u64>());
    assert_eq!(
        sum(
            &docs,
            "CommandRejections",
            Some(("Reason", "insufficient-funds"))
        ),
        1
    );
    assert!(
        sum(&docs, "AppendConflicts", None) >= 1,
        "20 racing deposits"
    );
    assert!(sum(&docs, "AppendRetries", None) >= 1);
    assert_eq!(sum(&docs, "PublishFailures", None), 0);
    // The relay delivered every stored event once.
    assert_eq!(sum(&docs, "RelayDeliveries", None), all_events);
    // Each read model applied each event of its streams exactly once; lag is measured for each consumer.
    for name in [
        "account-summary",
        "statement",
        "accounts-by-owner",
        "transfers",
        "transfer-process",
    ] {
        let consumer = group(name);
        let lags: Vec<i64> = docs
            .iter()
            .filter(|d| d["Consumer"] == consumer.as_str())
            .filter_map(|d| d["ProjectionLag"].as_i64())
            .collect();
        assert!(!lags.is_empty(), "{consumer} records ProjectionLag");
        assert!(
            lags.iter().all(|lag| (0..120_000).contains(lag)),
            "{consumer}: {lags:?}"
        );
        assert_eq!(sum(&docs, "DeadLetters", Some(("Consumer", &consumer))), 0);
    }
    let reacted = sum(
        &docs,
        "EventsApplied",
        Some(("Consumer", &group("transfer-process"))),
    );
    // Each of the transfer's three events, once per batch that carried it: at most twice (fast path, relay).
    assert!(
        (3..=6).contains(&reacted),
        "the process manager reacted to {reacted} events"
    );

    // One trace id, from the request to every function.
    let id = trace.trace_id();
    let traced: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|line| line.to_string().contains(id))
        .collect();
    let with = |message: &str, span_field: Option<(&str, &str)>| {
        traced.iter().any(|line| {
            line["fields"]["message"] == message
                && span_field.is_none_or(|(k, v)| {
                    line["spans"]
                        .as_array()
                        .is_some_and(|spans| spans.iter().any(|s| s[k] == v))
                })
        })
    };
    let found = |what: &str, ok: bool| {
        assert!(
            ok,
            "no {what} line in trace {id}; the trace's lines: {traced:#?}"
        )
    };
    found(
        "command",
        with("command handled", Some(("stream", &transfer_stream))),
    );
    found(
        "fast-path publish",
        with("published", Some(("trace_id", id))),
    );
    found("relay", with("relayed", None));
    found(
        "process manager",
        with(
            "the account answered",
            Some(("consumer", &group("transfer-process"))),
        ),
    );
    for name in [
        "account-summary",
        "statement",
        "accounts-by-owner",
        "transfers",
    ] {
        found(
            &format!("{name} write"),
            with("projection written", Some(("consumer", &group(name)))),
        );
    }
    // The audit trail of the debited account: every event of its stream, in order, and nothing else (the transfer
    // process's orders were sent with durable idempotency keys: their receipts live in partitions of their own).
    let audit: Value = alice
        .get(format!("{base}/accounts/{a}/events?order=oldest&limit=100"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let versions: Vec<u64> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    let stored = events_in(&store, &format!("account-{a}")).await;
    assert_eq!(versions, (1..=stored).collect::<Vec<_>>(), "{audit}");
    assert_eq!(
        audit["items"][stored as usize - 1]["event_type"],
        "TransferSent"
    );
    assert_eq!(audit["items"][stored as usize - 1]["trace_id"], id);

    // The debit carries the request's trace (the process manager continued it); the credit, a command on another
    // principal's account, a trace of its own.
    for (stream, continued) in [
        (format!("account-{a}"), true),
        (format!("account-{b}"), false),
    ] {
        let last = store.load(&stream).await.unwrap().pop().unwrap();
        let recorded = last.metadata.traceparent.unwrap_or_default();
        let trace = TraceParent::parse(&recorded).map(|t| t.trace_id().to_owned());
        assert!(trace.is_some(), "{stream}: {recorded:?}");
        assert_eq!(
            trace.as_deref() == Some(id),
            continued,
            "{stream}'s transfer event continues the trace: {continued}"
        );
    }
    drop(capture);
    stack.stop().await;
}
