//! Rebuilding (or backfilling) one projection from the event store alone — no Kafka, so a new projection does
//! not depend on the topic's retention.
//!
//! Streams are enumerated by scanning the events table for first events, a page at a time; after each page the
//! position and counts are saved in the projections table, so an interrupted rebuild resumes where it stopped.
//! Each stream's projection is recomputed from all its events and written (checkpoint and rows together) unless the
//! stored one is newer, so a rebuild can run beside the live denormaliser and never moves a projection backwards.
//! A stream that fails (an event the fold refuses, a store error that outlasts the retries) does not stop the
//! others: it is reported with why ([`RebuildProgress::failed`]) and the rebuild goes on; the operator retries it
//! alone once fixed ([`rebuild_streams`]) or leaves it out ([`RebuildOptions::skip`]).

use crate::apply::ProjectionError;
use crate::model::{ReadModel, Step};
use crate::store::{Guard, ProjectionStore};
use serde::{Deserialize, Serialize};
use tributary_store::{EventStore, StreamCursor};

/// How to run a rebuild.
#[derive(Debug, Clone)]
pub struct RebuildOptions {
    /// Items the table scan evaluates per page (progress is saved after each page).
    pub page_size: i32,
    /// Stop after this many pages (an interruption on purpose; `None` runs to the end).
    pub max_pages: Option<usize>,
    /// Ignore saved progress and start from the beginning.
    pub restart: bool,
    /// Streams to leave out (an operator's known-bad stream).
    pub skip: std::collections::BTreeSet<String>,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        Self {
            page_size: 100,
            max_pages: None,
            restart: false,
            skip: Default::default(),
        }
    }
}

/// Where a rebuild stands; saved after every page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildProgress {
    /// Where the scan goes on (`None`: at the start, or finished).
    pub cursor: Option<StreamCursor>,
    pub streams: u64,
    pub events: u64,
    /// Streams that failed, with why (kept across resumed runs); the others were rebuilt.
    #[serde(default)]
    pub failed: std::collections::BTreeMap<String, String>,
    /// Streams left out on purpose.
    #[serde(default)]
    pub skipped: u64,
    /// Whether this run picked up saved progress.
    #[serde(skip)]
    pub resumed: bool,
}

/// How a rebuild ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebuildOutcome {
    Completed(RebuildProgress),
    /// Stopped after `max_pages`; running again resumes.
    Interrupted(RebuildProgress),
}

/// Rebuild `model` from `events`, reporting progress after every stream.
pub async fn rebuild(
    model: &dyn ReadModel,
    projections: &ProjectionStore,
    events: &dyn EventStore,
    options: RebuildOptions,
    mut on_progress: impl FnMut(&RebuildProgress),
) -> Result<RebuildOutcome, ProjectionError> {
    let projections = &projections.of(model);
    let name = model.name();
    if options.restart {
        projections.save_rebuild_progress(name, None).await?;
    }
    let mut progress = match projections.rebuild_progress(name).await? {
        Some(saved) => RebuildProgress {
            resumed: true,
            ..serde_json::from_value(saved).unwrap_or_default()
        },
        None => RebuildProgress::default(),
    };
    on_progress(&progress);
    let mut pages = 0;
    loop {
        if options.max_pages.is_some_and(|max| pages >= max) {
            return Ok(RebuildOutcome::Interrupted(progress));
        }
        let (streams, next) = events
            .streams_page(progress.cursor.as_ref(), options.page_size)
            .await?;
        for stream in streams {
            if model.entity(&stream).is_none() {
                continue;
            }
            if options.skip.contains(&stream) {
                progress.skipped += 1;
                continue;
            }
            match rebuild_stream(model, projections, events, &stream).await {
                Ok(read) => {
                    progress.events += read;
                    progress.streams += 1;
                    progress.failed.remove(&stream);
                }
                Err(error) => {
                    tracing::warn!(%stream, %error, "this stream's projection could not be rebuilt; going on");
                    progress.failed.insert(stream, error.to_string());
                }
            }
            on_progress(&progress);
        }
        pages += 1;
        progress.cursor = next;
        if progress.cursor.is_none() {
            projections.save_rebuild_progress(name, None).await?;
            return Ok(RebuildOutcome::Completed(progress));
        }
        let saved = serde_json::to_value(&progress).expect("progress serialises");
        projections
            .save_rebuild_progress(name, Some(&saved))
            .await?;
    }
}

/// Rebuild only `streams` (an operator's retry of the ones that failed, once fixed): each recomputed as
/// [`rebuild_stream`] does, every one of them whatever the others do. Saved progress is left as it is.
pub async fn rebuild_streams(
    model: &dyn ReadModel,
    projections: &ProjectionStore,
    events: &dyn EventStore,
    streams: &[String],
    mut on_progress: impl FnMut(&RebuildProgress),
) -> RebuildProgress {
    let mut progress = RebuildProgress::default();
    for stream in streams {
        match rebuild_stream(model, projections, events, stream).await {
            Ok(read) => {
                progress.events += read;
                progress.streams += 1;
            }
            Err(error) => {
                progress.failed.insert(stream.clone(), error.to_string());
            }
        }
        on_progress(&progress);
    }
    progress
}

/// Recompute one stream's projection from all its events and write it, unless the stored one is newer (so it can
/// run beside the live denormaliser). Returns the number of events read. Re-driving dead letters uses it too.
pub async fn rebuild_stream(
    model: &dyn ReadModel,
    projections: &ProjectionStore,
    events: &dyn EventStore,
    stream: &str,
) -> Result<u64, ProjectionError> {
    let projections = &projections.of(model);
    let entity = model
        .entity(stream)
        .ok_or_else(|| ProjectionError::NotFolded {
            stream: stream.to_owned(),
            projection: model.name(),
        })?;
    let history = events.load(stream).await?;
    let steps = model
        .fold(entity, None, &history)
        .map_err(|e| ProjectionError::of_fold(e, model, stream))?;
    let Some(last) = steps.last().map(|s| s.version) else {
        return Ok(0);
    };
    let key = model.checkpoint_key(entity);
    let mut pending: &[Step] = &steps;
    let mut pauses = tributary_runtime::retry::pauses(
        std::time::Duration::from_millis(5),
        std::time::Duration::from_millis(640),
    );
    for _ in 0..8 {
        if projections.commit(&key, Guard::NotNewer, pending).await? {
            return Ok(history.len() as u64);
        }
        // Refused: another writer (the live denormaliser, or a transaction of this stream at the same moment) holds
        // the checkpoint at a version this write's transaction would move backwards. What it holds up to its
        // version is this same fold (both fold the store's events); write only what comes after, if anything.
        match projections.checkpoint(&key).await? {
            Some((_, stored)) if stored >= last => return Ok(history.len() as u64),
            Some((_, stored)) => pending = &steps[steps.partition_point(|s| s.version <= stored)..],
            None => {}
        }
        tokio::time::sleep(pauses.next().unwrap_or_default()).await;
    }
    Err(ProjectionError::Contention {
        stream: stream.to_owned(),
    })
}
