//! The reactor: the shell of a process manager — a domain reacting to events by sending commands.
//!
//! A batch from the MSK event source mapping is sorted like the denormaliser's (records that are no event envelope,
//! or sit on the wrong key, dead-lettered; records of streams the manager does not react to skipped), then each
//! stream the batch mentions is handed to the [`ProcessManager`] once, concurrently across streams. Like a
//! projection, a process manager reads what happened from the event store, not from the record: a record only says
//! "this stream moved" — so a record whose event this build cannot read (a newer event type, mid-deployment) is not
//! poison: the manager reacts from the store, and if the store's events cannot be read either, that is a failure for
//! now (the batch is retried, the alarm fires, the new build picks it up), never a dead letter that would leave a
//! transfer half done. Reacting must be idempotent (the same batch arrives again after a failure, two workers may
//! react to one stream at once); the manager gets there with idempotency keys on the commands it sends. What fails
//! is sorted like the denormaliser's: a permanent error dead-letters the stream's records, anything else fails the
//! batch so the mapping retries it.

use crate::observe;
use crate::record::{BatchError, Sorted};
use crate::CONCURRENT_STREAMS;
use aws_lambda_events::event::kafka::KafkaEvent;
use futures::stream::{self, StreamExt};
use std::future::Future;
use tracing::Instrument;
use tributary_core::TraceParent;
use tributary_kafka::LazyPublisher;
use tributary_runtime::spans;

/// A domain's process manager, as the reactor drives it.
pub trait ProcessManager: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether it reacts to the events of `stream_id`.
    fn reacts_to(&self, stream_id: &str) -> bool;
    /// Whether retrying can never cure `error` (the stream's records are dead-lettered).
    fn is_permanent(error: &Self::Error) -> bool;
    /// React to `stream_id` having reached at least version `up_to`: send whatever the process needs next, as far
    /// as it can go. Idempotent.
    /// `trace`: the reaction's own trace context, a child of the newest record's that moved the stream (the
    /// commands sent carry it as their `traceparent`, so their events hang under the reaction's span).
    fn react(
        &self,
        stream_id: &str,
        up_to: u64,
        trace: Option<&TraceParent>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// What a batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReactorReport {
    pub records: usize,
    /// Streams reacted to.
    pub streams: usize,
    /// Records of streams the manager does not react to.
    pub not_read: usize,
    pub dead_lettered: usize,
}

/// The batch must be retried.
pub type ReactorError<E> = BatchError<E>;

/// A process manager with what its shell needs, built once per container.
#[derive(Clone)]
pub struct Reactor<M> {
    pub manager: M,
    /// The consumer group it runs as (named on its dead letters).
    pub consumer_group: String,
    pub dead_letters: LazyPublisher,
}

impl<M: ProcessManager> Reactor<M> {
    /// React to one batch: `Ok` once every stream is reacted to or its records dead-lettered, `Err` when the
    /// batch must be retried.
    pub async fn handle(
        &self,
        batch: &KafkaEvent,
    ) -> Result<ReactorReport, ReactorError<M::Error>> {
        let manager = &self.manager;
        // The record's event is not read (the store's are): only its envelope and key must be sound.
        let mut sorted = Sorted::new(
            batch,
            &self.consumer_group,
            |stream| manager.reacts_to(stream),
            |_| Ok(()),
        );
        let mut report = ReactorReport {
            records: sorted.records(),
            streams: sorted.by_stream.len(),
            not_read: sorted.not_read,
            ..ReactorReport::default()
        };
        let group = &self.consumer_group;
        let outcomes: Vec<_> = stream::iter(std::mem::take(&mut sorted.by_stream))
            .map(|(stream, delivered)| async move {
                let newest = delivered.iter().max_by_key(|d| d.version);
                let up_to = newest.map_or(0, |d| d.version);
                let trace = newest.and_then(|d| d.trace.clone());
                // The reaction's own span: the commands it sends continue the trace under it.
                let context = trace.as_ref().map(TraceParent::child);
                let started = std::time::SystemTime::now();
                let span = observe::stream_span(group, &stream, &delivered);
                let outcome = manager
                    .react(&stream, up_to, context.as_ref())
                    .instrument(span)
                    .await;
                if let (Some(context), Some(trace)) = (context, &trace) {
                    if spans::enabled() {
                        spans::record(observe::consumer_span(
                            group,
                            &stream,
                            context,
                            trace,
                            started,
                            outcome.as_ref().err().map(ToString::to_string),
                        ));
                    }
                }
                (stream, delivered, outcome)
            })
            .buffer_unordered(CONCURRENT_STREAMS)
            .collect()
            .await;
        let mut transient = Vec::new();
        let mut counts = observe::Applied::default();
        for (stream, delivered, outcome) in outcomes {
            match outcome {
                Ok(()) => counts.add(observe::Applied::reacted(&delivered)),
                Err(error) if M::is_permanent(&error) => {
                    tracing::warn!(%error, %stream, records = delivered.len(), "a process that can never go on: to the dead-letter topic");
                    sorted.reject_stream(&delivered, &error.to_string());
                }
                Err(error) => transient.push((stream, error)),
            }
        }
        observe::record_batch(&self.consumer_group, counts);
        spans::flush().await;
        report.dead_lettered = sorted.settle(transient, &self.dead_letters).await?;
        Ok(report)
    }
}
