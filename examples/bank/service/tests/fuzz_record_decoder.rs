//! Fuzzing the Kafka record decoder (`tributary_consumer::decode`): whatever a record on the events topic holds
//! — a real envelope mutated at random, someone else's key, bytes that are not base64 or not JSON — decoding never
//! panics, and what it accepts is an event whose key is its aggregate id, at a real stream position.
//! `PROPTEST_CASES` sets the number of cases.

use aws_lambda_events::event::kafka::KafkaRecord;
use base64::Engine;
use proptest::prelude::*;
use serde_json::{json, Value};

const STREAM: &str = "account-5c3f4a39-93a2-4d2b-9a4f-6c1f1d0c2b11";

fn envelope() -> Value {
    json!({
        "envelope_version": 1,
        "event_id": "6f1c1f4e-8a55-4a43-9a43-3f0a4fbf2a01",
        "event_type": "MoneyDeposited",
        "schema_version": 1,
        "aggregate_id": STREAM,
        "version": 2,
        "occurred_at": "2026-11-27T10:00:00Z",
        "command_id": "0b1f6c44-1d7a-4a4c-a0a4-5f3fb4b1e7d2",
        "correlation_id": "corr",
        "causation_id": "cause",
        "actor": "alice",
        "payload": {"type": "MoneyDeposited", "amount": 100}
    })
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::from),
        prop::sample::select(vec![
            "AccountOpened",
            "MoneyDeposited",
            "MoneyWithdrawn",
            "AccountClosed",
            STREAM,
            "EUR",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::hash_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The envelope with random fields replaced or removed (the payload's too).
fn mutated_envelope() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(vec![
        "envelope_version",
        "event_id",
        "event_type",
        "schema_version",
        "aggregate_id",
        "version",
        "occurred_at",
        "command_id",
        "correlation_id",
        "causation_id",
        "actor",
        "payload",
        "payload.type",
        "payload.amount",
        "payload.owner",
        "payload.currency",
        "extra",
    ]);
    prop::collection::vec((field, prop::option::of(any_json())), 0..4).prop_map(|mutations| {
        let mut e = envelope();
        for (path, value) in mutations {
            let (target, key) = match path.split_once('.') {
                Some((_, key)) => (&mut e["payload"], key),
                None => (&mut e, path),
            };
            if let Some(object) = target.as_object_mut() {
                match value {
                    Some(v) => {
                        object.insert(key.to_owned(), v);
                    }
                    None => {
                        object.remove(key);
                    }
                }
            }
        }
        e
    })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn any_record() -> impl Strategy<Value = KafkaRecord> {
    let key = prop_oneof![
        4 => Just(Some(b64(STREAM.as_bytes()))),
        1 => any::<Vec<u8>>().prop_map(|k| Some(b64(&k))),
        1 => any::<String>().prop_map(Some),
        1 => Just(None),
    ];
    let value = prop_oneof![
        6 => mutated_envelope().prop_map(|e| Some(b64(e.to_string().as_bytes()))),
        1 => any::<Vec<u8>>().prop_map(|v| Some(b64(&v))),
        1 => any::<String>().prop_map(Some),
        1 => Just(None),
    ];
    (key, value, any::<i64>()).prop_map(|(key, value, offset)| {
        let mut record = KafkaRecord::default();
        record.topic = Some("events".into());
        record.offset = offset;
        record.key = key;
        record.value = value;
        record
    })
}

proptest! {
    #[test]
    fn fuzz_record_decoder(record in any_record()) {
        if let Ok(event) = tributary_consumer::record::decode_event::<bank_account::AccountEvent>(&record) {
            let key = base64::engine::general_purpose::STANDARD
                .decode(record.key.as_deref().unwrap())
                .unwrap();
            prop_assert_eq!(key, event.stream_id.as_bytes().to_vec());
            prop_assert!(event.version >= 1);
            prop_assert_eq!(
                tributary_core::DomainEvent::event_type(&event.event),
                event.event_type.as_str()
            );
        }
    }
}

#[test]
fn the_unmutated_record_decodes() {
    let mut record = KafkaRecord::default();
    record.key = Some(b64(STREAM.as_bytes()));
    record.value = Some(b64(envelope().to_string().as_bytes()));
    assert!(
        tributary_consumer::record::decode_event::<bank_account::AccountEvent>(&record).is_ok()
    );
}
