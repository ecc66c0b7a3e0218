//! The mapping between events and DynamoDB items (attribute names, encoding, size check).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tributary_core::EventMetadata;
use tributary_store::{EventStoreError, NewEvent, Snapshot, StoredEvent};

/// DynamoDB's item size limit (names and values, UTF-8).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

pub(crate) const STREAM_ID: &str = "stream_id";
pub(crate) const VERSION: &str = "version";
const EVENT_TYPE: &str = "event_type";
const SCHEMA_VERSION: &str = "schema_version";
const PAYLOAD: &str = "payload";
const EVENT_ID: &str = "event_id";
const COMMAND_ID: &str = "command_id";
const CORRELATION_ID: &str = "correlation_id";
const CAUSATION_ID: &str = "causation_id";
const OCCURRED_AT: &str = "occurred_at";
const ACTOR: &str = "actor";
const IDEMPOTENCY_KEY: &str = "idempotency_key";
const REQUEST_FINGERPRINT: &str = "request_fingerprint";
const TRACEPARENT: &str = "traceparent";
const SNAPSHOT_STATE: &str = "snapshot";
const SNAPSHOT_SHAPE: &str = "snapshot_shape";
const SNAPSHOT_RECENT: &str = "recent_commands";
const SNAPSHOT_WINDOW: &str = "snapshot_window";

/// Add `snapshot` to `item`, unless that makes it too large for DynamoDB (the snapshot is an optimisation: the next
/// write carries one again). Public for tools and tests that write histories straight into a table.
pub fn with_snapshot(
    mut item: HashMap<String, AttributeValue>,
    snapshot: &Snapshot,
) -> HashMap<String, AttributeValue> {
    let mut candidate = item.clone();
    candidate.insert(SNAPSHOT_STATE.to_owned(), s(&snapshot.state));
    candidate.insert(
        SNAPSHOT_SHAPE.to_owned(),
        AttributeValue::N(snapshot.shape.to_string()),
    );
    candidate.insert(SNAPSHOT_RECENT.to_owned(), s(&snapshot.recent));
    if let Some(window) = snapshot.window {
        candidate.insert(
            SNAPSHOT_WINDOW.to_owned(),
            AttributeValue::N(window.to_string()),
        );
    }
    if approximate_size(&candidate) <= MAX_ITEM_BYTES {
        item = candidate;
    } else {
        tracing::warn!("a snapshot would make the item too large; written without one");
    }
    item
}

/// The snapshot an item carries, if it carries a complete one.
pub fn snapshot_of(item: &HashMap<String, AttributeValue>) -> Option<Snapshot> {
    Some(Snapshot {
        shape: item
            .get(SNAPSHOT_SHAPE)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())?,
        state: get_s(item, SNAPSHOT_STATE)?.to_owned(),
        recent: get_s(item, SNAPSHOT_RECENT)?.to_owned(),
        window: item
            .get(SNAPSHOT_WINDOW)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok()),
    })
}

/// Build the item for `event` at `version` of `stream_id`, refusing items DynamoDB would refuse for size.
pub fn to_item(
    stream_id: &str,
    version: u64,
    event: &NewEvent,
) -> Result<HashMap<String, AttributeValue>, EventStoreError> {
    let m = &event.metadata;
    let mut item = HashMap::from([
        (STREAM_ID.to_owned(), s(stream_id)),
        (VERSION.to_owned(), AttributeValue::N(version.to_string())),
        (EVENT_TYPE.to_owned(), s(&event.event_type)),
        (
            SCHEMA_VERSION.to_owned(),
            AttributeValue::N(event.schema_version.to_string()),
        ),
        (PAYLOAD.to_owned(), s(&event.payload)),
        (EVENT_ID.to_owned(), s(&m.event_id.to_string())),
        (COMMAND_ID.to_owned(), s(&m.command_id.to_string())),
        (CORRELATION_ID.to_owned(), s(&m.correlation_id)),
        (CAUSATION_ID.to_owned(), s(&m.causation_id)),
        (OCCURRED_AT.to_owned(), s(&m.occurred_at.to_rfc3339())),
        (ACTOR.to_owned(), s(&m.actor)),
    ]);
    if let Some(key) = &m.idempotency_key {
        item.insert(IDEMPOTENCY_KEY.to_owned(), s(key));
    }
    if let Some(fp) = &m.request_fingerprint {
        item.insert(REQUEST_FINGERPRINT.to_owned(), s(fp));
    }
    if let Some(tp) = &m.traceparent {
        item.insert(TRACEPARENT.to_owned(), s(tp));
    }
    let bytes = approximate_size(&item);
    if bytes > MAX_ITEM_BYTES {
        return Err(EventStoreError::ItemTooLarge {
            stream_id: stream_id.to_owned(),
            version,
            bytes,
            limit: MAX_ITEM_BYTES,
        });
    }
    Ok(item)
}

