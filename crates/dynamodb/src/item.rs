//! The mapping between events and DynamoDB items: an event's item is [`EventItem`], a snapshot's attributes
//! [`SnapshotAttributes`] — attribute names are their field names, encoded by `serde_dynamo` — and the size check
//! DynamoDB would otherwise make after a round trip.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use tributary_core::EventMetadata;
use tributary_store::chain::{Link, Seal};
use tributary_store::{EventStoreError, Snapshot, StoredEvent};
use uuid::Uuid;

/// DynamoDB's item size limit (names and values, UTF-8).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

pub(crate) const STREAM_ID: &str = "stream_id";
pub(crate) const VERSION: &str = "version";

/// An event as an item of the events table. Borrowed when written, owned when read.
#[derive(Serialize, Deserialize)]
struct EventItem<'a> {
    stream_id: Cow<'a, str>,
    version: u64,
    event_type: Cow<'a, str>,
    schema_version: u32,
    payload: Cow<'a, str>,
    event_id: Uuid,
    command_id: Uuid,
    correlation_id: Cow<'a, str>,
    causation_id: Cow<'a, str>,
    /// RFC 3339, as `DateTime::to_rfc3339` writes it.
    occurred_at: String,
    actor: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotency_key: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_fingerprint: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traceparent: Option<Cow<'a, str>>,
    /// The content hash, the chain hash and the previous event's chain hash (`tributary_store::chain`); absent on
    /// events written before chaining (and the last on a stream's first event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chain: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_chain: Option<Cow<'a, str>>,
    /// A signed checkpoint: which key, at what interval, the signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seal_key: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seal_every: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seal_signature: Option<Cow<'a, str>>,
}

/// The attributes a snapshot adds to the item of the event it was taken at.
#[derive(Serialize, Deserialize)]
struct SnapshotAttributes<'a> {
    #[serde(rename = "snapshot")]
    state: Cow<'a, str>,
    #[serde(rename = "snapshot_shape")]
    shape: u32,
    #[serde(rename = "recent_commands")]
    recent: Cow<'a, str>,
    #[serde(
        rename = "snapshot_window",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    window: Option<u32>,
}

type Item = HashMap<String, AttributeValue>;

/// Add `snapshot` to `item`, unless that makes it too large for DynamoDB (the snapshot is an optimisation: the next
/// write carries one again). Public for tools and tests that write histories straight into a table.
pub fn with_snapshot(mut item: Item, snapshot: &Snapshot) -> Item {
    let attributes: Item = serde_dynamo::to_item(SnapshotAttributes {
        state: Cow::Borrowed(&snapshot.state),
        shape: snapshot.shape,
        recent: Cow::Borrowed(&snapshot.recent),
        window: snapshot.window,
    })
    .expect("a snapshot's attributes are strings and numbers");
    if approximate_size(&item) + approximate_size(&attributes) <= MAX_ITEM_BYTES {
        item.extend(attributes);
    } else {
        tracing::warn!("a snapshot would make the item too large; written without one");
    }
    item
}

/// The snapshot an item carries, if it carries a complete one.
pub fn snapshot_of(item: &Item) -> Option<Snapshot> {
    // Only the snapshot's own attributes are copied to be decoded, not the event's payload.
    let attributes: Item = [
        "snapshot",
        "snapshot_shape",
        "recent_commands",
        "snapshot_window",
    ]
    .into_iter()
    .filter_map(|name| Some((name.to_owned(), item.get(name)?.clone())))
    .collect();
    let attributes: SnapshotAttributes = serde_dynamo::from_item(attributes).ok()?;
    Some(Snapshot {
        shape: attributes.shape,
        state: attributes.state.into_owned(),
        recent: attributes.recent.into_owned(),
        window: attributes.window,
    })
}

