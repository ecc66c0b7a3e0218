//! The relay handler on Lambda-shaped DynamoDB stream batches, against a real Kafka protocol (embedded mock
//! cluster, or the broker in `KAFKA_BOOTSTRAP_SERVERS`).

use aws_lambda_events::event::dynamodb::Event;
use serde_json::{json, Value};
use std::time::Duration;
use tributary_kafka::{KafkaConfig, Publisher};
use tributary_testkit::{kafka, read_topic};

/// A stream record as Lambda delivers it, for `stream` at `version`.
fn record(event_name: &str, sequence: &str, stream: &str, version: u64) -> Value {
    json!({
        "eventID": format!("id-{sequence}"),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/events/stream/2026-11-27T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_795_000_000.0,
            "Keys": {"stream_id": {"S": stream}, "version": {"N": version.to_string()}},
            "NewImage": {
                "stream_id": {"S": stream},
                "version": {"N": version.to_string()},
                "event_type": {"S": "MoneyDeposited"},
                "schema_version": {"N": "1"},
                "payload": {"S": r#"{"type":"MoneyDeposited","amount":100}"#},
                "event_id": {"S": "6f1c1f4e-8a55-4a43-9a43-3f0a4fbf2a01"},
                "command_id": {"S": "0b1f6c44-1d7a-4a4c-a0a4-5f3fb4b1e7d2"},
                "correlation_id": {"S": "corr-1"},
                "causation_id": {"S": "cause-1"},
                "occurred_at": {"S": "2026-11-27T10:00:00Z"},
                "actor": {"S": "anonymous"}
            },
            "SequenceNumber": sequence,
            "SizeBytes": 300,
            "StreamViewType": "NEW_IMAGE"
        }
    })
}

fn batch(records: Vec<Value>) -> Event {
    serde_json::from_value(json!({ "Records": records })).expect("a Lambda DynamoDB stream event")
}

