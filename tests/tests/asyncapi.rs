//! The AsyncAPI document agrees with what is on the topics: it is served beside the OpenAPI document, and every
//! record a workload on the local stack puts on the events, rejections and dead-letter topics — key, headers and
//! value — validates against the message the document gives for it (per event type and schema version).

mod common;

use bank_service::transfers::TransferProcess;
use common::{client_as, money, open_account, operator_client, post, settled_transfer, stack};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_store::EventStore;
use tributary_testkit::{dynamo, produce_raw, read_topic, ConsumedRecord};

fn document() -> Value {
    app::asyncapi()
}

/// Why `instance` does not match the schema at `pointer` in the document (empty: it matches).
fn errors(doc: &Value, pointer: &str, instance: &Value) -> Vec<String> {
    assert!(
        doc.pointer(pointer.trim_start_matches('#')).is_some(),
        "the document has {pointer}"
    );
    let mut root = doc.clone();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["$ref"] = json!(pointer);
    let validator = jsonschema::validator_for(&root).expect("the document's schemas compile");
    validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect()
}

/// The message of the document for a record of `topic` (`None`: a topic the document does not describe).
fn message_for(channel: &str, record: &ConsumedRecord) -> String {
    match channel {
        "events" => format!(
            "#/components/messages/{}.v{}",
            record.value["event_type"].as_str().unwrap_or("?"),
            record.value["schema_version"]
        ),
        "rejections" => "#/components/messages/CommandRejected".into(),
        _ => "#/components/messages/DeadLetter".into(),
    }
}