/// Build the item for `event`, refusing items DynamoDB would refuse for size.
pub fn to_item(event: &StoredEvent) -> Result<Item, EventStoreError> {
    let m = &event.metadata;
    let (stream_id, version) = (event.stream_id.as_str(), event.version);
    let seal = event.seal.as_ref();
    let item: Item = serde_dynamo::to_item(EventItem {
        stream_id: Cow::Borrowed(stream_id),
        version,
        event_type: Cow::Borrowed(&event.event_type),
        schema_version: event.schema_version,
        payload: Cow::Borrowed(&event.payload),
        event_id: m.event_id,
        command_id: m.command_id,
        correlation_id: Cow::Borrowed(&m.correlation_id),
        causation_id: Cow::Borrowed(&m.causation_id),
        occurred_at: m.occurred_at.to_rfc3339(),
        actor: Cow::Borrowed(&m.actor),
        idempotency_key: m.idempotency_key.as_deref().map(Cow::Borrowed),
        request_fingerprint: m.request_fingerprint.as_deref().map(Cow::Borrowed),
        traceparent: m.traceparent.as_deref().map(Cow::Borrowed),
        hash: event
            .link
            .as_ref()
            .map(|l| Cow::Borrowed(l.content.as_str())),
        chain: event.link.as_ref().map(|l| Cow::Borrowed(l.chain.as_str())),
        previous_chain: event
            .link
            .as_ref()
            .and_then(|l| l.previous.as_deref())
            .map(Cow::Borrowed),
        seal_key: seal.map(|s| Cow::Borrowed(s.key.as_str())),
        seal_every: seal.map(|s| s.every),
        seal_signature: seal.map(|s| Cow::Borrowed(s.signature.as_str())),
    })
    .expect("an event's item is strings and numbers");
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

/// Read an item back. Every attribute written by [`to_item`] is required except the optional ones; anything else
/// is [`EventStoreError::Corrupt`], naming the stream and version as far as the item has them.
pub fn from_item(item: &Item) -> Result<StoredEvent, EventStoreError> {
    let corrupt = |reason: String| EventStoreError::Corrupt {
        stream_id: item
            .get(STREAM_ID)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default(),
        version: item
            .get(VERSION)
            .and_then(|v| v.as_n().ok())
            .cloned()
            .unwrap_or_default(),
        reason,
    };
    let event: EventItem =
        serde_dynamo::from_item(item.clone()).map_err(|e| corrupt(e.to_string()))?;
    if event.stream_id.is_empty() {
        return Err(corrupt("empty stream_id".to_owned()));
    }
    let occurred_at = DateTime::parse_from_rfc3339(&event.occurred_at)
        .map_err(|e| corrupt(format!("attribute occurred_at is not RFC 3339: {e}")))?
        .with_timezone(&Utc);
    let link = match (event.hash, event.chain) {
        (Some(content), Some(chain)) => Some(Link {
            content: content.into_owned(),
            chain: chain.into_owned(),
            previous: event.previous_chain.map(Cow::into_owned),
        }),
        (None, None) => None,
        _ => {
            return Err(corrupt(
                "one of hash and chain without the other".to_owned(),
            ))
        }
    };
    let seal = match (event.seal_key, event.seal_every, event.seal_signature) {
        (Some(key), Some(every), Some(signature)) => Some(Seal {
            key: key.into_owned(),
            every,
            signature: signature.into_owned(),
        }),
        (None, None, None) => None,
        _ => return Err(corrupt("an incomplete seal".to_owned())),
    };
    Ok(StoredEvent {
        link,
        seal,
        stream_id: event.stream_id.into_owned(),
        version: event.version,
        event_type: event.event_type.into_owned(),
        schema_version: event.schema_version,
        payload: event.payload.into_owned(),
        metadata: EventMetadata {
            event_id: event.event_id,
            command_id: event.command_id,
            correlation_id: event.correlation_id.into_owned(),
            causation_id: event.causation_id.into_owned(),
            occurred_at,
            actor: event.actor.into_owned(),
            idempotency_key: event.idempotency_key.map(Cow::into_owned),
            request_fingerprint: event.request_fingerprint.map(Cow::into_owned),
            traceparent: event.traceparent.map(Cow::into_owned),
        },
    })
}

/// DynamoDB's item size: attribute names plus values (strings in UTF-8 bytes; numbers about one byte per two
/// digits plus one). Slightly over-estimates, so an item that passes here fits.
pub fn approximate_size(item: &Item) -> usize {
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
    use tributary_store::NewEvent;

    /// An event as written before chaining (the table's original format).
    fn unchained(stream_id: &str, version: u64, event: &NewEvent) -> StoredEvent {
        let mut stored = StoredEvent::committed(stream_id, version, event.clone(), None);
        stored.link = None;
        stored
    }

    #[test]
    fn chain_and_seal_round_trip() {
        let event = NewEvent {
            event_type: "Thing".into(),
            schema_version: 1,
            payload: "{}".into(),
            metadata: metadata(),
        };
        let mut stored = StoredEvent::committed("s-1", 4, event, Some("ab"));
        stored.seal = Some(Seal {
            key: "local:k".into(),
            every: 4,
            signature: "3045".into(),
        });
        let item = to_item(&stored).unwrap();
        assert_eq!(from_item(&item).unwrap(), stored);
        let mut partial = item.clone();
        partial.remove("seal_every");
        assert!(matches!(
            from_item(&partial),
            Err(EventStoreError::Corrupt { .. })
        ));
        let mut partial = item;
        partial.remove("chain");
        assert!(matches!(
            from_item(&partial),
            Err(EventStoreError::Corrupt { .. })
        ));
    }

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
        let item = to_item(&unchained("s-1", 7, &event)).unwrap();
        let back = from_item(&item).unwrap();
        assert_eq!(back.stream_id, "s-1");
        assert_eq!(back.version, 7);
        assert_eq!(back.event_type, "Thing");
        assert_eq!(back.schema_version, 2);
        assert_eq!(back.payload, event.payload);
        assert_eq!(back.metadata, event.metadata);
    }

    /// The table's format, attribute by attribute, as the hand-written mapping before `serde_dynamo` wrote it:
    /// items already stored read back, and new ones read the same to any other reader of the table.
    #[test]
    fn the_item_is_the_tables_format() {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let n = |v: &str| AttributeValue::N(v.to_owned());
        let mut m = metadata();
        m.idempotency_key = None;
        let event = NewEvent {
            event_type: "Thing".into(),
            schema_version: 2,
            payload: r#"{"n":1}"#.into(),
            metadata: m.clone(),
        };
        let expected = HashMap::from([
            ("stream_id".to_owned(), s("s-1")),
            ("version".to_owned(), n("7")),
            ("event_type".to_owned(), s("Thing")),
            ("schema_version".to_owned(), n("2")),
            ("payload".to_owned(), s(r#"{"n":1}"#)),
            ("event_id".to_owned(), s(&m.event_id.to_string())),
            ("command_id".to_owned(), s(&m.command_id.to_string())),
            ("correlation_id".to_owned(), s("corr")),
            ("causation_id".to_owned(), s("cause")),
            ("occurred_at".to_owned(), s("2026-11-27T10:00:00.123+00:00")),
            ("actor".to_owned(), s("tester")),
            (
                "traceparent".to_owned(),
                s("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            ),
        ]);
        let item = to_item(&unchained("s-1", 7, &event)).unwrap();
        assert_eq!(item, expected);
        let snapshot = Snapshot {
            shape: 3,
            state: "{}".into(),
            recent: "[]".into(),
            window: Some(128),
        };
        let with = with_snapshot(item, &snapshot);
        let mut expected = expected;
        expected.extend([
            ("snapshot".to_owned(), s("{}")),
            ("snapshot_shape".to_owned(), n("3")),
            ("recent_commands".to_owned(), s("[]")),
            ("snapshot_window".to_owned(), n("128")),
        ]);
        assert_eq!(with, expected);
        assert_eq!(snapshot_of(&with), Some(snapshot));
        assert_eq!(from_item(&with).unwrap().metadata, m);
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
            to_item(&unchained("s", 1, &event)),
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
        let mut item = to_item(&unchained("s", 1, &event)).unwrap();
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
        let mut item = to_item(&unchained(
            "s",
            1,
            &NewEvent {
                event_type: "T".into(),
                schema_version: 1,
                payload: "{}".into(),
                metadata: metadata(),
            },
        ))
        .unwrap();
        item.remove("payload");
        assert!(matches!(
            from_item(&item),
            Err(EventStoreError::Corrupt { .. })
        ));
    }
}
