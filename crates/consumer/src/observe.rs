//! What a consumer tells its operators about a batch: the metrics of what it applied, how far behind the events
//! were, and the traces its records continue (so one trace id leads from a command to every projection write, in
//! the logs and, where a collector is configured, as exported spans under the command's span).

use crate::record::Delivered;
use std::time::SystemTime;
use tracing::Span;
use tributary_core::TraceParent;
use tributary_runtime::metrics::{self, Point};
use tributary_runtime::spans;

/// What one batch did with the events it carried.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Events folded into the read model (or, for a process manager, distinct events reacted to), including those
    /// filled from the store.
    pub applied: u64,
    /// Records that brought nothing new: events already applied, and the second copy of each event (the fast path
    /// and the relay both deliver; redeliveries).
    pub skipped: u64,
    /// Events up to the batch's newest record of a stream that no record carried: a gap, filled from the store.
    pub caught_up: u64,
    /// How long ago the oldest newly applied event's command was accepted (ms): the read side's staleness.
    pub lag_ms: Option<i64>,
}

impl Applied {
    /// One stream of a read model: its projection moved from version `from` to `to` with these records.
    pub fn of_stream(delivered: &[Delivered], from: u64, to: u64) -> Self {
        let fresh: Vec<&Delivered> = delivered
            .iter()
            .filter(|d| d.version > from && d.version <= to)
            .collect();
        let carried: std::collections::BTreeSet<u64> = fresh.iter().map(|d| d.version).collect();
        let newest = delivered.iter().map(|d| d.version).max().unwrap_or(0);
        Self {
            applied: to.saturating_sub(from),
            skipped: (delivered.len() - carried.len()) as u64,
            caught_up: (from + 1..=to.min(newest))
                .filter(|v| !carried.contains(v))
                .count() as u64,
            lag_ms: lag_ms(fresh),
        }
    }

    /// One stream of a process manager (it cannot tell what it reacted to before): the distinct events delivered,
    /// and the age of the newest, which moved the stream.
    pub fn reacted(delivered: &[Delivered]) -> Self {
        let distinct: std::collections::BTreeSet<u64> =
            delivered.iter().map(|d| d.version).collect();
        Self {
            applied: distinct.len() as u64,
            skipped: (delivered.len() - distinct.len()) as u64,
            caught_up: 0,
            lag_ms: lag_ms(delivered.iter().max_by_key(|d| d.version)),
        }
    }

    /// Add another stream's.
    pub fn add(&mut self, other: Applied) {
        self.applied += other.applied;
        self.skipped += other.skipped;
        self.caught_up += other.caught_up;
        self.lag_ms = self.lag_ms.max(other.lag_ms);
    }
}

/// The distinct trace ids of `delivered`, in order.
pub fn trace_ids<'a>(delivered: impl IntoIterator<Item = &'a Delivered>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in delivered
        .into_iter()
        .filter_map(|d| d.trace.as_ref().map(|t| t.trace_id()))
    {
        if !ids.iter().any(|seen| seen == id) {
            ids.push(id.to_owned());
        }
    }
    ids
}

/// The span in which a consumer handles one stream of a batch: the consumer, the stream, and the traces of the
/// records it covers (`trace_id`: the first; `trace_ids`: all of them, since one write can cover several commands).
pub fn stream_span(consumer_group: &str, stream: &str, delivered: &[Delivered]) -> Span {
    let ids = trace_ids(delivered);
    tracing::info_span!(
        "stream",
        consumer = %consumer_group,
        %stream,
        trace_id = %ids.first().map(String::as_str).unwrap_or_default(),
        trace_ids = %ids.join(","),
    )
}

