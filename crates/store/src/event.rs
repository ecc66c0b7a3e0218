//! Events before and after they are stored, and the snapshot an event's position may carry.

use crate::chain::{chain_hash, content_hash, Link, Seal};
use crate::error::EventStoreError;
use tributary_core::{DomainEvent, EventMetadata, RecordedEvent};

/// What an event's position may carry besides the event: the aggregate's state after it (serialised by the aggregate
/// layer, with the version of the state's shape) and the recent commands, so that a load reads back only to the
/// newest position that has one. Never part of the event: not decoded into it, never published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub shape: u32,
    /// The state, as the aggregate serialised it (JSON).
    pub state: String,
    /// The recent commands (JSON, the aggregate layer's format).
    pub recent: String,
    /// How many recent commands the writer kept (its idempotency window), so that a writer configured with a
    /// smaller one (an operator's shell) keeps the deployment's (`None`: written before this was recorded).
    pub window: Option<u32>,
}

/// An event ready to be appended: its type, schema version, JSON payload and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_type: String,
    pub schema_version: u32,
    /// The event serialised as JSON.
    pub payload: String,
    pub metadata: EventMetadata,
}

impl NewEvent {
    /// Serialise a domain event.
    pub fn from_domain(event: &impl DomainEvent, metadata: EventMetadata) -> Self {
        Self {
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            payload: serde_json::to_string(event).expect("domain events always serialise"),
            metadata,
        }
    }
}

/// An event as stored: position, type, raw JSON payload and metadata; its place in the stream's hash chain (none
/// for an event written before chaining), and the seal on it when it is a signed checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub stream_id: String,
    pub version: u64,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: String,
    pub metadata: EventMetadata,
    pub link: Option<Link>,
    pub seal: Option<Seal>,
}

impl StoredEvent {
    /// The stored form of an event appended at `version` of `stream_id`, after an event whose chain hash is
    /// `previous_chain` (`None`: the stream's first event, or one written before chaining).
    pub fn committed(
        stream_id: &str,
        version: u64,
        event: NewEvent,
        previous_chain: Option<&str>,
    ) -> Self {
        let mut stored = Self {
            stream_id: stream_id.to_owned(),
            version,
            event_type: event.event_type,
            schema_version: event.schema_version,
            payload: event.payload,
            metadata: event.metadata,
            link: None,
            seal: None,
        };
        let content = stored.content_hash_at(version);
        stored.link = Some(Link {
            chain: chain_hash(previous_chain, &content),
            content,
            previous: previous_chain.map(str::to_owned),
        });
        stored
    }

    /// Events `first`, `first + 1`, ... of `stream_id`, each chained to the one before, the first to
    /// `previous_chain`.
    pub fn chained(
        stream_id: &str,
        first: u64,
        events: impl IntoIterator<Item = NewEvent>,
        previous_chain: Option<&str>,
    ) -> Vec<Self> {
        let mut previous = previous_chain.map(str::to_owned);
        (first..)
            .zip(events)
            .map(|(version, event)| {
                let stored = Self::committed(stream_id, version, event, previous.as_deref());
                previous = stored.link.as_ref().map(|link| link.chain.clone());
                stored
            })
            .collect()
    }

    /// The content hash this event would have if it were stored at `version` (its own, unless it was moved).
    pub fn content_hash_at(&self, version: u64) -> String {
        content_hash(
            &self.stream_id,
            version,
            &self.event_type,
            self.schema_version,
            &self.payload,
            &self.metadata,
        )
    }

    /// This event's chain hash, if it has one.
    pub fn chain(&self) -> Option<&str> {
        self.link.as_ref().map(|link| link.chain.as_str())
    }

    /// Decode the payload into a domain event of the current shape (upcast from the stored schema version: see
    /// [`tributary_core::upcast`]).
    pub fn decode<E: DomainEvent>(&self) -> Result<RecordedEvent<E>, EventStoreError> {
        let corrupt = |reason: String| EventStoreError::Corrupt {
            stream_id: self.stream_id.clone(),
            version: self.version.to_string(),
            reason,
        };
        let (event, schema_version) = tributary_core::decode_event_json::<E>(
            &self.event_type,
            self.schema_version,
            &self.metadata,
            &self.payload,
        )
        .map_err(|e| {
            corrupt(format!(
                "payload does not decode as {}: {e}",
                std::any::type_name::<E>()
            ))
        })?;
        Ok(RecordedEvent {
            stream_id: self.stream_id.clone(),
            version: self.version,
            event_type: self.event_type.clone(),
            schema_version,
            event,
            metadata: self.metadata.clone(),
        })
    }
}
