//! The records on the topics: versioned JSON envelopes that carry an event (or a rejection) with its metadata.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tributary_dynamodb::StoredEvent;
use uuid::Uuid;

/// Version of the envelope format itself (not of the payloads inside).
pub const ENVELOPE_VERSION: u32 = 1;

/// A committed event on the events topic. Kafka key = `aggregate_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub envelope_version: u32,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    /// The event-store stream, e.g. `account-<uuid>`.
    pub aggregate_id: String,
    /// Position in the stream (1, 2, 3, ... contiguous).
    pub version: u64,
    pub occurred_at: DateTime<Utc>,
    pub command_id: Uuid,
    pub correlation_id: String,
    pub causation_id: String,
    pub actor: String,
    /// The domain event as JSON.
    pub payload: Value,
}

impl EventEnvelope {
    /// The envelope of a stored event.
    pub fn from_stored(event: &StoredEvent) -> Result<Self, serde_json::Error> {
        let m = &event.metadata;
        Ok(Self {
            envelope_version: ENVELOPE_VERSION,
            event_id: m.event_id,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            aggregate_id: event.stream_id.clone(),
            version: event.version,
            occurred_at: m.occurred_at,
            command_id: m.command_id,
            correlation_id: m.correlation_id.clone(),
            causation_id: m.causation_id.clone(),
            actor: m.actor.clone(),
            payload: serde_json::from_str(&event.payload)?,
        })
    }
}

/// A command refused by a business rule, on the rejections topic (a "failure event"). Not part of any stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectionEnvelope {
    pub envelope_version: u32,
    pub rejection_id: Uuid,
    /// The stream the command addressed.
    pub aggregate_id: String,
    /// The stream version the command was decided at.
    pub aggregate_version: u64,
    /// The command's name, e.g. `Withdraw`.
    pub command: String,
    /// The command's fields as JSON.
    pub command_body: Value,
    /// Stable reason code, e.g. `insufficient-funds`.
    pub reason: String,
    /// Human-readable explanation.
    pub detail: String,
    pub command_id: Uuid,
    pub correlation_id: String,
    pub actor: String,
    pub occurred_at: DateTime<Utc>,
}

/// A record a consumer could not process, on the dead-letter topic: the original bytes and where they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub envelope_version: u32,
    /// Who gave up on it (e.g. the projection's consumer group).
    pub consumer: String,
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    /// The original key and value, base64 (as the MSK event source mapping delivers them).
    pub key_base64: Option<String>,
    pub value_base64: Option<String>,
    pub error: String,
    pub failed_at: DateTime<Utc>,
}
