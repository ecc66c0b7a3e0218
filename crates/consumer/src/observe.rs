//! What a consumer tells its operators about a batch: the metrics of what it applied, how far behind the events
//! were, and the traces its records continue (so one trace id leads from a command to every projection write).

use crate::record::Delivered;
use tracing::Span;
use tributary_runtime::metrics::{self, Point};

/// What one batch did with the events it carried (all counts of events, not records).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Events folded into the read model (or reacted to), including those filled from the store.
    pub applied: u64,
    /// Records of events already applied (the fast path and the relay both deliver; redeliveries).
    pub skipped: u64,
    /// Events applied from the event store that the batch did not carry (a gap).
    pub caught_up: u64,
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

/// How long ago the oldest of `delivered` was accepted as a command (0 for none), in milliseconds.
pub fn lag_ms<'a>(delivered: impl IntoIterator<Item = &'a Delivered>) -> i64 {
    delivered
        .into_iter()
        .map(|d| d.occurred_at)
        .min()
        .map_or(0, |oldest| (chrono::Utc::now() - oldest).num_milliseconds())
}

/// Record a batch's metrics for `consumer_group`: `EventsApplied`, `EventsSkipped`, `EventsCaughtUp` and
/// `ProjectionLag` (now minus the oldest record's command time; skipped when the batch carried none).
pub fn record_batch(consumer_group: &str, applied: Applied, lag_ms: Option<i64>) {
    let mut points = vec![
        Point::count("EventsApplied", applied.applied),
        Point::count("EventsSkipped", applied.skipped),
        Point::count("EventsCaughtUp", applied.caught_up),
    ];
    if let Some(lag) = lag_ms {
        points.push(Point::millis("ProjectionLag", lag));
    }
    metrics::record(&points, &[("Consumer", consumer_group)]);
}
