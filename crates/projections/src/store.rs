//! The projections table: checkpoints and rows written together under a version guard, consistent reads, pages.
//!
//! Every item has `pk`, `sk`, `version` (the event version that wrote it) and `data` (JSON). Where a read model's
//! items live is the read model's choice ([`tributary_core::Projection::checkpoint_key`] and its rows); the table
//! also keeps rebuild progress at `rebuild#<projection>` / `progress`, and each read model's versions at
//! `read-model#<name>` / `versions` ([`crate::versions`]).
//!
//! A store scoped to one version of a read model ([`ProjectionStore::of`], [`ProjectionStore::at`]) tags every
//! item it writes with the version's label (attribute `rm`), and for versions after the first puts its items under
//! their own partition keys: `<label>/<pk>` (`statement-v2/statement#<id>`). Two versions of a read model therefore
//! never share an item, a reader scoped to one never sees the other's, and retiring one deletes what carries its
//! tag. Version 1 keeps the keys as the read model names them, so read models that predate versions keep their
//! items.

use crate::model::Step;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tributary_core::ItemKey;

type Item = HashMap<String, AttributeValue>;

/// An item's key (`pk`, `sk`).
fn key_of(item: &Item) -> Item {
    ["pk", "sk"]
        .iter()
        .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

/// A failed projection-store call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, a timeout, a server error or a lost connection (after the SDK's retries), or a refusal that
    /// fixing the environment cures (a missing table, denied access): trying again later may succeed.
    #[error("projection store unavailable: {0}")]
    Unavailable(String),
    /// A stored read-model item that does not decode: no retry will change it.
    #[error("projection store item is corrupt: {0}")]
    Corrupt(String),
}

fn sdk<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
}

/// One page of a listing and the key to continue after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The sort key of the last item, when more may follow.
    pub next: Option<String>,
}

/// The projections table, or one version of a read model in it.
#[derive(Debug, Clone)]
pub struct ProjectionStore {
    client: Client,
    table: String,
    scope: Option<Scope>,
    /// Items read recently ([`ProjectionStore::remembered`]; the read models' catalogs), shared by every clone: one
    /// cache per container.
    remembered: Arc<Remembered>,
}

/// How long [`ProjectionStore::remembered`] trusts an item it read, unless told otherwise: the longest a promotion
/// or a retirement takes to reach a container.
pub const REMEMBERED_FOR: Duration = Duration::from_secs(1);

/// An item's data and version (`None`: no such item).
type Versioned = Option<(Value, u64)>;

/// Items as recently read: each with when it was asked for.
#[derive(Debug)]
struct Remembered {
    ttl: Duration,
    items: std::sync::Mutex<HashMap<ItemKey, (std::time::Instant, Versioned)>>,
}

impl Remembered {
    fn new(ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            ttl,
            items: Default::default(),
        })
    }
}

/// The version of a read model a store is scoped to.
#[derive(Debug, Clone)]
struct Scope {
    /// Tagged on every item written (`rm`).
    label: Arc<str>,
    /// Put before every partition key (versions after the first).
    prefix: Option<Arc<str>>,
}

/// The attribute that names the read-model version an item belongs to.
pub const TAG_ATTRIBUTE: &str = "rm";

/// Rows per transaction (DynamoDB allows 100 items; one is the checkpoint).
pub const ROWS_PER_TRANSACTION: usize = 99;

