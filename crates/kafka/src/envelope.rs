//! The records on the topics: versioned JSON envelopes that carry an event (or a rejection) with its metadata.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tributary_store::StoredEvent;
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
    /// The event's chain hash in its stream, as stored (`tributary_store::chain`): what `tributary verify` checks, so
    /// a consumer can compare a record with the store. Absent for events written before chaining.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
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
            chain: event.chain().map(str::to_owned),
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

/// A record that can never be processed, on the dead-letter topic: where it came from, its original bytes, who
/// gave up on it and why. One letter per failed record and consumer; if a letter is published twice (its batch was
/// retried after a failure to publish), both carry the same [`DeadLetter::id`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub envelope_version: u32,
    /// `<consumer>/<where the record was>`: the same for every letter about the same record and consumer.
    pub id: String,
    /// Who gave up on it: a projection's consumer group (`tributary-statement`), or the relay (`tributary-relay`).
    pub consumer: String,
    pub source: DeadLetterSource,
    pub error: String,
    pub failed_at: DateTime<Utc>,
}

/// Where a dead letter's record was, with its original content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeadLetterSource {
    /// A Kafka record (as the MSK event source mapping delivered it: key and value base64).
    KafkaRecord {
        topic: String,
        partition: i64,
        offset: i64,
        key_base64: Option<String>,
        value_base64: Option<String>,
    },
    /// A DynamoDB stream record of the events table (its new image in DynamoDB JSON).
    StreamRecord {
        event_source_arn: Option<String>,
        sequence_number: Option<String>,
        new_image: Value,
    },
}

impl DeadLetter {
    /// A letter about a Kafka record.
    pub fn kafka_record(
        consumer: &str,
        topic: &str,
        partition: i64,
        offset: i64,
        key_base64: Option<String>,
        value_base64: Option<String>,
        error: String,
    ) -> Self {
        Self {
            envelope_version: ENVELOPE_VERSION,
            id: format!("{consumer}/{topic}/{partition}/{offset}"),
            consumer: consumer.to_owned(),
            source: DeadLetterSource::KafkaRecord {
                topic: topic.to_owned(),
                partition,
                offset,
                key_base64,
                value_base64,
            },
            error,
            failed_at: Utc::now(),
        }
    }

    /// A letter about a DynamoDB stream record.
    pub fn stream_record(
        consumer: &str,
        event_source_arn: Option<String>,
        sequence_number: Option<String>,
        new_image: Value,
        error: String,
    ) -> Self {
        Self {
            envelope_version: ENVELOPE_VERSION,
            id: format!(
                "{consumer}/{}/{}",
                event_source_arn.as_deref().unwrap_or("stream"),
                sequence_number.as_deref().unwrap_or("unknown")
            ),
            consumer: consumer.to_owned(),
            source: DeadLetterSource::StreamRecord {
                event_source_arn,
                sequence_number,
                new_image,
            },
            error,
            failed_at: Utc::now(),
        }
    }

    /// The aggregate the failed record was about, when it can be told: the Kafka key, or the stream id in the
    /// item. Letters are keyed by it (so one aggregate's letters stay in order), and a re-drive rebuilds it.
    pub fn aggregate_id(&self) -> Option<String> {
        match &self.source {
            DeadLetterSource::KafkaRecord { key_base64, .. } => key_base64
                .as_deref()
                .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok())
                .and_then(|k| String::from_utf8(k).ok())
                .filter(|k| !k.is_empty()),
            DeadLetterSource::StreamRecord { new_image, .. } => {
                new_image["stream_id"]["S"].as_str().map(str::to_owned)
            }
        }
    }
}
