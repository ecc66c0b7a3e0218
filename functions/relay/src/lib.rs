//! The relay: the safety net that makes publishing reliable.
//!
//! The command function publishes new events right after committing them (the fast path), but a crash, a timeout
//! or a broker outage in between would lose them. The relay closes that hole: Lambda's DynamoDB Streams event
//! source mapping hands it every item inserted into the events table, exactly once and in order per stream, and it
//! publishes each one. Records it cannot publish are reported as batch item failures, so Lambda retries from the
//! first of them, in order. Consumers see each event at least once (usually twice: fast path and relay) and skip
//! duplicates by version.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use tributary_dynamodb::{from_item, StoredEvent};
use tributary_kafka::Publisher;

/// Publish the inserted events of one stream batch. On failure, the response names the first record that was not
/// published; Lambda retries the batch from there.
pub async fn relay(publisher: &Publisher, batch: Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let mut pending: Vec<(StoredEvent, Option<String>)> = Vec::new();
    for record in batch.records {
        if let Some(event) = inserted_event(&record) {
            pending.push((event, record.change.sequence_number.clone()));
        }
    }
    let events: Vec<StoredEvent> = pending.iter().map(|(e, _)| e.clone()).collect();
    if let Err(failure) = publisher.publish_events_in_order(&events).await {
        let (event, sequence_number) = &pending[failure.first_unacknowledged];
        tracing::warn!(
            error = %failure.error,
            stream = %event.stream_id,
            version = event.version,
            "relay could not publish; Lambda will retry from this record"
        );
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = sequence_number.clone();
        response.batch_item_failures.push(failure);
    } else if !events.is_empty() {
        tracing::debug!(count = events.len(), "relayed");
    }
    response
}

/// The event an INSERT record carries. Other records (an event is never modified; removals are housekeeping) and
/// items that are not events are skipped with a log line: they cannot be published, and blocking the shard on
/// them would stop every later event.
fn inserted_event(record: &EventRecord) -> Option<StoredEvent> {
    if record.event_name != "INSERT" {
        return None;
    }
    let item: HashMap<String, AttributeValue> = record.change.new_image.clone().into();
    match from_item(&item) {
        Ok(event) => Some(event),
        Err(error) => {
            tracing::error!(%error, sequence = ?record.change.sequence_number, "skipping a stream record that is not an event");
            None
        }
    }
}