/// Validate one record (key, headers, value) against `message`; what failed.
fn record_errors(doc: &Value, message: &str, record: &ConsumedRecord) -> Vec<String> {
    let headers: serde_json::Map<String, Value> = record
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    let mut all = errors(doc, &format!("{message}/payload"), &record.value);
    all.extend(errors(
        doc,
        &format!("{message}/headers"),
        &Value::Object(headers),
    ));
    all.extend(errors(
        doc,
        &format!("{message}/bindings/kafka/key"),
        &Value::from(record.key.as_str()),
    ));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_on_every_topic_match_the_asyncapi_document() {
    let mut stack = stack().await;
    let doc = document();
    let base = stack.base_url();
    let served: Value = reqwest::get(format!("{base}/asyncapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, doc);
    assert_eq!(doc["asyncapi"], "3.0.0");

    // A workload that puts every kind of record on the topics it can reach.
    let (alice, bob, carol, dave) = (
        client_as("alice"),
        client_as("bob"),
        client_as("carol"),
        client_as("dave"),
    );
    let (a, b, c, d) = (
        open_account(&alice, &base, "EUR").await,
        open_account(&bob, &base, "EUR").await,
        open_account(&carol, &base, "EUR").await,
        open_account(&dave, &base, "EUR").await,
    );
    let held_from = open_account(&alice, &base, "EUR").await;
    let dollars = open_account(&bob, &base, "USD").await;
    let expect =
        |reply: common::Reply, status: u16| assert_eq!(reply.status, status, "{}", reply.body);
    money(&alice, &base, &a, "deposits", 10_000).await;
    money(&alice, &base, &held_from, "deposits", 50).await;
    money(&alice, &base, &a, "withdrawals", 100).await;
    expect(
        post(
            &alice,
            &format!("{base}/accounts/{a}/withdrawals"),
            &[],
            Some(r#"{"amount":999999}"#),
        )
        .await,
        422,
    );
    let request = |from: &str, to: &str, amount: u64| {
        let (alice, url) = (alice.clone(), format!("{base}/transfers"));
        let body = format!(r#"{{"from":"{from}","to":"{to}","amount":{amount}}}"#);
        async move { post(&alice, &url, &[], Some(&body)).await }
    };
    // Refused when asked for (another currency): a rejection record.
    expect(request(&a, &dollars, 1).await, 422);
    // With the process paused: carol's and dave's accounts close after transfers to them were asked for (the
    // credits are refused: refunded), and the source of the second closes after its debit (the refund is refused
    // too: held, then released by an operator).
    stack.pause_transfer_process().await;
    let mut transfers = Vec::new();
    for (from, to, amount) in [
        (&a, &b, 500),
        (&a, &c, 300),
        (&a, &b, 99_999_999),
        (&held_from, &d, 50),
    ] {
        let r = request(from, to, amount).await;
        assert_eq!(r.status, 202, "{}", r.body);
        transfers.push(r.body["transfer_id"].as_str().unwrap().to_owned());
    }
    expect(
        post(&carol, &format!("{base}/accounts/{c}/close"), &[], None).await,
        200,
    );
    expect(
        post(&dave, &format!("{base}/accounts/{d}/close"), &[], None).await,
        200,
    );
    let store = DynamoDbEventStore::shared(dynamo().client(), &dynamo().events_table);
    let process = TransferProcess::over(store.clone(), common::SNAPSHOTS);
    let held = format!("transfer-{}", transfers[3]);
    assert!(process.step_once(&held).await.unwrap(), "the debit");
    expect(
        post(
            &alice,
            &format!("{base}/accounts/{held_from}/close"),
            &[],
            None,
        )
        .await,
        200,
    );
    stack.resume_transfer_process().await;
    settled_transfer(&alice, &base, &transfers[3]).await;
    expect(
        post(
            &operator_client("asyncapi-operator"),
            &format!("{base}/transfers/{}/release", transfers[3]),
            &[],
            Some(&format!(r#"{{"to":"{a}"}}"#)),
        )
        .await,
        202,
    );
    // The tasks domain's events (documented from its event type, not by hand): created, assigned, completed.
    let task = post(
        &alice,
        &format!("{base}/tasks"),
        &[],
        Some(r#"{"title":"audit"}"#),
    )
    .await;
    assert_eq!(task.status, 201, "{}", task.body);
    let task = format!("{base}/tasks/{}", task.body["task_id"].as_str().unwrap());
    expect(
        post(
            &alice,
            &format!("{task}/assign"),
            &[],
            Some(r#"{"assignee":"bob"}"#),
        )
        .await,
        200,
    );
    expect(
        post(&bob, &format!("{task}/complete"), &[], None).await,
        200,
    );
    let task_stream = format!("task-{}", task.rsplit('/').next().unwrap());
    // A poison record: each consumer dead-letters it.
    produce_raw(
        &stack.kafka_bootstrap,
        &stack.events_topic,
        "poison",
        "{ not an envelope",
    )
    .await;

    // Every transfer has ended: completed, refunded (the destination closed), refused at the debit, released. The
    // transfers are read before the accounts: a transfer records its end after the account event it caused (the
    // refund, the credit), so accounts read after every transfer ended hold those events. Read the other way round, an
    // account read just before its refund missed it (a loaded run: no `TransferRefunded` among the records checked).
    let deadline = tokio::time::Instant::now() + common::EVENTUALLY;
    let stored = loop {
        let mut ended = true;
        let mut stored = BTreeSet::new();
        for stream in transfers.iter().map(|t| format!("transfer-{t}")).chain(
            [&a, &b, &c, &d, &held_from, &dollars]
                .iter()
                .map(|id| format!("account-{id}"))
                .chain([task_stream.clone()]),
        ) {
            let events = store.load(&stream).await.unwrap();
            let last = events.last().map_or("", |e| e.event_type.as_str());
            ended &= !stream.starts_with("transfer-")
                || [
                    "DestinationCredited",
                    "SourceRefunded",
                    "DebitRefused",
                    "Released",
                ]
                .contains(&last);
            stored.extend(
                events
                    .iter()
                    .map(|e| (stream.clone(), e.version.to_string())),
            );
        }
        if ended {
            break stored;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the transfers did not end in {:?}",
            common::EVENTUALLY
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Every stored event, at least once (the command path and the relay both publish): each one's (key, version),
    // not a count that other records could make up.
    let wait = tributary_testkit::EVENTUALLY;
    let published = |records: &[ConsumedRecord]| -> BTreeSet<(String, String)> {
        records
            .iter()
            .map(|r| (r.key.clone(), r.value["version"].to_string()))
            .collect()
    };
    let expected = stored.clone();
    let events = read_topic(
        &stack.kafka_bootstrap,
        &stack.events_topic,
        wait,
        move |r| expected.is_subset(&published(r)),
    )
    .await;
    let on_topic = published(&events);
    let missing: Vec<_> = stored.difference(&on_topic).collect();
    assert!(
        missing.is_empty(),
        "stored events not on the topic after {wait:?}: {missing:?}"
    );
    let rejections = read_topic(&stack.kafka_bootstrap, &stack.rejections_topic, wait, |r| {
        !r.is_empty()
    })
    .await;
    // One letter per consumer: a denormaliser per read model of the application, and the transfer process manager.
    let consumers = app::read_models().len() + 1;
    let letters = read_topic(
        &stack.kafka_bootstrap,
        &stack.dead_letter_topic,
        wait,
        move |r| r.len() >= consumers,
    )
    .await;
    assert_eq!(letters.len(), consumers, "{letters:#?}");
    assert!(!rejections.is_empty());

    let mut kinds = BTreeSet::new();
    for (channel, records) in [
        ("events", &events),
        ("rejections", &rejections),
        ("deadLetters", &letters),
    ] {
        // The poison record is on the events topic by design; its letters are on the dead-letter topic.
        for record in records
            .iter()
            .filter(|r| channel != "events" || r.key != "poison")
        {
            let message = message_for(channel, record);
            let failures = record_errors(&doc, &message, record);
            assert!(
                failures.is_empty(),
                "{channel} record at {}/{} does not match {message}: {failures:#?}\n{record:#?}",
                record.partition,
                record.offset
            );
            kinds.insert(message.rsplit('/').next().unwrap().to_owned());
        }
    }
    let expected = [
        "AccountOpened.v1",
        "MoneyDeposited.v2",
        "MoneyWithdrawn.v1",
        "AccountClosed.v1",
        "TransferSent.v1",
        "TransferReceived.v1",
        "TransferRefunded.v1",
        "TransferRequested.v1",
        "SourceDebited.v1",
        "DebitRefused.v1",
        "DestinationCredited.v1",
        "CreditRefused.v1",
        "SourceRefunded.v1",
        "RefundRefused.v1",
        "ReleaseOrdered.v1",
        "Released.v1",
        "TaskCreated.v1",
        "TaskAssigned.v1",
        "TaskCompleted.v1",
        "CommandRejected",
        "DeadLetter",
    ];
    for kind in expected {
        assert!(
            kinds.contains(kind),
            "no {kind} record was validated; saw {kinds:?}"
        );
    }

    // The check can fail: a record that drifted from the document is refused.
    let mut drifted = events
        .iter()
        .find(|r| r.value["event_type"] == "MoneyWithdrawn")
        .unwrap()
        .clone();
    drifted.value["payload"]["amount"] = json!("100");
    assert!(!record_errors(&doc, "#/components/messages/MoneyWithdrawn.v1", &drifted).is_empty());
    drifted.value["payload"]["amount"] = json!(100);
    drifted.value["unexpected"] = json!(true);
    assert!(!record_errors(&doc, "#/components/messages/MoneyWithdrawn.v1", &drifted).is_empty());
    // The same for a message generated from a type: a task whose title is not a title.
    let mut drifted = events
        .iter()
        .find(|r| r.value["event_type"] == "TaskCreated")
        .unwrap()
        .clone();
    drifted.value["payload"]["title"] = json!("");
    assert!(!record_errors(&doc, "#/components/messages/TaskCreated.v1", &drifted).is_empty());
    stack.stop().await;
}