/// Keep for export (where a collector is configured) one span per command whose records `delivered` holds: how
/// `consumer_group` handled `stream` for it, from `started` to now, under the command's span.
pub fn record_spans(
    consumer_group: &str,
    stream: &str,
    delivered: &[Delivered],
    started: SystemTime,
    error: Option<String>,
) {
    if !spans::enabled() {
        return;
    }
    let mut seen: Vec<&TraceParent> = Vec::new();
    for trace in delivered.iter().filter_map(|d| d.trace.as_ref()) {
        if !seen.contains(&trace) {
            seen.push(trace);
            spans::record(consumer_span(
                consumer_group,
                stream,
                trace.child(),
                trace,
                started,
                error.clone(),
            ));
        }
    }
}

/// The span of `consumer_group` handling `stream` (its own `context`, under `parent`), from `started` to now.
pub fn consumer_span(
    consumer_group: &str,
    stream: &str,
    context: TraceParent,
    parent: &TraceParent,
    started: SystemTime,
    error: Option<String>,
) -> spans::Span {
    spans::Span {
        context,
        parent: Some(parent.clone()),
        name: format!("process {consumer_group}"),
        kind: spans::Kind::Consumer,
        start: started,
        end: SystemTime::now(),
        attributes: vec![
            ("messaging.system", "kafka".into()),
            ("messaging.consumer.group.name", consumer_group.to_owned()),
            ("tributary.stream", stream.to_owned()),
        ],
        error,
        links: Vec::new(),
    }
}

/// How long ago the oldest of `delivered` was accepted as a command, in milliseconds (`None` for none).
fn lag_ms<'a>(delivered: impl IntoIterator<Item = &'a Delivered>) -> Option<i64> {
    delivered
        .into_iter()
        .map(|d| d.occurred_at)
        .min()
        .map(|oldest| (chrono::Utc::now() - oldest).num_milliseconds())
}

/// Record a batch's metrics for `consumer_group`: `EventsApplied`, `EventsSkipped`, `EventsCaughtUp` and
/// `ProjectionLag` (only when something new was applied: a batch of copies says nothing about staleness).
pub fn record_batch(consumer_group: &str, applied: Applied) {
    let mut points = vec![
        Point::count("EventsApplied", applied.applied),
        Point::count("EventsSkipped", applied.skipped),
        Point::count("EventsCaughtUp", applied.caught_up),
    ];
    if let Some(lag) = applied.lag_ms {
        points.push(Point::millis("ProjectionLag", lag));
    }
    metrics::record(&points, &[("Consumer", consumer_group)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn delivered(version: u64, minutes_ago: i64) -> Delivered {
        Delivered {
            stream_id: "account-1".into(),
            version,
            origin: 0,
            occurred_at: Utc::now() - chrono::Duration::minutes(minutes_ago),
            trace: None,
        }
    }

    #[test]
    fn copies_are_skipped_gaps_caught_up_and_lag_counts_only_what_was_new() {
        // The projection was at 2; records 2 (a late relay copy, 10 minutes old), 4, 4 again, 5; the store held 6.
        let records = [
            delivered(2, 10),
            delivered(4, 1),
            delivered(4, 1),
            delivered(5, 0),
        ];
        let applied = Applied::of_stream(&records, 2, 6);
        assert_eq!(
            (applied.applied, applied.skipped, applied.caught_up),
            (4, 2, 1)
        );
        let lag = applied.lag_ms.unwrap();
        assert!(
            (55_000..65_000).contains(&lag),
            "the oldest new event, not the copy: {lag}"
        );
        // Nothing new: no staleness to report.
        assert_eq!(Applied::of_stream(&records[..1], 2, 2).lag_ms, None);
    }

    #[test]
    fn a_process_manager_counts_distinct_events() {
        let records = [delivered(1, 3), delivered(1, 3), delivered(2, 0)];
        let reacted = Applied::reacted(&records);
        assert_eq!((reacted.applied, reacted.skipped), (2, 1));
        assert!(
            reacted.lag_ms.unwrap() < 5_000,
            "the newest record moved the stream"
        );
    }
}
