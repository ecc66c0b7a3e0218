//! Re-driving dead letters once their cause is fixed (a new deployment that understands an event type, a repaired
//! read-model item, an operator's repair of a transfer).
//!
//! Consumers act on the event store, not on records, so a dead letter is re-driven by handing the stream it was
//! about to its consumer again ([`Target`]), not by trusting the letter's bytes: a read model recomputes the
//! stream's projection from the store (`tributary_projections::rebuild_stream`, never moving it backwards); a
//! process manager reacts to the stream again and does what is left. Either is idempotent: re-driving twice, or a
//! letter published twice, changes nothing.
//!
//! [`redrive_topic`] reads the dead-letter topic as its own consumer group (`<consumer group>-redrive`), from where
//! the last run stopped to the end of the topic as it was when it started, re-drives the letters of one consumer
//! group, and commits, so the next run re-drives only newer letters. One stream that still fails does not hold the
//! others back: every stream is re-driven, the ones that failed are reported with why, and their letters are
//! published again (so they wait for the next run) before the position is committed past them all. An operator may
//! leave streams out ([`Selection::skip`]: their letters are published again too), or re-drive only some
//! ([`Selection::only`]: a targeted retry that commits nothing).

use crate::reactor::ProcessManager;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tributary_kafka::{client_config, DeadLetter, KafkaConfig, KafkaContext, PublishError};
use tributary_projections::{rebuild_stream, ProjectionError, ProjectionStore, ReadModel};
use tributary_store::EventStore;

/// What a re-drive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Letters read from the topic.
    pub read: usize,
    /// Letters of this consumer group.
    pub ours: usize,
    /// Streams recomputed from the event store.
    pub streams: BTreeSet<String>,
    /// Letters of this group about no stream the read model reads (nothing to re-drive; kept for inspection).
    pub not_read: usize,
    /// Records on the topic that are not dead letters.
    pub unreadable: usize,
    /// Streams that still failed, with why: their letters wait for the next re-drive.
    pub failed: BTreeMap<String, String>,
    /// Streams the operator left out: their letters wait for the next re-drive.
    pub skipped: BTreeSet<String>,
}

/// Which streams a re-drive takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only these streams (a targeted retry: nothing is committed, the other letters are left as they are); `None`:
    /// every stream the letters name.
    pub only: Option<BTreeSet<String>>,
    /// Leave these streams out (their letters are published again, to wait for the next re-drive).
    pub skip: BTreeSet<String>,
}

impl Selection {
    /// Every stream.
    pub fn all() -> Self {
        Self::default()
    }

    fn takes(&self, stream: &str) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(stream)) && !self.skip.contains(stream)
    }
}

/// Why a re-drive stopped.
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("reading the dead-letter topic: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Brokers(#[from] PublishError),
    #[error("recomputing a stream's projection: {0}")]
    Projection(#[from] ProjectionError),
    #[error("reacting to a stream again: {0}")]
    Process(String),
    #[error("the dead-letter topic could not be read to its end within two minutes (read {read} records)")]
    Incomplete { read: usize },
    #[error("the letters were re-driven but the position after them is not committed ({0}); running again re-drives them again, which is harmless")]
    Commit(#[from] tributary_kafka::CommitError),
}

/// What dead letters are re-driven into: a consumer that, given a stream, brings what it keeps for it up to what the
/// event store holds — idempotently, from the store, never from a letter's bytes.
pub trait Target: Sync {
    /// Whether the consumer reads `stream` (letters about other streams are counted and left).
    fn reads(&self, stream: &str) -> bool;
    /// Bring the consumer up to date for `stream`.
    fn redrive(&self, stream: &str) -> impl Future<Output = Result<(), RedriveError>> + Send;
}

/// A read model, re-driven by recomputing each stream's projection from the store (never moving it backwards).
pub struct ReadModelTarget<'a> {
    pub model: &'a dyn ReadModel,
    pub projections: &'a ProjectionStore,
    pub events: &'a dyn EventStore,
}

impl Target for ReadModelTarget<'_> {
    fn reads(&self, stream: &str) -> bool {
        self.model.entity(stream).is_some()
    }

    async fn redrive(&self, stream: &str) -> Result<(), RedriveError> {
        rebuild_stream(self.model, self.projections, self.events, stream).await?;
        Ok(())
    }
}

