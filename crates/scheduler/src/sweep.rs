//! The sweep: the I/O around the pure schedule. At a time `now` (the clock is an input: the deployed function's is
//! the wall clock, the local stack's can be fast-forwarded), it reads the due index, and for every schedule with
//! work it loops: load the schedule; finish the occurrence in flight if there is one (send it under its key, record
//! the answer), else start the owed one (a conditional append: one sweeper wins, another finds it in flight and
//! sends the same key). A crash anywhere leaves either nothing, an occurrence started and not sent, or one sent and
//! not recorded; the next sweep sends it again under the same key, which the receiving aggregate recognises.
//!
//! What an occurrence sends is the application's: a [`Dispatch`] turns a schedule's command into a command of some
//! aggregate, sent as the schedule's owner with the occurrence's key.

use crate::index::{ScheduleView, ScheduleViews};
use crate::schedule::{
    occurrence_key, Due, Outcome, ScheduleCommand, ScheduleId, ScheduleRejection, ScheduleState,
    Schedules, Spec, SCHEDULER,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use tributary_aggregate::{
    CommandContext, CommandError, CommandHandler, CommandRequest, Idempotency, KeyRetention,
    RetryPolicy, SnapshotPolicy,
};
use tributary_core::{fingerprint, IdempotencyKey};
use tributary_projections::{ProjectionStore, StoreError};
use tributary_store::{EventStore, EventStoreError};
use uuid::Uuid;

/// One occurrence to send.
#[derive(Debug, Clone)]
pub struct Occurrence<'a> {
    pub schedule: ScheduleId,
    pub due: Due,
    /// The time of the sweep sending it (later than `due.at` when the sweep comes late): what a command it sends
    /// should record as its time.
    pub now: DateTime<Utc>,
    /// The key every send of this occurrence carries ([`occurrence_key`]); send it as a reserved key.
    pub key: String,
    /// The schedule, its command the one the occurrence started with.
    pub spec: &'a Spec,
}

/// Why an occurrence could not be sent now (it is sent again by the next sweep).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DispatchError(pub String);

/// What sends an application's scheduled commands.
pub trait Dispatch: Send + Sync + 'static {
    /// Send `occurrence` (under its key, as its schedule's owner) and say how the aggregate answered. An error is
    /// not an answer: the occurrence stays in flight and is sent again.
    fn send(
        &self,
        occurrence: &Occurrence<'_>,
    ) -> impl Future<Output = Result<Outcome, DispatchError>> + Send;
}

/// Why a schedule could not be swept now.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("reading the due index: {0}")]
    Index(#[from] StoreError),
    #[error("{stream}: {source}")]
    Store {
        stream: String,
        source: EventStoreError,
    },
    #[error("{stream}: {detail}")]
    Command { stream: String, detail: String },
    #[error("{stream}: sending occurrence {key}: {source}")]
    Dispatch {
        stream: String,
        key: String,
        source: DispatchError,
    },
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Schedules the due index named as having work.
    pub candidates: usize,
    /// Occurrences sent and recorded (applied or refused).
    pub sent: u64,
    pub refused: u64,
    /// Of those sent, how many were later than [`Scheduler::late_after`] past their time.
    pub late: u64,
    /// Schedules that failed (tried again by the next sweep).
    pub failed: usize,
    /// The oldest occurrence still owed after the sweep (its schedule failed, or had more owed than one sweep
    /// sends), if any: how far behind the scheduler is.
    pub behind_since: Option<DateTime<Utc>>,
}

/// The scheduler: schedules on the event store, their due index on the projections table, and the application's
/// dispatch.
pub struct Scheduler<D> {
    schedules: CommandHandler<Schedules>,
    index: ProjectionStore,
    dispatch: Arc<D>,
    /// Occurrences later than this past their time count as late.
    pub late_after: chrono::Duration,
    /// Schedules swept at once.
    pub concurrency: usize,
    /// Steps (a start, or a send and its record) one schedule takes in one sweep, at most: a schedule far behind
    /// catches up over a few sweeps.
    pub per_schedule: usize,
}

impl<D> Clone for Scheduler<D> {
    fn clone(&self) -> Self {
        Self {
            schedules: self.schedules.clone(),
            index: self.index.clone(),
            dispatch: self.dispatch.clone(),
            late_after: self.late_after,
            concurrency: self.concurrency,
            per_schedule: self.per_schedule,
        }
    }
}

impl<D: Dispatch> Scheduler<D> {
    /// A scheduler over `events` (the event store) and `projections` (the table holding the schedules read model).
    pub fn new(
        events: Arc<dyn EventStore>,
        snapshots: SnapshotPolicy,
        projections: &ProjectionStore,
        dispatch: D,
    ) -> Self {
        Self {
            schedules: CommandHandler::new(events, RetryPolicy::default())
                .with_snapshots(snapshots),
            index: projections.of(&ScheduleViews),
            dispatch: Arc::new(dispatch),
            late_after: chrono::Duration::minutes(5),
            concurrency: 8,
            per_schedule: 64,
        }
    }

