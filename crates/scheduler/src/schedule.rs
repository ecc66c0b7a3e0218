//! A schedule as a pure Decider: what it sends (a command of some kind, as JSON, as its owner), when (a
//! [`Cadence`]), and how far it got. Every change is an event — created, changed, paused, resumed, cancelled — and
//! so is every occurrence: `OccurrenceStarted` is recorded before the command is sent, `OccurrenceFinished` after
//! its answer. One occurrence is in flight at a time; a sweep that finds one in flight (its sender crashed) sends
//! it again under the same idempotency key ([`occurrence_key`]), which the receiving aggregate recognises.
//!
//! The rules, stated once:
//! * **At most once in effect.** An occurrence is started at most once (the start is a conditional append after a
//!   read of the schedule), and every send of it carries the key derived from the schedule and the occurrence's
//!   time.
//! * **Catch-up.** An occurrence is owed when the schedule was active at its time. A sweep that comes late (the
//!   scheduler was down for an hour) sends every owed occurrence, oldest first, one at a time
//!   ([`CatchUp::Every`]); or only the latest one, recording the others as skipped ([`CatchUp::Latest`]).
//! * **Pauses.** What falls due while a schedule is paused is skipped, never sent on resume; what fell due before
//!   the pause and was not sent yet is sent after the resume.
//! * **Races.** A pause or cancel recorded before an occurrence's start stops it, a change changes what it sends;
//!   one recorded after its start neither recalls nor changes it: the occurrence in flight is sent, every time, with
//!   the command it started with (recorded in `OccurrenceStarted`), and finished.
//! * **Creation.** The first occurrence is the first at or after the creation: a schedule is never retroactive.

use crate::cadence::Cadence;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tributary_core::{Decider, DomainEvent, Id, IdKind};
use uuid::Uuid;

/// Prefix of schedules' streams in the event store.
pub const STREAM_PREFIX: &str = "schedule-";

/// The principal the scheduler sends its own commands as (starts and finishes of occurrences).
pub const SCHEDULER: &str = "system:scheduler";

/// The kind of schedule ids: `schedule-<uuid>` streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScheduleStream {}

impl IdKind for ScheduleStream {
    const NOUN: &'static str = "schedule";
    const STREAM_PREFIX: &'static str = STREAM_PREFIX;
    const NAMESPACE: Uuid = Uuid::from_u128(0x7d0e_41a9_52c3_4f1b_9e86_0b5a_c2d4_17f3);
}

/// Identity of a schedule.
pub type ScheduleId = Id<ScheduleStream>;

/// What a sweep does with occurrences it finds owed and unsent when it comes late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Send every one, oldest first (a standing order pays every month it missed).
    #[default]
    Every,
    /// Send the latest only; the older ones are recorded as skipped (a reminder need not ring twelve times).
    Latest,
}

/// What a schedule sends and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Spec {
    /// What the command is, for the dispatcher that sends it (`standing-order`).
    pub kind: String,
    /// What the schedule is listed under (the stream of the aggregate it belongs to: `account-<id>`).
    pub group: String,
    /// Who owns it: the principal it is sent as, and the only one who may change, pause, resume or cancel it.
    pub owner: String,
    /// The command's body, the dispatcher's to read.
    pub command: Value,
    pub cadence: Cadence,
    #[serde(default)]
    pub catch_up: CatchUp,
}

/// One occurrence: its index in the cadence and its time.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct Due {
    pub index: u64,
    pub at: DateTime<Utc>,
}

/// How the receiving aggregate answered an occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The command was applied (or had been: a repeated send).
    Applied,
    /// The command was refused, for the reason `code` (`insufficient-funds`, `account-closed`).
    Refused { code: String },
}

/// The idempotency key every send of occurrence `due` of schedule `id` carries: the schedule and the occurrence's
/// time, so a timer that fires twice, late, or after a crash sends the same key.
pub fn occurrence_key(id: ScheduleId, due: &Due) -> String {
    format!("{}@{}", id.stream_id(), due.at.format("%Y%m%dT%H%M%SZ"))
}

