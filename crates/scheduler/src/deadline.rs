//! Deadlines for process managers: a one-shot schedule that sends a command at a time, set idempotently — its id and
//! key derived from what it is the deadline of — so that everyone who may set it (the route that starts a process,
//! the process manager when it first reacts) sets the same one, once. A deadline already past when it is set is
//! sent by the next sweep (it is never dropped as "in the past"). The command it sends decides whether the deadline
//! still matters: one that fires after the process finished changes nothing.

use crate::cadence::Cadence;
use crate::schedule::{CatchUp, ScheduleCommand, ScheduleId, ScheduleRejection, Schedules, Spec};
use chrono::{DateTime, Utc};
use tributary_aggregate::{
    CommandContext, CommandError, CommandHandler, CommandRequest, Idempotency, KeyRetention,
};
use tributary_core::{fingerprint, Decider, IdempotencyKey};
use uuid::Uuid;

/// The schedule of the deadline of kind `kind` of `of` (a stream id: the process it bounds). Derived under the
/// `system:` prefix, which no caller's principal has: an id a caller derives (from their principal and a key) is
/// never one of these.
pub fn deadline_id(of: &str, kind: &str) -> ScheduleId {
    ScheduleId::derived_from(&format!("system:deadline\n{kind}\n{of}"))
}

/// Set the deadline of kind `kind` of `of` at `at` (sent as `owner`, listed under `of`), unless it is set already
/// (the first one set stands). Its id.
pub async fn set_deadline(
    schedules: &CommandHandler<Schedules>,
    of: &str,
    kind: &str,
    owner: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<ScheduleId, CommandError<ScheduleRejection>> {
    let id = deadline_id(of, kind);
    let spec = Spec {
        kind: kind.to_owned(),
        group: of.to_owned(),
        owner: owner.to_owned(),
        command: serde_json::Value::Null,
        cadence: Cadence::once(at),
        catch_up: CatchUp::Every,
    };
    let request = CommandRequest {
        stream_id: id.stream_id(),
        // A deadline already past is owed at once: created "as of" its time.
        command: ScheduleCommand::Create {
            spec,
            now: now.min(at),
        },
        expected_version: None,
        // Whoever sets it, and whenever: the same request (the first `at` stands).
        idempotency: Some(Idempotency {
            key: IdempotencyKey::reserved(&format!("{}-set", id.stream_id()))
                .expect("schedule ids are printable and short"),
            fingerprint: fingerprint(&(of, kind)),
            retention: KeyRetention::Forever,
        }),
        context: CommandContext {
            command_id: Uuid::new_v4(),
            correlation_id: of.to_owned(),
            causation_id: of.to_owned(),
            actor: owner.to_owned(),
            now,
            traceparent: None,
        },
    };
    match schedules.handle(&request).await {
        Ok(_)
        | Err(CommandError::Rejected {
            rejection: ScheduleRejection::AlreadyScheduled,
            ..
        }) => Ok(id),
        // Its receipt remembers that it was there already.
        Err(CommandError::RejectedEarlier { code, .. })
            if code == Schedules::rejection_code(&ScheduleRejection::AlreadyScheduled) =>
        {
            Ok(id)
        }
        Err(other) => Err(other),
    }
}
