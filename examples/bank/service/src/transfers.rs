//! The transfer process manager: the I/O around the pure transfer process (`bank_account::transfer_process::next_order`
//! and `record`).
//!
//! It reacts to a transfer's stream: loads the transfer, sends the account command it waits for (as the actor the
//! order names, with the order's idempotency key), reads the account's answer, records it on the transfer (with
//! its own idempotency key), and goes on until the transfer completes or fails. Every step is safe to repeat: a
//! redelivered record, a crash between an order and its record, or a second worker on the same transfer sends an
//! order the account recognises by its key (and answers as the first time: an open account remembers a refusal as
//! an event), and a record the transfer recognises by its key or refuses as out of order.
//!
//! The account events the orders commit are published by the relay (DynamoDB Streams), like any commit.

use bank_account::account::Step;
use bank_account::account::TRANSFER_PROCESS;
use bank_account::transfer_process::{next_order, record, Answer, Order};
use bank_account::{Account, AccountEvent, Transfer, TransferId, TransferRejection, TransferState};
use std::sync::Arc;
use tributary_aggregate::{
    CommandContext, CommandError, CommandHandler, CommandOutcome, CommandRequest, Idempotency,
    KeyRetention, RetryPolicy, SnapshotPolicy,
};
use tributary_consumer::reactor::ProcessManager;
use tributary_core::{fingerprint, IdempotencyKey, TraceParent};
use tributary_scheduler::Schedules;
use tributary_store::{EventStore, EventStoreError};
use uuid::Uuid;

/// The transfer process's consumer, in consumer group names (`<prefix>-transfer-process`).
pub const CONSUMER_GROUP_SUFFIX: &str = "transfer-process";
/// The consumer group the transfer process runs as, unless configured otherwise.
pub const CONSUMER_GROUP: &str = "tributary-transfer-process";

/// Steps of one transfer taken in one reaction, at most (debit, credit, refund, and one look that finds it done; a
/// release, and one look).
const MAX_STEPS: usize = 4;

/// Why a transfer could not go on for now (or ever).
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{stream}: not a transfer stream")]
    NotATransfer { stream: String },
    #[error("{stream}: {source}")]
    Store {
        stream: String,
        source: EventStoreError,
    },
    #[error("{stream}: {what} kept conflicting or timed out: {detail}")]
    Busy {
        stream: String,
        what: &'static str,
        detail: String,
    },
    #[error(
        "{stream}: the account answered version {version}, which the event store does not hold"
    )]
    MissingAnswer { stream: String, version: u64 },
    #[error("{stream}: the transfer refused a record of the process: {detail}")]
    Refused { stream: String, detail: String },
}

/// The transfer process manager: an account handler and a transfer handler on the same event store.
#[derive(Clone)]
pub struct TransferProcess {
    accounts: CommandHandler<Account>,
    transfers: CommandHandler<Transfer>,
}

impl TransferProcess {
    pub fn new(accounts: CommandHandler<Account>, transfers: CommandHandler<Transfer>) -> Self {
        Self {
            accounts,
            transfers,
        }
    }

    /// The process over the event store `events`, with the default conflict-retry policy and `snapshots` (the
    /// command function's: the snapshots this writes carry the window of recent commands its loads know).
    pub fn over(events: Arc<dyn EventStore>, snapshots: SnapshotPolicy) -> Self {
        Self::new(
            CommandHandler::new(events.clone(), RetryPolicy::default()).with_snapshots(snapshots),
            CommandHandler::new(events, RetryPolicy::default()).with_snapshots(snapshots),
        )
    }

    fn store(&self) -> &Arc<dyn EventStore> {
        self.accounts.store()
    }

    /// Drive one transfer as far as it goes.
    pub async fn advance(&self, stream: &str) -> Result<(), ProcessError> {
        self.advance_in_trace(stream, None).await
    }

    /// Drive one transfer as far as it goes, its commands continuing `trace` (the trace of the record that moved
    /// it: the request's, so one trace id follows a transfer from `POST /transfers` to the last account it
    /// changes).
    pub async fn advance_in_trace(
        &self,
        stream: &str,
        trace: Option<&TraceParent>,
    ) -> Result<(), ProcessError> {
        let id = transfer_id(stream)?;
        for _ in 0..MAX_STEPS {
            if !self.step(id, stream, trace).await? {
                break;
            }
        }
        Ok(())
    }

    /// Take one step of a transfer: send the order it waits for and record the answer. `false` when it waits for
    /// none (completed, failed, or held until an operator releases it).
    pub async fn step_once(&self, stream: &str) -> Result<bool, ProcessError> {
        let id = transfer_id(stream)?;
        self.step(id, stream, None).await
    }

