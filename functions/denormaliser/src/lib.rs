//! The denormaliser: folds a batch from the MSK event source mapping (`KafkaEvent`) into one projection.
//!
//! Records arrive grouped by topic-partition, base64 encoded, at least once. Each is decoded and checked (its key
//! must be its aggregate id), then the batch's accounts are brought up to date concurrently, each from the event
//! store (see `tributary_projections::apply`): Kafka says which accounts changed and how far; the store says what
//! happened. A record naming a version the store does not hold is logged with its coordinates and counted, and
//! changes nothing. What fails is sorted by whether retrying can help:
//! * a record that can never apply (not base64, not an envelope, an unknown event type, an invalid payload, a key
//!   that is not its aggregate id, an aggregate that is not an account, a stream that does not fold) costs one dead
//!   letter — with its original bytes, the error and its topic/partition/offset — and the rest of the batch goes on;
//! * anything else (throttling, timeouts, a projection that kept moving) fails the invocation, so the batch is
//!   retried — safe, because applying is idempotent — and the mapping retries without a cap.
//!
//! Dead letters are published only once the rest of the batch is applied, so a batch that fails and is retried
//! does not publish its letters twice (they are published again only if publishing them failed; readers can drop
//! such duplicates by the letters' `id`).

pub mod cli;
pub mod redrive;

use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use bank_account::AccountEvent;
use base64::Engine;
use futures::stream::{self, StreamExt};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tributary_core::{EventMetadata, RecordedEvent};
use tributary_dynamodb::EventStore;
use tributary_kafka::{DeadLetter, EventEnvelope, LazyPublisher, PublishError, ENVELOPE_VERSION};
use tributary_projections::{apply, Applied, Projection, ProjectionError, ProjectionStore};

/// Accounts applied at the same time within one batch.
pub const CONCURRENT_ACCOUNTS: usize = 16;
/// How long a batch with dead letters waits for a publisher that is still connecting.
const CONNECT_PATIENCE: Duration = Duration::from_secs(10);

/// The batch must be retried.
#[derive(Debug, thiserror::Error)]
pub enum DenormaliserError {
    #[error("{failed} account(s) could not be applied for now, e.g. {stream}: {error}")]
    Transient {
        failed: usize,
        stream: String,
        error: ProjectionError,
    },
    #[error("cannot publish dead letters: {0}")]
    DeadLetters(#[from] PublishError),
    #[error("cannot publish dead letters: the Kafka publisher is not connected yet")]
    NoPublisher,
}

/// What a batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub records: usize,
    pub accounts: usize,
    pub dead_lettered: usize,
    /// Accounts for which the event store held events this batch did not carry (a gap, filled from the store).
    pub caught_up: usize,
    /// Records whose version the event store does not hold (forged, or from another system): logged with their
    /// coordinates, counted, never applied.
    pub ahead_of_store: usize,
}

/// The consumer group a projection's denormaliser runs as, unless configured otherwise.
pub fn default_consumer_group(projection: Projection) -> String {
    format!("tributary-{}", projection.name())
}

/// A record of the batch, decoded, with its position among the batch's records (for a dead letter).
struct Delivered {
    event: RecordedEvent<AccountEvent>,
    origin: usize,
}

/// One projection's denormaliser: everything it needs, built once per container.
#[derive(Clone)]
pub struct Denormaliser {
    pub projection: Projection,
    /// The consumer group it runs as (named on its dead letters).
    pub consumer_group: String,
    pub projections: ProjectionStore,
    pub events: EventStore,
    /// Where dead letters go (connected in the background).
    pub dead_letters: LazyPublisher,
}

