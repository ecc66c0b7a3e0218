//! Records of an MSK event source mapping, read as event envelopes: base64 value, envelope version, a stream
//! position, and a key that must be the aggregate id (a record on the wrong key is never applied). What a record
//! cannot be read as is the reason it is dead-lettered.

use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;
use tributary_core::{DomainEvent, EventMetadata, RecordedEvent, TraceParent};
use tributary_kafka::{DeadLetter, EventEnvelope, LazyPublisher, PublishError, ENVELOPE_VERSION};

/// How long a batch with dead letters waits for a publisher that is still connecting.
const CONNECT_PATIENCE: Duration = Duration::from_secs(10);

/// A record of the batch the consumer reads: its stream, its position, and where it is in the batch (for a dead
/// letter).
#[derive(Debug, Clone)]
pub struct Delivered {
    pub stream_id: String,
    pub version: u64,
    pub origin: usize,
    /// When the command that produced it was accepted (the envelope's `occurred_at`).
    pub occurred_at: DateTime<Utc>,
    /// The trace it belongs to (its `traceparent` header), if it carries one.
    pub trace: Option<TraceParent>,
}

/// The value of the Kafka header `name` of `record`, if it has one that is UTF-8.
pub fn header(record: &KafkaRecord, name: &str) -> Option<String> {
    record
        .headers
        .iter()
        .find_map(|headers| headers.get(name))
        .and_then(|bytes| String::from_utf8(bytes.iter().map(|b| *b as u8).collect()).ok())
}

/// Read `record` as an envelope; `reads` says whether the consumer reads the envelope's stream (`None`: a record of
/// another aggregate on the same topic). `Err`: why the record is poison.
pub fn decode(
    record: &KafkaRecord,
    reads: impl Fn(&str) -> bool,
) -> Result<Option<EventEnvelope>, String> {
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
    Ok(reads(&envelope.aggregate_id).then_some(envelope))
}

/// The metadata an envelope carries (what a Kafka record knows of the stored event's metadata).
pub fn metadata(envelope: &EventEnvelope) -> EventMetadata {
    EventMetadata {
        event_id: envelope.event_id,
        command_id: envelope.command_id,
        correlation_id: envelope.correlation_id.clone(),
        causation_id: envelope.causation_id.clone(),
        occurred_at: envelope.occurred_at,
        actor: envelope.actor.clone(),
        idempotency_key: None,
        request_fingerprint: None,
        traceparent: None,
    }
}

/// A record as an event of type `E` in its current shape (records published before a shape changed are upcast,
/// as the store's items are), or why it is poison.
pub fn decode_event<E: DomainEvent>(record: &KafkaRecord) -> Result<RecordedEvent<E>, String> {
    let envelope = decode(record, |_| true)?.expect("every stream is read here");
    let metadata = metadata(&envelope);
    let (event, schema_version) = tributary_core::decode_event::<E>(
        &envelope.event_type,
        envelope.schema_version,
        &metadata,
        envelope.payload,
    )
    .map_err(|e| format!("not a valid {} event: {e}", std::any::type_name::<E>()))?;
    Ok(RecordedEvent {
        stream_id: envelope.aggregate_id,
        version: envelope.version,
        event_type: envelope.event_type,
        schema_version,
        event,
        metadata,
    })
}

/// A batch sorted for a consumer: the records of each stream it reads (in offset order within a partition), the
/// dead letters of its poison records, and how many records were of streams it does not read.
pub struct Sorted<'a> {
    /// Every record of the batch with its `topic-partition`, in a stable order (a [`Delivered`]'s `origin`).
    pub origins: Vec<(&'a str, &'a KafkaRecord)>,
    pub by_stream: BTreeMap<String, Vec<Delivered>>,
    pub letters: Vec<DeadLetter>,
    pub not_read: usize,
    consumer_group: &'a str,
}