/// What may be asked of a schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleCommand {
    Create {
        spec: Spec,
        now: DateTime<Utc>,
    },
    /// Send `command` from the next occurrence not yet started on.
    Change {
        command: Value,
    },
    Pause {
        now: DateTime<Utc>,
    },
    Resume {
        now: DateTime<Utc>,
    },
    Cancel {
        now: DateTime<Utc>,
    },
    /// The scheduler: start the occurrence that is owed at `now`, if one is and none is in flight.
    Fire {
        now: DateTime<Utc>,
    },
    /// The scheduler: record the answer to the occurrence in flight.
    Finish {
        due: Due,
        outcome: Outcome,
    },
}

/// What happened to a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ScheduleEvent {
    ScheduleCreated {
        spec: Spec,
        /// The first occurrence (none: the cadence has none left at the creation).
        first: Option<Due>,
    },
    ScheduleChanged {
        command: Value,
    },
    SchedulePaused {
        at: DateTime<Utc>,
        /// The first occurrence at or after the pause: from it on, what falls due before the resume is skipped.
        skip_from: Option<u64>,
    },
    ScheduleResumed {
        at: DateTime<Utc>,
        /// The first occurrence at or after the resume: the skipped ones end before it.
        skip_to: Option<u64>,
    },
    ScheduleCancelled {
        at: DateTime<Utc>,
    },
    /// Occurrences owed but not sent (catch-up `latest`): `count` of them, from `first` to `last` inclusive (those
    /// between that a pause skipped are not among them).
    OccurrencesSkipped {
        first: u64,
        last: u64,
        count: u64,
    },
    OccurrenceStarted {
        due: Due,
        /// What it sends (the schedule's command when it started): every send of it, the first and any after a
        /// crash, sends this, whatever changes come after.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<Value>,
    },
    OccurrenceFinished {
        due: Due,
        outcome: Outcome,
        /// The occurrence after it (none: the schedule has ended).
        next: Option<Due>,
    },
}

impl DomainEvent for ScheduleEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::ScheduleCreated { .. } => "ScheduleCreated",
            Self::ScheduleChanged { .. } => "ScheduleChanged",
            Self::SchedulePaused { .. } => "SchedulePaused",
            Self::ScheduleResumed { .. } => "ScheduleResumed",
            Self::ScheduleCancelled { .. } => "ScheduleCancelled",
            Self::OccurrencesSkipped { .. } => "OccurrencesSkipped",
            Self::OccurrenceStarted { .. } => "OccurrenceStarted",
            Self::OccurrenceFinished { .. } => "OccurrenceFinished",
        }
    }
}

/// Whether a schedule sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Paused,
    Cancelled,
    /// The cadence has no occurrence left.
    Ended,
}

/// A schedule as its events left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScheduleState {
    Unscheduled,
    Scheduled(Box<Schedule>),
}

/// An existing schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub spec: Spec,
    pub status: Status,
    /// The next occurrence to start (none: ended).
    pub next: Option<Due>,
    /// The occurrence started and not finished.
    pub in_flight: Option<Due>,
    /// What it sends (none: an occurrence started by an earlier build sends the schedule's command).
    #[serde(default)]
    pub in_flight_command: Option<Value>,
    /// Occurrences skipped by pauses: `[from, to)` ranges of indexes, in order.
    pub skips: Vec<(u64, u64)>,
    /// Where the pause under way starts skipping (the first occurrence at or after it).
    pub paused_from: Option<u64>,
    /// Occurrences finished, and how many of them were refused.
    pub finished: u64,
    pub refused: u64,
    /// Occurrences skipped by catch-up `latest`.
    pub skipped: u64,
    /// The last occurrence finished, and how.
    pub last: Option<(Due, Outcome)>,
}

impl Schedule {
    /// The occurrence that follows index `after`, past the skipped ranges.
    fn following(&self, after: u64) -> Option<Due> {
        self.unskipped(after.checked_add(1)?)
    }

    /// Occurrence `index`, or the first after it that no pause skipped (the ranges are in order).
    fn unskipped(&self, mut index: u64) -> Option<Due> {
        for (from, to) in &self.skips {
            if (*from..*to).contains(&index) {
                index = *to;
            }
        }
        self.due(index)
    }

