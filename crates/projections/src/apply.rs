//! Applying events to a projection: a projection is a function of the event store, so what is applied is read
//! from the store, never taken from a Kafka record. A batch only says "stream X has changed, up to version N":
//! events the projection has are skipped, the rest are read from the store (one consistent query), folded, and
//! written with the checkpoint in one guarded write, retried if another writer moved the projection meanwhile. A
//! record whose version the store does not hold (forged, or from another system) changes nothing; the caller hears
//! about it.
//!
//! Each attempt reads the checkpoint once and writes what it folded from exactly that read, guarded on the version
//! it read. If another writer (a rebuild, a second delivery of the batch) moved the projection in between, the
//! guarded write fails and the attempt starts over from a fresh read: success is only ever reported for a write that
//! happened.

use crate::model::{FoldError, ReadModel};
use crate::store::{Guard, ProjectionStore, StoreError};
use std::time::Duration;
use tributary_store::{EventStore, EventStoreError};

/// Attempts when another writer keeps moving the projection of the same entity.
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
    #[error("{stream}: not a stream the {projection} projection reads")]
    NotFolded {
        stream: String,
        projection: &'static str,
    },
    #[error("{stream}: events from version {from} do not fold into {projection} (the stream does not start with its creation)")]
    Unfoldable {
        stream: String,
        projection: &'static str,
        from: u64,
    },
}

impl ProjectionError {
    /// Whether the events can never be applied as they are (the data is wrong, not the environment): retrying
    /// cannot help, so the records go to the dead-letter topic. Everything else is worth retrying.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::NotFolded { .. } | Self::Unfoldable { .. } => true,
            Self::Store(StoreError::Corrupt(_)) => true,
            Self::EventStore(e) => matches!(e, EventStoreError::Corrupt { .. }),
            Self::Store(StoreError::Unavailable(_)) | Self::Contention { .. } => false,
        }
    }

    pub(crate) fn of_fold(error: FoldError, model: &dyn ReadModel, stream: &str) -> Self {
        match error {
            FoldError::Decode(e) => Self::EventStore(e),
            FoldError::Unfoldable { from } => Self::Unfoldable {
                stream: stream.to_owned(),
                projection: model.name(),
                from,
            },
        }
    }
}

/// What applying did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The projection's version of the entity before and after.
    pub from: u64,
    pub to: u64,
    /// The highest version the event store held for the stream when it was read (`None`: not read, nothing new).
    pub store_head: Option<u64>,
}

/// Bring `model`'s projection of the entity in `stream` up to date with the event store, for a batch whose
/// records of this stream reach version `up_to`.
pub async fn apply(
    model: &dyn ReadModel,
    projections: &ProjectionStore,
    events_store: &dyn EventStore,
    stream: &str,
    up_to: u64,
) -> Result<Applied, ProjectionError> {
    let projections = &projections.of(model);
    let entity = model
        .entity(stream)
        .ok_or_else(|| ProjectionError::NotFolded {
            stream: stream.to_owned(),
            projection: model.name(),
        })?;
    let key = model.checkpoint_key(entity);
    let mut pauses =
        tributary_runtime::retry::pauses(Duration::from_millis(10), Duration::from_millis(320));
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(pauses.next().unwrap_or_default()).await;
        }
        let current = projections.checkpoint(&key).await?;
        let applied = current.as_ref().map_or(0, |(_, version)| *version);
        if up_to <= applied {
            // Duplicates: everything the batch mentions is applied already.
            return Ok(Applied {
                from: applied,
                to: applied,
                store_head: None,
            });
        }
        let new = events_store.load_after(stream, applied).await?;
        let Some(head) = new.last().map(|e| e.version) else {
            return Ok(Applied {
                from: applied,
                to: applied,
                store_head: Some(applied),
            });
        };
        let steps = model
            .fold(entity, current.map(|(state, _)| state), &new)
            .map_err(|e| ProjectionError::of_fold(e, model, stream))?;
        if projections
            .commit(&key, Guard::Exactly(applied), &steps)
            .await?
        {
            return Ok(Applied {
                from: applied,
                to: head,
                store_head: Some(head),
            });
        }
        tracing::debug!(%stream, projection = model.name(), attempt, "projection moved meanwhile; retrying");
    }
    Err(ProjectionError::Contention {
        stream: stream.to_owned(),
    })
}