    /// Every schedule the due index names as having work at `now`.
    pub async fn due(&self, now: DateTime<Utc>) -> Result<Vec<ScheduleView>, StoreError> {
        crate::index::due(&self.index, now).await
    }

    /// Send everything owed at `now`.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepReport, SweepError> {
        let candidates = self.due(now).await?;
        let mut report = SweepReport {
            candidates: candidates.len(),
            ..SweepReport::default()
        };
        let ids: Vec<(ScheduleId, Option<DateTime<Utc>>)> = candidates
            .iter()
            .filter_map(|view| {
                let due = view.in_flight.or(view.next).map(|d| d.at);
                ScheduleId::parse(&view.schedule_id)
                    .ok()
                    .map(|id| (id, due))
            })
            .collect();
        let results: Vec<_> = futures::stream::iter(ids)
            .map(|(id, due)| async move { (self.run(id, now).await, due) })
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        for (result, due) in results {
            let behind = match result {
                Ok(one) => {
                    report.sent += one.sent;
                    report.refused += one.refused;
                    report.late += one.late;
                    one.behind_since
                }
                Err(error) => {
                    report.failed += 1;
                    tracing::warn!(%error, "a schedule could not be swept; the next sweep tries again");
                    due
                }
            };
            report.behind_since = match (report.behind_since, behind) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(report)
    }

    /// Send what schedule `id` owes at `now`, one occurrence at a time.
    pub async fn run(&self, id: ScheduleId, now: DateTime<Utc>) -> Result<SweepReport, SweepError> {
        let stream = id.stream_id();
        let mut report = SweepReport::default();
        for round in 0..=self.per_schedule {
            let (state, _) =
                self.schedules
                    .state(&stream)
                    .await
                    .map_err(|source| SweepError::Store {
                        stream: stream.clone(),
                        source,
                    })?;
            let ScheduleState::Scheduled(schedule) = state else {
                break;
            };
            if round == self.per_schedule {
                // More owed than one sweep sends: the next sweep goes on.
                report.behind_since = schedule.in_flight.or(schedule.owed(now)).map(|d| d.at);
                break;
            }
            let Some(due) = schedule.in_flight else {
                if schedule.owed(now).is_none() {
                    break;
                }
                // Start it (or find that another sweeper did: then it is in flight on the next look).
                self.command(&stream, ScheduleCommand::Fire { now }, None, now)
                    .await?;
                continue;
            };
            let key = occurrence_key(id, &due);
            let spec = match &schedule.in_flight_command {
                Some(command) => Spec {
                    command: command.clone(),
                    ..schedule.spec.clone()
                },
                None => schedule.spec.clone(),
            };
            let outcome = self
                .dispatch
                .send(&Occurrence {
                    schedule: id,
                    due,
                    now,
                    key: key.clone(),
                    spec: &spec,
                })
                .await
                .map_err(|source| SweepError::Dispatch {
                    stream: stream.clone(),
                    key: key.clone(),
                    source,
                })?;
            let finish = ScheduleCommand::Finish {
                due,
                outcome: outcome.clone(),
            };
            self.command(&stream, finish, Some((&key, &outcome)), now)
                .await?;
            report.sent += 1;
            if matches!(outcome, Outcome::Refused { .. }) {
                report.refused += 1;
            }
            if now - due.at > self.late_after {
                report.late += 1;
            }
            tracing::info!(%stream, %key, ?outcome, "occurrence sent");
        }
        Ok(report)
    }

    /// Run one of the scheduler's own commands on a schedule; `finishing`: the occurrence's key and answer (the
    /// record's idempotency key and what it stands for). A finish another sweeper recorded first is not an error.
    async fn command(
        &self,
        stream: &str,
        command: ScheduleCommand,
        finishing: Option<(&str, &Outcome)>,
        now: DateTime<Utc>,
    ) -> Result<(), SweepError> {
        let command_id = Uuid::new_v4();
        let request = CommandRequest {
            stream_id: stream.to_owned(),
            command,
            expected_version: None,
            idempotency: finishing.map(|(key, outcome)| Idempotency {
                key: IdempotencyKey::reserved(&format!("{key}-finished"))
                    .expect("occurrence keys are printable and short"),
                fingerprint: fingerprint(&(key, outcome)),
                retention: KeyRetention::Forever,
            }),
            context: CommandContext {
                command_id,
                correlation_id: stream.to_owned(),
                causation_id: stream.to_owned(),
                actor: SCHEDULER.to_owned(),
                now,
                traceparent: None,
            },
        };
        match self.schedules.handle(&request).await {
            Ok(_) => Ok(()),
            Err(CommandError::Rejected {
                rejection: ScheduleRejection::OutOfOrder,
                ..
            }) => Ok(()),
            Err(CommandError::Store(source)) => Err(SweepError::Store {
                stream: stream.to_owned(),
                source,
            }),
            Err(other) => Err(SweepError::Command {
                stream: stream.to_owned(),
                detail: other.to_string(),
            }),
        }
    }
}