    /// Skipped ranges wholly before the next occurrence matter no more (the state stays small).
    fn forget_passed_skips(&mut self) {
        let next = self.next.map_or(u64::MAX, |next| next.index);
        self.skips.retain(|(_, to)| *to > next);
    }

    fn due(&self, index: u64) -> Option<Due> {
        self.spec
            .cadence
            .occurrence(index)
            .map(|at| Due { index, at })
    }

    /// The occurrence a sweep at `now` would start, if any.
    pub fn owed(&self, now: DateTime<Utc>) -> Option<Due> {
        (self.status == Status::Active && self.in_flight.is_none())
            .then_some(self.next?)
            .filter(|next| next.at <= now)
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleRejection {
    #[error("the schedule exists already")]
    AlreadyScheduled,
    #[error("no such schedule")]
    NotScheduled,
    #[error("the schedule is not active")]
    NotActive,
    #[error("the schedule is not paused")]
    NotPaused,
    #[error("the schedule was cancelled or has ended")]
    Ended,
    #[error("the occurrence is not the one in flight")]
    OutOfOrder,
}

/// The schedule Decider.
pub struct Schedules;

impl Decider for Schedules {
    type State = ScheduleState;
    type Command = ScheduleCommand;
    type Event = ScheduleEvent;
    type Rejection = ScheduleRejection;

    fn initial() -> ScheduleState {
        ScheduleState::Unscheduled
    }

    /// The owner changes, pauses, resumes and cancels; the scheduler fires and finishes; anyone may create (the
    /// route creating one checks the caller may command what it sends to).
    fn may_command(state: &ScheduleState, actor: &str, command: &ScheduleCommand) -> bool {
        match (state, command) {
            (_, ScheduleCommand::Create { spec, .. }) => spec.owner == actor,
            (_, ScheduleCommand::Fire { .. } | ScheduleCommand::Finish { .. }) => {
                actor == SCHEDULER
            }
            (ScheduleState::Scheduled(s), _) => s.spec.owner == actor,
            (ScheduleState::Unscheduled, _) => false,
        }
    }

    fn rejection_code(rejection: &ScheduleRejection) -> &'static str {
        match rejection {
            ScheduleRejection::AlreadyScheduled => "schedule-exists",
            ScheduleRejection::NotScheduled => "schedule-not-found",
            ScheduleRejection::NotActive => "schedule-not-active",
            ScheduleRejection::NotPaused => "schedule-not-paused",
            ScheduleRejection::Ended => "schedule-ended",
            ScheduleRejection::OutOfOrder => "out-of-order",
        }
    }

    fn evolve(state: ScheduleState, event: &ScheduleEvent) -> ScheduleState {
        use ScheduleEvent as E;
        let mut s = match (state, event) {
            (ScheduleState::Unscheduled, E::ScheduleCreated { spec, first }) => {
                return ScheduleState::Scheduled(Box::new(Schedule {
                    spec: spec.clone(),
                    status: if first.is_some() {
                        Status::Active
                    } else {
                        Status::Ended
                    },
                    next: *first,
                    in_flight: None,
                    in_flight_command: None,
                    skips: Vec::new(),
                    paused_from: None,
                    finished: 0,
                    refused: 0,
                    skipped: 0,
                    last: None,
                }))
            }
            (ScheduleState::Scheduled(s), _) => s,
            (state, _) => return state,
        };
        match event {
            E::ScheduleCreated { .. } => {}
            E::ScheduleChanged { command } => s.spec.command = command.clone(),
            E::SchedulePaused { skip_from, .. } => {
                s.status = Status::Paused;
                s.paused_from = *skip_from;
            }
            E::ScheduleResumed { skip_to, .. } => {
                s.status = Status::Active;
                match (s.paused_from.take(), *skip_to) {
                    (Some(from), Some(to)) if from < to => s.skips.push((from, to)),
                    (Some(from), None) => s.skips.push((from, u64::MAX)),
                    _ => {}
                }
                // The next occurrence, if it falls in what the pause skipped, moves past it.
                s.next = s.next.and_then(|next| s.unskipped(next.index));
                s.forget_passed_skips();
                if s.next.is_none() && s.in_flight.is_none() {
                    s.status = Status::Ended;
                }
            }
            E::ScheduleCancelled { .. } => s.status = Status::Cancelled,
            E::OccurrencesSkipped { count, .. } => s.skipped += count,
            E::OccurrenceStarted { due, command } => {
                s.in_flight = Some(*due);
                s.in_flight_command = command.clone();
            }
            E::OccurrenceFinished { due, outcome, next } => {
                s.in_flight = None;
                s.in_flight_command = None;
                s.finished += 1;
                if matches!(outcome, Outcome::Refused { .. }) {
                    s.refused += 1;
                }
                s.last = Some((*due, outcome.clone()));
                s.next = *next;
                s.forget_passed_skips();
                if s.next.is_none() && s.status == Status::Active {
                    s.status = Status::Ended;
                }
            }
        }
        ScheduleState::Scheduled(s)
    }

    fn decide(
        state: &ScheduleState,
        command: &ScheduleCommand,
    ) -> Result<Vec<ScheduleEvent>, ScheduleRejection> {
        use ScheduleCommand as C;
        use ScheduleEvent as E;
        let s = match (state, command) {
            (ScheduleState::Unscheduled, C::Create { spec, now }) => {
                let first = spec
                    .cadence
                    .first_at_or_after(*now)
                    .map(|(index, at)| Due { index, at });
                return Ok(vec![E::ScheduleCreated {
                    spec: spec.clone(),
                    first,
                }]);
            }
            (ScheduleState::Scheduled(_), C::Create { .. }) => {
                return Err(ScheduleRejection::AlreadyScheduled)
            }
            (ScheduleState::Unscheduled, _) => return Err(ScheduleRejection::NotScheduled),
            (ScheduleState::Scheduled(s), _) => s,
        };
        let live = matches!(s.status, Status::Active | Status::Paused);
        match command {
            C::Create { .. } => unreachable!("answered above"),
            C::Change { .. } | C::Cancel { .. } if !live => Err(ScheduleRejection::Ended),
            C::Change { command } => Ok(vec![E::ScheduleChanged {
                command: command.clone(),
            }]),
            C::Cancel { now } => Ok(vec![E::ScheduleCancelled { at: *now }]),
            C::Pause { now } => match s.status {
                Status::Active => Ok(vec![E::SchedulePaused {
                    at: *now,
                    skip_from: s.spec.cadence.first_at_or_after(*now).map(|(i, _)| i),
                }]),
                Status::Paused => Err(ScheduleRejection::NotActive),
                Status::Cancelled | Status::Ended => Err(ScheduleRejection::Ended),
            },
            C::Resume { now } => match s.status {
                Status::Paused => Ok(vec![E::ScheduleResumed {
                    at: *now,
                    skip_to: s.spec.cadence.first_at_or_after(*now).map(|(i, _)| i),
                }]),
                Status::Active => Err(ScheduleRejection::NotPaused),
                Status::Cancelled | Status::Ended => Err(ScheduleRejection::Ended),
            },
            C::Fire { now } => {
                let Some(due) = s.owed(*now) else {
                    return Ok(Vec::new());
                };
                let command = Some(s.spec.command.clone());
                match s.spec.catch_up {
                    CatchUp::Every => Ok(vec![E::OccurrenceStarted { due, command }]),
                    CatchUp::Latest => {
                        // The latest owed one: walk forward from `due` while the following one is due too.
                        let (mut latest, mut count) = (due, 0);
                        while let Some(following) = s.following(latest.index) {
                            if following.at > *now {
                                break;
                            }
                            (latest, count) = (following, count + 1);
                        }
                        let mut events = Vec::new();
                        if count > 0 {
                            events.push(E::OccurrencesSkipped {
                                first: due.index,
                                last: latest.index - 1,
                                count,
                            });
                        }
                        events.push(E::OccurrenceStarted {
                            due: latest,
                            command,
                        });
                        Ok(events)
                    }
                }
            }
            C::Finish { due, outcome } => {
                if s.in_flight != Some(*due) {
                    return Err(ScheduleRejection::OutOfOrder);
                }
                Ok(vec![E::OccurrenceFinished {
                    due: *due,
                    outcome: outcome.clone(),
                    next: s.following(due.index),
                }])
            }
        }
    }
}
