//! Metadata that travels with every event, and the shape of an event once it is stored.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who and what caused an event, and when. Stored with every event and carried to Kafka.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// Unique id of this event.
    pub event_id: Uuid,
    /// Id of the command that produced it (all events of one command share it).
    pub command_id: Uuid,
    /// Id of the whole conversation (the first request's id, propagated downstream).
    pub correlation_id: String,
    /// Id of the message that directly caused this one (here: the command).
    pub causation_id: String,
    /// When the command was accepted (the shell's clock, passed in).
    pub occurred_at: DateTime<Utc>,
    /// Who asked (authenticated principal, or a local placeholder).
    pub actor: String,
    /// The client's idempotency key, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Fingerprint of the request that produced the event (see [`crate::fingerprint`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_fingerprint: Option<String>,
    /// W3C `traceparent` of the command that produced the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// An event as read back from the event store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent<E> {
    /// The stream (aggregate) it belongs to.
    pub stream_id: String,
    /// Position in the stream: 1 for the first event, contiguous.
    pub version: u64,
    /// Name of the event type.
    pub event_type: String,
    /// Schema version of the payload.
    pub schema_version: u32,
    /// The domain event.
    pub event: E,
    /// Who, what and when.
    pub metadata: EventMetadata,
}
