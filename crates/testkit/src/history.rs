//! Events as tests write them: their metadata, and long histories written straight into an events table for tests
//! and benchmarks that need streams of tens of thousands of events — `BatchWriteItem`s of 25 items, several in
//! flight, no conditions; without snapshots (as if the stream had been written before snapshots existed) or with
//! the ones a test computes. Items are encoded and chained exactly as the event store writes them (unsealed).

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use futures::stream::{self, StreamExt, TryStreamExt};
use tributary_core::EventMetadata;
use tributary_dynamodb::{to_item, with_snapshot};
use tributary_store::{NewEvent, Snapshot, StoredEvent};

/// Items per `BatchWriteItem` (DynamoDB's limit).
const BATCH: usize = 25;
/// Batches in flight.
const IN_FLIGHT: usize = 8;

/// Write `events` as versions `first_version..` of `stream_id` in `table`. Unprocessed items are written again.
pub async fn seed_history(
    client: &Client,
    table: &str,
    stream_id: &str,
    first_version: u64,
    events: impl IntoIterator<Item = NewEvent>,
) -> anyhow::Result<()> {
    seed_history_with_snapshots(
        client,
        table,
        stream_id,
        first_version,
        events.into_iter().map(|e| (e, None)),
    )
    .await
}

/// [`seed_history`], some items carrying a snapshot (the state after their event), as the command loop writes them.
pub async fn seed_history_with_snapshots(
    client: &Client,
    table: &str,
    stream_id: &str,
    first_version: u64,
    events: impl IntoIterator<Item = (NewEvent, Option<Snapshot>)>,
) -> anyhow::Result<()> {
    let (events, snapshots): (Vec<NewEvent>, Vec<Option<Snapshot>>) = events.into_iter().unzip();
    // Chained as the store chains them (a history from a later version starts a chain of its own).
    let stored = StoredEvent::chained(stream_id, first_version, events, None);
    let requests = stored
        .iter()
        .zip(snapshots)
        .map(|(event, snapshot)| {
            let item = to_item(event)?;
            let item = match &snapshot {
                Some(snapshot) => with_snapshot(item, snapshot),
                None => item,
            };
            Ok(WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                .build())
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    stream::iter(
        requests
            .chunks(BATCH)
            .map(|chunk| write_batch(client, table, chunk.to_vec())),
    )
    .buffer_unordered(IN_FLIGHT)
    .try_collect::<()>()
    .await
}

async fn write_batch(
    client: &Client,
    table: &str,
    mut batch: Vec<WriteRequest>,
) -> anyhow::Result<()> {
    let mut attempt = 0;
    while !batch.is_empty() {
        if attempt > 0 {
            // Unprocessed items mean the table is busy: back off before writing them again.
            tokio::time::sleep(std::time::Duration::from_millis(10 << attempt.min(6))).await;
        }
        attempt += 1;
        let output = client
            .batch_write_item()
            .request_items(table, batch)
            .send()
            .await?;
        batch = output
            .unprocessed_items()
            .and_then(|items| items.get(table))
            .cloned()
            .unwrap_or_default();
    }
    Ok(())
}

/// Metadata for an event written by a test as `actor`: fresh ids, the current time, no key, no trace.
pub fn event_metadata(actor: &str) -> EventMetadata {
    let id = uuid::Uuid::new_v4();
    EventMetadata {
        event_id: id,
        command_id: id,
        correlation_id: id.to_string(),
        causation_id: id.to_string(),
        occurred_at: chrono::Utc::now(),
        actor: actor.to_owned(),
        idempotency_key: None,
        request_fingerprint: None,
        traceparent: None,
    }
}
