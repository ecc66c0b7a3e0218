//! Transfers between accounts: the transfer aggregate (what was asked and how far it got) and the transfer process,
//! the process manager that moves the money by commanding the two accounts.
//!
//! A transfer is its own stream (`transfer-<id>`). The process reacts to its events: for a transfer in a given
//! state, [`next_order`] names the one account command to send next — debit the source, credit the destination,
//! or refund the source — with an idempotency key derived from the transfer and the step; [`record`] turns the
//! account's answer into the transfer command that records it. Redelivered events and crashes between the two halves
//! of a step are harmless: the next order is computed from the transfer's state, not from the event that woke the
//! process; the account recognises a repeated order it accepted by its key; and recording a step the transfer has
//! already recorded changes nothing (`crates/bank/tests/transfer_process.rs`).
//!
//! Two workers on one transfer at once are harmless too: an open account answers an order with an event either way
//! (the movement, or `TransferOrderRefused`), so the same order sent twice gets the same answer even if the balance
//! changed in between, and both workers record the same thing. The wiring (`bank-service`) sends orders with
//! durable idempotency keys, so an account recognises a repeated order however late it comes (not only within the
//! window of its recent commands), and only lets a transfer be requested to an account that exists, so that a
//! rejected order's answer (closed, or never opened) cannot change either.

use crate::account::{Account, AccountCommand, AccountEvent, AccountRejection, TRANSFER_PROCESS};
use crate::values::{AccountId, Amount, Currency, Principal, TransferId};
use serde::{Deserialize, Serialize};
use tributary_core::{Decider, DomainEvent};

/// What may be asked of a transfer: by a caller (`Request`), or by the transfer process (the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferCommand {
    /// Move `amount` (in `currency`, the source's) from `from` to `to`, asked by `requested_by` (the caller, who
    /// must own `from`).
    Request {
        from: AccountId,
        to: AccountId,
        amount: Amount,
        currency: Currency,
        requested_by: Principal,
    },
    /// The source account took the money.
    RecordDebited,
    /// The source account refused the debit.
    RecordDebitRefused { reason: String },
    /// The destination account took the money.
    RecordCredited,
    /// The destination account refused the credit: the money goes back.
    RecordCreditRefused { reason: String },
    /// The source account took the money back.
    RecordRefunded,
    /// The source account refused the refund (it was closed meanwhile, or the refund would take it above the
    /// balance limit): the money is held for an operator.
    RecordRefundRefused { reason: String },
}

/// What happened to a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum TransferEvent {
    TransferRequested {
        from: AccountId,
        to: AccountId,
        amount: Amount,
        currency: Currency,
        requested_by: Principal,
    },
    SourceDebited,
    /// The transfer failed before any money moved.
    DebitRefused {
        reason: String,
    },
    /// The transfer completed: the money moved exactly once.
    DestinationCredited,
    CreditRefused {
        reason: String,
    },
    /// The transfer failed and the money is back where it was.
    SourceRefunded,
    /// The transfer failed and the money could not be given back: an operator must act.
    RefundRefused {
        reason: String,
    },
}

impl DomainEvent for TransferEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::TransferRequested { .. } => "TransferRequested",
            Self::SourceDebited => "SourceDebited",
            Self::DebitRefused { .. } => "DebitRefused",
            Self::DestinationCredited => "DestinationCredited",
            Self::CreditRefused { .. } => "CreditRefused",
            Self::SourceRefunded => "SourceRefunded",
            Self::RefundRefused { .. } => "RefundRefused",
        }
    }
}

/// What was asked: the parts of a transfer every state after the request carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferTerms {
    pub from: AccountId,
    pub to: AccountId,
    pub amount: Amount,
    pub currency: Currency,
    pub requested_by: Principal,
}

/// How far a transfer got.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TransferState {
    #[default]
    Unrequested,
    /// Waiting for the source's debit.
    Requested {
        terms: TransferTerms,
    },
    /// The money left the source; waiting for the destination's credit.
    Debited {
        terms: TransferTerms,
    },
    /// The destination refused; waiting for the source's refund.
    Refunding {
        terms: TransferTerms,
        reason: String,
    },
    Completed {
        terms: TransferTerms,
    },
    Failed {
        terms: TransferTerms,
        reason: String,
        /// The step that failed it: the debit (no money moved), the credit (the money came back to the source),
        /// or the refund (the money left the source and is held: an operator must act).
        at: Step,
    },
}

impl TransferState {
    /// What was asked, once it was.
    pub fn terms(&self) -> Option<&TransferTerms> {
        match self {
            Self::Unrequested => None,
            Self::Requested { terms }
            | Self::Debited { terms, .. }
            | Self::Refunding { terms, .. }
            | Self::Completed { terms }
            | Self::Failed { terms, .. } => Some(terms),
        }
    }

