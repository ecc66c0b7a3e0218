//! The schedules read model (`schedules`): every schedule's view, kept current by its events, in two places — the
//! due index (one of [`DUE_SHARDS`] partitions by the schedule's id; the sweep reads them all) and its group (the
//! aggregate it belongs to: `GET /accounts/{id}/standing-orders` lists one account's). The view is the schedule's
//! own state, folded by the same `evolve` the command side uses.
//!
//! An ended or cancelled schedule (nothing in flight) leaves the due index, so a sweep reads the live schedules
//! only (BENCHMARKS.md, "What a schedule costs"); it stays listed in its group.

use crate::schedule::{
    Due, Outcome, ScheduleEvent, ScheduleId, ScheduleState, Schedules, Spec, Status,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tributary_core::{Decider, ItemKey, Projection, RecordedEvent, Row};

/// Partitions of the due index: a schedule's is the first hex digit of its id.
pub const DUE_SHARDS: u8 = 16;

/// The schedules read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScheduleViews;

/// A schedule as the sweep and its owner see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleView {
    pub schedule_id: String,
    pub spec: Spec,
    pub status: Status,
    /// The next occurrence to start (none: ended).
    pub next: Option<Due>,
    /// An occurrence started and not yet finished.
    pub in_flight: Option<Due>,
    pub finished: u64,
    pub refused: u64,
    pub skipped: u64,
    pub last: Option<(Due, Outcome)>,
    /// The schedule's stream version the view is at.
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

impl ScheduleView {
    /// Whether a sweep at `now` has work here: an occurrence in flight, or one owed. (The view may lag the
    /// schedule; the sweep decides on the schedule itself.)
    pub fn wants_sweep(&self, now: DateTime<Utc>) -> bool {
        self.in_flight.is_some()
            || (self.status == Status::Active && self.next.is_some_and(|next| next.at <= now))
    }
}

/// Partition of the due index holding `shard`.
pub fn due_partition(shard: u8) -> String {
    format!("schedules#due#{shard:x}")
}

/// Where schedule `schedule_id`'s row in the due index is (while it is there).
pub fn due_key(schedule_id: &str) -> ItemKey {
    ItemKey::new(due_partition(shard_of(schedule_id)), schedule_id)
}

/// Partition of the schedules listed under `group`.
pub fn group_partition(group: &str) -> String {
    format!("schedules#of#{group}")
}

fn shard_of(schedule_id: &str) -> u8 {
    schedule_id
        .chars()
        .next()
        .and_then(|c| c.to_digit(16))
        .map_or(0, |d| d as u8)
}

/// The checkpoint state: the schedule as its events left it, and the view.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Folded {
    state: ScheduleState,
    view: Option<ScheduleView>,
}

impl Projection for ScheduleViews {
    type Event = ScheduleEvent;
    type State = Folded;

    fn name(&self) -> &'static str {
        "schedules"
    }
    fn entity<'s>(&self, stream_id: &'s str) -> Option<&'s str> {
        ScheduleId::of_stream(stream_id)
    }
    fn checkpoint_key(&self, schedule_id: &str) -> ItemKey {
        ItemKey::new(format!("schedule#{schedule_id}"), "checkpoint")
    }
    fn step(
        &self,
        schedule_id: &str,
        state: Option<Folded>,
        event: &RecordedEvent<ScheduleEvent>,
        rows: &mut Vec<Row>,
    ) -> Option<Folded> {
        let before = state.map_or(ScheduleState::Unscheduled, |f| f.state);
        if matches!(before, ScheduleState::Unscheduled)
            != matches!(event.event, ScheduleEvent::ScheduleCreated { .. })
        {
            // A stream that does not start with its creation, or a second creation: dead-lettered.
            return None;
        }
        let state = Schedules::evolve(before, &event.event);
        let ScheduleState::Scheduled(s) = &state else {
            return None;
        };
        let view = ScheduleView {
            schedule_id: schedule_id.to_owned(),
            spec: s.spec.clone(),
            status: s.status,
            next: s.next,
            in_flight: s.in_flight,
            finished: s.finished,
            refused: s.refused,
            skipped: s.skipped,
            last: s.last.clone(),
            version: event.version,
            updated_at: event.metadata.occurred_at,
        };
        // In the due index while it may still have work: an ended or cancelled schedule with nothing in flight
        // leaves it, so a sweep reads only live schedules.
        let due_key = due_key(schedule_id);
        let done =
            matches!(view.status, Status::Ended | Status::Cancelled) && view.in_flight.is_none();
        rows.push(if done {
            Row::deleted(due_key)
        } else {
            Row::new(due_key, &view)
        });
        rows.push(Row::new(
            ItemKey::new(group_partition(&s.spec.group), schedule_id),
            &view,
        ));
        Some(Folded {
            state,
            view: Some(view),
        })
    }
}

/// The schedules listed under `group`, by schedule id, at most `limit`, after schedule id `after` when given.
/// `projections` is the projections table (any scope: the read model's is taken).
pub async fn listed(
    projections: &tributary_projections::ProjectionStore,
    group: &str,
    after: Option<&str>,
    limit: i32,
) -> Result<tributary_projections::Page<ScheduleView>, tributary_projections::StoreError> {
    projections
        .of(&ScheduleViews)
        .page(
            &group_partition(group),
            after.unwrap_or(""),
            "~",
            tributary_projections::Direction::OldestFirst,
            tributary_projections::Consistency::Eventual,
            limit,
        )
        .await
}

/// Every schedule the due index in `projections` (any scope: the read model's is taken) names as having work at
/// `now`: an occurrence in flight, or one owed. All [`DUE_SHARDS`] partitions, every page.
pub async fn due(
    projections: &tributary_projections::ProjectionStore,
    now: DateTime<Utc>,
) -> Result<Vec<ScheduleView>, tributary_projections::StoreError> {
    let index = projections.of(&ScheduleViews);
    let mut due = Vec::new();
    for shard in 0..DUE_SHARDS {
        let partition = due_partition(shard);
        let mut after = String::new();
        loop {
            let page = index
                .page::<ScheduleView>(
                    &partition,
                    &after,
                    "~",
                    tributary_projections::Direction::OldestFirst,
                    tributary_projections::Consistency::Eventual,
                    500,
                )
                .await?;
            due.extend(page.items.into_iter().filter(|v| v.wants_sweep(now)));
            match page.next {
                Some(next) => after = next,
                None => break,
            }
        }
    }
    Ok(due)
}
