//! The event store adapter: append with optimistic concurrency, load with consistent, paginated reads.

use crate::errors::{classify, classify_service, EventStoreError};
use crate::item::{
    from_item, snapshot_of, to_item, with_snapshot, NewEvent, Snapshot, StoredEvent, STREAM_ID,
    VERSION,
};
use crate::receipt::{Receipt, EXPIRES_AT};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

/// DynamoDB's limit on items in one transaction, hence on events in one atomic append.
pub const MAX_EVENTS_PER_APPEND: usize = 100;

/// The condition on every appended item: its (stream, version) key must be free.
const KEY_IS_FREE: &str = "attribute_not_exists(#version)";

/// The end of a stream as [`EventStore::load_tail`] reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tail {
    /// The newest snapshot, with the version of the event whose item carries it (the state after that event).
    pub snapshot: Option<(u64, Snapshot)>,
    /// The events after the snapshot (all of them without one), in version order.
    pub events: Vec<StoredEvent>,
    /// The newest event read (the one whose item carries the snapshot, when no event follows it).
    pub newest: Option<StoredEvent>,
    /// Items read.
    pub items_read: usize,
}

/// Where a scan of the streams goes on (a position in the table), serialisable so a rebuild can resume.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StreamCursor {
    pub stream_id: String,
    pub version: u64,
}

/// Event streams in one DynamoDB table. Cheap to clone (the SDK client is reference counted).
#[derive(Debug, Clone)]
pub struct EventStore {
    client: Client,
    table: String,
}

