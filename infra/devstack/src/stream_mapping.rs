//! The local stand-in for Lambda's DynamoDB Streams event source mapping: reads the events table's stream
//! (DynamoDB Streams API of the local server), shapes each batch exactly as Lambda does (the `Records` JSON of a
//! DynamoDB stream event), and hands it to the relay handler. Like a mapping with `ReportBatchItemFailures` and
//! unlimited retries, it retries a batch from the first failed record, in order, until it succeeds.

use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tributary_kafka::Publisher;

/// Records per batch (Lambda's default for streams is 100).
const BATCH_SIZE: i32 = 100;
/// Pause between polls of an idle stream.
const IDLE_POLL: Duration = Duration::from_millis(25);
/// Backoff after a failed batch, doubling up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Run the mapping until `shutdown` is cancelled.
pub async fn run(
    streams: aws_sdk_dynamodbstreams::Client,
    tables: aws_sdk_dynamodb::Client,
    table: String,
    publisher: Publisher,
    shutdown: CancellationToken,
) {
    let stream_arn = loop {
        match tables.describe_table().table_name(&table).send().await {
            Ok(out) => match out.table().and_then(|t| t.latest_stream_arn()) {
                Some(arn) => break arn.to_owned(),
                None => {
                    tracing::error!(%table, "the events table has no stream; the relay cannot run");
                    return;
                }
            },
            Err(e) => {
                tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), "waiting for the events table");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(MAX_BACKOFF) => {}
                }
            }
        }
    };
    let mut iterators: HashMap<String, String> = HashMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut last_discovery = None::<tokio::time::Instant>;
    while !shutdown.is_cancelled() {
        if last_discovery.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
            discover_shards(&streams, &stream_arn, &mut iterators, &finished).await;
            last_discovery = Some(tokio::time::Instant::now());
        }
        let mut delivered_any = false;
        for shard in iterators.keys().cloned().collect::<Vec<_>>() {
            let iterator = iterators[&shard].clone();
            match streams
                .get_records()
                .shard_iterator(iterator)
                .limit(BATCH_SIZE)
                .send()
                .await
            {
                Ok(out) => {
                    if !out.records().is_empty() {
                        delivered_any = true;
                        if !deliver(&publisher, &stream_arn, out.records(), &shutdown).await {
                            return;
                        }
                    }
                    match out.next_shard_iterator() {
                        Some(next) => {
                            iterators.insert(shard, next.to_owned());
                        }
                        None => {
                            iterators.remove(&shard);
                            finished.insert(shard);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(%shard, error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e), "GetRecords failed; rediscovering shards");
                    iterators.remove(&shard);
                    last_discovery = None;
                }
            }
        }
        if !delivered_any {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    }
}

/// Start reading shards we do not read yet, from the oldest record still in the stream.
async fn discover_shards(
    streams: &aws_sdk_dynamodbstreams::Client,
    stream_arn: &str,
    iterators: &mut HashMap<String, String>,
    finished: &HashSet<String>,
) {
    let description = match streams
        .describe_stream()
        .stream_arn(stream_arn)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            tracing::warn!(error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e), "DescribeStream failed");
            return;
        }
    };
    let Some(description) = description.stream_description() else {
        return;
    };
    for shard in description.shards() {
        let Some(id) = shard.shard_id() else { continue };
        // A child shard is read once its parent is finished (order per key across a split).
        let parent_pending = shard
            .parent_shard_id()
            .is_some_and(|p| iterators.contains_key(p));
        if iterators.contains_key(id) || finished.contains(id) || parent_pending {
            continue;
        }
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await;
        match iterator
            .ok()
            .and_then(|out| out.shard_iterator().map(str::to_owned))
        {
            Some(iterator) => {
                iterators.insert(id.to_owned(), iterator);
            }
            None => tracing::warn!(shard = id, "no iterator for shard"),
        }
    }
}

/// Hand `records` to the relay, retrying from the first failed record until all are delivered. `false` when
/// shutdown came first.
async fn deliver(
    publisher: &Publisher,
    stream_arn: &str,
    records: &[Record],
    shutdown: &CancellationToken,
) -> bool {
    let mut from = 0;
    let mut pauses = tributary_runtime::retry::pauses(FIRST_BACKOFF, MAX_BACKOFF);
    while from < records.len() {
        let batch = &records[from..];
        let event: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_value(lambda_event(stream_arn, batch))
                .expect("stream records shape into a Lambda event");
        let response = relay_function::relay(publisher, event).await;
        let Some(failed) = response.batch_item_failures.first() else {
            return true;
        };
        let position = batch
            .iter()
            .position(|r| {
                r.dynamodb().and_then(|d| d.sequence_number()) == failed.item_identifier.as_deref()
            })
            .unwrap_or(0);
        from += position;
        let backoff = pauses.next().unwrap_or(MAX_BACKOFF);
        tracing::warn!(retry_in = ?backoff, remaining = records.len() - from, "relay batch failed; retrying from the failed record");
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep(backoff) => {}
        }
    }
    true
}

/// The JSON Lambda sends for a batch of DynamoDB stream records.
fn lambda_event(stream_arn: &str, records: &[Record]) -> Value {
    let region = stream_arn.split(':').nth(3).unwrap_or("us-east-1");
    let records: Vec<Value> = records
        .iter()
        .map(|record| {
            let change = record.dynamodb();
            let image =
                |map: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>| {
                    let item: serde_dynamo::Item = map.cloned().unwrap_or_default().into();
                    serde_json::to_value(item).expect("items serialise")
                };
            json!({
                "eventID": record.event_id(),
                "eventName": record.event_name().map(|n| n.as_str()),
                "eventVersion": record.event_version(),
                "eventSource": "aws:dynamodb",
                "awsRegion": region,
                "eventSourceARN": stream_arn,
                "dynamodb": {
                    "ApproximateCreationDateTime": change
                        .and_then(|c| c.approximate_creation_date_time())
                        .map_or(0.0, |t| t.as_secs_f64()),
                    "Keys": image(change.and_then(|c| c.keys.as_ref())),
                    "NewImage": image(change.and_then(|c| c.new_image.as_ref())),
                    "SequenceNumber": change.and_then(|c| c.sequence_number()),
                    "SizeBytes": change.and_then(|c| c.size_bytes()).unwrap_or_default(),
                    "StreamViewType": change.and_then(|c| c.stream_view_type()).map(|v| v.as_str()),
                },
            })
        })
        .collect();
    json!({ "Records": records })
}
