//! The projections table: item layout, guarded writes and paginated reads.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | account summary | `account#<id>` | `summary` |
//! | statement line | `statement#<id>` | `line#<version, 20 digits>` |
//! | statement checkpoint | `statement#<id>` | `~checkpoint` |
//! | account of an owner | `owner#<owner>` | `account#<id>` |
//! | owner of an account | `owner-of#<id>` | `owner` |
//! | rebuild progress | `rebuild#<projection>` | `progress` |

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use bank_account::views::{AccountSummary, StatementCheckpoint, StatementLine};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

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

/// The projections table.
#[derive(Debug, Clone)]
pub struct ProjectionStore {
    client: Client,
    table: String,
}

/// Statement lines per transaction (DynamoDB allows 100 items; one is the checkpoint).
const LINES_PER_TRANSACTION: usize = 99;

impl ProjectionStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// An account's summary.
    pub async fn summary(&self, account_id: &str) -> Result<Option<AccountSummary>, StoreError> {
        let (pk, sk) = summary_key(account_id);
        self.get_data(&pk, &sk).await
    }

    /// An account's entry in its owner's listing.
    pub async fn owner_entry(
        &self,
        owner: &str,
        account_id: &str,
    ) -> Result<Option<AccountSummary>, StoreError> {
        let (pk, sk) = owner_entry_key(owner, account_id);
        self.get_data(&pk, &sk).await
    }

    /// Write a summary if the stored one is still at `expected` (0: absent). `false`: someone else wrote first.
    pub async fn put_summary(
        &self,
        summary: &AccountSummary,
        expected: u64,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = summary_key(&summary.account_id);
        self.put_guarded(&pk, &sk, summary, summary.version, Guard::Exactly(expected))
            .await
    }

    /// Write an owner-listing entry if the stored one is still at `expected` (0: absent).
    pub async fn put_owner_entry(
        &self,
        summary: &AccountSummary,
        expected: u64,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = owner_entry_key(&summary.owner, &summary.account_id);
        self.put_guarded(&pk, &sk, summary, summary.version, Guard::Exactly(expected))
            .await
    }

    /// Overwrite a summary and its owner entry with a state recomputed from the event store (rebuild), unless the
    /// stored ones are already newer.
    pub async fn overwrite_summary(
        &self,
        summary: &AccountSummary,
        owners: bool,
    ) -> Result<(), StoreError> {
        let (pk, sk) = if owners {
            owner_entry_key(&summary.owner, &summary.account_id)
        } else {
            summary_key(&summary.account_id)
        };
        self.put_guarded(&pk, &sk, summary, summary.version, Guard::NotNewerThan)
            .await
            .map(|_| ())
    }

    /// Overwrite a statement with lines recomputed from the event store (rebuild): the lines (deterministic, so
    /// rewriting them is harmless), then the checkpoint unless the stored one is already newer.
    pub async fn overwrite_statement(
        &self,
        account_id: &str,
        lines: &[StatementLine],
        checkpoint: StatementCheckpoint,
    ) -> Result<(), StoreError> {
        let pk = format!("statement#{account_id}");
        for chunk in lines.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|line| {
                    let put = PutRequest::builder()
                        .set_item(Some(item(
                            &pk,
                            &format!("line#{:020}", line.version),
                            line,
                            line.version,
                        )))
                        .build()
                        .expect("item is set");
                    WriteRequest::builder().put_request(put).build()
                })
                .collect();
            for attempt in 0.. {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(sdk)?;
                requests = out
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt >= 8 {
                    return Err(StoreError::Unavailable(
                        "statement lines stayed unprocessed after 8 retries".into(),
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
        }
        self.put_guarded(
            &pk,
            "~checkpoint",
            &checkpoint,
            checkpoint.version,
            Guard::NotNewerThan,
        )
        .await
        .map(|_| ())
    }

    /// The statement's checkpoint (default: nothing applied).
    pub async fn statement_checkpoint(
        &self,
        account_id: &str,
    ) -> Result<StatementCheckpoint, StoreError> {
        Ok(self
            .get_data(&format!("statement#{account_id}"), "~checkpoint")
            .await?
            .unwrap_or_default())
    }

    /// Add statement lines and move the checkpoint from `expected` to `next`, atomically per transaction (chunks
    /// of 99 lines, each moving the checkpoint to its last event). `false`: someone else moved the checkpoint.
    pub async fn append_statement(
        &self,
        account_id: &str,
        expected: StatementCheckpoint,
        lines: &[StatementLine],
        next: StatementCheckpoint,
    ) -> Result<bool, StoreError> {
        let pk = format!("statement#{account_id}");
        let mut from = expected;
        let mut chunks: Vec<(&[StatementLine], StatementCheckpoint)> = lines
            .chunks(LINES_PER_TRANSACTION)
            .map(|chunk| {
                let last = chunk.last().expect("chunks are not empty");
                (
                    chunk,
                    StatementCheckpoint {
                        version: last.version,
                        balance: last.balance_after,
                        owner: next.owner.clone(),
                    },
                )
            })
            .collect();
        match chunks.last_mut() {
            Some(last) => last.1 = next,
            None => chunks.push((&[], next)),
        }
        for (chunk, to) in chunks {
            let mut items: Vec<TransactWriteItem> = chunk
                .iter()
                .map(|line| {
                    let put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item(
                            &pk,
                            &format!("line#{:020}", line.version),
                            line,
                            line.version,
                        )))
                        .build()
                        .expect("table and item are set");
                    TransactWriteItem::builder().put(put).build()
                })
                .collect();
            let checkpoint = Update::builder()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(pk.clone()))
                .key("sk", AttributeValue::S("~checkpoint".into()))
                .update_expression("SET #data = :data, #version = :version")
                .condition_expression(if from.version == 0 {
                    "attribute_not_exists(#version)"
                } else {
                    "#version = :expected"
                })
                .expression_attribute_names("#data", "data")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":data", AttributeValue::S(json(&to)))
                .expression_attribute_values(":version", AttributeValue::N(to.version.to_string()));
            let checkpoint = if from.version == 0 {
                checkpoint
            } else {
                checkpoint.expression_attribute_values(
                    ":expected",
                    AttributeValue::N(from.version.to_string()),
                )
            };
            items.push(
                TransactWriteItem::builder()
                    .update(checkpoint.build().expect("key and expression are set"))
                    .build(),
            );
            match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => from = to,
                Err(SdkError::ServiceError(e)) => {
                    if let TransactWriteItemsError::TransactionCanceledException(cancelled) =
                        e.err()
                    {
                        let reasons = cancelled.cancellation_reasons();
                        // The checkpoint moved, or another transaction was writing it: re-read and try again.
                        if reasons.iter().any(|r| {
                            matches!(
                                r.code(),
                                Some("ConditionalCheckFailed" | "TransactionConflict")
                            )
                        }) {
                            return Ok(false);
                        }
                    }
                    return Err(StoreError::Unavailable(format!(
                        "statement transaction failed: {:?}",
                        e.err()
                    )));
                }
                Err(e) => return Err(sdk(e)),
            }
        }
        Ok(true)
    }

    /// Statement lines newest first, at most `limit`, below version `before` (exclusive) when given. Read
    /// consistently, like the checkpoint: a reader that waited for version N (`min_version`) gets line N.
    pub async fn statement_page(
        &self,
        account_id: &str,
        limit: i32,
        before: Option<u64>,
    ) -> Result<Page<StatementLine>, StoreError> {
        let upper = format!(
            "line#{:020}",
            before.map_or(u64::MAX, |v| v.saturating_sub(1))
        );
        self.page(
            &format!("statement#{account_id}"),
            "line#",
            &upper,
            Direction::NewestFirst,
            Consistency::Strong,
            limit,
        )
        .await
    }

    /// An owner's accounts by account id, at most `limit`, after account id `after` when given.
    pub async fn owner_page(
        &self,
        owner: &str,
        limit: i32,
        after: Option<&str>,
    ) -> Result<Page<AccountSummary>, StoreError> {
        let lower = after.map_or_else(|| "account#".to_owned(), |a| format!("account#{a}"));
        self.page(
            &format!("owner#{owner}"),
            &lower,
            "account$",
            Direction::OldestFirst,
            Consistency::Eventual,
            limit,
        )
        .await
    }

    /// The owner of an account, as recorded by the owner listing.
    pub async fn owner_of(&self, account_id: &str) -> Result<Option<String>, StoreError> {
        self.get_data(&format!("owner-of#{account_id}"), "owner")
            .await
    }

    /// Record the owner of an account (idempotent: an account's owner never changes).
    pub async fn record_owner(&self, account_id: &str, owner: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(
                &format!("owner-of#{account_id}"),
                "owner",
                &owner,
                0,
            )))
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
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
                    .set_item(Some(item(&pk, "progress", value, 0)))
                    .send()
                    .await
                    .map_err(sdk)?;
            }
            None => {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", AttributeValue::S(pk))
                    .key("sk", AttributeValue::S("progress".into()))
                    .send()
                    .await
                    .map_err(sdk)?;
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
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        out.item().map(data).transpose()
    }

    async fn put_guarded<T: Serialize>(
        &self,
        pk: &str,
        sk: &str,
        value: &T,
        version: u64,
        guard: Guard,
    ) -> Result<bool, StoreError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(pk, sk, value, version)))
            .expression_attribute_names("#version", "version");
        let request = match guard {
            Guard::Exactly(0) => request.condition_expression("attribute_not_exists(#version)"),
            Guard::Exactly(expected) => request
                .condition_expression("#version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(expected.to_string())),
            Guard::NotNewerThan => request
                .condition_expression("attribute_not_exists(#version) OR #version <= :version")
                .expression_attribute_values(":version", AttributeValue::N(version.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk(e)),
        }
    }

    async fn page<T: DeserializeOwned>(
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
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
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

/// Key of an account's summary.
fn summary_key(account_id: &str) -> (String, String) {
    (format!("account#{account_id}"), "summary".to_owned())
}

/// Key of an account's entry in its owner's listing.
fn owner_entry_key(owner: &str, account_id: &str) -> (String, String) {
    (format!("owner#{owner}"), format!("account#{account_id}"))
}

/// Which end of a partition a page starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    OldestFirst,
    NewestFirst,
}

/// Whether a read must see every write acknowledged before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consistency {
    Strong,
    Eventual,
}

enum Guard {
    /// The stored version must be exactly this (0: no item yet).
    Exactly(u64),
    /// The stored version must not be newer than the one written.
    NotNewerThan,
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