impl EventStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Name of the events table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Append `events` to `stream_id`, which the caller last saw at `expected_version` (0 for a new stream).
    /// All or nothing. Returns the stream's new version.
    pub async fn append(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: &[NewEvent],
    ) -> Result<u64, EventStoreError> {
        self.append_with_snapshot(stream_id, expected_version, events, None)
            .await
    }

    /// [`append`](Self::append), the last event's item also carrying `snapshot` (the state after it).
    pub async fn append_with_snapshot(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: &[NewEvent],
        snapshot: Option<&Snapshot>,
    ) -> Result<u64, EventStoreError> {
        self.append_with_receipt(stream_id, expected_version, events, snapshot, None)
            .await
    }

    /// [`append_with_snapshot`](Self::append_with_snapshot), and, in the same transaction, the command's
    /// [`Receipt`] — written only if no live one holds its id (one that does cancels the append:
    /// [`EventStoreError::ReceiptTaken`], after which the caller reads the receipt for the answer).
    pub async fn append_with_receipt(
        &self,
        stream_id: &str,
        expected_version: u64,
        events: &[NewEvent],
        snapshot: Option<&Snapshot>,
        receipt: Option<&Receipt>,
    ) -> Result<u64, EventStoreError> {
        // A receipt is one more item of the same transaction.
        let limit = MAX_EVENTS_PER_APPEND - usize::from(receipt.is_some());
        if events.len() > limit {
            return Err(EventStoreError::TooManyEvents {
                count: events.len(),
                limit,
            });
        }
        let mut items = (expected_version + 1..)
            .zip(events)
            .map(|(version, event)| to_item(stream_id, version, event))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(snapshot) = snapshot {
            if let Some(last) = items.pop() {
                items.push(with_snapshot(last, snapshot));
            }
        }
        let new_version = expected_version + items.len() as u64;
        let conflict = || EventStoreError::WrongExpectedVersion {
            stream_id: stream_id.to_owned(),
            expected: expected_version,
            actual_at_least: expected_version + 1,
        };
        let receipt = receipt.filter(|_| !items.is_empty());
        match (items.len(), receipt) {
            (0, _) => Ok(expected_version),
            (1, None) => {
                let item = items.into_iter().next().expect("one item");
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression(KEY_IS_FREE)
                    .expression_attribute_names("#version", VERSION)
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(new_version),
                    Err(SdkError::ServiceError(e))
                        if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
                    {
                        Err(conflict())
                    }
                    Err(e) => Err(item_size_or(classify(&e), stream_id, expected_version + 1)),
                }
            }
            (events, receipt) => {
                // An event's condition names its version; a receipt's also its expiry (and the time it is written).
                let put =
                    |item, condition: &str, values: Option<HashMap<String, AttributeValue>>| {
                        let put = Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(item))
                            .condition_expression(condition)
                            .expression_attribute_names("#version", VERSION);
                        let put = match values {
                            Some(values) => put
                                .expression_attribute_names("#expires", EXPIRES_AT)
                                .set_expression_attribute_values(Some(values)),
                            None => put,
                        };
                        let put = put
                            .return_values_on_condition_check_failure(
                                ReturnValuesOnConditionCheckFailure::None,
                            )
                            .build()
                            .expect("table, item and condition are set");
                        TransactWriteItem::builder().put(put).build()
                    };
                let mut puts: Vec<TransactWriteItem> = items
                    .into_iter()
                    .map(|item| put(item, KEY_IS_FREE, None))
                    .collect();
                if let Some(receipt) = receipt {
                    let (condition, values) = receipt.condition();
                    puts.push(put(receipt.to_item(), &condition, Some(values)));
                }
                let result = self
                    .client
                    .transact_write_items()
                    .set_transact_items(Some(puts))
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(new_version),
                    Err(SdkError::ServiceError(e)) => match e.err() {
                        TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                            let reasons: Vec<&str> = cancelled
                                .cancellation_reasons()
                                .iter()
                                .map(|r| r.code().unwrap_or("None"))
                                .collect();
                            let codes: Vec<&str> =
                                reasons.iter().copied().filter(|c| *c != "None").collect();
                            // The receipt is the last item: whoever holds the key decides the answer.
                            let receipt_taken = receipt.is_some()
                                && reasons.get(events) == Some(&"ConditionalCheckFailed");
                            if receipt_taken {
                                Err(EventStoreError::ReceiptTaken {
                                    id: receipt.map(|r| r.id.clone()).unwrap_or_default(),
                                })
                            } else if codes.contains(&"ConditionalCheckFailed") {
                                Err(conflict())
                            } else if codes.contains(&"TransactionConflict") {
                                Err(EventStoreError::TransactionConflict(stream_id.to_owned()))
                            } else if codes.iter().any(|c| c.contains("Validation")) {
                                Err(EventStoreError::Rejected(format!(
                                    "transaction cancelled: {codes:?}"
                                )))
                            } else {
                                // Throttling: nothing was written; trying again may succeed.
                                Err(EventStoreError::Transient(format!(
                                    "transaction cancelled: {codes:?}"
                                )))
                            }
                        }
                        other => Err(item_size_or(
                            classify_service(other),
                            stream_id,
                            expected_version + 1,
                        )),
                    },
                    Err(e) => Err(classify(&e)),
                }
            }
        }
    }

    /// Write `receipt` alone (a remembered rejection: no event), unless a live receipt holds its id
    /// ([`EventStoreError::ReceiptTaken`]: read it for the answer).
    pub async fn remember(&self, receipt: &Receipt) -> Result<(), EventStoreError> {
        let (condition, values) = receipt.condition();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(receipt.to_item()))
            .condition_expression(condition)
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Err(EventStoreError::ReceiptTaken {
                    id: receipt.id.clone(),
                })
            }
            Err(e) => Err(classify(&e)),
        }
    }

    /// One page of the table's streams (the ids of items at version 1), for rebuilds that must enumerate every
    /// stream. A `Scan` reads the whole table over all its pages: a rebuild's cost, never a request path's.
    pub async fn streams_page(
        &self,
        start: Option<&StreamCursor>,
        page_size: i32,
    ) -> Result<(Vec<String>, Option<StreamCursor>), EventStoreError> {
        let start_key = start.map(|c| {
            std::collections::HashMap::from([
                (STREAM_ID.to_owned(), AttributeValue::S(c.stream_id.clone())),
                (VERSION.to_owned(), AttributeValue::N(c.version.to_string())),
            ])
        });
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("#version = :first")
            .projection_expression("#stream, #version")
            .expression_attribute_names("#stream", STREAM_ID)
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_values(":first", AttributeValue::N("1".into()))
            .set_exclusive_start_key(start_key)
            .limit(page_size)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let streams = out
            .items()
            .iter()
            .filter_map(|i| i.get(STREAM_ID).and_then(|v| v.as_s().ok()).cloned())
            .collect();
        let next = out.last_evaluated_key().map(|key| StreamCursor {
            stream_id: key
                .get(STREAM_ID)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default(),
            version: key
                .get(VERSION)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or_default(),
        });
        Ok((streams, next))
    }

    /// The newest events of a stream, back to the newest item that carries a snapshot (strongly consistent, newest
    /// first, `page_size` items a page): a bounded read whatever the stream's length, once snapshots are written.
    /// Without any snapshot it reads the whole stream.
    pub async fn load_tail(
        &self,
        stream_id: &str,
        page_size: i32,
    ) -> Result<Tail, EventStoreError> {
        self.load_tail_up_to(stream_id, None, page_size).await
    }

    /// [`load_tail`](Self::load_tail) as the stream was after its event `up_to` (`None`: the head): the events up
    /// to it, back to the newest snapshot at or below it.
    pub async fn load_tail_up_to(
        &self,
        stream_id: &str,
        up_to: Option<u64>,
        page_size: i32,
    ) -> Result<Tail, EventStoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .scan_index_forward(false)
            .limit(page_size.max(1))
            .expression_attribute_names("#stream", STREAM_ID)
            .expression_attribute_values(":stream", AttributeValue::S(stream_id.to_owned()));
        let query = match up_to {
            None => query.key_condition_expression("#stream = :stream"),
            Some(up_to) => query
                .key_condition_expression("#stream = :stream AND #version BETWEEN :one AND :last")
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":last", AttributeValue::N(up_to.to_string())),
        };
        let mut pages = query.into_paginator().send();
        let mut tail = Tail::default();
        'pages: while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(&e))?;
            for item in page.items() {
                tail.items_read += 1;
                let event = from_item(item)?;
                if tail.newest.is_none() {
                    tail.newest = Some(event.clone());
                }
                if let Some(snapshot) = snapshot_of(item) {
                    tail.snapshot = Some((event.version, snapshot));
                    break 'pages;
                }
                tail.events.push(event);
            }
        }
        tail.events.reverse();
        Ok(tail)
    }

    /// Every event of a stream, in version order (strongly consistent; follows `LastEvaluatedKey`).
    pub async fn load(&self, stream_id: &str) -> Result<Vec<StoredEvent>, EventStoreError> {
        self.load_after(stream_id, 0).await
    }

    /// The receipt recorded under `id`, if any, live or expired (strongly consistent; one item read).
    pub async fn receipt(&self, id: &str) -> Result<Option<Receipt>, EventStoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .key(STREAM_ID, AttributeValue::S(Receipt::stream_of(id)))
            .key(VERSION, AttributeValue::N("0".into()))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        out.item().map(Receipt::from_item).transpose()
    }

    /// The event at `version` of a stream, if there is one (strongly consistent; one item read).
    pub async fn load_event(
        &self,
        stream_id: &str,
        version: u64,
    ) -> Result<Option<StoredEvent>, EventStoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .key(STREAM_ID, AttributeValue::S(stream_id.to_owned()))
            .key(VERSION, AttributeValue::N(version.to_string()))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        out.item().map(from_item).transpose()
    }

    /// The events of a stream after `after_version`, in version order.
    pub async fn load_after(
        &self,
        stream_id: &str,
        after_version: u64,
    ) -> Result<Vec<StoredEvent>, EventStoreError> {
        self.load_between(stream_id, after_version, None).await
    }

    /// The events of a stream after `after_version` up to `up_to` (inclusive; `None`: the head), in version order.
    pub async fn load_between(
        &self,
        stream_id: &str,
        after_version: u64,
        up_to: Option<u64>,
    ) -> Result<Vec<StoredEvent>, EventStoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .expression_attribute_names("#stream", STREAM_ID)
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_values(":stream", AttributeValue::S(stream_id.to_owned()))
            .expression_attribute_values(":after", AttributeValue::N(after_version.to_string()));
        let query = match up_to {
            None => query.key_condition_expression("#stream = :stream AND #version > :after"),
            Some(up_to) if up_to <= after_version => return Ok(Vec::new()),
            Some(up_to) => query
                .key_condition_expression("#stream = :stream AND #version BETWEEN :after AND :last")
                .expression_attribute_values(":last", AttributeValue::N(up_to.to_string())),
        };
        // BETWEEN is inclusive: the event at `after_version` itself is read and dropped.
        let mut pages = query.into_paginator().send();
        let mut events = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify(&e))?;
            for item in page.items() {
                let event = from_item(item)?;
                if event.version > after_version {
                    events.push(event);
                }
            }
        }
        Ok(events)
    }
}

