//! Fuzzing the DynamoDB item decoder (`from_item`): whatever an events-table item holds — a real event mutated at
//! random, or nothing like one — decoding never panics, and what it accepts is an event with every required field.
//! Property-based (proptest): `PROPTEST_CASES` sets the number of cases (256 by default; SECURITY.md records the
//! long runs).

use aws_sdk_dynamodb::types::AttributeValue;
use proptest::prelude::*;
use std::collections::HashMap;
use tributary_dynamodb::from_item;

const NAMES: &[&str] = &[
    "stream_id",
    "version",
    "event_type",
    "schema_version",
    "payload",
    "event_id",
    "command_id",
    "correlation_id",
    "causation_id",
    "occurred_at",
    "actor",
    "idempotency_key",
    "request_fingerprint",
    "traceparent",
    "snapshot",
];

/// A well-formed item, as the event store writes it.
fn valid() -> HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    HashMap::from([
        (
            "stream_id".into(),
            s("account-5c3f4a39-93a2-4d2b-9a4f-6c1f1d0c2b11"),
        ),
        ("version".into(), AttributeValue::N("7".into())),
        ("event_type".into(), s("MoneyDeposited")),
        ("schema_version".into(), AttributeValue::N("1".into())),
        (
            "payload".into(),
            s(r#"{"type":"MoneyDeposited","amount":100}"#),
        ),
        ("event_id".into(), s("6f1c1f4e-8a55-4a43-9a43-3f0a4fbf2a01")),
        (
            "command_id".into(),
            s("0b1f6c44-1d7a-4a4c-a0a4-5f3fb4b1e7d2"),
        ),
        ("correlation_id".into(), s("corr")),
        ("causation_id".into(), s("cause")),
        ("occurred_at".into(), s("2026-11-27T10:00:00Z")),
        ("actor".into(), s("alice")),
    ])
}

fn any_value() -> impl Strategy<Value = AttributeValue> {
    let leaf = prop_oneof![
        any::<String>().prop_map(AttributeValue::S),
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            "[0-9eE.+-]{0,40}".prop_map(String::from),
            Just("18446744073709551616".to_owned()),
        ]
        .prop_map(AttributeValue::N),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null(true)),
        prop::collection::vec(any::<u8>(), 0..32)
            .prop_map(|b| AttributeValue::B(aws_smithy_types::Blob::new(b))),
        prop::collection::vec(any::<String>(), 0..4).prop_map(AttributeValue::Ss),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
            prop::collection::hash_map("[a-z_]{1,12}", inner, 0..4).prop_map(AttributeValue::M),
        ]
    })
}

/// A valid item with random mutations: fields removed, replaced by any value, or added.
fn any_item() -> impl Strategy<Value = HashMap<String, AttributeValue>> {
    let mutation = (
        prop_oneof![
            prop::sample::select(NAMES).prop_map(str::to_owned),
            any::<String>()
        ],
        prop::option::of(any_value()),
    );
    (
        prop::bool::weighted(0.8),
        prop::collection::vec(mutation, 0..6),
    )
        .prop_map(|(from_valid, mutations)| {
            let mut item = if from_valid { valid() } else { HashMap::new() };
            for (name, value) in mutations {
                match value {
                    Some(value) => item.insert(name, value),
                    None => item.remove(&name),
                };
            }
            item
        })
}

proptest! {
    #[test]
    fn fuzz_item_decoder(item in any_item()) {
        if let Ok(event) = from_item(&item) {
            // Accepted: the required fields were there, as the right types.
            prop_assert_eq!(Some(&AttributeValue::S(event.payload.clone())), item.get("payload"));
            prop_assert_eq!(
                item.get("version").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok()),
                Some(event.version)
            );
            prop_assert_eq!(item.get("stream_id"), Some(&AttributeValue::S(event.stream_id.clone())));
        }
    }
}

#[test]
fn the_unmutated_item_decodes() {
    assert!(from_item(&valid()).is_ok());
}