    /// `unrequested`, `pending`, `completed` or `failed`.
    pub fn status(&self) -> &'static str {
        match self {
            Self::Unrequested => "unrequested",
            Self::Requested { .. } | Self::Debited { .. } | Self::Refunding { .. } => "pending",
            Self::Completed { .. } => "completed",
            Self::Failed { .. } => "failed",
        }
    }
}

/// Why a transfer refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferRejection {
    #[error("a transfer must go to another account")]
    SameAccount,
    #[error("the transfer was already requested")]
    AlreadyRequested,
    #[error("the transfer does not exist")]
    NotRequested,
    #[error("the transfer is not waiting for that step")]
    OutOfOrder,
}

/// The transfer Decider.
pub struct Transfer;

impl Decider for Transfer {
    type State = TransferState;
    type Command = TransferCommand;
    type Event = TransferEvent;
    type Rejection = TransferRejection;

    fn initial() -> TransferState {
        TransferState::Unrequested
    }

    /// A transfer is requested by the caller it names as its requester (whose ownership of the source the debit
    /// checks); only the transfer process records its steps.
    fn may_command(_state: &TransferState, actor: &str, command: &TransferCommand) -> bool {
        match command {
            TransferCommand::Request { requested_by, .. } => requested_by.as_str() == actor,
            _ => actor == TRANSFER_PROCESS,
        }
    }

    fn rejection_code(rejection: &TransferRejection) -> &'static str {
        match rejection {
            TransferRejection::SameAccount => "same-account",
            TransferRejection::AlreadyRequested => "transfer-already-exists",
            TransferRejection::NotRequested => "transfer-not-found",
            TransferRejection::OutOfOrder => "out-of-order",
        }
    }

    fn evolve(state: TransferState, event: &TransferEvent) -> TransferState {
        use TransferEvent as E;
        use TransferState as S;
        match (state, event) {
            (
                S::Unrequested,
                E::TransferRequested {
                    from,
                    to,
                    amount,
                    currency,
                    requested_by,
                },
            ) => S::Requested {
                terms: TransferTerms {
                    from: *from,
                    to: *to,
                    amount: *amount,
                    currency: *currency,
                    requested_by: requested_by.clone(),
                },
            },
            (S::Requested { terms }, E::SourceDebited) => S::Debited { terms },
            (S::Requested { terms }, E::DebitRefused { reason }) => S::Failed {
                terms,
                reason: reason.clone(),
                at: Step::Debit,
            },
            (S::Debited { terms }, E::DestinationCredited) => S::Completed { terms },
            (S::Debited { terms }, E::CreditRefused { reason }) => S::Refunding {
                terms,
                reason: reason.clone(),
            },
            (S::Refunding { terms, reason }, E::SourceRefunded) => S::Failed {
                terms,
                reason,
                at: Step::Credit,
            },
            (S::Refunding { terms, reason }, E::RefundRefused { reason: refused }) => S::Failed {
                terms,
                reason: format!("{reason}; the refund was refused: {refused}"),
                at: Step::Refund,
            },
            // `decide` never emits any other combination; ignoring it keeps the fold total.
            (state, _) => state,
        }
    }

    fn decide(
        state: &TransferState,
        command: &TransferCommand,
    ) -> Result<Vec<TransferEvent>, TransferRejection> {
        use TransferCommand as C;
        use TransferEvent as E;
        use TransferRejection as R;
        use TransferState as S;
        let event = match (state, command) {
            (
                S::Unrequested,
                C::Request {
                    from,
                    to,
                    amount,
                    currency,
                    requested_by,
                },
            ) => {
                if from == to {
                    return Err(R::SameAccount);
                }
                E::TransferRequested {
                    from: *from,
                    to: *to,
                    amount: *amount,
                    currency: *currency,
                    requested_by: requested_by.clone(),
                }
            }
            (_, C::Request { .. }) => return Err(R::AlreadyRequested),
            (S::Unrequested, _) => return Err(R::NotRequested),
            (S::Requested { .. }, C::RecordDebited) => E::SourceDebited,
            (S::Requested { .. }, C::RecordDebitRefused { reason }) => E::DebitRefused {
                reason: reason.clone(),
            },
            (S::Debited { .. }, C::RecordCredited) => E::DestinationCredited,
            (S::Debited { .. }, C::RecordCreditRefused { reason }) => E::CreditRefused {
                reason: reason.clone(),
            },
            (S::Refunding { .. }, C::RecordRefunded) => E::SourceRefunded,
            (S::Refunding { .. }, C::RecordRefundRefused { reason }) => E::RefundRefused {
                reason: reason.clone(),
            },
            // A step the transfer has recorded already (a redelivery, a second worker): nothing changes.
            (state, command) if already_recorded(state, command) => return Ok(Vec::new()),
            _ => return Err(R::OutOfOrder),
        };
        Ok(vec![event])
    }
}