/// Which end of a stream a page of its events starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    OldestFirst,
    NewestFirst,
}

/// One page of a stream's events (the audit trail): the events, and whether more follow in that order.
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    pub more: bool,
}

impl EventStore {
    /// Up to `limit` events of a stream in `order`, after the version `after` in that order (`None`: from the
    /// start). Eventually consistent (an audit read, not a command's). Only the stream's own items are read: a
    /// command's receipt lives in a partition of its own.
    pub async fn page(
        &self,
        stream_id: &str,
        order: Order,
        after: Option<u64>,
        limit: i32,
    ) -> Result<EventPage, EventStoreError> {
        let limit = limit.max(1);
        if order == Order::NewestFirst && after.is_some_and(|before| before <= 1) {
            return Ok(EventPage::default());
        }
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .scan_index_forward(order == Order::OldestFirst)
            .expression_attribute_names("#stream", STREAM_ID)
            .expression_attribute_values(":stream", AttributeValue::S(stream_id.to_owned()));
        let query = match (order, after) {
            (_, None) => query.key_condition_expression("#stream = :stream AND #version > :zero"),
            (Order::OldestFirst, Some(after)) => query
                .key_condition_expression("#stream = :stream AND #version > :after")
                .expression_attribute_values(":after", AttributeValue::N(after.to_string())),
            (Order::NewestFirst, Some(before)) => query
                .key_condition_expression("#stream = :stream AND #version BETWEEN :one AND :before")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(
                    ":before",
                    AttributeValue::N(before.saturating_sub(1).to_string()),
                ),
        };
        let query = if after.is_none() {
            query.expression_attribute_values(":zero", AttributeValue::N("0".into()))
        } else {
            query
        };
        // One more than asked: whether more follow, without a second request.
        let mut pages = query
            .expression_attribute_names("#version", VERSION)
            .limit(limit + 1)
            .into_paginator()
            .send();
        let mut page = EventPage::default();
        while let Some(result) = pages.next().await {
            for item in result.map_err(|e| classify(&e))?.items() {
                if page.events.len() == limit as usize {
                    page.more = true;
                    return Ok(page);
                }
                page.events.push(from_item(item)?);
            }
        }
        Ok(page)
    }
}

/// DynamoDB reports an oversized item as a ValidationException; give it its own type.
fn item_size_or(error: EventStoreError, stream_id: &str, version: u64) -> EventStoreError {
    match error {
        EventStoreError::Rejected(text) if text.contains("Item size") => {
            EventStoreError::ItemTooLarge {
                stream_id: stream_id.to_owned(),
                version,
                bytes: 0,
                limit: crate::item::MAX_ITEM_BYTES,
            }
        }
        other => other,
    }
}
