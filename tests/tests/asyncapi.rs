//! The AsyncAPI document agrees with what is on the topics: it is served beside the OpenAPI document, and every
//! record a workload on the local stack puts on the events, rejections and dead-letter topics — key, headers and
//! value — validates against the message the document gives for it (per event type and schema version).

mod common;

use common::{client_as, post, stack};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use tributary_dynamodb::EventStore;
use tributary_testkit::{dynamo, produce_raw, read_topic, ConsumedRecord};

fn document() -> Value {
    serde_json::from_str(bank_api::ASYNCAPI).expect("asyncapi.json is JSON")
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
    let stack = stack().await;
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
    let (alice, bob, carol) = (client_as("alice"), client_as("bob"), client_as("carol"));
    let open = |http: reqwest::Client| {
        let url = format!("{base}/accounts");
        async move {
            let r = post(&http, &url, &[], Some(r#"{"currency":"EUR"}"#)).await;
            assert_eq!(r.status, 201, "{}", r.body);
            r.body["account_id"].as_str().unwrap().to_owned()
        }
    };
    let (a, b, c) = (
        open(alice.clone()).await,
        open(bob.clone()).await,
        open(carol.clone()).await,
    );
    let expect =
        |reply: common::Reply, status: u16| assert_eq!(reply.status, status, "{}", reply.body);
    expect(
        post(
            &alice,
            &format!("{base}/accounts/{a}/deposits"),
            &[],
            Some(r#"{"amount":10000}"#),
        )
        .await,
        200,
    );
    expect(
        post(
            &alice,
            &format!("{base}/accounts/{a}/withdrawals"),
            &[],
            Some(r#"{"amount":100}"#),
        )
        .await,
        200,
    );
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
    expect(
        post(&carol, &format!("{base}/accounts/{c}/close"), &[], None).await,
        200,
    );
    let mut transfers = Vec::new();
    for (to, amount) in [(&b, 500), (&c, 300), (&b, 99_999_999)] {
        let r = post(
            &alice,
            &format!("{base}/transfers"),
            &[],
            Some(&format!(
                r#"{{"from":"{a}","to":"{to}","amount":{amount}}}"#
            )),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.body);
        transfers.push(r.body["transfer_id"].as_str().unwrap().to_owned());
    }
    // A poison record: each consumer dead-letters it.
    produce_raw(
        &stack.kafka_bootstrap,
        &stack.events_topic,
        "poison",
        "{ not an envelope",
    )
    .await;

    // Every transfer has ended: completed, refunded (the destination is closed), refused at the debit.
    let store = EventStore::new(dynamo().client(), &dynamo().events_table);
    let mut stored = 0;
    for attempt in 0.. {
        let mut ended = true;
        stored = 0;
        for stream in [
            format!("account-{a}"),
            format!("account-{b}"),
            format!("account-{c}"),
        ]
        .into_iter()
        .chain(transfers.iter().map(|t| format!("transfer-{t}")))
        {
            let events = store.load(&stream).await.unwrap();
            let last = events.last().map_or("", |e| e.event_type.as_str());
            ended &= !stream.starts_with("transfer-")
                || ["DestinationCredited", "SourceRefunded", "DebitRefused"].contains(&last);
            stored += events.len();
        }
        if ended {
            break;
        }
        assert!(attempt < 600, "the transfers did not end in 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every stored event, at least once (the command path and the relay both publish).
    let wait = Duration::from_secs(60);
    let events = read_topic(
        &stack.kafka_bootstrap,
        &stack.events_topic,
        wait,
        move |r| {
            let distinct: BTreeSet<(String, String)> = r
                .iter()
                .filter(|r| r.key != "poison")
                .map(|r| (r.key.clone(), r.value["version"].to_string()))
                .collect();
            distinct.len() >= stored
        },
    )
    .await;
    let rejections = read_topic(&stack.kafka_bootstrap, &stack.rejections_topic, wait, |r| {
        !r.is_empty()
    })
    .await;
    // One letter per consumer: four denormalisers and the transfer process manager.
    let letters = read_topic(
        &stack.kafka_bootstrap,
        &stack.dead_letter_topic,
        wait,
        |r| r.len() >= 5,
    )
    .await;
    assert_eq!(letters.len(), 5, "{letters:#?}");
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
        "TransferOrderRefused.v1",
        "TransferRequested.v1",
        "SourceDebited.v1",
        "DebitRefused.v1",
        "DestinationCredited.v1",
        "CreditRefused.v1",
        "SourceRefunded.v1",
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
    stack.stop().await;
}
