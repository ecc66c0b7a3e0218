//! Fuzzing the relay's stream-record decoder (`relay_function::outgoing_for`): whatever a DynamoDB stream record of
//! the events table holds — a real event's image mutated at random, another kind of change — the relay never
//! panics, publishes only inserted events (at their own key), and turns any inserted item it cannot publish into a
//! dead letter rather than dropping it. `PROPTEST_CASES` sets the number of cases.

use aws_lambda_events::event::dynamodb::EventRecord;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tributary_kafka::Outgoing;

fn image() -> Map<String, Value> {
    let s = |v: &str| json!({ "S": v });
    let mut m = Map::new();
    m.insert(
        "stream_id".into(),
        s("account-5c3f4a39-93a2-4d2b-9a4f-6c1f1d0c2b11"),
    );
    m.insert("version".into(), json!({"N": "3"}));
    m.insert("event_type".into(), s("MoneyWithdrawn"));
    m.insert("schema_version".into(), json!({"N": "1"}));
    m.insert(
        "payload".into(),
        s(r#"{"type":"MoneyWithdrawn","amount":5}"#),
    );
    m.insert("event_id".into(), s("6f1c1f4e-8a55-4a43-9a43-3f0a4fbf2a01"));
    m.insert(
        "command_id".into(),
        s("0b1f6c44-1d7a-4a4c-a0a4-5f3fb4b1e7d2"),
    );
    m.insert("correlation_id".into(), s("corr"));
    m.insert("causation_id".into(), s("cause"));
    m.insert("occurred_at".into(), s("2026-11-27T10:00:00Z"));
    m.insert("actor".into(), s("alice"));
    m
}

/// A DynamoDB JSON attribute value, valid or not.
fn any_attribute() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(|v| json!({ "S": v })),
        prop_oneof![any::<i64>().prop_map(|n| n.to_string()), "[0-9.eE+-]{0,24}"]
            .prop_map(|n| json!({ "N": n })),
        any::<bool>().prop_map(|b| json!({ "BOOL": b })),
        Just(json!({"NULL": true})),
        any::<String>().prop_map(|v| json!({ "S": v, "N": "1" })),
        any::<String>().prop_map(Value::from),
        Just(json!({})),
    ]
}

fn any_record() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(vec![
        "stream_id",
        "version",
        "event_type",
        "schema_version",
        "payload",
        "event_id",
        "command_id",
        "occurred_at",
        "actor",
        "snapshot",
        "x",
    ]);
    let mutations = prop::collection::vec((field, prop::option::of(any_attribute())), 0..4);
    let name = prop_oneof![
        6 => Just("INSERT".to_owned()),
        1 => Just("MODIFY".to_owned()),
        1 => Just("REMOVE".to_owned()),
        1 => any::<String>(),
    ];
    (name, mutations, any::<u64>()).prop_map(|(name, mutations, sequence)| {
        let mut new_image = image();
        for (field, value) in mutations {
            match value {
                Some(v) => {
                    new_image.insert(field.to_owned(), v);
                }
                None => {
                    new_image.remove(field);
                }
            }
        }
        json!({
            "eventID": "fuzz", "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "eu-west-1",
            "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/events/stream/2026-11-27T00:00:00.000",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_795_000_000.0,
                "Keys": {},
                "NewImage": new_image,
                "SequenceNumber": sequence.to_string(),
                "SizeBytes": 100,
                "StreamViewType": "NEW_IMAGE"
            }
        })
    })
}

proptest! {
    #[test]
    fn fuzz_stream_records(raw in any_record()) {
        // What Lambda itself cannot deserialise never reaches the handler.
        let Ok(record) = serde_json::from_value::<EventRecord>(raw.clone()) else {
            return Ok(());
        };
        match relay_function::outgoing_for(&record) {
            // Nothing for anything but an insert, and for a command's receipt (not an event).
            None => prop_assert!(
                record.event_name != "INSERT"
                    || raw["dynamodb"]["NewImage"]["stream_id"]["S"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("receipt#"))
            ),
            Some(Outgoing::Event { envelope, .. }) => {
                prop_assert_eq!(record.event_name.as_str(), "INSERT");
                prop_assert_eq!(
                    Some(envelope.aggregate_id.as_str()),
                    raw["dynamodb"]["NewImage"]["stream_id"]["S"].as_str()
                );
            }
            Some(Outgoing::DeadLetter(letter)) => {
                prop_assert_eq!(record.event_name.as_str(), "INSERT");
                prop_assert!(!letter.error.is_empty());
            }
        }
    }
}
