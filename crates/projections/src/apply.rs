//! Applying events to a projection: skip what it has, catch up from the event store across gaps, collapse an
//! account's events into one guarded write, retry if another writer moved the projection meanwhile.

use crate::store::{ProjectionStore, StoreError};
use crate::{account_id, Projection};
use bank_account::views::{statement_step, AccountSummary};
use bank_account::AccountEvent;
use tributary_core::RecordedEvent;
use tributary_dynamodb::{EventStore, EventStoreError};

/// Attempts when another writer keeps moving the projection of the same account.
const MAX_ATTEMPTS: u32 = 5;

/// Applying failed; the batch must be retried.
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
}

/// What applying did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The projection's version of the account before and after.
    pub from: u64,
    pub to: u64,
    /// Whether events had to be read from the event store (a gap, or events this batch did not carry).
    pub caught_up: bool,
}

/// Apply `events` (one account's, in any order, duplicates allowed) to `projection`.
pub async fn apply(
    projection: Projection,
    projections: &ProjectionStore,
    events_store: &EventStore,
    stream: &str,
    events: &[RecordedEvent<AccountEvent>],
) -> Result<Applied, ProjectionError> {
    let account = account_id(stream).ok_or_else(|| ProjectionError::NotAnAccount {
        stream: stream.to_owned(),
    })?;
    let mut batch: Vec<&RecordedEvent<AccountEvent>> = events.iter().collect();
    batch.sort_by_key(|e| e.version);
    batch.dedup_by_key(|e| e.version);
    for _ in 0..MAX_ATTEMPTS {
        let applied = applied_version(projection, projections, account).await?;
        let new: Vec<&RecordedEvent<AccountEvent>> = batch
            .iter()
            .copied()
            .filter(|e| e.version > applied)
            .collect();
        if new.is_empty() {
            return Ok(Applied {
                from: applied,
                to: applied,
                caught_up: false,
            });
        }
        let contiguous = new
            .iter()
            .enumerate()
            .all(|(i, e)| e.version == applied + 1 + i as u64);
        let loaded;
        let (to_apply, caught_up): (Vec<&RecordedEvent<AccountEvent>>, bool) = if contiguous {
            (new, false)
        } else {
            loaded = events_store
                .load_after(stream, applied)
                .await?
                .iter()
                .map(|e| e.decode::<AccountEvent>())
                .collect::<Result<Vec<_>, _>>()?;
            (loaded.iter().collect(), true)
        };
        let Some(last) = to_apply.last().map(|e| e.version) else {
            return Ok(Applied {
                from: applied,
                to: applied,
                caught_up,
            });
        };
        if write(projection, projections, account, applied, &to_apply).await? {
            return Ok(Applied {
                from: applied,
                to: last,
                caught_up,
            });
        }
        tracing::debug!(%stream, projection = projection.name(), "projection moved meanwhile; retrying");
    }
    Err(ProjectionError::Contention {
        stream: stream.to_owned(),
    })
}

/// The version the projection has applied for `account`.
async fn applied_version(
    projection: Projection,
    projections: &ProjectionStore,
    account: &str,
) -> Result<u64, ProjectionError> {
    Ok(match projection {
        Projection::Summary => projections.summary(account).await?.map_or(0, |s| s.version),
        Projection::Statement => projections.statement_checkpoint(account).await?.version,
        Projection::Owners => match owner_entry(projections, account).await? {
            Some(entry) => entry.version,
            None => 0,
        },
    })
}

/// The owner-listing entry of an account. Entries are keyed by owner, so the projection keeps a pointer from the
/// account to its owner (written once, with the account's first event).
async fn owner_entry(
    projections: &ProjectionStore,
    account: &str,
) -> Result<Option<AccountSummary>, ProjectionError> {
    match projections.owner_of(account).await? {
        Some(owner) => Ok(projections.owner_entry(&owner, account).await?),
        None => Ok(None),
    }
}

/// Fold `events` (contiguous, starting at `applied + 1`) into the projection and write it, guarded on `applied`.
async fn write(
    projection: Projection,
    projections: &ProjectionStore,
    account: &str,
    applied: u64,
    events: &[&RecordedEvent<AccountEvent>],
) -> Result<bool, ProjectionError> {
    match projection {
        Projection::Summary | Projection::Owners => {
            let current = match projection {
                Projection::Summary => projections.summary(account).await?,
                _ => owner_entry(projections, account).await?,
            };
            let current = current.filter(|s| s.version == applied);
            let next = events.iter().fold(current, |state, e| {
                AccountSummary::evolve(
                    state,
                    account,
                    e.version,
                    &e.metadata.occurred_at.to_rfc3339(),
                    &e.event,
                )
            });
            let Some(next) = next else { return Ok(true) };
            Ok(match projection {
                Projection::Summary => projections.put_summary(&next, applied).await?,
                _ => {
                    if applied == 0 {
                        projections.record_owner(account, &next.owner).await?;
                    }
                    projections.put_owner_entry(&next, applied).await?
                }
            })
        }
        Projection::Statement => {
            let start = projections.statement_checkpoint(account).await?;
            if start.version != applied {
                return Ok(false);
            }
            let mut checkpoint = start;
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
