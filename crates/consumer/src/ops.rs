//! What an operator asks Kafka, for any domain: how far each consumer group is behind on the events topic (per
//! partition, and how old the oldest event it has not applied is), and what the dead-letter topic holds (and which
//! letters a re-drive has already dealt with). Read-only but for one thing: a new consumer group's starting
//! position ([`start_group_at_end`]); nothing here joins a group.

use crate::redrive::{read_to_end, reader, redrive_group, PlacedLetter, RedriveError};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tributary_kafka::{KafkaConfig, KafkaContext};

/// How long one broker request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One consumer group's position on one partition of the events topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionLag {
    pub consumer_group: String,
    pub partition: i32,
    /// The next offset the group will read (`None`: it never committed; it starts at the earliest record).
    pub committed: Option<i64>,
    /// The end of the partition (the offset the next record will get).
    pub end: i64,
    /// Records between the group's position and the end.
    pub behind: i64,
    /// Records the group never read that retention has removed (its committed offset is before the first record
    /// the topic holds): their streams catch up from the event store only when they change again, or by a rebuild.
    pub expired: i64,
    /// How long ago the oldest record the group has not read was written (its Kafka timestamp), in milliseconds;
    /// `None` when it is not behind.
    pub oldest_unapplied_age_ms: Option<i64>,
}

/// The lag of each of `groups` on every partition of the events topic.
pub async fn lag(
    kafka: &KafkaConfig,
    aws: &aws_types::SdkConfig,
    groups: &[String],
) -> Result<Vec<PartitionLag>, RedriveError> {
    lag_of(kafka, aws, groups, true).await
}

/// [`lag`] without the age of the oldest unread record (no record is read): positions and counts only.
pub async fn positions(
    kafka: &KafkaConfig,
    aws: &aws_types::SdkConfig,
    groups: &[String],
) -> Result<Vec<PartitionLag>, RedriveError> {
    lag_of(kafka, aws, groups, false).await
}

async fn lag_of(
    kafka: &KafkaConfig,
    aws: &aws_types::SdkConfig,
    groups: &[String],
    with_age: bool,
) -> Result<Vec<PartitionLag>, RedriveError> {
    let mut consumers = Vec::new();
    for group in groups {
        consumers.push((group.clone(), reader(kafka, aws, group).await?));
    }
    let peeker = reader(kafka, aws, &format!("tributary-ops-{}", throwaway_suffix())).await?;
    let topic = kafka.events_topic.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for (group, consumer) in &consumers {
            out.extend(group_lag(
                consumer,
                with_age.then_some(&peeker),
                group,
                &topic,
            )?);
        }
        Ok(out)
    })
    .await
    .expect("the lag reader did not panic")
}

/// Where a new read model's consumer group starts: if `group` has never committed an offset on the events topic,
/// commit the end of every partition now, so that its consumer — whenever it starts — reads every record written
/// from this moment on (a build from the event store covers what came before). The positions committed, or
/// `None` when the group has committed offsets already (it consumes; its position stands).
pub async fn start_group_at_end(
    kafka: &KafkaConfig,
    aws: &aws_types::SdkConfig,
    group: &str,
) -> Result<Option<Vec<(i32, i64)>>, RedriveError> {
    let consumer = reader(kafka, aws, group).await?;
    let topic = kafka.events_topic.clone();
    tokio::task::spawn_blocking(move || {
        let committed = committed(&consumer, &topic)?;
        if committed
            .elements()
            .iter()
            .any(|e| matches!(e.offset(), Offset::Offset(_)))
        {
            return Ok(None);
        }
        let mut ends = TopicPartitionList::new();
        let mut positions = Vec::new();
        for element in committed.elements() {
            let (_, end) = consumer.fetch_watermarks(&topic, element.partition(), TIMEOUT)?;
            ends.add_partition_offset(&topic, element.partition(), Offset::Offset(end))?;
            positions.push((element.partition(), end));
        }
        consumer.commit(&ends, rdkafka::consumer::CommitMode::Sync)?;
        positions.sort();
        Ok(Some(positions))
    })
    .await
    .expect("the position writer did not panic")
}

/// What `consumer`'s group has committed on every partition of `topic` (an invalid offset where it never has).
fn committed(
    consumer: &BaseConsumer<KafkaContext>,
    topic: &str,
) -> Result<TopicPartitionList, rdkafka::error::KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let mut partitions = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        partitions.add_partition(topic, partition.id());
    }
    consumer.committed_offsets(partitions, TIMEOUT)
}