/// Whether `command` records a step that `state` is already past (its answer was recorded before).
fn already_recorded(state: &TransferState, command: &TransferCommand) -> bool {
    use TransferCommand as C;
    use TransferState as S;
    let past = |step: Step| match state {
        S::Unrequested | S::Requested { .. } => false,
        S::Debited { .. } => step == Step::Debit,
        S::Refunding { .. } | S::Completed { .. } => step != Step::Refund,
        // Failed at the debit: nothing else happened. At the credit or the refund: every step was answered.
        S::Failed { at, .. } => *at != Step::Debit || step == Step::Debit,
    };
    match command {
        C::Request { .. } => false,
        C::RecordDebited | C::RecordDebitRefused { .. } => past(Step::Debit),
        C::RecordCredited | C::RecordCreditRefused { .. } => past(Step::Credit),
        C::RecordRefunded | C::RecordRefundRefused { .. } => past(Step::Refund),
    }
}

/// The three account commands a transfer is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Debit,
    Credit,
    Refund,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Self::Debit => "debit",
            Self::Credit => "credit",
            Self::Refund => "refund",
        }
    }
}

/// One account command the transfer process sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub step: Step,
    /// The account commanded.
    pub account: AccountId,
    /// Who the command is sent as: the requester for the debit (so that only the source's owner can move its
    /// money), the transfer process for the credit and the refund.
    pub actor: String,
    pub command: AccountCommand,
    /// Derived from the transfer and the step: a repeated order is recognised by the account.
    pub idempotency_key: String,
}

/// The account command a transfer in `state` waits for, if any (none once it completed or failed).
pub fn next_order(transfer: TransferId, state: &TransferState) -> Option<Order> {
    let order = |step: Step, account: AccountId, actor: String, command: AccountCommand| Order {
        step,
        account,
        actor,
        command,
        idempotency_key: format!("transfer-{transfer}-{}", step.name()),
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
            },
        )),
        TransferState::Debited { terms } => Some(order(
            Step::Credit,
            terms.to,
            TRANSFER_PROCESS.to_owned(),
            AccountCommand::ReceiveTransfer {
                transfer_id: transfer,
                from: terms.from,
                amount: terms.amount,
                currency: terms.currency,
            },
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
        TransferState::Unrequested
        | TransferState::Completed { .. }
        | TransferState::Failed { .. } => None,
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

    /// The answer the events of an accepted order (or of its replay) give: the movement, or its refusal
    /// (`TransferOrderRefused`: an open account's refusal is an event, so it is the same every time).
    pub fn of_events(events: &[AccountEvent]) -> Self {
        match events.iter().find_map(|e| match e {
            AccountEvent::TransferOrderRefused { code, .. } => Some(code),
            _ => None,
        }) {
            Some(code) => Self::Refused { code: code.clone() },
            None => Self::Accepted,
        }
    }

    /// The answer of an order the account rejected (closed — for ever — or never opened: a transfer is requested
    /// only to an opened account, so for the process this concerns only a source, checked at the request too).
    pub fn of_rejection(rejection: &AccountRejection) -> Self {
        Self::Refused {
            code: Account::rejection_code(rejection).to_owned(),
        }
    }
}

/// The transfer command that records `answer` to an order of `step`, with its idempotency key. A refusal is
/// recorded by its code (`insufficient-funds`, `account-closed`, ...), never its detail: the transfer is read by its
/// requester, who must not learn the destination's balance.
pub fn record(transfer: TransferId, step: Step, answer: &Answer) -> (TransferCommand, String) {
    let key = format!("transfer-{transfer}-{}-recorded", step.name());
    let refused = |why: String| match step {
        Step::Debit => TransferCommand::RecordDebitRefused {
            reason: format!("the source refused the debit: {why}"),
        },
        Step::Credit => TransferCommand::RecordCreditRefused {
            reason: format!("the destination refused the credit: {why}"),
        },
        Step::Refund => TransferCommand::RecordRefundRefused { reason: why },
    };
    let command = match answer {
        Answer::Refused { code } => refused(code.clone()),
        Answer::NotAllowed => {
            refused(Account::rejection_code(&AccountRejection::NotOpened).to_owned())
        }
        Answer::Accepted => match step {
            Step::Debit => TransferCommand::RecordDebited,
            Step::Credit => TransferCommand::RecordCredited,
            Step::Refund => TransferCommand::RecordRefunded,
        },
    };
    (command, key)
}