impl Denormaliser {
    /// Apply one batch: `Ok` once every record is applied or dead-lettered, `Err` when the batch must be retried.
    pub async fn handle(&self, batch: &KafkaEvent) -> Result<BatchReport, DenormaliserError> {
        let mut report = BatchReport::default();
        let mut letters = Vec::new();
        let mut by_account: BTreeMap<String, Vec<Delivered>> = BTreeMap::new();
        let mut partitions: Vec<&String> = batch.records.keys().collect();
        partitions.sort();
        let origins: Vec<(&str, &KafkaRecord)> = partitions
            .into_iter()
            .flat_map(|p| batch.records[p].iter().map(move |r| (p.as_str(), r)))
            .collect();
        for (origin, &(partition, record)) in origins.iter().enumerate() {
            report.records += 1;
            match decode(record) {
                Ok(event) => by_account
                    .entry(event.stream_id.clone())
                    .or_default()
                    .push(Delivered { event, origin }),
                Err(error) => {
                    tracing::warn!(%error, partition, offset = record.offset, "poison record: to the dead-letter topic");
                    letters.push(self.dead_letter(record, partition, error));
                }
            }
        }
        report.accounts = by_account.len();
        let outcomes: Vec<_> = stream::iter(by_account)
            .map(|(stream, delivered)| self.apply_account(stream, delivered))
            .buffer_unordered(CONCURRENT_ACCOUNTS)
            .collect()
            .await;
        let mut transient = Vec::new();
        for (stream, delivered, outcome) in outcomes {
            match outcome {
                Ok(applied) => {
                    let carried: BTreeSet<u64> =
                        delivered.iter().map(|d| d.event.version).collect();
                    let filled = (applied.from + 1..=applied.to).any(|v| !carried.contains(&v));
                    report.caught_up += usize::from(filled);
                    let head = applied.store_head.unwrap_or(u64::MAX);
                    for d in delivered.iter().filter(|d| d.event.version > head) {
                        let (partition, record) = origins[d.origin];
                        tracing::warn!(
                            %stream,
                            version = d.event.version,
                            store_head = head,
                            partition,
                            offset = record.offset,
                            "a record names a version the event store does not hold; nothing applied from it"
                        );
                        report.ahead_of_store += 1;
                    }
                }
                Err(error) if error.is_permanent() => {
                    tracing::warn!(%error, %stream, records = delivered.len(), "events that can never apply: to the dead-letter topic");
                    letters.extend(delivered.iter().map(|d| {
                        let (partition, record) = origins[d.origin];
                        self.dead_letter(record, partition, error.to_string())
                    }));
                }
                Err(error) => transient.push((stream, error)),
            }
        }
        let failed = transient.len();
        if let Some((stream, error)) = transient.into_iter().next() {
            return Err(DenormaliserError::Transient {
                failed,
                stream,
                error,
            });
        }
        if !letters.is_empty() {
            let publisher = self
                .dead_letters
                .wait(CONNECT_PATIENCE)
                .await
                .ok_or(DenormaliserError::NoPublisher)?;
            publisher.publish_dead_letters(&letters).await?;
            report.dead_lettered = letters.len();
            tributary_runtime::metrics::count(
                "DeadLetters",
                letters.len() as u64,
                &[("Consumer", &self.consumer_group)],
            );
        }
        if report.ahead_of_store > 0 {
            tributary_runtime::metrics::count(
                "RecordsAheadOfStore",
                report.ahead_of_store as u64,
                &[("Consumer", &self.consumer_group)],
            );
        }
        Ok(report)
    }

    /// Bring one account's projection up to what the store holds, as far as its delivered records reach; the
    /// outcome with what it was about.
    async fn apply_account(
        &self,
        stream: String,
        delivered: Vec<Delivered>,
    ) -> (String, Vec<Delivered>, Result<Applied, ProjectionError>) {
        let up_to = delivered.iter().map(|d| d.event.version).max().unwrap_or(0);
        let outcome = apply(
            self.projection,
            &self.projections,
            &self.events,
            &stream,
            up_to,
        )
        .await;
        (stream, delivered, outcome)
    }

    fn dead_letter(&self, record: &KafkaRecord, partition: &str, error: String) -> DeadLetter {
        DeadLetter::kafka_record(
            &self.consumer_group,
            record
                .topic
                .as_deref()
                .unwrap_or_else(|| topic_of(partition)),
            record.partition,
            record.offset,
            record.key.clone(),
            record.value.clone(),
            error,
        )
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
    if envelope.version == 0 {
        return Err("version 0 is not a valid stream position".into());
    }
    let key = record
        .key
        .as_deref()
        .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok());
    if key.as_deref() != Some(envelope.aggregate_id.as_bytes()) {
        return Err(format!(
            "the record's key is not its aggregate id {} (a record on the wrong key is never applied)",
            envelope.aggregate_id
        ));
    }
    let metadata = EventMetadata {
        event_id: envelope.event_id,
        command_id: envelope.command_id,
        correlation_id: envelope.correlation_id,
        causation_id: envelope.causation_id,
        occurred_at: envelope.occurred_at,
        actor: envelope.actor,
        idempotency_key: None,
        request_fingerprint: None,
        traceparent: None,
    };
    // Records published before an event's shape changed are read in the current shape, as the store's are.
    let (event, schema_version) = tributary_core::decode_event::<AccountEvent>(
        &envelope.event_type,
        envelope.schema_version,
        &metadata,
        envelope.payload,
    )
    .map_err(|e| format!("not a valid account event: {e}"))?;
    Ok(RecordedEvent {
        stream_id: envelope.aggregate_id,
        version: envelope.version,
        event_type: envelope.event_type,
        schema_version,
        event,
        metadata,
    })
}