fn group_lag(
    consumer: &BaseConsumer<KafkaContext>,
    peeker: Option<&BaseConsumer<KafkaContext>>,
    group: &str,
    topic: &str,
) -> Result<Vec<PartitionLag>, RedriveError> {
    let committed = committed(consumer, topic)?;
    let mut out = Vec::new();
    for element in committed.elements() {
        let partition = element.partition();
        let (low, end) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
        let committed = match element.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        };
        let position = committed.unwrap_or(low).max(low);
        let behind = (end - position).max(0);
        let expired = committed.map_or(0, |c| (low - c).max(0));
        let oldest_unapplied_age_ms = match peeker {
            Some(peeker) if behind > 0 => record_time(peeker, topic, partition, position)?
                .map(|written| chrono::Utc::now().timestamp_millis() - written),
            _ => None,
        };
        out.push(PartitionLag {
            consumer_group: group.to_owned(),
            partition,
            committed,
            end,
            behind,
            expired,
            oldest_unapplied_age_ms,
        });
    }
    out.sort_by_key(|l| l.partition);
    Ok(out)
}

/// The Kafka timestamp (milliseconds) of the record at `offset`, if it can be read within the timeout.
fn record_time(
    peeker: &BaseConsumer<KafkaContext>,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<Option<i64>, RedriveError> {
    let mut at = TopicPartitionList::new();
    at.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    peeker.assign(&at)?;
    let deadline = std::time::Instant::now() + TIMEOUT;
    while std::time::Instant::now() < deadline {
        if let Some(message) = peeker.poll(Duration::from_millis(200)) {
            let message = message?;
            if message.partition() == partition && message.offset() >= offset {
                return Ok(message.timestamp().to_millis());
            }
        }
    }
    Ok(None)
}

/// A dead letter on the topic, and whether a re-drive of its consumer has dealt with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedLetter {
    pub placed: PlacedLetter,
    /// A re-drive of the letter's consumer (`dead-letters replay`) has read past it and re-driven its stream: its
    /// re-drive group has committed an offset beyond the letter's. The letter stays on the topic (Kafka is a log,
    /// and the letter the record of what failed) but needs nothing more.
    pub replayed: bool,
}

/// Every dead letter on the dead-letter topic, oldest first per partition, each marked replayed or not, and how
/// many records on it are not dead letters.
pub async fn dead_letters(
    kafka: &KafkaConfig,
    aws: &aws_types::SdkConfig,
) -> Result<(Vec<ListedLetter>, usize), RedriveError> {
    // A group that never committed reads from the beginning; it commits nothing.
    let consumer = reader(kafka, aws, &format!("tributary-ops-{}", throwaway_suffix())).await?;
    let topic = kafka.dead_letter_topic.clone();
    let (_, letters, _, unreadable) =
        tokio::task::spawn_blocking(move || read_to_end(consumer, &topic))
            .await
            .expect("the dead-letter reader did not panic")?
            .ok_or(RedriveError::Incomplete { read: 0 })?;
    // How far each letter's consumer has been re-driven, per partition of the dead-letter topic.
    let consumers: BTreeSet<String> = letters.iter().map(|l| l.letter.consumer.clone()).collect();
    let mut redriven_to: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for group in consumers {
        let consumer = reader(kafka, aws, &redrive_group(&group)).await?;
        let topic = kafka.dead_letter_topic.clone();
        let committed = tokio::task::spawn_blocking(move || committed(&consumer, &topic))
            .await
            .expect("the offset reader did not panic")?;
        for element in committed.elements() {
            if let Offset::Offset(offset) = element.offset() {
                redriven_to.insert((group.clone(), element.partition()), offset);
            }
        }
    }
    let listed = letters
        .into_iter()
        .map(|placed| {
            let key = (placed.letter.consumer.clone(), placed.partition);
            let replayed = redriven_to.get(&key).is_some_and(|to| *to > placed.offset);
            ListedLetter { placed, replayed }
        })
        .collect();
    Ok((listed, unreadable))
}

/// A group id of its own for a read-only look (never committed, so it leaves nothing behind but a name).
fn throwaway_suffix() -> String {
    format!(
        "{:x}-{:x}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}
