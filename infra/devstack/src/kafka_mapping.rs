//! The local stand-in for Lambda's MSK event source mapping: one consumer group per consumer (each read model's
//! denormaliser, the transfer process manager), batches shaped
//! exactly as Lambda sends them (`KafkaEvent`: eventSource `aws:kafka`, records grouped by "topic-partition",
//! base64 key and value, headers as byte arrays), offsets committed only after the handler succeeds, a failed
//! batch retried until it succeeds, with backoff (the deployed mappings have no `MaximumRetryAttempts`: a batch
//! is never skipped; records that can never apply are dead-lettered by the handler itself, one letter each).
//! On shutdown the batch in hand is finished and committed; a batch still failing is left uncommitted, to be
//! delivered again after a restart.

use aws_lambda_events::event::kafka::KafkaEvent;
use bank_service::transfers::TransferProcess;
use base64::Engine;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tributary_consumer::reactor::Reactor;
use tributary_consumer::Denormaliser;
use tributary_kafka::commit_offsets;

/// How long a commit may hold up the next batch. A commit that has not answered by then goes on in the background
/// (a paused broker answers when it resumes); the batch may be delivered again, which applying tolerates.
const COMMIT_WAIT: Duration = Duration::from_secs(10);

/// How batches are formed and retried.
#[derive(Debug, Clone)]
pub struct MappingSettings {
    /// Most records per batch (Lambda: `BatchSize`).
    pub batch_size: usize,
    /// How long to wait for more records once one arrived (Lambda: `MaximumBatchingWindowInSeconds`); zero takes
    /// what is already there, for the lowest latency.
    pub batching_window: Duration,
    /// Longest pause between retries of a failing batch.
    pub max_backoff: Duration,
    /// Consumer groups are `<prefix>-<projection>`.
    pub group_prefix: String,
}

impl Default for MappingSettings {
    fn default() -> Self {
        Self {
            batch_size: 100,
            batching_window: Duration::ZERO,
            max_backoff: Duration::from_secs(5),
            group_prefix: "tributary".to_owned(),
        }
    }
}

/// The consumer group of a consumer (a read model, or `transfer-process`).
pub fn group_id(prefix: &str, consumer: &str) -> String {
    format!("{prefix}-{consumer}")
}

/// What a mapping feeds: the handler a Lambda function runs for a `KafkaEvent`.
pub trait BatchHandler: Send + Sync + 'static {
    /// `Err`: the batch must be retried.
    fn handle_batch(&self, event: &KafkaEvent) -> impl Future<Output = Result<(), String>> + Send;
}

