//! The bank's scheduled commands: each occurrence of a standing order becomes a transfer request, as the order's
//! owner, under the occurrence's key (a repeated send finds the same transfer), with the transfer's id derived from
//! that key. The transfer process carries it out like any other; a debit the balance cannot cover is recorded on
//! the source's statement (`StandingOrderRefused`). A transfer's deadline marks it overdue if it has not finished.

use bank_account::account::TRANSFER_PROCESS;
use bank_account::standing_order::{StandingOrder, KIND};
use bank_account::{Account, Principal, Transfer, TransferCommand, TransferId};
use std::sync::Arc;
use tributary_aggregate::{
    CommandContext, CommandError, CommandHandler, CommandOutcome, CommandRequest, Idempotency,
    KeyRetention, RetryPolicy, SnapshotPolicy,
};
use tributary_core::{fingerprint, Decider, IdempotencyKey};
use tributary_scheduler::{Dispatch, DispatchError, Occurrence, Outcome};
use tributary_store::EventStore;
use uuid::Uuid;

/// What a standing order's occurrence is refused as when the schedule's command cannot be read (it was written by
/// another build) or its source is not the owner's any more.
pub const UNREADABLE: &str = "unreadable-standing-order";

/// Sends the bank's scheduled commands.
#[derive(Clone)]
pub struct BankDispatch {
    accounts: CommandHandler<Account>,
    transfers: CommandHandler<Transfer>,
}

impl BankDispatch {
    /// Over the event store `events` (with the command function's snapshot policy).
    pub fn over(events: Arc<dyn EventStore>, snapshots: SnapshotPolicy) -> Self {
        Self {
            accounts: CommandHandler::new(events.clone(), RetryPolicy::default())
                .with_snapshots(snapshots),
            transfers: CommandHandler::new(events, RetryPolicy::default())
                .with_snapshots(snapshots),
        }
    }

    async fn standing_order(&self, occurrence: &Occurrence<'_>) -> Result<Outcome, DispatchError> {
        let refused = |code: &str| {
            Ok(Outcome::Refused {
                code: code.to_owned(),
            })
        };
        let (Ok(order), Ok(owner)) = (
            serde_json::from_value::<StandingOrder>(occurrence.spec.command.clone()),
            Principal::parse(&occurrence.spec.owner),
        ) else {
            return refused(UNREADABLE);
        };
        let unavailable = |e: tributary_store::EventStoreError| DispatchError(e.to_string());
        let (source, _) = self
            .accounts
            .state(&order.from.stream_id())
            .await
            .map_err(unavailable)?;
        let (destination, _) = self
            .accounts
            .state(&order.to.stream_id())
            .await
            .map_err(unavailable)?;
        let Some(command) = TransferCommand::request(
            order.from,
            order.to,
            order.amount,
            &owner,
            &source,
            &destination,
            Some(occurrence.schedule.to_string()),
        ) else {
            return refused(UNREADABLE);
        };
        let transfer = TransferId::derived_from(&occurrence.key);
        let command_id = Uuid::new_v4();
        let request = CommandRequest {
            stream_id: transfer.stream_id(),
            command,
            expected_version: None,
            // Under the reserved prefix (no caller can take it first), kept for ever: the same occurrence always
            // finds the same transfer.
            idempotency: Some(Idempotency {
                key: IdempotencyKey::reserved(&occurrence.key)
                    .map_err(|e| DispatchError(e.to_string()))?,
                fingerprint: fingerprint(&(&occurrence.key, &order)),
                retention: KeyRetention::Forever,
            }),
            context: CommandContext {
                command_id,
                correlation_id: occurrence.schedule.stream_id(),
                causation_id: occurrence.schedule.stream_id(),
                actor: owner.as_str().to_owned(),
                now: occurrence.now,
                traceparent: None,
            },
        };
        match self.transfers.handle(&request).await {
            Ok(_) => Ok(Outcome::Applied),
            Err(CommandError::Rejected { rejection, .. }) => {
                refused(Transfer::rejection_code(&rejection))
            }
            Err(CommandError::RejectedEarlier { code, .. }) => refused(&code),
            Err(CommandError::AccessDenied) => refused(UNREADABLE),
            Err(other) => Err(DispatchError(other.to_string())),
        }
    }
}

impl BankDispatch {
    /// A transfer's deadline: the transfer is marked overdue unless it finished (then nothing changes).
    async fn transfer_deadline(
        &self,
        occurrence: &Occurrence<'_>,
    ) -> Result<Outcome, DispatchError> {
        let stream = &occurrence.spec.group;
        let request = CommandRequest {
            stream_id: stream.clone(),
            command: TransferCommand::MarkOverdue,
            expected_version: None,
            idempotency: Some(Idempotency {
                key: IdempotencyKey::reserved(&occurrence.key)
                    .map_err(|e| DispatchError(e.to_string()))?,
                fingerprint: fingerprint(&occurrence.key),
                retention: KeyRetention::Forever,
            }),
            context: CommandContext {
                command_id: Uuid::new_v4(),
                correlation_id: stream.clone(),
                causation_id: occurrence.schedule.stream_id(),
                actor: TRANSFER_PROCESS.to_owned(),
                now: occurrence.now,
                traceparent: None,
            },
        };
        match self.transfers.handle(&request).await {
            Ok(CommandOutcome::Committed { events, .. }) => {
                if !events.is_empty() {
                    tracing::warn!(%stream, "a transfer passed its deadline unfinished: marked overdue");
                    tributary_runtime::metrics::count("TransfersOverdue", 1, &[]);
                }
                Ok(Outcome::Applied)
            }
            Ok(CommandOutcome::Replayed { .. }) => Ok(Outcome::Applied),
            Err(CommandError::Rejected { rejection, .. }) => Ok(Outcome::Refused {
                code: Transfer::rejection_code(&rejection).to_owned(),
            }),
            Err(CommandError::RejectedEarlier { code, .. }) => Ok(Outcome::Refused { code }),
            Err(other) => Err(DispatchError(other.to_string())),
        }
    }
}

impl Dispatch for BankDispatch {
    async fn send(&self, occurrence: &Occurrence<'_>) -> Result<Outcome, DispatchError> {
        match occurrence.spec.kind.as_str() {
            KIND => self.standing_order(occurrence).await,
            bank_account::transfer::DEADLINE_KIND => self.transfer_deadline(occurrence).await,
            other => Ok(Outcome::Refused {
                code: format!("unknown-kind:{other}"),
            }),
        }
    }
}
