//! Applying events to a projection: a projection is a function of the event store, so what is applied is read
//! from the store, never taken from a Kafka record. A batch only says "account X has changed, up to version N":
//! events the projection has are skipped, the rest are read from the store (one consistent query), collapsed into one
//! guarded write, and retried if another writer moved the projection meanwhile. A record whose version the store
//! does not hold (forged, or from another system) changes nothing; the caller hears about it.
//!
//! Each attempt reads the projection once and writes what it folded from exactly that read, guarded on the version
//! it read. If another writer (a rebuild, a second delivery of the batch) moved the projection in between, the
//! guarded write fails and the attempt starts over from a fresh read: success is only ever reported for a write that
//! happened.

use crate::store::{ProjectionStore, StoreError};
use crate::{account_id, Projection};
use bank_account::views::{statement_step, AccountSummary, StatementCheckpoint};
use bank_account::AccountEvent;
use std::time::Duration;
use tributary_core::RecordedEvent;
use tributary_dynamodb::{EventStore, EventStoreError};

/// Attempts when another writer keeps moving the projection of the same account.
const MAX_ATTEMPTS: u32 = 8;

/// Applying failed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("catching up from the event store: {0}")]
    EventStore(#[from] EventStoreError),
    #[error("{stream}: the projection kept changing under this writer")]
    Contention { stream: String },
    #[error("{stream}: not an account stream")]
    NotAnAccount { stream: String },
    #[error("{stream}: events from version {from} do not fold into an account (the stream does not start with an opening)")]
    Unfoldable { stream: String, from: u64 },
}

impl ProjectionError {
    /// Whether the events can never be applied as they are (the data is wrong, not the environment): retrying
    /// cannot help, so the records go to the dead-letter topic. Everything else is worth retrying.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::NotAnAccount { .. } | Self::Unfoldable { .. } => true,
            Self::Store(StoreError::Corrupt(_)) => true,
            Self::EventStore(e) => matches!(e, EventStoreError::Corrupt { .. }),
            Self::Store(StoreError::Unavailable(_)) | Self::Contention { .. } => false,
        }
    }
}

/// What applying did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The projection's version of the account before and after.
    pub from: u64,
    pub to: u64,
    /// The highest version the event store held for the account when it was read (`None`: not read, nothing new).
    pub store_head: Option<u64>,
}

/// A projection's stored state for one account, as read at the start of an attempt.
enum Current {
    /// The summary, or the owner-listing entry.
    Summary(Option<AccountSummary>),
    Statement(StatementCheckpoint),
}

impl Current {
    fn version(&self) -> u64 {
        match self {
            Self::Summary(summary) => summary.as_ref().map_or(0, |s| s.version),
            Self::Statement(checkpoint) => checkpoint.version,
        }
    }
}

/// Bring `projection` of the account in `stream` up to date with the event store, for a batch whose records of
/// this account reach version `up_to`.
pub async fn apply(
    projection: Projection,
    projections: &ProjectionStore,
    events_store: &EventStore,
    stream: &str,
    up_to: u64,
) -> Result<Applied, ProjectionError> {
    let account = account_id(stream).ok_or_else(|| ProjectionError::NotAnAccount {
        stream: stream.to_owned(),
    })?;
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(5 << attempt.min(6))).await;
        }
        let current = read(projection, projections, account).await?;
        let applied = current.version();
        if up_to <= applied {
            // Duplicates: everything the batch mentions is applied already.
            return Ok(Applied {
                from: applied,
                to: applied,
                store_head: None,
            });
        }
        let new = events_store
            .load_after(stream, applied)
            .await?
            .iter()
            .map(|e| e.decode::<AccountEvent>())
            .collect::<Result<Vec<_>, _>>()?;
        let Some(head) = new.last().map(|e| e.version) else {
            return Ok(Applied {
                from: applied,
                to: applied,
                store_head: Some(applied),
            });
        };
        let new: Vec<&RecordedEvent<AccountEvent>> = new.iter().collect();
        if write(projection, projections, stream, account, current, &new).await? {
            return Ok(Applied {
                from: applied,
                to: head,
                store_head: Some(head),
            });
        }
        tracing::debug!(%stream, projection = projection.name(), attempt, "projection moved meanwhile; retrying");
    }
    Err(ProjectionError::Contention {
        stream: stream.to_owned(),
    })
}

/// The projection's state for `account`, in one consistent read (two for the owner listing: the pointer to the
/// owner, then the entry).
async fn read(
    projection: Projection,
    projections: &ProjectionStore,
    account: &str,
) -> Result<Current, ProjectionError> {
    Ok(match projection {
        Projection::Summary => Current::Summary(projections.summary(account).await?),
        Projection::Statement => {
            Current::Statement(projections.statement_checkpoint(account).await?)
        }
        Projection::Owners => Current::Summary(match projections.owner_of(account).await? {
            Some(owner) => projections.owner_entry(&owner, account).await?,
            None => None,
        }),
    })
}

/// Fold `events` (contiguous, right after `current`) into the projection and write it, guarded on `current`'s
/// version. `false`: another writer moved the projection since `current` was read; nothing was written.
async fn write(
    projection: Projection,
    projections: &ProjectionStore,
    stream: &str,
    account: &str,
    current: Current,
    events: &[&RecordedEvent<AccountEvent>],
) -> Result<bool, ProjectionError> {
    let applied = current.version();
    match current {
        Current::Summary(state) => {
            let next = events.iter().fold(state, |state, e| {
                AccountSummary::evolve(
                    state,
                    account,
                    e.version,
                    &e.metadata.occurred_at.to_rfc3339(),
                    &e.event,
                )
            });
            let Some(next) = next else {
                return Err(ProjectionError::Unfoldable {
                    stream: stream.to_owned(),
                    from: applied + 1,
                });
            };
            Ok(match projection {
                Projection::Owners => {
                    if applied == 0 {
                        projections.record_owner(account, &next.owner).await?;
                    }
                    projections.put_owner_entry(&next, applied).await?
                }
                _ => projections.put_summary(&next, applied).await?,
            })
        }
        Current::Statement(start) => {
            let mut checkpoint = start.clone();
            let mut lines = Vec::new();
            for e in events {
                let (line, next) = statement_step(
                    checkpoint,
                    e.version,
                    &e.metadata.occurred_at.to_rfc3339(),
                    &e.event,
                );
                lines.extend(line);
                checkpoint = next;
            }
            Ok(projections
                .append_statement(account, start, &lines, checkpoint)
                .await?)
        }
    }
}
