//! The relay: the safety net that makes publishing reliable.
//!
//! The command function publishes new events right after committing them (the fast path), but a crash, a timeout
//! or a broker outage in between would lose them. The relay closes that hole: Lambda's DynamoDB Streams event
//! source mapping hands it every item inserted into the events table, exactly once and in order per stream, and it
//! publishes each one. Consumers see each event at least once (usually twice: fast path and relay) and skip
//! duplicates by version.
//!
//! What the relay does with each record of a batch, in order:
//! * an inserted event: publish it to the events topic;
//! * an inserted item that can never be published (not an event, or a payload that is not JSON): publish a dead
//!   letter with the item and the error, and go on — one bad item must not block its shard until the stream
//!   trims everything behind it;
//! * a command's receipt (an idempotency key remembered, `tributary_store::Receipt`), and anything else (an
//!   event is never modified; removals are housekeeping): nothing.
//!
//! Every record queued is awaited. Records that Kafka did not acknowledge are reported as batch item failures
//! (from the first of them), so Lambda retries from there, in order, until Kafka takes them.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use tributary_core::TraceParent;
use tributary_dynamodb::{from_item, is_receipt};
use tributary_kafka::{DeadLetter, LazyPublisher, Outgoing, Publisher};
use tributary_runtime::metrics::Point;
use tributary_runtime::spans;

/// The `consumer` named on the relay's dead letters.
pub const CONSUMER: &str = "tributary-relay";

/// Publish the inserted events of one stream batch (dead letters for items that can never be published). On
/// failure, the response names the first record that was not published; Lambda retries the batch from there.
pub async fn relay(publisher: &Publisher, batch: Event) -> DynamoDbEventResponse {
    let mut outgoing: Vec<(Outgoing, Option<String>)> = Vec::new();
    for record in &batch.records {
        if let Some(out) = outgoing_for(record) {
            outgoing.push((out, record.change.sequence_number.clone()));
        }
    }
    let (records, sequence_numbers): (Vec<Outgoing>, Vec<Option<String>>) =
        outgoing.into_iter().unzip();
    let mut response = DynamoDbEventResponse::default();
    let letters = records
        .iter()
        .filter(|r| matches!(r, Outgoing::DeadLetter(_)))
        .count();
    let started = std::time::SystemTime::now();
    match publisher.publish_in_order(&records).await {
        Ok(()) => {
            let events = records.len() - letters;
            if events > 0 {
                // Whose traces this batch continued (the JSON logs link each command to its relay delivery; an
                // exported span per command, under the command's span).
                let traces = traces(&records);
                let trace_ids: Vec<&str> = traces.iter().map(|(t, _)| t.trace_id()).collect();
                tracing::info!(events, trace_ids = %trace_ids.join(","), "relayed");
                for (trace, streams) in traces {
                    spans::record(spans::Span {
                        context: trace.child(),
                        parent: Some(trace),
                        name: "relay publish".into(),
                        kind: spans::Kind::Producer,
                        start: started,
                        end: std::time::SystemTime::now(),
                        attributes: vec![
                            ("messaging.system", "kafka".into()),
                            ("tributary.streams", streams.join(",")),
                        ],
                        error: None,
                        links: Vec::new(),
                    });
                }
                let oldest = batch
                    .records
                    .iter()
                    .filter(|r| r.event_name == "INSERT")
                    .map(|r| r.change.approximate_creation_date_time)
                    .min();
                let lag = oldest.map_or(0, |t| (chrono::Utc::now() - t).num_milliseconds());
                tributary_runtime::metrics::record(
                    &[
                        Point::count("RelayDeliveries", events as u64),
                        Point::millis("RelayLag", lag),
                    ],
                    &[],
                );
            }
            if letters > 0 {
                tributary_runtime::metrics::count(
                    "DeadLetters",
                    letters as u64,
                    &[("Consumer", CONSUMER)],
                );
            }
        }
        Err(failure) => {
            tracing::warn!(
                error = %failure.error,
                sequence = ?sequence_numbers[failure.first_unacknowledged],
                "relay could not publish; Lambda will retry from this record"
            );
            response.batch_item_failures.push(item_failure(
                &sequence_numbers[failure.first_unacknowledged],
            ));
        }
    }
    spans::flush().await;
    response
}

/// The distinct trace contexts (one per command) of the events among `records`, in order, each with the streams
/// of its events.
fn traces(records: &[Outgoing]) -> Vec<(TraceParent, Vec<String>)> {
    let mut traces: Vec<(TraceParent, Vec<String>)> = Vec::new();
    for record in records {
        if let Outgoing::Event {
            envelope,
            traceparent: Some(traceparent),
        } = record
        {
            let Some(trace) = TraceParent::parse(traceparent) else {
                continue;
            };
            let stream = &envelope.aggregate_id;
            match traces.iter_mut().find(|(seen, _)| *seen == trace) {
                Some((_, streams)) if streams.contains(stream) => {}
                Some((_, streams)) => streams.push(stream.clone()),
                None => traces.push((trace, vec![stream.clone()])),
            }
        }
    }
    traces
}

/// How long a batch waits for a publisher that is still connecting (a cold start's MSK discovery).
pub const CONNECT_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Like [`relay`], with a publisher that may still be connecting: it waits up to [`CONNECT_PATIENCE`]; then the
/// whole batch is reported failed (from its first record), so Lambda retries it.
pub async fn relay_when_connected(
    publisher: &LazyPublisher,
    batch: Event,
) -> DynamoDbEventResponse {
    match publisher.wait(CONNECT_PATIENCE).await {
        Some(publisher) => relay(publisher, batch).await,
        None => {
            tracing::warn!("the Kafka publisher is not connected yet; the batch will be retried");
            let mut response = DynamoDbEventResponse::default();
            if let Some(first) = batch.records.first() {
                response
                    .batch_item_failures
                    .push(item_failure(&first.change.sequence_number));
            }
            response
        }
    }
}

fn item_failure(sequence_number: &Option<String>) -> DynamoDbBatchItemFailure {
    let mut failure = DynamoDbBatchItemFailure::default();
    failure.item_identifier = sequence_number.clone();
    failure
}

/// What to publish for a stream record: its event, a dead letter, or nothing (never a panic, whatever the record).
pub fn outgoing_for(record: &EventRecord) -> Option<Outgoing> {
    if record.event_name != "INSERT" {
        return None;
    }
    let item: HashMap<String, AttributeValue> = record.change.new_image.clone().into();
    // A command's receipt (its idempotency key kept for ever) lives in the events table, but is not an event.
    if is_receipt(&item) {
        return None;
    }
    let dead_letter = |error: String| {
        tracing::error!(%error, sequence = ?record.change.sequence_number, "an inserted item cannot be published; dead-lettering it");
        Outgoing::DeadLetter(DeadLetter::stream_record(
            CONSUMER,
            record.event_source_arn.clone(),
            record.change.sequence_number.clone(),
            serde_json::to_value(&record.change.new_image).unwrap_or_default(),
            error,
        ))
    };
    Some(match from_item(&item) {
        Ok(event) => Outgoing::event(&event).unwrap_or_else(|error| dead_letter(error.to_string())),
        Err(error) => dead_letter(format!("not an event: {error}")),
    })
}
