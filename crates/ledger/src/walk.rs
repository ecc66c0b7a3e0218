//! Verifying streams as stored: each read oldest first a page at a time and walked ([`ChainWalk`]), so memory is
//! one page and the findings, however long the stream; every stream of the store through a scan of every event item
//! (a stream whose first event was deleted is still found), with progress.

use std::time::Instant;
use tributary_store::chain::SealKeys;
use tributary_store::verify::{ChainWalk, Expected, Finding, StreamReport};
use tributary_store::{EventStore, EventStoreError, Order};

/// Events read per request.
pub const PAGE: i32 = 500;

/// What verifying has done so far (for progress output).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub streams: u64,
    pub events: u64,
    pub findings: u64,
    /// The most events held in memory at once.
    pub peak_events_held: usize,
    pub started: Instant,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            streams: 0,
            events: 0,
            findings: 0,
            peak_events_held: 0,
            started: Instant::now(),
        }
    }

    /// Events verified per second so far.
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// Verify one stream as `expected` says it was written; `progress` is told after every page. Items that cannot be
/// read as events end the walk with a finding ([`Finding::Unreadable`]); a store that does not answer is an error.
pub async fn verify_stream(
    store: &dyn EventStore,
    stream_id: &str,
    keys: &dyn SealKeys,
    expected: Expected,
    progress: &mut Progress,
    on_page: &mut (dyn FnMut(&Progress) + Send),
) -> Result<StreamReport, EventStoreError> {
    let mut walk = ChainWalk::new(stream_id, keys, expected);
    let mut after = None;
    loop {
        let page = match store.page(stream_id, Order::OldestFirst, after, PAGE).await {
            Ok(page) => page,
            Err(EventStoreError::Corrupt {
                reason, version, ..
            }) => {
                let mut report = walk.finish();
                report.findings.push(Finding::Unreadable {
                    version: after.unwrap_or(0),
                    reason: format!("the item at version {version}: {reason}"),
                });
                progress.streams += 1;
                progress.findings += report.findings.len() as u64;
                return Ok(report);
            }
            Err(other) => return Err(other),
        };
        progress.peak_events_held = progress.peak_events_held.max(page.events.len());
        for event in &page.events {
            walk.push(event);
        }
        progress.events += page.events.len() as u64;
        on_page(progress);
        match page.events.last() {
            Some(last) if page.more => after = Some(last.version),
            _ => break,
        }
    }
    let report = walk.finish();
    progress.streams += 1;
    progress.findings += report.findings.len() as u64;
    Ok(report)
}

/// Verify every stream of the store; the reports of those with findings (and how many were verified in all).
pub async fn verify_all(
    store: &dyn EventStore,
    keys: &dyn SealKeys,
    expected: Expected,
    on_page: &mut (dyn FnMut(&Progress) + Send),
) -> Result<(Vec<StreamReport>, Progress), EventStoreError> {
    let mut progress = Progress::new();
    let mut damaged = Vec::new();
    let mut cursor = None;
    // Every stream with any event left (not only those that still have their first), each verified once: the ids
    // seen are kept (memory: one id per stream).
    let mut seen = std::collections::HashSet::new();
    loop {
        let (streams, next) = store.stream_ids_page(cursor.as_ref(), 500).await?;
        for stream_id in streams {
            if !seen.insert(stream_id.clone()) {
                continue;
            }
            let report =
                verify_stream(store, &stream_id, keys, expected, &mut progress, on_page).await?;
            if !report.is_intact() {
                damaged.push(report);
            }
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok((damaged, progress))
}
