//! The transfer process: the process manager that carries out a transfer by commanding its two accounts. For a
//! transfer in a given state, [`next_order`] names the one account command to send next (debit the source, credit
//! the destination, refund the source, or pay a held transfer's money to the account an operator named), with an
//! idempotency key derived from the transfer and the step; [`record`] turns the account's answer into the transfer
//! command that records it. Pure: `bank-service` wires it to the event store and the reactor.

use crate::account::{
    Account, AccountCommand, AccountEvent, AccountRejection, Step, TRANSFER_PROCESS,
};
use crate::transfer::{TransferCommand, TransferState, TransferTerms};
use crate::values::{AccountId, TransferId};
use tributary_core::Decider;

/// One account command the transfer process sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub step: Step,
    /// The account commanded.
    pub account: AccountId,
    /// Who the command is sent as: the requester for the debit (so that only the source's owner can move its
    /// money), the transfer process for the credit, the refund and a release.
    pub actor: String,
    pub command: AccountCommand,
    /// Derived from the transfer and the step (and the release's number): a repeated order is recognised by the
    /// account. The wiring sends it under a prefix callers may not use.
    pub idempotency_key: String,
    /// The key of the transfer command that records the answer.
    pub record_key: String,
}

/// The account command a transfer in `state` waits for, if any (none once it completed, failed or is held).
pub fn next_order(transfer: TransferId, state: &TransferState) -> Option<Order> {
    let order = |step: Step, account: AccountId, actor: String, command: AccountCommand| {
        let key = match state {
            TransferState::Releasing { releases, .. } => {
                format!("transfer-{transfer}-{}-{releases}", step.name())
            }
            _ => format!("transfer-{transfer}-{}", step.name()),
        };
        Order {
            step,
            account,
            actor,
            command,
            record_key: format!("{key}-recorded"),
            idempotency_key: key,
        }
    };
    let credit = |terms: &TransferTerms| AccountCommand::ReceiveTransfer {
        transfer_id: transfer,
        from: terms.from,
        amount: terms.amount,
        currency: terms.currency,
        from_holder: terms.from_holder.clone(),
    };
    match state {
        TransferState::Requested { terms } => Some(order(
            Step::Debit,
            terms.from,
            terms.requested_by.as_str().to_owned(),
            AccountCommand::SendTransfer {
                transfer_id: transfer,
                to: terms.to,
                amount: terms.amount,
                currency: terms.currency,
                standing_order: terms.standing_order.clone(),
            },
        )),
        TransferState::Debited { terms } => Some(order(
            Step::Credit,
            terms.to,
            TRANSFER_PROCESS.to_owned(),
            credit(terms),
        )),
        TransferState::Refunding { terms, .. } => Some(order(
            Step::Refund,
            terms.from,
            TRANSFER_PROCESS.to_owned(),
            AccountCommand::RefundTransfer {
                transfer_id: transfer,
                amount: terms.amount,
            },
        )),
        TransferState::Releasing { terms, release, .. } => Some(order(
            Step::Release,
            release.to,
            TRANSFER_PROCESS.to_owned(),
            credit(terms),
        )),
        TransferState::Unrequested
        | TransferState::Completed { .. }
        | TransferState::Failed { .. }
        | TransferState::Held { .. }
        | TransferState::Released { .. } => None,
    }
}

/// How an account answered an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The money moved.
    Accepted,
    /// Refused: by the account's rules (`code`), or because it is closed or does not exist.
    Refused { code: String },
    /// The actor may not command the account (the requester does not own the source).
    NotAllowed,
}

impl Answer {
    /// A stable name of the answer: `accepted`, `not-allowed`, or the refusal's code.
    pub fn code(&self) -> &str {
        match self {
            Self::Accepted => "accepted",
            Self::Refused { code } => code,
            Self::NotAllowed => "not-allowed",
        }
    }

    /// The answer the events of an accepted order (or of its replay) give: the movement — or a refusal the account
    /// recorded as an event (a standing order it could not cover; `TransferOrderRefused` on a stream written by an
    /// earlier build).
    pub fn of_events(events: &[AccountEvent]) -> Self {
        match events.iter().find_map(|e| match e {
            AccountEvent::TransferOrderRefused { code, .. }
            | AccountEvent::StandingOrderRefused { code, .. } => Some(code),
            _ => None,
        }) {
            Some(code) => Self::Refused { code: code.clone() },
            None => Self::Accepted,
        }
    }

    /// The answer of an order the account rejected (its receipt remembers the rejection, so it is the same every
    /// time the order is sent).
    pub fn of_rejection(rejection: &AccountRejection) -> Self {
        Self::Refused {
            code: Account::rejection_code(rejection).to_owned(),
        }
    }
}

/// The transfer command that records `answer` to `order`, with its idempotency key. A refusal is recorded by its
/// code (`insufficient-funds`, `account-closed`, ...), never its detail: the transfer is read by its requester, who
/// must not learn the destination's balance.
pub fn record(order: &Order, answer: &Answer) -> (TransferCommand, String) {
    let refused = |why: String| match order.step {
        Step::Debit => TransferCommand::RecordDebitRefused {
            reason: format!("the source refused the debit: {why}"),
        },
        Step::Credit => TransferCommand::RecordCreditRefused {
            reason: format!("the destination refused the credit: {why}"),
        },
        Step::Refund => TransferCommand::RecordRefundRefused { reason: why },
        Step::Release => TransferCommand::RecordReleaseRefused { reason: why },
    };
    let command = match answer {
        Answer::Refused { code } => refused(code.clone()),
        Answer::NotAllowed => {
            refused(Account::rejection_code(&AccountRejection::NotOpened).to_owned())
        }
        Answer::Accepted => match order.step {
            Step::Debit => TransferCommand::RecordDebited,
            Step::Credit => TransferCommand::RecordCredited,
            Step::Refund => TransferCommand::RecordRefunded,
            Step::Release => TransferCommand::RecordReleased,
        },
    };
    (command, order.record_key.clone())
}
