//! The event store on DynamoDB: append with optimistic concurrency, load with consistent, paginated reads.

use crate::errors::{classify, classify_service};
use crate::item::{from_item, snapshot_of, to_item, with_snapshot, STREAM_ID, VERSION};
use crate::receipt::{
    partition_of, receipt_condition, receipt_from_item, receipt_item, EXPIRES_AT,
};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::sync::Arc;
use tributary_store::chain::Notary;
use tributary_store::personal::Vault;
use tributary_store::sealing::prepare_append;
use tributary_store::{
    EventPage, EventStore, EventStoreError, NewEvent, Order, Receipt, Snapshot, StoredEvent,
    StreamCursor, Tail, MAX_EVENTS_PER_APPEND,
};

/// The condition on every appended item: its (stream, version) key must be free.
const KEY_IS_FREE: &str = "attribute_not_exists(#version)";

/// Event streams in one DynamoDB table. Cheap to clone (the SDK client is reference counted).
#[derive(Debug, Clone)]
pub struct DynamoDbEventStore {
    client: Client,
    table: String,
    notary: Option<Arc<dyn Notary>>,
    vault: Option<Arc<dyn Vault>>,
}

impl DynamoDbEventStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            notary: None,
            vault: None,
        }
    }

    /// Seal checkpoints with `notary` (`tributary_store::sealing`).
    pub fn with_notary(mut self, notary: Option<Arc<dyn Notary>>) -> Self {
        self.notary = notary;
        self
    }

    /// Seal personal values with `vault` (`tributary_store::personal`).
    pub fn with_vault(mut self, vault: Option<Arc<dyn Vault>>) -> Self {
        self.vault = vault;
        self
    }

    /// The store on `table`, shared as the functions hold one.
    pub fn shared(client: Client, table: impl Into<String>) -> Arc<dyn EventStore> {
        Arc::new(Self::new(client, table))
    }

    /// Name of the events table.
    pub fn table(&self) -> &str {
        &self.table
    }
}

#[async_trait::async_trait]
impl EventStore for DynamoDbEventStore {
    /// One item per event, conditional on its key being free: a single event is one `PutItem`; several, or one
    /// with a receipt, one `TransactWriteItems` (the receipt last, conditional on no live one under its id). Chained
    /// to `previous` when the caller passes it; otherwise one more read (of the event at `expected_version`).
    async fn append_with_receipt(
        &self,
        stream_id: &str,
        expected_version: u64,
        previous: Option<&StoredEvent>,
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
        if events.is_empty() {
            return Ok(expected_version);
        }
        let stored = prepare_append(
            self,
            stream_id,
            expected_version,
            previous,
            events,
            self.notary.as_deref(),
        )
        .await?;
        let mut items = stored.iter().map(to_item).collect::<Result<Vec<_>, _>>()?;
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
                    let (condition, values) = receipt_condition(receipt);
                    puts.push(put(receipt_item(receipt), &condition, Some(values)));
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

    fn vault(&self) -> Option<&dyn Vault> {
        self.vault.as_deref()
    }

    async fn remember(&self, receipt: &Receipt) -> Result<(), EventStoreError> {
        let (condition, values) = receipt_condition(receipt);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(receipt_item(receipt)))
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

    /// The ids of items at version 1: a `Scan` reads the whole table over all its pages.
    async fn streams_page(
        &self,
        start: Option<&StreamCursor>,
        page_size: i32,
    ) -> Result<(Vec<String>, Option<StreamCursor>), EventStoreError> {
        self.scan_streams(start, page_size, "#version = :v", 1)
            .await
    }

    /// The ids of every event item (not receipts: version 0), a stream once per run of its items on a page: the same
    /// whole-table `Scan`.
    async fn stream_ids_page(
        &self,
        start: Option<&StreamCursor>,
        page_size: i32,
    ) -> Result<(Vec<String>, Option<StreamCursor>), EventStoreError> {
        let (mut streams, next) = self
            .scan_streams(start, page_size, "#version > :v", 0)
            .await?;
        streams.dedup();
        Ok((streams, next))
    }

    /// Strongly consistent, newest first, `page_size` items a page.
    async fn load_tail_up_to(
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

    /// Strongly consistent; one item read.
    async fn receipt(&self, id: &str) -> Result<Option<Receipt>, EventStoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .key(STREAM_ID, AttributeValue::S(partition_of(id)))
            .key(VERSION, AttributeValue::N("0".into()))
            .send()
            .await
            .map_err(|e| classify(&e))?;
        out.item().map(receipt_from_item).transpose()
    }

    /// Strongly consistent; one item read.
    async fn load_event(
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

    /// Strongly consistent; follows `LastEvaluatedKey`, so streams above 1 MB load whole.
    async fn load_between(
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

    /// Eventually consistent (an audit read, not a command's). Only the stream's own items are read: a command's
    /// receipt lives in a partition of its own.
    async fn page(
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

impl DynamoDbEventStore {
    /// One `Scan` page of the table's items that `filter` (on `#version`, against `:v` = `value`) keeps: their
    /// stream ids, in scan order, and where the next page starts.
    async fn scan_streams(
        &self,
        start: Option<&StreamCursor>,
        page_size: i32,
        filter: &str,
        value: u64,
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
            .filter_expression(filter)
            .projection_expression("#stream, #version")
            .expression_attribute_names("#stream", STREAM_ID)
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_values(":v", AttributeValue::N(value.to_string()))
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