    async fn step(
        &self,
        id: TransferId,
        stream: &str,
        trace: Option<&TraceParent>,
    ) -> Result<bool, ProcessError> {
        let (state, _) =
            self.transfers
                .state(stream)
                .await
                .map_err(|source| ProcessError::Store {
                    stream: stream.to_owned(),
                    source,
                })?;
        let Some(order) = next_order(id, &state) else {
            return Ok(false);
        };
        if let TransferState::Requested { .. } = state {
            self.set_deadline(stream).await?;
        }
        let answer = self.send(stream, &order, trace).await?;
        tracing::info!(%stream, step = order.step.name(), ?answer, "the account answered");
        let (command, key) = record(&order, &answer);
        // The record is the transfer's own: it continues the reaction's trace.
        // The answer is part of what the record stands for: a worker that got another answer to the same order
        // (which the receipts make impossible) is told the key was used for another request, and its batch is
        // dead-lettered for an operator, rather than its record passing as a replay.
        let request = command_request(
            stream.to_owned(),
            command,
            TRANSFER_PROCESS,
            &key,
            &(id.to_string(), order.step.name(), answer.code()),
            stream,
            trace,
        );
        match self.transfers.handle(&request).await {
            Ok(_) => Ok(true),
            // Another worker recorded this step first: look again.
            Err(CommandError::Rejected {
                rejection: TransferRejection::OutOfOrder,
                ..
            }) => Ok(true),
            Err(e) => Err(failure(stream, "recording a step", e)),
        }
    }

    /// Set the transfer's deadline ([`bank_account::transfer::DEADLINE_SECONDS`] after its request), unless the route
    /// that took the request set it already.
    async fn set_deadline(&self, stream: &str) -> Result<(), ProcessError> {
        let store_error = |source| ProcessError::Store {
            stream: stream.to_owned(),
            source,
        };
        let requested = self
            .store()
            .load_event(stream, 1)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ProcessError::MissingAnswer {
                stream: stream.to_owned(),
                version: 1,
            })?;
        let at = requested.metadata.occurred_at
            + chrono::Duration::seconds(bank_account::transfer::DEADLINE_SECONDS);
        let schedules =
            CommandHandler::<Schedules>::new(self.store().clone(), RetryPolicy::default());
        tributary_scheduler::set_deadline(
            &schedules,
            stream,
            bank_account::transfer::DEADLINE_KIND,
            TRANSFER_PROCESS,
            at,
            chrono::Utc::now(),
        )
        .await
        .map(drop)
        .map_err(|e| failure(stream, "setting the deadline", e))
    }

    /// Send an order to its account and read the answer. An order for an account that is not the requester's (the
    /// credit, a release) starts a trace of its own, linked to the reaction's: the destination's events must not
    /// carry the sender's trace (its owner reads them, in the audit trail).
    async fn send(
        &self,
        stream: &str,
        order: &Order,
        trace: Option<&TraceParent>,
    ) -> Result<Answer, ProcessError> {
        let account_stream = order.account.stream_id();
        let started = std::time::SystemTime::now();
        let own_trace =
            matches!(order.step, Step::Credit | Step::Release).then(TraceParent::new_root);
        let request = command_request(
            account_stream.clone(),
            order.command.clone(),
            &order.actor,
            &order.idempotency_key,
            &(stream, order.step.name()),
            stream,
            own_trace.as_ref().or(trace),
        );
        let result = self.accounts.handle(&request).await;
        if let (Some(own), Some(reaction)) = (&own_trace, trace) {
            // The order's own trace starts here, linked to the reaction that sent it.
            if tributary_runtime::spans::enabled() {
                tributary_runtime::spans::record(tributary_runtime::spans::Span {
                    context: own.clone(),
                    parent: None,
                    name: format!("order {}", order.step.name()),
                    kind: tributary_runtime::spans::Kind::Internal,
                    start: started,
                    end: std::time::SystemTime::now(),
                    attributes: vec![
                        ("tributary.stream", account_stream.clone()),
                        ("tributary.transfer", stream.to_owned()),
                    ],
                    // A refusal is the account's answer, not a failure of the order.
                    error: match &result {
                        Err(e @ (CommandError::Store(_) | CommandError::Conflict { .. })) => {
                            Some(e.to_string())
                        }
                        _ => None,
                    },
                    links: vec![reaction.clone()],
                });
            }
        }
        match result {
            Ok(outcome) => {
                let events = match outcome {
                    CommandOutcome::Committed { events, .. } if !events.is_empty() => events,
                    // A replay (or a commit recognised after a lost response) names its version: read the answer.
                    outcome => {
                        let version = outcome.version();
                        vec![self
                            .store()
                            .load_event(&account_stream, version)
                            .await
                            .map_err(|source| ProcessError::Store {
                                stream: stream.to_owned(),
                                source,
                            })?
                            .ok_or_else(|| ProcessError::MissingAnswer {
                                stream: stream.to_owned(),
                                version,
                            })?]
                    }
                };
                let events = events
                    .iter()
                    .map(|e| e.decode::<AccountEvent>().map(|r| r.event))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|source| ProcessError::Store {
                        stream: stream.to_owned(),
                        source,
                    })?;
                Ok(Answer::of_events(&events))
            }
            Err(CommandError::Rejected { rejection, .. }) => Ok(Answer::of_rejection(&rejection)),
            // The order's receipt remembers its refusal: the same answer as the first time.
            Err(CommandError::RejectedEarlier { code, .. }) => Ok(Answer::Refused { code }),
            Err(CommandError::AccessDenied) => Ok(Answer::NotAllowed),
            // Anything else (a reused key: no caller can send the process's keys, so only a bug gets here) is not an
            // answer to record: the transfer's records are dead-lettered for an operator.
            Err(e) => Err(failure(stream, "an account order", e)),
        }
    }
}

