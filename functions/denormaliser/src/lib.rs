//! The denormaliser: folds a batch from the MSK event source mapping (`KafkaEvent`) into one projection.
//!
//! Records arrive grouped by topic-partition, base64 encoded, at least once. Each is decoded into an event; a
//! record that cannot be (not base64, not an envelope, an unknown event type, an invalid payload) is a poison
//! record: it goes to the dead-letter topic with its original bytes, the error and its topic/partition/offset, and
//! the batch goes on. The events are grouped by account and applied concurrently, each account in order, with a
//! version guard (see `tributary_projections::apply`). Any other failure fails the invocation, so the batch is
//! retried — safe, because applying is idempotent.

use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use bank_account::AccountEvent;
use base64::Engine;
use futures::stream::{self, StreamExt, TryStreamExt};
use std::collections::BTreeMap;
use tributary_core::{EventMetadata, RecordedEvent};
use tributary_dynamodb::EventStore;
use tributary_kafka::{DeadLetter, EventEnvelope, PublishError, Publisher, ENVELOPE_VERSION};
use tributary_projections::{apply, Projection, ProjectionError, ProjectionStore};

/// Accounts applied at the same time within one batch.
const CONCURRENT_ACCOUNTS: usize = 16;

/// The batch must be retried.
#[derive(Debug, thiserror::Error)]
pub enum DenormaliserError {
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    #[error("cannot dead-letter a poison record: {0}")]
    DeadLetter(#[from] PublishError),
}

/// What a batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub records: usize,
    pub accounts: usize,
    pub dead_lettered: usize,
    /// Accounts whose gap was filled from the event store.
    pub caught_up: usize,
}

/// One projection's denormaliser: everything it needs, built once per container.
#[derive(Clone)]
pub struct Denormaliser {
    pub projection: Projection,
    pub projections: ProjectionStore,
    pub events: EventStore,
    pub dead_letters: Publisher,
}

impl Denormaliser {
    /// Apply one batch.
    pub async fn handle(&self, batch: &KafkaEvent) -> Result<BatchReport, DenormaliserError> {
        let mut report = BatchReport::default();
        let mut by_account: BTreeMap<String, Vec<RecordedEvent<AccountEvent>>> = BTreeMap::new();
        let mut partitions: Vec<&String> = batch.records.keys().collect();
        partitions.sort();
        for partition in partitions {
            for record in &batch.records[partition] {
                report.records += 1;
                match decode(record) {
                    Ok(event) => by_account
                        .entry(event.stream_id.clone())
                        .or_default()
                        .push(event),
                    Err(error) => {
                        tracing::warn!(%error, partition, offset = record.offset, "poison record to the dead-letter topic");
                        self.dead_letters
                            .publish_dead_letter(&self.dead_letter(record, partition, error))
                            .await?;
                        report.dead_lettered += 1;
                    }
                }
            }
        }
        report.accounts = by_account.len();
        let applied: Vec<_> = stream::iter(by_account)
            .map(|(stream, events)| async move {
                apply(
                    self.projection,
                    &self.projections,
                    &self.events,
                    &stream,
                    &events,
                )
                .await
            })
            .buffer_unordered(CONCURRENT_ACCOUNTS)
            .try_collect()
            .await?;
        report.caught_up = applied.iter().filter(|a| a.caught_up).count();
        Ok(report)
    }

    fn dead_letter(&self, record: &KafkaRecord, partition: &str, error: String) -> DeadLetter {
        DeadLetter {
            envelope_version: ENVELOPE_VERSION,
            consumer: self.projection.name().to_owned(),
            topic: record
                .topic
                .clone()
                .unwrap_or_else(|| topic_of(partition).to_owned()),
            partition: record.partition,
            offset: record.offset,
            key_base64: record.key.clone(),
            value_base64: record.value.clone(),
            error,
            failed_at: chrono::Utc::now(),
        }
    }
}

/// The topic in a `topic-partition` key of the records map.
fn topic_of(partition_key: &str) -> &str {
    partition_key
        .rsplit_once('-')
        .map_or(partition_key, |(topic, _)| topic)
}

/// A record as an account event, or why it is poison.
pub fn decode(record: &KafkaRecord) -> Result<RecordedEvent<AccountEvent>, String> {
    let value = record.value.as_deref().ok_or("the record has no value")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|e| format!("the value is not base64: {e}"))?;
    let envelope: EventEnvelope =
        serde_json::from_slice(&bytes).map_err(|e| format!("not an event envelope: {e}"))?;
    if envelope.envelope_version != ENVELOPE_VERSION {
        return Err(format!(
            "unsupported envelope version {}",
            envelope.envelope_version
        ));
    }
    let event: AccountEvent = serde_json::from_value(envelope.payload.clone()).map_err(|e| {
        format!(
            "{} v{} is not a valid account event: {e}",
            envelope.event_type, envelope.schema_version
        )
    })?;
    if tributary_core::DomainEvent::event_type(&event) != envelope.event_type {
        return Err(format!(
            "envelope says {}, payload says {}",
            envelope.event_type,
            tributary_core::DomainEvent::event_type(&event)
        ));
    }
    if envelope.version == 0 {
        return Err("version 0 is not a valid stream position".into());
    }
    Ok(RecordedEvent {
        stream_id: envelope.aggregate_id,
        version: envelope.version,
        event_type: envelope.event_type,
        schema_version: envelope.schema_version,
        event,
        metadata: EventMetadata {
            event_id: envelope.event_id,
            command_id: envelope.command_id,
            correlation_id: envelope.correlation_id,
            causation_id: envelope.causation_id,
            occurred_at: envelope.occurred_at,
            actor: envelope.actor,
            idempotency_key: None,
            request_fingerprint: None,
            traceparent: None,
        },
    })
}
