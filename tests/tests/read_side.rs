//! The read side end to end: commands over HTTP, projections through Kafka, queries over HTTP; and the
//! denormaliser fed adversarial deliveries (duplicates, reordering, gaps, poison) directly.

mod common;

use aws_lambda_events::event::kafka::KafkaEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use bank_account::AccountEvent;
use bank_service::reads::BankReads;
use bank_service::transfers::TransferProcess;
use base64::Engine;
use common::{client_as, money, open_account, post, stack, test_config};
use devstack::{Devstack, DevstackConfig};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_consumer::reactor::Reactor;
use tributary_consumer::{default_consumer_group, Denormaliser};
use tributary_dynamodb::{tables, DynamoDbEventStore};
use tributary_kafka::{KafkaConfig, LazyPublisher, Publisher};
use tributary_projections::{rebuild, ProjectionStore, RebuildOptions, RebuildOutcome};
use tributary_store::{EventStore, StoredEvent};
use tributary_testkit::{dynamo, kafka, kafka_batch_json, read_topic, RawRecord};

/// GET `url` as a client would: a `503 not-yet-visible` is asked again after `Retry-After` (up to
/// `common::EVENTUALLY`), never one wait.
async fn get(http: &reqwest::Client, url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let reply = common::get_fresh(http, url).await;
    (reply.status, reply.headers, reply.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_your_writes_statements_and_owner_listings() {
    let stack = stack().await;
    let owner = format!("owner-{}", uuid::Uuid::new_v4().simple());
    let (http, base) = (client_as(&owner), stack.base_url());
    let id = open_account(&http, &base, "EUR").await;
    money(&http, &base, &id, "deposits", 1000).await;
    let v = money(&http, &base, &id, "withdrawals", 250).await;
    assert_eq!(v, 3);

    // Read-your-writes: no sleep, the read waits for version 3.
    let (status, headers, summary) =
        get(&http, &format!("{base}/accounts/{id}?min_version=3")).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        (
            summary["balance"].clone(),
            summary["status"].clone(),
            summary["owner"].clone()
        ),
        (json!(750), json!("open"), json!(owner))
    );
    assert_eq!(headers["etag"], "\"3\"");

    // A version that will not come: a clear 503 with Retry-After, after about a second.
    let common::Reply {
        status,
        headers,
        body: problem,
    } = common::get(&http, &format!("{base}/accounts/{id}?min_version=99")).await;
    assert_eq!(
        (status, problem["type"].clone()),
        (503, json!("urn:tributary:problem:not-yet-visible"))
    );
    assert_eq!(headers["retry-after"], "1");

    // Statement: newest first, paginated with an opaque cursor.
    for amount in [1, 2, 3] {
        money(&http, &base, &id, "deposits", amount).await;
    }
    let (_, _, page1) = get(
        &http,
        &format!("{base}/accounts/{id}/statement?limit=2&min_version=6"),
    )
    .await;
    let versions = |page: &Value| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["version"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(versions(&page1), [6, 5]);
    assert_eq!(page1["items"][0]["balance_after"], 756);
    let cursor = page1["next_cursor"].as_str().unwrap().to_owned();
    let (_, _, page2) = get(
        &http,
        &format!("{base}/accounts/{id}/statement?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(versions(&page2), [4, 3]);
    let cursor2 = page2["next_cursor"].as_str().unwrap().to_owned();
    let (_, _, page3) = get(
        &http,
        &format!("{base}/accounts/{id}/statement?limit=2&cursor={cursor2}"),
    )
    .await;
    assert_eq!(
        (versions(&page3), page3["next_cursor"].clone()),
        (vec![2], Value::Null)
    );

    // Tampered or foreign cursors, bad parameters: 400 problems.
    let mut tampered = cursor.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let other = open_account(&http, &base, "EUR").await;
    for (url, slug) in [
        (
            format!("{base}/accounts/{id}/statement?cursor={tampered}"),
            "invalid-cursor",
        ),
        (
            format!("{base}/accounts/{other}/statement?cursor={cursor}"),
            "invalid-cursor",
        ),
        (
            format!("{base}/accounts/{id}/statement?limit=0"),
            "invalid-parameter",
        ),
        (
            format!("{base}/accounts/{id}?min_version=x"),
            "invalid-parameter",
        ),
        (
            format!("{base}/accounts/{id}?colour=red"),
            "invalid-parameter",
        ),
        (format!("{base}/accounts/NOT-AN-ID"), "invalid-account-id"),
        (
            format!("{base}/accounts?min_version=1"),
            "invalid-parameter",
        ),
        (format!("{base}/accounts/{id}?owner=x"), "invalid-parameter"),
    ] {
        let (status, _, problem) = get(&http, &url).await;
        assert_eq!(
            (status, problem["type"].as_str().unwrap()),
            (400, &*format!("urn:tributary:problem:{slug}")),
            "{url}"
        );
    }
    let (status, _, _) = get(&http, &format!("{base}/accounts/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(status, 404);

    // The caller's accounts, paginated. The listing is its own projection (its own consumer group) and has no
    // min_version: poll until it has caught up with both accounts.
    let mut expected = vec![id.clone(), other.clone()];
    expected.sort();
    let mut listed = Vec::new();
    let deadline = tokio::time::Instant::now() + tributary_testkit::EVENTUALLY;
    while tokio::time::Instant::now() < deadline {
        listed.clear();
        let mut url = format!("{base}/accounts?limit=1");
        for _ in 0..20 {
            let (status, _, page) = get(&http, &url).await;
            assert_eq!(status, 200, "{page}");
            listed.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["account_id"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => url = format!("{base}/accounts?limit=1&cursor={c}"),
                None => break,
            }
        }
        if listed == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed, expected);
}

/// Assert every projection in `projections` equals the fold of the event store, for every account.
async fn assert_projections_match_the_store(projections: &ProjectionStore, accounts: &[String]) {
    let d = dynamo();
    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
    tributary_tests::projection::assert_projections_match_the_store(projections, &*store, accounts)
        .await;
}

/// A Lambda-shaped batch carrying `events` (each a record on partition 0 of `topic`, offsets from `first_offset`).
fn kafka_batch(topic: &str, events: &[&StoredEvent], first_offset: i64) -> KafkaEvent {
    let records: Vec<RawRecord> = events.iter().map(|e| RawRecord::of(e)).collect();
    serde_json::from_value(kafka_batch_json(topic, &records, first_offset)).unwrap()
}

/// A projections table of its own, named `<prefix>-<uuid>`.
async fn fresh_projections(prefix: &str) -> ProjectionStore {
    let d = dynamo();
    let table = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
    tables::PROJECTIONS
        .ensure(&d.client(), &table)
        .await
        .unwrap();
    ProjectionStore::new(d.client(), &table)
}

/// A local stack serving commands only: no relay, no denormalisers (the test feeds them itself).
async fn command_stack() -> Devstack {
    Devstack::start(DevstackConfig {
        denormalisers: false,
        relay: false,
        ..test_config().await
    })
    .await
    .unwrap()
}

/// A denormaliser per read model of the bank (the transfers one skips account records), writing into a fresh
/// projections table of its own.
async fn fresh_denormalisers(dead_letter_topic: &str) -> (Vec<Denormaliser>, ProjectionStore) {
    let d = dynamo();
    let projections = fresh_projections("test-projections").await;
    let kafka_config = KafkaConfig {
        dead_letter_topic: dead_letter_topic.to_owned(),
        ..KafkaConfig::plaintext(&kafka().bootstrap, "unused", "unused")
    };
    let publisher = Publisher::connect(&kafka_config, &aws_types::SdkConfig::builder().build())
        .await
        .unwrap();
    let denormalisers = bank_service::read_models()
        .into_iter()
        .map(|projection| Denormaliser {
            consumer_group: default_consumer_group(&projection.label()),
            projection,
            projections: projections.clone(),
            events: DynamoDbEventStore::shared(d.client(), &d.events_table),
            dead_letters: LazyPublisher::ready(publisher.clone()),
        })
        .collect();
    (denormalisers, projections)
}

/// Committed events of `accounts` accounts with a few movements each, and the accounts' ids.
async fn history(accounts: usize) -> (Vec<String>, Vec<StoredEvent>) {
    let stack = command_stack().await;
    let (http, base) = (reqwest::Client::new(), stack.base_url());
    let mut ids = Vec::new();
    for a in 0..accounts {
        let id = open_account(&http, &base, "EUR").await;
        for n in 0..(3 + a % 5) as u64 {
            money(&http, &base, &id, "deposits", 100 + n).await;
        }
        money(&http, &base, &id, "withdrawals", 50).await;
        ids.push(id);
    }
    let d = dynamo();
    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
    let mut events = Vec::new();
    for id in &ids {
        let stream = format!("account-{id}");
        // Every account has at least 5 events, so its items carry snapshots (one every 3 events in the tests):
        // catch-up and rebuilds below must see the events and nothing else.
        let tail = store
            .load_tail(&stream, common::SNAPSHOTS.every as i32 + 1)
            .await
            .unwrap();
        assert!(tail.snapshot.is_some(), "{stream} has snapshots");
        events.extend(store.load(&stream).await.unwrap());
    }
    (ids, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_reordering_and_gaps_converge_to_the_fold_of_the_store() {
    let (accounts, events) = history(12).await;
    let all: Vec<&StoredEvent> = events.iter().collect();
    let dlq = kafka().topic("dead-letters", 1).await;

    // The same batch twice.
    let (denormalisers, projections) = fresh_denormalisers(&dlq).await;
    for d in &denormalisers {
        d.handle(&kafka_batch("events", &all, 0)).await.unwrap();
        d.handle(&kafka_batch("events", &all, 0)).await.unwrap();
    }
    assert_projections_match_the_store(&projections, &accounts).await;

    // Batches out of order: chunks of 7 records, last chunk first.
    let (denormalisers, projections) = fresh_denormalisers(&dlq).await;
    let chunks: Vec<&[&StoredEvent]> = all.chunks(7).collect();
    for d in &denormalisers {
        for (i, chunk) in chunks.iter().enumerate().rev() {
            d.handle(&kafka_batch("events", chunk, (i * 7) as i64))
                .await
                .unwrap();
        }
    }
    assert_projections_match_the_store(&projections, &accounts).await;

    // A batch with missing events (every third record never delivered): caught up from the store.
    let (denormalisers, projections) = fresh_denormalisers(&dlq).await;
    let holey: Vec<&StoredEvent> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 1)
        .map(|(_, e)| *e)
        .collect();
    let mut caught_up = 0;
    for d in &denormalisers {
        caught_up += d
            .handle(&kafka_batch("events", &holey, 0))
            .await
            .unwrap()
            .caught_up;
    }
    assert!(caught_up > 0, "gaps were filled from the event store");
    assert_projections_match_the_store(&projections, &accounts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_are_dead_lettered_and_the_rest_is_applied() {
    let (accounts, events) = history(1).await;
    let dlq = kafka().topic("dead-letters", 1).await;
    let (denormalisers, projections) = fresh_denormalisers(&dlq).await;
    let all: Vec<&StoredEvent> = events.iter().collect();
    let mut batch = kafka_batch("events", &all, 0);
    let records = batch.records.get_mut("events-0").unwrap();
    let mut garbage = records[0].clone();
    garbage.offset = 100;
    garbage.value = Some("not base64!".into());
    let mut unknown = records[0].clone();
    unknown.offset = 101;
    let mut envelope: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(records[0].value.as_ref().unwrap())
            .unwrap(),
    )
    .unwrap();
    envelope["event_type"] = json!("AccountFrozen");
    envelope["payload"] = json!({"type": "AccountFrozen"});
    unknown.value = Some(
        base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&envelope).unwrap()),
    );
    records.insert(1, garbage);
    records.push(unknown);

    let summaries = &denormalisers[0];
    assert_eq!(summaries.projection.name(), "account-summary");
    let report = summaries.handle(&batch).await.unwrap();
    assert_eq!(report.dead_lettered, 2);
    assert_eq!(
        BankReads::new(projections)
            .summary(&accounts[0])
            .await
            .unwrap()
            .map(|s| s.version),
        Some(events.len() as u64)
    );

    let letters = read_topic(
        &kafka().bootstrap,
        &dlq,
        tributary_testkit::EVENTUALLY,
        |r| r.len() >= 2,
    )
    .await;
    let offsets: Vec<i64> = letters
        .iter()
        .map(|l| l.value["source"]["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [100, 101]);
    assert_eq!(letters[0].value["source"]["kind"], "kafka_record");
    assert_eq!(letters[0].value["source"]["value_base64"], "not base64!");
    assert_eq!(letters[0].value["source"]["topic"], "events");
    assert_eq!(
        letters[0].value["id"],
        "tributary-account-summary/events/0/100"
    );
    assert!(letters[0].value["error"]
        .as_str()
        .unwrap()
        .contains("base64"));
    assert!(letters[1].value["error"]
        .as_str()
        .unwrap()
        .contains("AccountFrozen"));
    assert_eq!(letters[1].value["consumer"], "tributary-account-summary");
    assert_eq!(
        letters[1].header("consumer"),
        Some("tributary-account-summary")
    );
}

/// The rows of a projections table that concern `accounts` (rebuild progress aside).
async fn rows_of(
    projections: &ProjectionStore,
    accounts: &[String],
) -> Vec<(String, String, String)> {
    projections
        .dump()
        .await
        .unwrap()
        .into_iter()
        .filter(|(pk, sk, _)| {
            !pk.starts_with("rebuild#") && accounts.iter().any(|a| pk.contains(a) || sk.contains(a))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilt_projections_equal_the_live_ones_and_interrupted_rebuilds_resume() {
    let (accounts, events) = history(6).await;
    let all: Vec<&StoredEvent> = events.iter().collect();
    let dlq = kafka().topic("dead-letters", 1).await;
    let (denormalisers, live) = fresh_denormalisers(&dlq).await;
    for d in &denormalisers {
        d.handle(&kafka_batch("events", &all, 0)).await.unwrap();
    }

    let d = dynamo();
    let rebuilt = fresh_projections("test-rebuilt").await;
    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
    for model in bank_service::read_models() {
        let projection = model.as_ref();
        let interrupted = RebuildOptions {
            page_size: 3,
            max_pages: Some(1),
            ..RebuildOptions::default()
        };
        let first = rebuild(projection, &rebuilt, &*store, interrupted, |_| {})
            .await
            .unwrap();
        assert!(matches!(first, RebuildOutcome::Interrupted(_)), "{first:?}");
        let mut resumed = false;
        let second = rebuild(
            projection,
            &rebuilt,
            &*store,
            RebuildOptions::default(),
            |p| resumed |= p.resumed,
        )
        .await
        .unwrap();
        assert!(
            resumed,
            "{} resumed from its saved progress",
            projection.name()
        );
        let RebuildOutcome::Completed(done) = second else {
            panic!("{second:?}")
        };
        if projection
            .entity(&format!("account-{}", accounts[0]))
            .is_some()
        {
            assert!(done.streams >= accounts.len() as u64, "{done:?}");
        }
    }
    let live_rows = rows_of(&live, &accounts).await;
    // Per account: summary, owner listing checkpoint, owner entry, statement checkpoint, and its lines.
    assert!(
        live_rows.len() >= accounts.len() * 5,
        "{} rows",
        live_rows.len()
    );
    assert_eq!(rows_of(&rebuilt, &accounts).await, live_rows);
    assert_projections_match_the_store(&rebuilt, &accounts).await;
}

/// The stack stops in the middle of the load (requests in flight, consumers mid-batch, the relay mid-stream) and
/// starts again with the same tables, topics and consumer groups: the projections converge to the fold of the
/// event store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_converge_after_a_restart_mid_load() {
    let config = test_config().await;
    let http = reqwest::Client::new();
    let first = Devstack::start(config.clone()).await.unwrap();
    let base = first.base_url();
    // Load until the stack goes away; keep the ids of the accounts that were opened.
    let opened_so_far = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn({
        let http = http.clone();
        let opened_so_far = opened_so_far.clone();
        async move {
            let mut accounts = Vec::new();
            for _ in 0..1000 {
                let body = r#"{"currency":"EUR"}"#;
                let Ok(r) = http
                    .post(format!("{base}/accounts"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                else {
                    break;
                };
                let Ok(opened) = r.json::<Value>().await else {
                    break;
                };
                let id = opened["account_id"].as_str().unwrap().to_owned();
                accounts.push(id.clone());
                opened_so_far.fetch_add(1, Ordering::SeqCst);
                for n in 0..5 {
                    let sent = http
                        .post(format!("{base}/accounts/{id}/deposits"))
                        .header("content-type", "application/json")
                        .body(format!(r#"{{"amount":{}}}"#, 10 + n))
                        .send()
                        .await;
                    if sent.is_err() {
                        return accounts;
                    }
                }
            }
            accounts
        }
    });
    // Stop mid-load: once a few accounts exist (how long that takes depends on the machine and the store, so wait
    // for the load, not for a fixed time), with the next requests in flight.
    let started = Instant::now();
    while opened_so_far.load(Ordering::SeqCst) < 3 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.stop().await;
    let accounts = load.await.unwrap();
    assert!(
        accounts.len() >= 2,
        "the load ran before the stop ({} accounts)",
        accounts.len()
    );

    let second = Devstack::start(config).await.unwrap();
    let (base, d) = (second.base_url(), dynamo());
    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
    let projections = ProjectionStore::new(d.client(), &d.projections_table);
    let reads = BankReads::new(projections.clone());
    for id in &accounts {
        let head = store.load(&format!("account-{id}")).await.unwrap().len() as u64;
        // The statement and summary reads wait for `min_version`; the owner listing has no such read, so poll it.
        let (mut last, deadline) = (
            String::new(),
            Instant::now() + tributary_testkit::EVENTUALLY,
        );
        while Instant::now() < deadline {
            let (statement, _, _) = get(
                &http,
                &format!("{base}/accounts/{id}/statement?min_version={head}"),
            )
            .await;
            let (summary, _, _) =
                get(&http, &format!("{base}/accounts/{id}?min_version={head}")).await;
            let owner = reads
                .summary(id)
                .await
                .unwrap()
                .map(|s| s.owner)
                .unwrap_or_default();
            let listed = reads
                .owner_entry(&owner, id)
                .await
                .unwrap()
                .is_some_and(|e| e.version == head);
            last =
                format!("statement {statement}, summary {summary}, owner entry current: {listed}");
            if statement == 200 && summary == 200 && listed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            last, "statement 200, summary 200, owner entry current: true",
            "{id} reached version {head} in every projection"
        );
    }
    assert_projections_match_the_store(&projections, &accounts).await;
}

/// Events outlive their shapes: `MoneyDeposited` gained `deposited_by` in schema version 2. With version-1 items in
/// the store and version-1 records on the topic beside version-2 ones, every reader sees the current shape and they
/// all agree with a fold of the upcast events: the denormalisers (nothing dead-lettered), a rebuild, the process
/// manager (a transfer of one account's whole folded balance completes only if the debit's load and the answer it
/// reads back fold the same balance), and the command loop (withdrawing exactly the folded balances and closing the
/// accounts succeed only if its loads fold the same balances).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_event_shapes_are_read_as_the_current_one_by_every_reader() {
    let (accounts, _) = history(3).await;
    let d = dynamo();
    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
    // Turn every deposit but the first back into its version-1 item, as if stored before the change (snapshots stay
    // as they are).
    let mut rewritten = 0;
    for id in &accounts {
        for e in store.load(&format!("account-{id}")).await.unwrap() {
            if e.event_type != "MoneyDeposited" || e.version == 2 {
                continue;
            }
            let mut payload: Value = serde_json::from_str(&e.payload).unwrap();
            assert_eq!(payload["deposited_by"], json!(e.metadata.actor));
            payload.as_object_mut().unwrap().remove("deposited_by");
            d.client()
                .update_item()
                .table_name(&d.events_table)
                .key("stream_id", AttributeValue::S(e.stream_id.clone()))
                .key("version", AttributeValue::N(e.version.to_string()))
                .update_expression("SET payload = :p, schema_version = :v")
                .expression_attribute_values(":p", AttributeValue::S(payload.to_string()))
                .expression_attribute_values(":v", AttributeValue::N("1".into()))
                .send()
                .await
                .unwrap();
            rewritten += 1;
        }
    }
    let mut events = Vec::new();
    for id in &accounts {
        events.extend(store.load(&format!("account-{id}")).await.unwrap());
    }
    let shapes = |v: u32| {
        events
            .iter()
            .filter(|e| e.event_type == "MoneyDeposited" && e.schema_version == v)
            .count()
    };
    assert!(rewritten >= 3 && shapes(1) == rewritten && shapes(2) >= 3);
    // The command loop reads the events after the newest snapshot: some of those must be version 1, or the
    // commands below would not exercise upcasting at all.
    let mut v1_after_snapshots = 0;
    for id in &accounts {
        let tail = store
            .load_tail(&format!("account-{id}"), common::SNAPSHOTS.every as i32 + 1)
            .await
            .unwrap();
        v1_after_snapshots += tail.events.iter().filter(|e| e.schema_version == 1).count();
    }
    assert!(
        v1_after_snapshots > 0,
        "no version-1 event after a snapshot"
    );
    for e in events.iter().filter(|e| e.event_type == "MoneyDeposited") {
        let event: AccountEvent = e.decode().unwrap().event;
        let AccountEvent::MoneyDeposited { deposited_by, .. } = event else {
            panic!("{e:?}")
        };
        assert_eq!(deposited_by.as_str(), e.metadata.actor);
    }

    // The topic: the records the relay would publish for these items (their stored payloads), old and new shapes.
    let all: Vec<&StoredEvent> = events.iter().collect();
    let dlq = kafka().topic("dead-letters", 1).await;
    let (denormalisers, live) = fresh_denormalisers(&dlq).await;
    for denormaliser in &denormalisers {
        let report = denormaliser
            .handle(&kafka_batch("events", &all, 0))
            .await
            .unwrap();
        assert_eq!(report.dead_lettered, 0, "{:?}", denormaliser.projection);
    }
    assert_projections_match_the_store(&live, &accounts).await;

    let rebuilt = fresh_projections("test-rebuilt").await;
    for model in bank_service::read_models() {
        let outcome = rebuild(
            model.as_ref(),
            &rebuilt,
            &*store,
            RebuildOptions::default(),
            |_| {},
        )
        .await
        .unwrap();
        assert!(
            matches!(outcome, RebuildOutcome::Completed(_)),
            "{outcome:?}"
        );
    }
    assert_eq!(
        rows_of(&rebuilt, &accounts).await,
        rows_of(&live, &accounts).await
    );

    let stack = command_stack().await;
    let (http, base) = (reqwest::Client::new(), stack.base_url());
    let folded: Vec<u64> = accounts
        .iter()
        .map(|id| {
            let stream: Vec<StoredEvent> = events
                .iter()
                .filter(|e| e.stream_id == format!("account-{id}"))
                .cloned()
                .collect();
            tributary_tests::projection::expected_views(id, &stream)
                .0
                .balance
        })
        .collect();

    // The process manager: a transfer of the first account's whole folded balance to the second. The debit is
    // decided by the account's command loop over version-1 items, the answer read back by the process manager: it
    // completes only if both read them as the fold does.
    let requested = post(
        &http,
        &format!("{base}/transfers"),
        &[],
        Some(&format!(
            r#"{{"from":"{}","to":"{}","amount":{}}}"#,
            accounts[0], accounts[1], folded[0]
        )),
    )
    .await;
    assert_eq!(requested.status, 202, "{}", requested.body);
    let transfer_id = requested.body["transfer_id"].as_str().unwrap().to_owned();
    let transfer_stream = format!("transfer-{transfer_id}");
    let process = Reactor {
        manager: TransferProcess::over(store.clone(), common::SNAPSHOTS),
        consumer_group: "test-upcast-transfer-process".to_owned(),
        dead_letters: denormalisers[0].dead_letters.clone(),
    };
    let request = store.load(&transfer_stream).await.unwrap();
    let report = process
        .handle(&kafka_batch(
            "events",
            &request.iter().collect::<Vec<_>>(),
            0,
        ))
        .await
        .unwrap();
    assert_eq!((report.streams, report.dead_lettered), (1, 0), "{report:?}");
    let transfer: Vec<bank_account::TransferEvent> = store
        .load(&transfer_stream)
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode().unwrap().event)
        .collect();
    assert_eq!(
        tributary_core::fold::<bank_account::Transfer>(&transfer).status(),
        "completed",
        "{transfer:?}"
    );
    // The read side over the new records (the transfer's and the accounts' movements) agrees with the store.
    let mut moved = Vec::new();
    for stream in [
        format!("account-{}", accounts[0]),
        format!("account-{}", accounts[1]),
        transfer_stream.clone(),
    ] {
        moved.extend(store.load(&stream).await.unwrap());
    }
    for denormaliser in &denormalisers {
        let report = denormaliser
            .handle(&kafka_batch(
                "events",
                &moved.iter().collect::<Vec<_>>(),
                1000,
            ))
            .await
            .unwrap();
        assert_eq!(report.dead_lettered, 0, "{:?}", denormaliser.projection);
    }
    assert_projections_match_the_store(&live, &accounts).await;
    let view = BankReads::new(live.clone())
        .transfer(&transfer_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (view.status.as_str(), view.amount),
        ("completed", folded[0])
    );

    // The command loop: withdrawing exactly the folded balances (the second got the first's), then closing.
    let after: Vec<u64> = [0, folded[1] + folded[0]]
        .into_iter()
        .chain(folded[2..].iter().copied())
        .collect();
    for (id, balance) in accounts.iter().zip(after) {
        if balance > 0 {
            money(&http, &base, id, "withdrawals", balance).await;
        }
        let closed = post(&http, &format!("{base}/accounts/{id}/close"), &[], None).await;
        assert_eq!(closed.status, 200, "{}", closed.body);
    }
}

/// A build of a new read-model version killed half way (its task dropped at whatever call it was in, after it had
/// saved progress) resumes from that progress and ends equal to a clean build of the same version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_build_killed_half_way_resumes_and_ends_equal_to_a_clean_build() {
    use bank_account::views::StatementsV2;
    let (accounts, _) = history(6).await;
    let d = dynamo();
    let store: Arc<dyn EventStore> = DynamoDbEventStore::shared(d.client(), &d.events_table);
    let options = || RebuildOptions {
        page_size: 3,
        ..RebuildOptions::default()
    };

    let clean = fresh_projections("test-clean-build").await;
    let outcome = rebuild(&StatementsV2, &clean, &*store, options(), |_| {})
        .await
        .unwrap();
    assert!(
        matches!(outcome, RebuildOutcome::Completed(_)),
        "{outcome:?}"
    );

    let killed = fresh_projections("test-killed-build").await;
    let build = {
        let (killed, store) = (killed.clone(), store.clone());
        tokio::spawn(
            async move { rebuild(&StatementsV2, &killed, &*store, options(), |_| {}).await },
        )
    };
    let progress = killed.of(&StatementsV2);
    while progress
        .rebuild_progress("statement")
        .await
        .unwrap()
        .is_none()
    {
        assert!(
            !build.is_finished(),
            "the build ended before it could be killed"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    build.abort();
    assert!(
        build.await.unwrap_err().is_cancelled(),
        "killed half way, not finished"
    );
    let mut resumed = false;
    let outcome = rebuild(&StatementsV2, &killed, &*store, options(), |p| {
        resumed |= p.resumed
    })
    .await
    .unwrap();
    assert!(
        matches!(outcome, RebuildOutcome::Completed(_)),
        "{outcome:?}"
    );
    assert!(resumed, "the second run resumed from the saved progress");
    let (clean_rows, killed_rows) = (
        rows_of(&clean, &accounts).await,
        rows_of(&killed, &accounts).await,
    );
    assert!(
        clean_rows
            .iter()
            .all(|(pk, _, _)| pk.starts_with("statement-v2/statement#")),
        "version 2's items, under its own keys"
    );
    assert!(clean_rows.len() >= accounts.len() * 2, "{clean_rows:?}");
    assert_eq!(killed_rows, clean_rows);
}