impl ProjectionStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            scope: None,
            remembered: Remembered::new(REMEMBERED_FOR),
        }
    }

    /// The same table, remembering what [`ProjectionStore::remembered`] reads for `ttl` (how soon a promotion or a
    /// retirement reaches this container; see [`crate::versions`]).
    pub fn remembering_for(mut self, ttl: Duration) -> Self {
        self.remembered = Remembered::new(ttl);
        self
    }

    /// An item's data and version as read at most the remembering time ago (a consistent read when older): for
    /// small items every request consults (a read model's catalog).
    pub async fn remembered(&self, key: &ItemKey) -> Result<Versioned, StoreError> {
        let key = ItemKey::new(self.pk(&key.pk), key.sk.clone());
        if let Some((at, item)) = self
            .remembered
            .items
            .lock()
            .expect("not poisoned")
            .get(&key)
        {
            if at.elapsed() < self.remembered.ttl {
                return Ok(item.clone());
            }
        }
        // Aged from when it was asked for: a read that was slow to answer is no fresher for it.
        let asked = std::time::Instant::now();
        let item = self.unscoped().checkpoint(&key).await?;
        self.remembered
            .items
            .lock()
            .expect("not poisoned")
            .insert(key, (asked, item.clone()));
        Ok(item)
    }

    /// Forget what [`ProjectionStore::remembered`] read of `key` (this container changed it).
    pub fn forget(&self, key: &ItemKey) {
        let key = ItemKey::new(self.pk(&key.pk), key.sk.clone());
        self.remembered
            .items
            .lock()
            .expect("not poisoned")
            .remove(&key);
    }

    /// The items of `model` (its version) in this table.
    pub fn of(&self, model: &dyn crate::ReadModel) -> Self {
        self.at(model.name(), model.version())
    }

    /// The items of version `version` of read model `name` in this table.
    pub fn at(&self, name: &str, version: u32) -> Self {
        let label: Arc<str> = crate::model::label(name, version).into();
        Self {
            scope: Some(Scope {
                prefix: (version != 1).then(|| format!("{label}/").into()),
                label,
            }),
            ..self.unscoped()
        }
    }

    /// The whole table, keys as given (catalogs, tests).
    pub fn unscoped(&self) -> Self {
        Self {
            client: self.client.clone(),
            table: self.table.clone(),
            scope: None,
            remembered: self.remembered.clone(),
        }
    }

    /// The label of the version this store is scoped to.
    pub fn label(&self) -> Option<&str> {
        self.scope.as_ref().map(|s| &*s.label)
    }

    /// The partition key `pk` of the read model's items as stored.
    fn pk<'k>(&self, pk: &'k str) -> Cow<'k, str> {
        match self.scope.as_ref().and_then(|s| s.prefix.as_deref()) {
            Some(prefix) => Cow::Owned(format!("{prefix}{pk}")),
            None => Cow::Borrowed(pk),
        }
    }

    /// An item of this store (its partition key as stored, its tag).
    fn item<T: Serialize>(&self, pk: &str, sk: &str, value: &T, version: u64) -> Item {
        let mut item = item(&self.pk(pk), sk, value, version);
        if let Some(scope) = &self.scope {
            item.insert(
                TAG_ATTRIBUTE.to_owned(),
                AttributeValue::S(scope.label.to_string()),
            );
        }
        item
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    /// A checkpoint's state and version, read consistently (`None`: nothing applied yet).
    pub async fn checkpoint(&self, key: &ItemKey) -> Result<Option<(Value, u64)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(self.pk(&key.pk).into_owned()))
            .key("sk", AttributeValue::S(key.sk.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("checkpoint {key:?} without a version")))?;
        Ok(Some((data(item)?, version)))
    }

    /// Write `steps` (the checkpoint after each event and the rows each writes) under `guard`: the rows and the
    /// checkpoint they lead to in one transaction, at most [`ROWS_PER_TRANSACTION`] distinct rows each (a later row
    /// with a key replaces an earlier one, so a view rewritten by every event is written once per transaction). A
    /// chunk of one row is two puts instead (the row guarded on its own version, then the checkpoint); none, one. `false`: the guard failed (another writer moved the checkpoint); transactions
    /// before it stand, each consistent on its own.
    pub async fn commit(
        &self,
        checkpoint: &ItemKey,
        mut guard: Guard,
        steps: &[Step],
    ) -> Result<bool, StoreError> {
        let mut start = 0;
        while start < steps.len() {
            // As many steps as fit one transaction: their distinct row keys, and the checkpoint.
            let mut keys: BTreeSet<&ItemKey> = BTreeSet::new();
            let mut end = start;
            while end < steps.len() {
                let mut with_step = keys.clone();
                with_step.extend(steps[end].rows.iter().map(|r| &r.key));
                if with_step.len() > ROWS_PER_TRANSACTION {
                    if end == start {
                        return Err(StoreError::Corrupt(format!(
                            "one event writes {} rows of {checkpoint:?}; at most {ROWS_PER_TRANSACTION} fit a transaction",
                            with_step.len()
                        )));
                    }
                    break;
                }
                keys = with_step;
                end += 1;
            }
            let chunk = &steps[start..end];
            if !self.commit_chunk(checkpoint, guard, chunk).await? {
                return Ok(false);
            }
            if let Guard::Exactly(_) = guard {
                guard = Guard::Exactly(chunk.last().expect("chunks are not empty").version);
            }
            start = end;
        }
        Ok(true)
    }

    async fn commit_chunk(
        &self,
        key: &ItemKey,
        guard: Guard,
        chunk: &[Step],
    ) -> Result<bool, StoreError> {
        let last = chunk.last().expect("chunks are not empty");
        let mut rows: BTreeMap<&ItemKey, (u64, &Value)> = BTreeMap::new();
        for step in chunk {
            for row in &step.rows {
                rows.insert(&row.key, (step.version, &row.data));
            }
        }
        let checkpoint = self.item(&key.pk, &key.sk, &last.state, last.version);
        let (condition, expected) = guard.condition(last.version);
        // A deleted row (null data) goes in a transaction, beside its checkpoint.
        if rows.len() == 1 && rows.values().all(|(_, row)| !row.is_null()) {
            // One row (a view the events keep current): two puts cost less than a transaction (half the write
            // units on DynamoDB; far less time on the local servers). The row goes first, guarded on its own
            // version so that it never moves backwards: a writer whose checkpoint write then fails leaves a row
            // that is the fold at its version — what any writer writes there — and the checkpoint is never ahead
            // of its rows.
            let (row_key, (row_version, row)) = rows.pop_first().expect("one row");
            let (row_condition, row_version_value) = Guard::NotNewer.condition(row_version);
            let request = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(self.item(&row_key.pk, &row_key.sk, row, row_version)))
                .condition_expression(row_condition)
                .expression_attribute_names("#version", "version")
                .set_expression_attribute_values(
                    row_version_value.map(|v| HashMap::from([(":expected".to_owned(), v)])),
                );
            match request.send().await {
                Ok(_) => {}
                // A newer fold is there already: this writer's checkpoint will be refused too, or is behind it.
                Err(SdkError::ServiceError(e))
                    if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) => {}
                Err(e) => return Err(sdk(e)),
            }
        }
        if rows.is_empty() {
            let mut request = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(checkpoint))
                .condition_expression(condition)
                .expression_attribute_names("#version", "version");
            if let Some(expected) = expected {
                request = request.expression_attribute_values(":expected", expected);
            }
            return match request.send().await {
                Ok(_) => Ok(true),
                Err(SdkError::ServiceError(e))
                    if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
                {
                    Ok(false)
                }
                Err(e) => Err(sdk(e)),
            };
        }
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(checkpoint))
            .condition_expression(condition)
            .expression_attribute_names("#version", "version");
        if let Some(expected) = expected {
            put = put.expression_attribute_values(":expected", expected);
        }
        let mut items = vec![TransactWriteItem::builder()
            .put(put.build().expect("table and item are set"))
            .build()];
        items.extend(rows.into_iter().map(|(key, (version, value))| {
            let item = self.item(&key.pk, &key.sk, value, version);
            if value.is_null() {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_of(&item)))
                    .build()
                    .expect("table and key are set");
                return TransactWriteItem::builder().delete(delete).build();
            }
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .expect("table and item are set");
            TransactWriteItem::builder().put(put).build()
        }));
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) => {
                if let TransactWriteItemsError::TransactionCanceledException(cancelled) = e.err() {
                    // The checkpoint moved, or another transaction was writing it: the caller re-reads.
                    if cancelled.cancellation_reasons().iter().any(|r| {
                        matches!(
                            r.code(),
                            Some("ConditionalCheckFailed" | "TransactionConflict")
                        )
                    }) {
                        return Ok(false);
                    }
                }
                Err(StoreError::Unavailable(format!(
                    "projection transaction failed: {:?}",
                    e.err()
                )))
            }
            Err(e) => Err(sdk(e)),
        }
    }

    /// The data of one item, read consistently.
    pub async fn get<T: DeserializeOwned>(&self, key: &ItemKey) -> Result<Option<T>, StoreError> {
        self.get_data(&key.pk, &key.sk).await
    }

    /// Items of partition `pk` whose sort key is after `after` (exclusive) and up to `upper` (inclusive), at most
    /// `limit`, from the end `direction` names; `next` is the sort key to continue after when more may follow.
    #[allow(clippy::too_many_arguments)]
    pub async fn page<T: DeserializeOwned>(
        &self,
        pk: &str,
        after: &str,
        upper: &str,
        direction: Direction,
        consistency: Consistency,
        limit: i32,
    ) -> Result<Page<T>, StoreError> {
        self.query_page(pk, after, upper, direction, consistency, limit)
            .await
    }

    /// Progress of a rebuild (an opaque JSON value), if one was saved.
    pub async fn rebuild_progress(
        &self,
        projection: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        self.get_data(&format!("rebuild#{projection}"), "progress")
            .await
    }

    /// Save (or with `None`, clear) the progress of a rebuild.
    pub async fn save_rebuild_progress(
        &self,
        projection: &str,
        progress: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        let pk = format!("rebuild#{projection}");
        match progress {
            Some(value) => {
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(self.item(&pk, "progress", value, 0)))
                    .send()
                    .await
                    .map_err(sdk)?;
            }
            None => {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", AttributeValue::S(self.pk(&pk).into_owned()))
                    .key("sk", AttributeValue::S("progress".into()))
                    .send()
                    .await
                    .map_err(sdk)?;
            }
        }
        Ok(())
    }

    /// Delete every item tagged `label` (one version of a read model, retired): the whole table is scanned, a page
    /// at a time, and what carries the tag deleted 25 items per request. `on_page(scanned, deleted)` after each page.
    /// Returns how many were deleted. Cost: every item of the table read once (eventually consistent), one write
    /// per deleted item.
    pub async fn delete_tagged(
        &self,
        label: &str,
        mut on_page: impl FnMut(u64, u64),
    ) -> Result<u64, StoreError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("#rm = :rm")
            .projection_expression("#pk, #sk")
            .expression_attribute_names("#rm", TAG_ATTRIBUTE)
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":rm", AttributeValue::S(label.to_owned()))
            .into_paginator()
            .send();
        let (mut scanned, mut deleted) = (0u64, 0u64);
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk)?;
            scanned += page.scanned_count().max(0) as u64;
            for chunk in page.items().chunks(25) {
                let requests = chunk
                    .iter()
                    .map(|item| {
                        let key = key_of(item);
                        aws_sdk_dynamodb::types::WriteRequest::builder()
                            .delete_request(
                                aws_sdk_dynamodb::types::DeleteRequest::builder()
                                    .set_key(Some(key))
                                    .build()
                                    .expect("the key is set"),
                            )
                            .build()
                    })
                    .collect();
                self.write_batch(requests).await?;
                deleted += chunk.len() as u64;
            }
            on_page(scanned, deleted);
        }
        Ok(deleted)
    }

    /// Mark every personal value of `subject` in the table's items as erased (`tributary forget`: what a read model
    /// kept of them goes, not only the key that opens it). The whole table is scanned, only items whose data names
    /// the subject come back, and each is rewritten unless it changed meanwhile (then read again, up to 3 times).
    /// `on_page(scanned, rewritten)` after each page. Returns how many items were rewritten. A denormaliser writing
    /// afterwards writes the subject's values as the events hold them: sealed under a key that is gone.
    pub async fn erase_subject(
        &self,
        subject: &str,
        mut on_page: impl FnMut(u64, u64),
    ) -> Result<u64, StoreError> {
        // How a personal value of the subject starts in JSON (tributary_core::Personal serialises `subject` first).
        let needle = format!(
            "{{\"{}\":{{\"subject\":{}",
            tributary_core::PERSONAL_MARKER,
            Value::String(subject.to_owned())
        );
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("contains(#data, :needle)")
            .expression_attribute_names("#data", "data")
            .expression_attribute_values(":needle", AttributeValue::S(needle))
            .into_paginator()
            .send();
        let (mut scanned, mut rewritten) = (0u64, 0u64);
        while let Some(page) = pages.next().await {
            let page = page.map_err(sdk)?;
            scanned += page.scanned_count().max(0) as u64;
            for item in page.items() {
                if self.erase_in(item.clone(), subject).await? {
                    rewritten += 1;
                }
            }
            on_page(scanned, rewritten);
        }
        Ok(rewritten)
    }

    /// Rewrite `item` with `subject`'s personal values erased, unless its data changed since it was read (then read
    /// it again, up to 3 times). Whether it was rewritten.
    async fn erase_in(&self, mut item: Item, subject: &str) -> Result<bool, StoreError> {
        let key = key_of(&item);
        for _ in 0..3 {
            let Some(old) = item.get("data").and_then(|v| v.as_s().ok()).cloned() else {
                return Ok(false);
            };
            let mut data: Value = serde_json::from_str(&old)
                .map_err(|e| StoreError::Corrupt(format!("{key:?}: {e}")))?;
            if !tributary_store::personal::erase_subject(&mut data, subject) {
                return Ok(false);
            }
            let updated = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.clone()))
                .update_expression("SET #data = :new")
                .condition_expression("#data = :old")
                .expression_attribute_names("#data", "data")
                .expression_attribute_values(":new", AttributeValue::S(data.to_string()))
                .expression_attribute_values(":old", AttributeValue::S(old))
                .send()
                .await;
            match updated {
                Ok(_) => return Ok(true),
                Err(SdkError::ServiceError(e))
                    if e.err().is_conditional_check_failed_exception() =>
                {
                    item = self
                        .client
                        .get_item()
                        .table_name(&self.table)
                        .set_key(Some(key.clone()))
                        .consistent_read(true)
                        .send()
                        .await
                        .map_err(sdk)?
                        .item
                        .unwrap_or_default();
                }
                Err(e) => return Err(sdk(e)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "{key:?} kept changing while it was being erased; run again"
        )))
    }

    /// One `BatchWriteItem`, its unprocessed requests sent again (with backoff) until none are left.
    async fn write_batch(
        &self,
        mut requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> Result<(), StoreError> {
        let mut pauses =
            tributary_runtime::retry::pauses(Duration::from_millis(20), Duration::from_secs(2));
        while !requests.is_empty() {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, std::mem::take(&mut requests))
                .send()
                .await
                .map_err(sdk)?;
            requests = out
                .unprocessed_items()
                .and_then(|u| u.get(&self.table))
                .cloned()
                .unwrap_or_default();
            if !requests.is_empty() {
                tokio::time::sleep(pauses.next().unwrap_or(Duration::from_secs(2))).await;
            }
        }
        Ok(())
    }

    /// Every item of the table, as (pk, sk, data) — for comparing two projection tables in tests.
    pub async fn dump(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            for item in page.map_err(sdk)?.items() {
                let text = |name: &str| {
                    item.get(name)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default()
                };
                out.push((text("pk"), text("sk"), text("data")));
            }
        }
        out.sort();
        Ok(out)
    }

    async fn get_data<T: DeserializeOwned>(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(self.pk(pk).into_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        out.item().map(data).transpose()
    }

    async fn query_page<T: DeserializeOwned>(
        &self,
        pk: &str,
        lower: &str,
        upper: &str,
        direction: Direction,
        consistency: Consistency,
        limit: i32,
    ) -> Result<Page<T>, StoreError> {
        // `lower` is exclusive (nudged past with \u{1}), `upper` inclusive: BETWEEN includes both.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :lower AND :upper")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":pk", AttributeValue::S(self.pk(pk).into_owned()))
            .expression_attribute_values(":lower", AttributeValue::S(format!("{lower}\u{1}")))
            .expression_attribute_values(":upper", AttributeValue::S(upper.to_owned()))
            .scan_index_forward(direction == Direction::OldestFirst)
            .consistent_read(consistency == Consistency::Strong)
            .limit(limit + 1)
            .send()
            .await
            .map_err(sdk)?;
        let mut items: Vec<(String, T)> = out
            .items()
            .iter()
            .map(|i| {
                Ok((
                    i.get("sk")
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default(),
                    data(i)?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next = if more {
            items.last().map(|(sk, _)| sk.clone())
        } else {
            None
        };
        Ok(Page {
            items: items.into_iter().map(|(_, v)| v).collect(),
            next,
        })
    }
}

/// Which end of a partition a page starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    OldestFirst,
    NewestFirst,
}

/// Whether a read must see every write acknowledged before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    Strong,
    Eventual,
}

/// What a checkpoint write requires of the stored checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Exactly this version (0: no checkpoint yet) — the live denormaliser, folding from what it read.
    Exactly(u64),
    /// Not newer than the version written — a rebuild, which must never move a projection backwards.
    NotNewer,
}

impl Guard {
    /// The condition expression (on `#version`) and its `:expected` value, for a write of `version`.
    fn condition(self, version: u64) -> (&'static str, Option<AttributeValue>) {
        match self {
            Guard::Exactly(0) => ("attribute_not_exists(#version)", None),
            Guard::Exactly(expected) => (
                "#version = :expected",
                Some(AttributeValue::N(expected.to_string())),
            ),
            Guard::NotNewer => (
                "attribute_not_exists(#version) OR #version <= :expected",
                Some(AttributeValue::N(version.to_string())),
            ),
        }
    }
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("read models serialise")
}

fn item<T: Serialize>(pk: &str, sk: &str, value: &T, version: u64) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
        ("version".to_owned(), AttributeValue::N(version.to_string())),
        ("data".to_owned(), AttributeValue::S(json(value))),
    ])
}

fn data<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let text = item
        .get("data")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt("projection item without data".into()))?;
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("projection item does not decode: {e}")))
}