impl<'a> Sorted<'a> {
    /// Sort `batch` for `consumer_group`: `reads` says which streams it reads, `check` whether a record's event
    /// decodes for it (`Err`: why not — the record is poison).
    pub fn new(
        batch: &'a KafkaEvent,
        consumer_group: &'a str,
        reads: impl Fn(&str) -> bool,
        check: impl Fn(EventEnvelope) -> Result<(), String>,
    ) -> Self {
        let mut partitions: Vec<&String> = batch.records.keys().collect();
        partitions.sort();
        let mut sorted = Self {
            origins: partitions
                .into_iter()
                .flat_map(|p| batch.records[p].iter().map(move |r| (p.as_str(), r)))
                .collect(),
            by_stream: BTreeMap::new(),
            letters: Vec::new(),
            not_read: 0,
            consumer_group,
        };
        for origin in 0..sorted.origins.len() {
            let (partition, record) = sorted.origins[origin];
            let read = decode(record, &reads).and_then(|decoded| match decoded {
                None => Ok(None),
                Some(envelope) => {
                    let delivered = Delivered {
                        stream_id: envelope.aggregate_id.clone(),
                        version: envelope.version,
                        origin,
                        occurred_at: envelope.occurred_at,
                        trace: header(record, "traceparent")
                            .and_then(|raw| TraceParent::parse(&raw)),
                    };
                    check(envelope).map(|()| Some(delivered))
                }
            });
            match read {
                Ok(Some(delivered)) => sorted
                    .by_stream
                    .entry(delivered.stream_id.clone())
                    .or_default()
                    .push(delivered),
                Ok(None) => sorted.not_read += 1,
                Err(error) => {
                    tracing::warn!(%error, partition, offset = record.offset, "poison record: to the dead-letter topic");
                    sorted.letters.push(sorted.letter(origin, error));
                }
            }
        }
        sorted
    }

    /// Records in the batch.
    pub fn records(&self) -> usize {
        self.origins.len()
    }

    /// The dead letter of the record at `origin`, failed with `error`.
    pub fn letter(&self, origin: usize, error: String) -> DeadLetter {
        let (partition, record) = self.origins[origin];
        DeadLetter::kafka_record(
            self.consumer_group,
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

    /// Dead-letter every record of one stream (its events can never apply).
    pub fn reject_stream(&mut self, delivered: &[Delivered], error: &str) {
        let letters: Vec<_> = delivered
            .iter()
            .map(|d| self.letter(d.origin, error.to_owned()))
            .collect();
        self.letters.extend(letters);
    }
}

/// A batch must be retried: streams failed for now (the first is named), or its dead letters were not published.
#[derive(Debug, thiserror::Error)]
pub enum BatchError<E: std::error::Error + 'static> {
    #[error("{failed} stream(s) could not be handled for now, e.g. {stream}: {error}")]
    Transient {
        failed: usize,
        stream: String,
        error: E,
    },
    #[error(transparent)]
    DeadLetters(#[from] LetterError),
}

impl Sorted<'_> {
    /// End the batch once every stream was handled: a retry if any failed for now (nothing published: the retried
    /// batch publishes its letters once), else the letters published; how many.
    pub async fn settle<E: std::error::Error + 'static>(
        &self,
        transient: Vec<(String, E)>,
        dead_letters: &LazyPublisher,
    ) -> Result<usize, BatchError<E>> {
        let failed = transient.len();
        if let Some((stream, error)) = transient.into_iter().next() {
            return Err(BatchError::Transient {
                failed,
                stream,
                error,
            });
        }
        Ok(publish_letters(dead_letters, &self.letters, self.consumer_group).await?)
    }
}

/// Publishing a batch's dead letters failed: the batch must be retried.
#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error("cannot publish dead letters: {0}")]
    Publish(#[from] PublishError),
    #[error("cannot publish dead letters: the Kafka publisher is not connected yet")]
    NoPublisher,
}

/// Publish `letters` (once the rest of the batch is done, so a retried batch does not publish them twice), counted
/// in the `DeadLetters` metric of `consumer_group`.
pub async fn publish_letters(
    dead_letters: &LazyPublisher,
    letters: &[DeadLetter],
    consumer_group: &str,
) -> Result<usize, LetterError> {
    if letters.is_empty() {
        return Ok(0);
    }
    let publisher = dead_letters
        .wait(CONNECT_PATIENCE)
        .await
        .ok_or(LetterError::NoPublisher)?;
    publisher.publish_dead_letters(letters).await?;
    tributary_runtime::metrics::count(
        "DeadLetters",
        letters.len() as u64,
        &[("Consumer", consumer_group)],
    );
    Ok(letters.len())
}

/// The topic in a `topic-partition` key of the records map.
fn topic_of(partition_key: &str) -> &str {
    partition_key
        .rsplit_once('-')
        .map_or(partition_key, |(topic, _)| topic)
}