/// A process manager, re-driven by reacting to each stream again (it decides from the store what is left to do).
pub struct ProcessTarget<'a, M>(pub &'a M);

impl<M: ProcessManager> Target for ProcessTarget<'_, M> {
    fn reads(&self, stream: &str) -> bool {
        self.0.reacts_to(stream)
    }

    async fn redrive(&self, stream: &str) -> Result<(), RedriveError> {
        self.0
            .react(stream, 0, None)
            .await
            .map_err(|e| RedriveError::Process(e.to_string()))
    }
}

/// Re-drive the `letters` of `consumer_group` into `target`: each stream they name that `selection` takes, once,
/// every one of them whatever the others do. Returns the letters to keep (of the streams that failed or were left
/// out), each saying why.
pub async fn redrive_letters(
    target: &impl Target,
    consumer_group: &str,
    letters: &[DeadLetter],
    selection: &Selection,
    report: &mut RedriveReport,
) -> Vec<DeadLetter> {
    let mut streams: BTreeMap<String, Vec<&DeadLetter>> = BTreeMap::new();
    for letter in letters.iter().filter(|l| l.consumer == consumer_group) {
        report.ours += 1;
        match letter.aggregate_id() {
            Some(stream) if target.reads(&stream) => {
                streams.entry(stream).or_default().push(letter)
            }
            _ => report.not_read += 1,
        }
    }
    let mut kept = Vec::new();
    let mut keep = |letters: &[&DeadLetter], why: String| {
        kept.extend(letters.iter().map(|l| DeadLetter {
            error: why.clone(),
            failed_at: chrono::Utc::now(),
            ..(*l).clone()
        }))
    };
    for (stream, letters) in streams {
        if !selection.takes(&stream) {
            if selection.skip.contains(&stream) {
                keep(
                    &letters,
                    format!(
                        "left out of a re-drive by an operator; was: {}",
                        letters[0].error
                    ),
                );
                report.skipped.insert(stream);
            }
            continue;
        }
        match target.redrive(&stream).await {
            Ok(()) => {
                report.streams.insert(stream);
            }
            Err(error) => {
                tracing::warn!(%stream, %error, "the re-drive of a stream failed; its letters wait for the next one");
                keep(&letters, format!("re-drive failed: {error}"));
                report.failed.insert(stream, error.to_string());
            }
        }
    }
    kept
}

/// Read the dead-letter topic (as `<consumer_group>-redrive`) up to its current end, re-drive the letters of
/// `consumer_group` that `selection` takes into `target`, publish again the letters of the streams that failed or
/// were left out, then commit (unless the selection names only some streams). `progress` hears about every stream.
pub async fn redrive_topic(
    kafka: &KafkaConfig,
    aws: &aws_types::SdkConfig,
    target: &impl Target,
    consumer_group: &str,
    selection: &Selection,
    mut progress: impl FnMut(&RedriveReport),
) -> Result<RedriveReport, RedriveError> {
    let consumer = reader(kafka, aws, &redrive_group(consumer_group)).await?;
    let topic = kafka.dead_letter_topic.clone();
    let (consumer, letters, read_to, unreadable) =
        tokio::task::spawn_blocking(move || read_to_end(consumer, &topic))
            .await
            .expect("the dead-letter reader did not panic")?
            .ok_or(RedriveError::Incomplete { read: 0 })?;
    let letters: Vec<DeadLetter> = letters.into_iter().map(|l| l.letter).collect();
    let mut report = RedriveReport {
        read: letters.len() + unreadable,
        unreadable,
        ..RedriveReport::default()
    };
    progress(&report);
    let kept = redrive_letters(target, consumer_group, &letters, selection, &mut report).await;
    progress(&report);
    if selection.only.is_some() {
        return Ok(report);
    }
    if !kept.is_empty() {
        tributary_kafka::Publisher::connect(kafka, aws)
            .await?
            .publish_dead_letters(&kept)
            .await?;
    }
    if read_to.count() > 0 {
        tributary_kafka::commit_offsets(Arc::new(consumer), read_to, Duration::from_secs(30))
            .await?;
    }
    Ok(report)
}

