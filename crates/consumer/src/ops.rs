//! What an operator asks Kafka, for any domain: how far each consumer group is behind on the events topic (per
//! partition, and how old the oldest event it has not applied is), and what the dead-letter topic holds. Read-only:
//! nothing here commits an offset or joins a group.

use crate::redrive::{read_to_end, reader, PlacedLetter, RedriveError};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
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
    let mut consumers = Vec::new();
    for group in groups {
        consumers.push((group.clone(), reader(kafka, aws, group).await?));
    }
    let peeker = reader(kafka, aws, &format!("tributary-ops-{}", throwaway_suffix())).await?;
    let topic = kafka.events_topic.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for (group, consumer) in &consumers {
            out.extend(group_lag(consumer, &peeker, group, &topic)?);
        }
        Ok(out)
    })
    .await
    .expect("the lag reader did not panic")
}

fn group_lag(
    consumer: &BaseConsumer<KafkaContext>,
    peeker: &BaseConsumer<KafkaContext>,
    group: &str,
    topic: &str,
) -> Result<Vec<PartitionLag>, RedriveError> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let mut partitions = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        partitions.add_partition(topic, partition.id());
    }
    let committed = consumer.committed_offsets(partitions, TIMEOUT)?;
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
        let oldest_unapplied_age_ms = if behind > 0 {
            record_time(peeker, topic, partition, position)?
                .map(|written| chrono::Utc::now().timestamp_millis() - written)
        } else {
            None
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

/// Every dead letter on the dead-letter topic, oldest first per partition, and how many records on it are not
/// dead letters.
pub async fn dead_letters(
    kafka: &KafkaConfig,
    aws: &aws_types::SdkConfig,
) -> Result<(Vec<PlacedLetter>, usize), RedriveError> {
    // A group that never committed reads from the beginning; it commits nothing.
    let consumer = reader(kafka, aws, &format!("tributary-ops-{}", throwaway_suffix())).await?;
    let topic = kafka.dead_letter_topic.clone();
    let (_, letters, _, unreadable) =
        tokio::task::spawn_blocking(move || read_to_end(consumer, &topic))
            .await
            .expect("the dead-letter reader did not panic")?
            .ok_or(RedriveError::Incomplete { read: 0 })?;
    Ok((letters, unreadable))
}

/// A group id of its own for a read-only look (never committed, so it leaves nothing behind but a name).
fn throwaway_suffix() -> String {
    format!(
        "{:x}-{:x}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}
