//! Rebuilding (or backfilling) one projection from the event store alone — no Kafka, so a new projection does
//! not depend on the topic's retention.
//!
//! Streams are enumerated by scanning the events table for first events, a page at a time; after each page the
//! position and counts are saved in the projections table, so an interrupted rebuild resumes where it stopped.
//! Each stream's projection is recomputed from all its events and written unless the stored one is newer, so a
//! rebuild can run beside the live denormaliser and never moves a projection backwards.

use crate::apply::ProjectionError;
use crate::store::ProjectionStore;
use crate::{account_id, Projection};
use bank_account::views::{statement_step, AccountSummary, StatementCheckpoint};
use bank_account::AccountEvent;
use serde::{Deserialize, Serialize};
use tributary_dynamodb::{EventStore, StreamCursor};

/// How to run a rebuild.
#[derive(Debug, Clone, Copy)]
pub struct RebuildOptions {
    /// Items the table scan evaluates per page (progress is saved after each page).
    pub page_size: i32,
    /// Stop after this many pages (an interruption on purpose; `None` runs to the end).
    pub max_pages: Option<usize>,
    /// Ignore saved progress and start from the beginning.
    pub restart: bool,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        Self {
            page_size: 100,
            max_pages: None,
            restart: false,
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

/// Rebuild `projection` from `events`, reporting progress after every stream.
pub async fn rebuild(
    projection: Projection,
    projections: &ProjectionStore,
    events: &EventStore,
    options: RebuildOptions,
    mut on_progress: impl FnMut(&RebuildProgress),
) -> Result<RebuildOutcome, ProjectionError> {
    let name = projection.name();
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
            let Some(account) = account_id(&stream) else {
                continue;
            };
            progress.events +=
                rebuild_account(projection, projections, events, &stream, account).await?;
            progress.streams += 1;
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

/// Recompute one account's projection from all its events and write it, unless the stored one is newer (so it can
/// run beside the live denormaliser). Returns the number of events read. Re-driving dead letters uses it too.
pub async fn rebuild_account(
    projection: Projection,
    projections: &ProjectionStore,
    events: &EventStore,
    stream: &str,
    account: &str,
) -> Result<u64, ProjectionError> {
    let history = events.load(stream).await?;
    let mut summary: Option<AccountSummary> = None;
    let mut checkpoint = StatementCheckpoint::default();
    let mut lines = Vec::new();
    for stored in &history {
        let event = stored.decode::<AccountEvent>()?.event;
        let at = stored.metadata.occurred_at.to_rfc3339();
        match projection {
            Projection::Summary | Projection::Owners => {
                summary = AccountSummary::evolve(summary, account, stored.version, &at, &event);
            }
            Projection::Statement => {
                let (line, next) = statement_step(checkpoint, stored.version, &at, &event);
                lines.extend(line);
                checkpoint = next;
            }
        }
    }
    match (projection, summary) {
        (Projection::Summary, Some(summary)) => {
            projections.overwrite_summary(&summary, false).await?
        }
        (Projection::Owners, Some(summary)) => {
            projections.record_owner(account, &summary.owner).await?;
            projections.overwrite_summary(&summary, true).await?;
        }
        (Projection::Statement, _) if checkpoint.version > 0 => {
            projections
                .overwrite_statement(account, &lines, checkpoint)
                .await?
        }
        _ => {}
    }
    Ok(history.len() as u64)
}