impl BatchHandler for Denormaliser {
    async fn handle_batch(&self, event: &KafkaEvent) -> Result<(), String> {
        self.handle(event)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

impl BatchHandler for Reactor<TransferProcess> {
    async fn handle_batch(&self, event: &KafkaEvent) -> Result<(), String> {
        self.handle(event)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Tells the stack when the consumer group has its partitions (so "started" means "consuming").
struct MappingContext {
    ready: Mutex<Option<oneshot::Sender<()>>>,
}

impl ClientContext for MappingContext {}

impl ConsumerContext for MappingContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if matches!(rebalance, Rebalance::Assign(_)) {
            if let Some(ready) = self.ready.lock().expect("ready lock").take() {
                let _ = ready.send(());
            }
        }
    }
}

/// Consume `topic` as consumer group `group` and feed `handler`, until `shutdown` is cancelled. `ready` fires once
/// the group has been assigned its partitions.
pub async fn run(
    bootstrap: String,
    topic: String,
    group: String,
    handler: impl BatchHandler,
    settings: MappingSettings,
    ready: oneshot::Sender<()>,
    shutdown: CancellationToken,
) {
    let context = MappingContext {
        ready: Mutex::new(Some(ready)),
    };
    let consumer: Arc<StreamConsumer<MappingContext>> = match ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        // A departed member keeps its partitions until the session times out: keep restarts quick locally.
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        // Brokers that answer a fetch only when its wait expires (the mock cluster) would add this much lag to
        // every event: poll often instead (loopback only).
        .set("fetch.wait.max.ms", "5")
        .create_with_context(context)
    {
        Ok(consumer) => Arc::new(consumer),
        Err(e) => {
            tracing::error!(%e, %group, "cannot create the consumer; nothing will be fed");
            return;
        }
    };
    if let Err(e) = consumer.subscribe(&[&topic]) {
        tracing::error!(%e, %group, "cannot subscribe");
        return;
    }
    loop {
        let batch = tokio::select! {
            () = shutdown.cancelled() => break,
            batch = next_batch(&consumer, &settings) => batch,
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(%e, %group, "consumer error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let event: KafkaEvent = serde_json::from_value(lambda_event(&bootstrap, &batch))
            .expect("records shape into a Lambda Kafka event");
        if !handle_until_done(&handler, &event, &group, &settings, &shutdown).await {
            tracing::info!(%group, records = batch.len(), "stopping with a failing batch uncommitted; it is delivered again after a restart");
            break;
        }
        if let Err(e) = commit_offsets(consumer.clone(), offsets_after(&batch), COMMIT_WAIT).await {
            tracing::warn!(%e, %group, "commit not confirmed; the batch may be delivered again (harmless: applying is idempotent)");
        }
    }
    consumer.unsubscribe();
}

/// Hand `event` to the handler until it succeeds, backing off between attempts. `false` when shutdown came first.
async fn handle_until_done(
    handler: &impl BatchHandler,
    event: &KafkaEvent,
    group: &str,
    settings: &MappingSettings,
    shutdown: &CancellationToken,
) -> bool {
    let mut attempt: u32 = 0;
    let mut pauses =
        tributary_runtime::retry::pauses(Duration::from_millis(200), settings.max_backoff);
    loop {
        match handler.handle_batch(event).await {
            Ok(_) => return true,
            Err(error) => {
                attempt += 1;
                let backoff = pauses.next().unwrap_or(settings.max_backoff);
                tracing::warn!(%error, %group, attempt, ?backoff, "batch failed; retrying it");
                tokio::select! {
                    () = shutdown.cancelled() => return false,
                    () = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
}

/// Wait for one record, then take more up to the batch size within the batching window.
async fn next_batch(
    consumer: &StreamConsumer<MappingContext>,
    settings: &MappingSettings,
) -> Result<Vec<OwnedMessage>, rdkafka::error::KafkaError> {
    let first = consumer.recv().await?.detach();
    let mut batch = vec![first];
    let deadline = tokio::time::Instant::now() + settings.batching_window;
    while batch.len() < settings.batch_size {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => batch.push(message.detach()),
            Ok(Err(e)) => return Err(e),
            Err(_) => break,
        }
    }
    Ok(batch)
}

/// The offsets to commit: one past the last record of each partition.
fn offsets_after(batch: &[OwnedMessage]) -> TopicPartitionList {
    let mut last: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for m in batch {
        let entry = last
            .entry((m.topic().to_owned(), m.partition()))
            .or_insert(m.offset());
        *entry = (*entry).max(m.offset());
    }
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in last {
        let _ = list.add_partition_offset(&topic, partition, Offset::Offset(offset + 1));
    }
    list
}

fn b64(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| base64::engine::general_purpose::STANDARD.encode(b))
}

/// The JSON Lambda sends for a batch from MSK.
fn lambda_event(bootstrap: &str, batch: &[OwnedMessage]) -> Value {
    let mut records: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for m in batch {
        let headers: Vec<Value> = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        let bytes: Vec<i8> = h
                            .value
                            .unwrap_or_default()
                            .iter()
                            .map(|b| *b as i8)
                            .collect();
                        json!({ h.key: bytes })
                    })
                    .collect()
            })
            .unwrap_or_default();
        records
            .entry(format!("{}-{}", m.topic(), m.partition()))
            .or_default()
            .push(json!({
                "topic": m.topic(),
                "partition": m.partition(),
                "offset": m.offset(),
                "timestamp": m.timestamp().to_millis().unwrap_or_default(),
                "timestampType": "CREATE_TIME",
                "key": b64(m.key()),
                "value": b64(m.payload()),
                "headers": headers,
            }));
    }
    json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:us-east-1:000000000000:cluster/devstack/00000000-0000-0000-0000-000000000000-1",
        "bootstrapServers": bootstrap,
        "records": records,
    })
}