/// The consumer group a re-drive of `consumer_group`'s letters reads the dead-letter topic as: its committed offsets
/// say how far the re-drives have got.
pub fn redrive_group(consumer_group: &str) -> String {
    format!("{consumer_group}-redrive")
}

/// A consumer of the configured brokers (MSK with IAM, or plaintext) in `group`, committing nothing by itself and
/// starting where the group stopped (the beginning for a new group).
pub async fn reader(
    kafka: &KafkaConfig,
    aws: &aws_types::SdkConfig,
    group: &str,
) -> Result<BaseConsumer<KafkaContext>, RedriveError> {
    let (bootstrap, context) = tributary_kafka::resolve_brokers(kafka, aws).await?;
    let iam = context.iam.is_some();
    Ok(client_config(&bootstrap, iam)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create_with_context(context)?)
}

/// A dead letter and where it is on the dead-letter topic.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedLetter {
    pub partition: i32,
    pub offset: i64,
    pub letter: DeadLetter,
}

/// Every dead letter from the group's committed position to the end of `topic` as it is now; the offsets to commit
/// after them, and how many records were not dead letters.
/// `None` when the end was not reached in time.
#[allow(clippy::type_complexity)]
pub fn read_to_end(
    consumer: BaseConsumer<KafkaContext>,
    topic: &str,
) -> Result<
    Option<(
        BaseConsumer<KafkaContext>,
        Vec<PlacedLetter>,
        TopicPartitionList,
        usize,
    )>,
    rdkafka::error::KafkaError,
> {
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    // Where each partition ends now, and where this group stopped last time.
    let mut end: BTreeMap<i32, i64> = BTreeMap::new();
    let mut first: BTreeMap<i32, i64> = BTreeMap::new();
    let mut wanted = TopicPartitionList::new();
    for partition in &partitions {
        let (low, high) = consumer.fetch_watermarks(topic, *partition, timeout)?;
        end.insert(*partition, high);
        first.insert(*partition, low);
        wanted.add_partition(topic, *partition);
    }
    let committed = consumer.committed_offsets(wanted, timeout)?;
    let mut assignment = TopicPartitionList::new();
    let mut position: BTreeMap<i32, i64> = BTreeMap::new();
    for element in committed.elements() {
        // Never before the first record the topic still holds (retention removes older ones).
        let low = first.get(&element.partition()).copied().unwrap_or(0);
        let start = match element.offset() {
            Offset::Offset(offset) => offset.max(low),
            _ => low,
        };
        position.insert(element.partition(), start);
        assignment.add_partition_offset(topic, element.partition(), Offset::Offset(start))?;
    }
    consumer.assign(&assignment)?;
    let (mut letters, mut unreadable) = (Vec::new(), 0);
    let done = |position: &BTreeMap<i32, i64>| {
        end.iter()
            .all(|(p, high)| position.get(p).is_some_and(|at| at >= high))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !done(&position) && std::time::Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message?;
        position.insert(message.partition(), message.offset() + 1);
        match serde_json::from_slice::<DeadLetter>(message.payload().unwrap_or_default()) {
            Ok(letter) => letters.push(PlacedLetter {
                partition: message.partition(),
                offset: message.offset(),
                letter,
            }),
            Err(_) => unreadable += 1,
        }
    }
    if !done(&position) {
        return Ok(None);
    }
    let mut read_to = TopicPartitionList::new();
    for (partition, at) in &position {
        read_to.add_partition_offset(topic, *partition, Offset::Offset(*at))?;
    }
    Ok(Some((consumer, letters, read_to, unreadable)))
}