#[tokio::test]
async fn publishes_inserted_events_in_order_and_skips_modifications() {
    let k = kafka();
    let topic = k.topic("relay-events", 3).await;
    let publisher = Publisher::connect(
        &KafkaConfig::plaintext(&k.bootstrap, &topic, "unused"),
        &aws_types::SdkConfig::builder().build(),
    )
    .await
    .unwrap();
    let response = relay_function::relay(
        &publisher,
        batch(vec![
            record("INSERT", "100", "account-a", 1),
            record("INSERT", "200", "account-a", 2),
            record("MODIFY", "300", "account-a", 9),
        ]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    let records = read_topic(&k.bootstrap, &topic, tributary_testkit::EVENTUALLY, |r| {
        r.len() >= 2
    })
    .await;
    let versions: Vec<u64> = records
        .iter()
        .map(|r| r.value["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);
    assert!(records
        .iter()
        .all(|r| r.key == "account-a" && r.partition == records[0].partition));
    assert_eq!(records[0].value["payload"]["amount"], 100);
}

/// A command's receipt (an idempotency key kept for ever, written beside the command's events) is not an event:
/// nothing is published for it and nothing is dead-lettered; the events around it are published.
#[tokio::test]
async fn a_receipt_is_not_published() {
    let k = kafka();
    let topic = k.topic("relay-receipts", 1).await;
    let letters = k.topic("relay-receipts-dlq", 1).await;
    let publisher = Publisher::connect(
        &KafkaConfig {
            dead_letter_topic: letters.clone(),
            ..KafkaConfig::plaintext(&k.bootstrap, &topic, "unused")
        },
        &aws_types::SdkConfig::builder().build(),
    )
    .await
    .unwrap();
    let mut receipt = record("INSERT", "150", "receipt#0a1b2c", 0);
    receipt["dynamodb"]["NewImage"] = json!({
        "stream_id": {"S": "receipt#0a1b2c"},
        "version": {"N": "0"},
        "receipt_stream_id": {"S": "account-a"},
        "receipt_version": {"N": "1"},
        "receipt_fingerprint": {"S": "f00d"}
    });
    let response = relay_function::relay(
        &publisher,
        batch(vec![
            record("INSERT", "100", "account-a", 1),
            receipt,
            record("INSERT", "200", "account-a", 2),
        ]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    let records = read_topic(&k.bootstrap, &topic, tributary_testkit::EVENTUALLY, |r| {
        r.len() >= 2
    })
    .await;
    let keys: Vec<(&str, u64)> = records
        .iter()
        .map(|r| (r.key.as_str(), r.value["version"].as_u64().unwrap()))
        .collect();
    assert_eq!(keys, [("account-a", 1), ("account-a", 2)]);
    let dead = read_topic(&k.bootstrap, &letters, Duration::from_secs(2), |_| false).await;
    assert!(dead.is_empty(), "{dead:?}");
}

#[tokio::test]
async fn reports_the_first_unpublished_record_so_lambda_retries_from_it() {
    // Nothing listens on this port: every publish times out.
    let mut config = KafkaConfig::plaintext("127.0.0.1:9", "events", "rejections");
    config.delivery_timeout = Duration::from_millis(300);
    let publisher = Publisher::connect(&config, &aws_types::SdkConfig::builder().build())
        .await
        .unwrap();
    let response = relay_function::relay(
        &publisher,
        batch(vec![
            record("INSERT", "100", "account-b", 1),
            record("INSERT", "200", "account-b", 2),
        ]),
    )
    .await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, [Some("100".to_owned())]);
}

/// One item that can never be published (its payload is not JSON) must not block the shard: it goes to the
/// dead-letter topic with the item and the error, and the records after it are published.
#[tokio::test]
async fn an_item_that_cannot_be_published_is_dead_lettered_and_the_rest_goes_on() {
    let k = kafka();
    let topic = k.topic("relay-events", 3).await;
    let dead_letters = k.topic("relay-dead-letters", 1).await;
    let config = KafkaConfig {
        dead_letter_topic: dead_letters.clone(),
        ..KafkaConfig::plaintext(&k.bootstrap, &topic, "unused")
    };
    let publisher = Publisher::connect(&config, &aws_types::SdkConfig::builder().build())
        .await
        .unwrap();
    let mut broken = record("INSERT", "200", "account-c", 2);
    broken["dynamodb"]["NewImage"]["payload"] = json!({"S": "{not json"});
    let mut not_an_event = record("INSERT", "400", "account-c", 9);
    not_an_event["dynamodb"]["NewImage"] =
        json!({"stream_id": {"S": "account-c"}, "version": {"N": "9"}});
    let response = relay_function::relay(
        &publisher,
        batch(vec![
            record("INSERT", "100", "account-c", 1),
            broken,
            record("INSERT", "300", "account-c", 3),
            not_an_event,
        ]),
    )
    .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "nothing is retried: {:?}",
        response.batch_item_failures
    );
    let published = read_topic(&k.bootstrap, &topic, tributary_testkit::EVENTUALLY, |r| {
        r.len() >= 2
    })
    .await;
    let versions: Vec<u64> = published
        .iter()
        .map(|r| r.value["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 3]);
    let letters = read_topic(
        &k.bootstrap,
        &dead_letters,
        tributary_testkit::EVENTUALLY,
        |r| r.len() >= 2,
    )
    .await;
    assert_eq!(letters.len(), 2, "{letters:?}");
    let text = serde_json::to_string(&letters[0].value).unwrap();
    assert!(
        text.contains("\"200\""),
        "the letter names the stream record: {text}"
    );
    assert!(
        text.contains("{not json"),
        "the letter carries the item: {text}"
    );
    assert!(
        letters[0].value["error"]
            .as_str()
            .unwrap()
            .contains("payload"),
        "{text}"
    );
    assert!(serde_json::to_string(&letters[1].value)
        .unwrap()
        .contains("\"400\""));
}