/// Read an item back. Every attribute written by [`to_item`] is required except the optional ones.
pub fn from_item(item: &HashMap<String, AttributeValue>) -> Result<StoredEvent, EventStoreError> {
    let stream_id = get_s(item, STREAM_ID).unwrap_or_default().to_owned();
    let raw_version = item
        .get(VERSION)
        .and_then(|v| v.as_n().ok())
        .cloned()
        .unwrap_or_default();
    let corrupt = |reason: String| EventStoreError::Corrupt {
        stream_id: stream_id.clone(),
        version: raw_version.clone(),
        reason,
    };
    let required = |name: &str| {
        get_s(item, name).ok_or_else(|| corrupt(format!("missing string attribute {name}")))
    };
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| corrupt(format!("missing or invalid number attribute {name}")))
    };
    let uuid = |name: &str| {
        required(name)?
            .parse()
            .map_err(|e| corrupt(format!("attribute {name} is not a UUID: {e}")))
    };
    let occurred_at = DateTime::parse_from_rfc3339(required(OCCURRED_AT)?)
        .map_err(|e| corrupt(format!("attribute {OCCURRED_AT} is not RFC 3339: {e}")))?
        .with_timezone(&Utc);
    let stream_id = required(STREAM_ID)?.to_owned();
    if stream_id.is_empty() {
        return Err(corrupt("empty stream_id".to_owned()));
    }
    Ok(StoredEvent {
        version: number(VERSION)?,
        event_type: required(EVENT_TYPE)?.to_owned(),
        schema_version: u32::try_from(number(SCHEMA_VERSION)?)
            .map_err(|_| corrupt(format!("{SCHEMA_VERSION} out of range")))?,
        payload: required(PAYLOAD)?.to_owned(),
        metadata: EventMetadata {
            event_id: uuid(EVENT_ID)?,
            command_id: uuid(COMMAND_ID)?,
            correlation_id: required(CORRELATION_ID)?.to_owned(),
            causation_id: required(CAUSATION_ID)?.to_owned(),
            occurred_at,
            actor: required(ACTOR)?.to_owned(),
            idempotency_key: get_s(item, IDEMPOTENCY_KEY).map(str::to_owned),
            request_fingerprint: get_s(item, REQUEST_FINGERPRINT).map(str::to_owned),
            traceparent: get_s(item, TRACEPARENT).map(str::to_owned),
        },
        stream_id,
    })
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// DynamoDB's item size: attribute names plus values (strings in UTF-8 bytes; numbers about one byte per two
/// digits plus one). Slightly over-estimates, so an item that passes here fits.
fn approximate_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(s) => s.len(),
                    AttributeValue::N(n) => n.len() / 2 + 2,
                    _ => 0,
                }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn metadata() -> EventMetadata {
        EventMetadata {
            event_id: Uuid::new_v4(),
            command_id: Uuid::new_v4(),
            correlation_id: "corr".into(),
            causation_id: "cause".into(),
            occurred_at: DateTime::parse_from_rfc3339("2026-11-27T10:00:00.123Z")
                .unwrap()
                .with_timezone(&Utc),
            actor: "tester".into(),
            idempotency_key: Some("key-1".into()),
            request_fingerprint: None,
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        }
    }

    #[test]
    fn items_round_trip() {
        let event = NewEvent {
            event_type: "Thing".into(),
            schema_version: 2,
            payload: r#"{"type":"Thing","n":1}"#.into(),
            metadata: metadata(),
        };
        let item = to_item("s-1", 7, &event).unwrap();
        let back = from_item(&item).unwrap();
        assert_eq!(back.stream_id, "s-1");
        assert_eq!(back.version, 7);
        assert_eq!(back.event_type, "Thing");
        assert_eq!(back.schema_version, 2);
        assert_eq!(back.payload, event.payload);
        assert_eq!(back.metadata, event.metadata);
    }

    #[test]
    fn oversized_items_are_refused_before_sending() {
        let event = NewEvent {
            event_type: "Big".into(),
            schema_version: 1,
            payload: "x".repeat(MAX_ITEM_BYTES),
            metadata: metadata(),
        };
        assert!(matches!(
            to_item("s", 1, &event),
            Err(EventStoreError::ItemTooLarge { version: 1, .. })
        ));
    }

    #[test]
    fn an_item_without_a_stream_is_not_an_event() {
        // Found by fuzzing the relay: a missing stream_id decoded as "" and was published on an empty key.
        let event = NewEvent {
            event_type: "T".into(),
            schema_version: 1,
            payload: "{}".into(),
            metadata: metadata(),
        };
        let mut item = to_item("s", 1, &event).unwrap();
        item.remove("stream_id");
        assert!(matches!(
            from_item(&item),
            Err(EventStoreError::Corrupt { .. })
        ));
        item.insert("stream_id".into(), AttributeValue::S(String::new()));
        assert!(matches!(
            from_item(&item),
            Err(EventStoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn malformed_items_are_reported_not_panicked_on() {
        let mut item = to_item(
            "s",
            1,
            &NewEvent {
                event_type: "T".into(),
                schema_version: 1,
                payload: "{}".into(),
                metadata: metadata(),
            },
        )
        .unwrap();
        item.remove("payload");
        assert!(matches!(
            from_item(&item),
            Err(EventStoreError::Corrupt { .. })
        ));
    }
}