/// The transfer whose stream is `stream`.
fn transfer_id(stream: &str) -> Result<TransferId, ProcessError> {
    TransferId::of_stream(stream)
        .and_then(|raw| TransferId::parse(raw).ok())
        .ok_or_else(|| ProcessError::NotATransfer {
            stream: stream.to_owned(),
        })
}

/// A command of the process, with its idempotency key and the fingerprint of what it stands for.
fn command_request<C>(
    stream_id: String,
    command: C,
    actor: &str,
    key: &str,
    stands_for: &impl serde::Serialize,
    transfer_stream: &str,
    trace: Option<&TraceParent>,
) -> CommandRequest<C> {
    let command_id = Uuid::new_v4();
    CommandRequest {
        stream_id,
        command,
        expected_version: None,
        // Under the reserved prefix (no caller can take the key first), kept for ever with its rejections (the same
        // order always gets the same answer).
        idempotency: Some(Idempotency {
            key: IdempotencyKey::reserved(key).expect("process keys are printable and short"),
            fingerprint: fingerprint(stands_for),
            retention: KeyRetention::Forever,
        }),
        context: CommandContext {
            command_id,
            correlation_id: transfer_stream.to_owned(),
            causation_id: transfer_stream.to_owned(),
            actor: actor.to_owned(),
            now: chrono::Utc::now(),
            // The process reaction's own span context: its commands' events hang under it.
            traceparent: trace.map(ToString::to_string),
        },
    }
}

fn failure<R: std::error::Error + 'static>(
    stream: &str,
    what: &'static str,
    error: CommandError<R>,
) -> ProcessError {
    match error {
        CommandError::Store(source) => ProcessError::Store {
            stream: stream.to_owned(),
            source,
        },
        CommandError::Conflict { .. } => ProcessError::Busy {
            stream: stream.to_owned(),
            what,
            detail: error.to_string(),
        },
        other => ProcessError::Refused {
            stream: stream.to_owned(),
            detail: other.to_string(),
        },
    }
}

impl ProcessManager for TransferProcess {
    type Error = ProcessError;

    fn reacts_to(&self, stream_id: &str) -> bool {
        TransferId::of_stream(stream_id).is_some()
    }

    /// Only what no deployment can cure goes to the dead-letter topic: a stream that is not a transfer, or a transfer
    /// that refuses the process's record. An event this build cannot read (a newer shape, mid-deployment: a `Store`
    /// error, from the event store the process reads) is retried, not dead-lettered: the transfer may have moved
    /// money already, and must go on once the new build runs (`TransferProcessBehindAlarm` fires meanwhile).
    fn is_permanent(error: &ProcessError) -> bool {
        match error {
            ProcessError::NotATransfer { .. } | ProcessError::Refused { .. } => true,
            ProcessError::Store { .. }
            | ProcessError::Busy { .. }
            | ProcessError::MissingAnswer { .. } => false,
        }
    }

    async fn react(
        &self,
        stream_id: &str,
        _up_to: u64,
        trace: Option<&TraceParent>,
    ) -> Result<(), ProcessError> {
        self.advance_in_trace(stream_id, trace).await
    }
}
