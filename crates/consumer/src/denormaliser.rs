//! The denormaliser: folds a batch from the MSK event source mapping (`KafkaEvent`) into one read model, of any
//! domain ([`ReadModel`]).
//!
//! Records arrive grouped by topic-partition, base64 encoded, at least once. Each is decoded and checked (its key
//! must be its aggregate id); records of streams the read model does not read (another aggregate on the same topic)
//! are skipped and counted. Then the batch's streams are brought up to date concurrently, each from the event store
//! (see `tributary_projections::apply`): Kafka says which streams changed and how far; the store says what
//! happened. A record naming a version the store does not hold is logged with its coordinates and counted, and
//! changes nothing. What fails is sorted by whether retrying can help:
//! * a record that can never apply (not base64, not an envelope, an unknown event type, an invalid payload, a key
//!   that is not its aggregate id, a stream that does not fold) costs one dead letter — with its original bytes, the
//!   error and its topic/partition/offset — and the rest of the batch goes on;
//! * anything else (throttling, timeouts, a projection that kept moving) fails the invocation, so the batch is
//!   retried — safe, because applying is idempotent — and the mapping retries without a cap.
//!
//! Dead letters are published only once the rest of the batch is applied, so a batch that fails and is retried
//! does not publish its letters twice (they are published again only if publishing them failed; readers can drop
//! such duplicates by the letters' `id`).

use crate::observe;
use crate::record::{self, BatchError, Delivered, Sorted};
use crate::CONCURRENT_STREAMS;
use aws_lambda_events::event::kafka::KafkaEvent;
use futures::stream::{self, StreamExt};
use std::collections::BTreeSet;
use std::sync::Arc;
use tracing::Instrument;
use tributary_kafka::LazyPublisher;
use tributary_projections::{
    apply, versions, Applied, ProjectionError, ProjectionStore, ReadModel,
};
use tributary_store::EventStore;

/// The batch must be retried.
pub type DenormaliserError = BatchError<ProjectionError>;

/// What a batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub records: usize,
    /// Streams of the batch this read model reads.
    pub streams: usize,
    /// Records of streams this read model does not read (another aggregate's events on the same topic).
    pub not_read: usize,
    pub dead_lettered: usize,
    /// Streams for which the event store held events this batch did not carry (a gap, filled from the store).
    pub caught_up: usize,
    /// Records whose version the event store does not hold (forged, or from another system): logged with their
    /// coordinates, counted, never applied.
    pub ahead_of_store: usize,
    /// The read model's version is retiring or retired: the batch was acknowledged and nothing written.
    pub retired: bool,
}

/// The consumer group a read model's denormaliser runs as, unless configured otherwise.
pub fn default_consumer_group(read_model: &str) -> String {
    format!("tributary-{read_model}")
}

/// One read model's denormaliser: everything it needs, built once per container.
#[derive(Clone)]
pub struct Denormaliser {
    pub projection: Arc<dyn ReadModel>,
    /// The consumer group it runs as (named on its dead letters).
    pub consumer_group: String,
    pub projections: ProjectionStore,
    pub events: Arc<dyn EventStore>,
    /// Where dead letters go (connected in the background).
    pub dead_letters: LazyPublisher,
}

impl Denormaliser {
    /// Apply one batch: `Ok` once every record is applied or dead-lettered, `Err` when the batch must be retried.
    pub async fn handle(&self, batch: &KafkaEvent) -> Result<BatchReport, DenormaliserError> {
        let model = &self.projection;
        if !self.may_write().await? {
            let records = batch.records.values().map(Vec::len).sum();
            tracing::info!(read_model = %model.label(), records, "this version is retired: the batch is acknowledged, nothing written");
            return Ok(BatchReport {
                records,
                retired: true,
                ..BatchReport::default()
            });
        }
        let mut sorted = Sorted::new(
            batch,
            &self.consumer_group,
            |stream| model.entity(stream).is_some(),
            |envelope| {
                let metadata = record::metadata(&envelope);
                model
                    .decodes(
                        &envelope.event_type,
                        envelope.schema_version,
                        &metadata,
                        envelope.payload,
                    )
                    .map_err(|e| format!("not a valid {} event: {e}", model.name()))
            },
        );
        let mut report = BatchReport {
            records: sorted.records(),
            streams: sorted.by_stream.len(),
            not_read: sorted.not_read,
            ..BatchReport::default()
        };
        let mut counts = observe::Applied::default();
        let outcomes: Vec<_> = stream::iter(std::mem::take(&mut sorted.by_stream))
            .map(|(stream, delivered)| self.apply_stream(stream, delivered))
            .buffer_unordered(CONCURRENT_STREAMS)
            .collect()
            .await;
        let mut transient = Vec::new();
        for (stream, delivered, outcome) in outcomes {
            match outcome {
                Ok(applied) => {
                    let carried: BTreeSet<u64> = delivered.iter().map(|d| d.version).collect();
                    let filled = (applied.from + 1..=applied.to).any(|v| !carried.contains(&v));
                    report.caught_up += usize::from(filled);
                    counts.add(observe::Applied::of_stream(
                        &delivered,
                        applied.from,
                        applied.to,
                    ));
                    let head = applied.store_head.unwrap_or(u64::MAX);
                    for d in delivered.iter().filter(|d| d.version > head) {
                        let (partition, record) = sorted.origins[d.origin];
                        tracing::warn!(
                            %stream,
                            version = d.version,
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
                    sorted.reject_stream(&delivered, &error.to_string());
                }
                Err(error) => transient.push((stream, error)),
            }
        }
        // What was applied counts even when the batch is retried for other streams (its retry skips them).
        observe::record_batch(&self.consumer_group, counts);
        tributary_runtime::spans::flush().await;
        report.dead_lettered = sorted.settle(transient, &self.dead_letters).await?;
        if report.ahead_of_store > 0 {
            tributary_runtime::metrics::count(
                "RecordsAheadOfStore",
                report.ahead_of_store as u64,
                &[("Consumer", &self.consumer_group)],
            );
        }
        Ok(report)
    }

    /// Whether this version of the read model may write (not retiring or retired, by the catalog as recently read).
    async fn may_write(&self) -> Result<bool, DenormaliserError> {
        let model = &self.projection;
        versions::may_write(&self.projections, model.name(), model.version())
            .await
            .map_err(|error| BatchError::Transient {
                failed: 0,
                stream: format!("the catalog of {}", model.name()),
                error: ProjectionError::Store(error),
            })
    }

    /// Bring one stream's projection up to what the store holds, as far as its delivered records reach; the
    /// outcome with what it was about.
    async fn apply_stream(
        &self,
        stream: String,
        delivered: Vec<Delivered>,
    ) -> (String, Vec<Delivered>, Result<Applied, ProjectionError>) {
        let up_to = delivered.iter().map(|d| d.version).max().unwrap_or(0);
        let started = std::time::SystemTime::now();
        let span = observe::stream_span(&self.consumer_group, &stream, &delivered);
        let outcome = async {
            let outcome = apply(
                self.projection.as_ref(),
                &self.projections,
                &*self.events,
                &stream,
                up_to,
            )
            .await;
            if let Ok(applied) = &outcome {
                if applied.to > applied.from {
                    tracing::info!(
                        projection = %self.projection.label(),
                        from = applied.from,
                        to = applied.to,
                        "projection written"
                    );
                }
            }
            outcome
        }
        .instrument(span)
        .await;
        observe::record_spans(
            &self.consumer_group,
            &stream,
            &delivered,
            started,
            outcome.as_ref().err().map(ToString::to_string),
        );
        (stream, delivered, outcome)
    }
}
