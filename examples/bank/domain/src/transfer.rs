//! Transfers between accounts: the transfer aggregate (what was asked and how far it got). The transfer process, the
//! process manager that moves the money by commanding the two accounts, is [`crate::transfer_process`].
//!
//! A transfer is its own stream (`transfer-<id>`). The process reacts to its events: for a transfer in a given
//! state it names the one account command to send next, and records the account's answer as a transfer command.
//! Redelivered events and crashes between the two halves of a step are harmless: the next order is computed from
//! the transfer's state, not from the event that woke the process; the account recognises a repeated order by its
//! key; and recording a step the transfer has already recorded changes nothing
//! (`examples/bank/domain/tests/transfer_process.rs`).
//!
//! Two workers on one transfer at once are harmless too: the wiring (`bank-service`) sends orders with keys kept for
//! ever, rejections included, so the same order gets the same answer however late it comes and whatever the
//! account's balance is by then — and a refusal is remembered by the order's receipt, not written on the account's
//! stream: an account only ever sees money arrive or leave, never another principal's failed transfer.
//!
//! A transfer is refused when it is asked for if its destination was never opened, is closed, or holds another
//! currency ([`Destination`]: all three are as stable as the answer must be). A destination closed later refuses the
//! credit; the money goes back. If the source refuses the refund too (closed meanwhile, or at its balance limit), the
//! money is **held**: counted in no balance, and paid out only when an operator names an account for it
//! ([`TransferCommand::Release`]), an audited event on the transfer.

use crate::account::{AccountState, Step, TRANSFER_PROCESS};
use crate::values::{AccountId, Amount, Currency, Principal};
use serde::{Deserialize, Serialize};
use tributary_core::{Decider, DomainEvent, Personal};

/// What a transfer knows of an account it is asked to pay: whether it was ever opened, whether it is closed, and its
/// currency — each as stable as "opened", so the answer to a request never changes between two deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Unopened,
    Open { currency: Currency },
    Closed,
}

impl Destination {
    /// What `account` (the destination's state, read by the edge) tells a transfer.
    pub fn of(account: &AccountState) -> Self {
        match account {
            AccountState::Unopened => Self::Unopened,
            AccountState::Open { currency, .. } => Self::Open {
                currency: *currency,
            },
            AccountState::Closed { .. } => Self::Closed,
        }
    }

    /// Whether money in `currency` may be sent there.
    fn accepts(self, currency: Currency) -> Result<(), TransferRejection> {
        match self {
            Self::Unopened => Err(TransferRejection::DestinationNotFound),
            Self::Closed => Err(TransferRejection::DestinationClosed),
            Self::Open { currency: held } if held != currency => {
                Err(TransferRejection::CurrencyMismatch {
                    currency,
                    destination: held,
                })
            }
            Self::Open { .. } => Ok(()),
        }
    }
}

impl TransferCommand {
    /// `requester`'s request to move `amount` from `from` (in `source` state) to `to` (in `destination` state): in
    /// the source's currency, its holder travelling with it; `None` unless the requester owns the source (anyone
    /// else is told it does not exist). `standing_order`: the schedule whose occurrence this is.
    pub fn request(
        from: AccountId,
        to: AccountId,
        amount: Amount,
        requester: &Principal,
        source: &AccountState,
        destination: &AccountState,
        standing_order: Option<String>,
    ) -> Option<Self> {
        let (currency, from_holder) = match source {
            AccountState::Open {
                owner,
                currency,
                holder,
                ..
            }
            | AccountState::Closed {
                owner,
                currency,
                holder,
            } if owner == requester => (*currency, holder.clone()),
            _ => return None,
        };
        Some(Self::Request {
            from,
            to,
            amount,
            currency,
            requested_by: requester.clone(),
            destination: Destination::of(destination),
            from_holder,
            standing_order,
        })
    }
}

/// What may be asked of a transfer: by a caller (`Request`), by an operator (`Release`), or by the transfer process
/// (the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferCommand {
    /// Move `amount` (in `currency`, the source's) from `from` to `to`, asked by `requested_by` (the caller, who
    /// must own `from`). `destination`: what `to` is now.
    Request {
        from: AccountId,
        to: AccountId,
        amount: Amount,
        currency: Currency,
        requested_by: Principal,
        destination: Destination,
        /// The source's holder, sealed as the source's events hold it (the credit passes it to the destination).
        from_holder: Option<Personal>,
        /// The standing order (schedule id) whose occurrence this is, if it is one.
        standing_order: Option<String>,
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
    /// Pay a held transfer's money to `to` (`destination`: what `to` is now), ordered by the operator
    /// `ordered_by` (the HTTP edge lets only operators send it).
    Release {
        to: AccountId,
        destination: Destination,
        ordered_by: Principal,
    },
    /// The account the operator named took the held money.
    RecordReleased,
    /// It refused it: the money is held again.
    RecordReleaseRefused { reason: String },
    /// The transfer's deadline passed (sent by its deadline, as the transfer process): an unfinished transfer is
    /// marked overdue; a finished one is left as it is.
    MarkOverdue,
}

/// The kind of scheduled command a transfer's deadline is (what the scheduler's dispatch recognises).
pub const DEADLINE_KIND: &str = "transfer-deadline";

/// How long after its request a transfer that has neither completed nor failed is overdue.
pub const DEADLINE_SECONDS: i64 = 300;

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
        /// The source's holder: personal data of the source's owner, sealed under their key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_holder: Option<Personal>,
        /// The standing order whose occurrence this is (its schedule id), if it is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        standing_order: Option<String>,
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
    /// The transfer failed and the money could not be given back: it is held until an operator releases it.
    RefundRefused {
        reason: String,
    },
    /// An operator ordered the held money paid to `to`.
    ReleaseOrdered {
        to: AccountId,
        ordered_by: Principal,
    },
    /// The held money arrived in the account the operator named.
    Released,
    /// That account refused it: the money is held again.
    ReleaseRefused {
        reason: String,
    },
    /// The transfer's deadline passed before it completed or failed (it goes on: nothing is compensated; an
    /// operator looks at it).
    TransferOverdue,
}

impl DomainEvent for TransferEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::TransferRequested { .. } => "TransferRequested",
            Self::SourceDebited => "SourceDebited",
            Self::TransferOverdue => "TransferOverdue",
            Self::DebitRefused { .. } => "DebitRefused",
            Self::DestinationCredited => "DestinationCredited",
            Self::CreditRefused { .. } => "CreditRefused",
            Self::SourceRefunded => "SourceRefunded",
            Self::RefundRefused { .. } => "RefundRefused",
            Self::ReleaseOrdered { .. } => "ReleaseOrdered",
            Self::Released => "Released",
            Self::ReleaseRefused { .. } => "ReleaseRefused",
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
    /// The source's holder (sealed), for the destination's statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_holder: Option<Personal>,
    /// The standing order whose occurrence this is, if it is one: a debit it cannot cover is recorded on the
    /// source's statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standing_order: Option<String>,
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
        /// The step that failed it: the debit (no money moved) or the credit (the money came back to the source).
        at: Step,
    },
    /// The money left the source and could not be given back: held, in no account, until an operator releases it.
    /// `releases`: how many releases were ordered so far (each is an order of its own).
    Held {
        terms: TransferTerms,
        reason: String,
        releases: u32,
    },
    /// An operator ordered the held money paid to `to`; waiting for that account's credit.
    Releasing {
        terms: TransferTerms,
        reason: String,
        releases: u32,
        release: Release,
    },
    /// The held money was paid to the account the operator named.
    Released {
        terms: TransferTerms,
        reason: String,
        release: Release,
    },
}

/// Where an operator sent a held transfer's money, and who did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub to: AccountId,
    pub ordered_by: Principal,
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
            | Self::Failed { terms, .. }
            | Self::Held { terms, .. }
            | Self::Releasing { terms, .. }
            | Self::Released { terms, .. } => Some(terms),
        }
    }

    /// `unrequested`, `pending`, `completed`, `failed` (nothing moved, or the money came back), `held` (the money
    /// is in no account until an operator releases it; also while a release is under way) or `released` (an
    /// operator paid it out).
    pub fn status(&self) -> &'static str {
        match self {
            Self::Unrequested => "unrequested",
            Self::Requested { .. } | Self::Debited { .. } | Self::Refunding { .. } => "pending",
            Self::Completed { .. } => "completed",
            Self::Failed { .. } => "failed",
            Self::Held { .. } | Self::Releasing { .. } => "held",
            Self::Released { .. } => "released",
        }
    }

    /// The money of this transfer that is in no account: held after a refused refund (until it is released).
    pub fn held(&self) -> u64 {
        match self {
            Self::Held { terms, .. } | Self::Releasing { terms, .. } => terms.amount.minor_units(),
            _ => 0,
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
    #[error("the destination account does not exist")]
    DestinationNotFound,
    #[error("the destination account is closed")]
    DestinationClosed,
    #[error("the destination account holds {}, not {}", destination.code(), currency.code())]
    CurrencyMismatch {
        /// The transfer's (the source's) currency.
        currency: Currency,
        destination: Currency,
    },
    #[error("only a held transfer's money can be released")]
    NotHeld,
}

/// The transfer Decider.
pub struct Transfer;

impl Decider for Transfer {
    type State = TransferState;
    type Command = TransferCommand;
    type Event = TransferEvent;
    type Rejection = TransferRejection;
    /// 2: held transfers have a state of their own (`Held`, `Releasing`, `Released`).
    const STATE_SHAPE: u32 = 2;

    fn initial() -> TransferState {
        TransferState::Unrequested
    }

    /// A transfer is requested by the caller it names as its requester (whose ownership of the source the debit
    /// checks), released by the operator it names (the edge lets only operators send a release); only the transfer
    /// process records its steps.
    fn may_command(_state: &TransferState, actor: &str, command: &TransferCommand) -> bool {
        match command {
            TransferCommand::Request { requested_by, .. } => requested_by.as_str() == actor,
            TransferCommand::Release { ordered_by, .. } => ordered_by.as_str() == actor,
            _ => actor == TRANSFER_PROCESS,
        }
    }

    fn rejection_code(rejection: &TransferRejection) -> &'static str {
        match rejection {
            TransferRejection::SameAccount => "same-account",
            TransferRejection::AlreadyRequested => "transfer-already-exists",
            TransferRejection::NotRequested => "transfer-not-found",
            TransferRejection::OutOfOrder => "out-of-order",
            TransferRejection::DestinationNotFound => "destination-not-found",
            TransferRejection::DestinationClosed => "destination-closed",
            TransferRejection::CurrencyMismatch { .. } => "currency-mismatch",
            TransferRejection::NotHeld => "transfer-not-held",
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
                    from_holder,
                    standing_order,
                },
            ) => S::Requested {
                terms: TransferTerms {
                    from: *from,
                    to: *to,
                    amount: *amount,
                    currency: *currency,
                    requested_by: requested_by.clone(),
                    from_holder: from_holder.clone(),
                    standing_order: standing_order.clone(),
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
            (S::Refunding { terms, reason }, E::RefundRefused { reason: refused }) => S::Held {
                terms,
                reason: format!("{reason}; the refund was refused: {refused}"),
                releases: 0,
            },
            (
                S::Held {
                    terms,
                    reason,
                    releases,
                },
                E::ReleaseOrdered { to, ordered_by },
            ) => S::Releasing {
                terms,
                reason,
                releases: releases + 1,
                release: Release {
                    to: *to,
                    ordered_by: ordered_by.clone(),
                },
            },
            (
                S::Releasing {
                    terms,
                    reason,
                    release,
                    ..
                },
                E::Released,
            ) => S::Released {
                terms,
                reason,
                release,
            },
            (
                S::Releasing {
                    terms,
                    reason,
                    releases,
                    release,
                },
                E::ReleaseRefused { reason: refused },
            ) => S::Held {
                terms,
                reason: format!(
                    "{reason}; the release to {} was refused: {refused}",
                    release.to
                ),
                releases,
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
                    destination,
                    from_holder,
                    standing_order,
                },
            ) => {
                if from == to {
                    return Err(R::SameAccount);
                }
                destination.accepts(*currency)?;
                E::TransferRequested {
                    from: *from,
                    to: *to,
                    amount: *amount,
                    currency: *currency,
                    requested_by: requested_by.clone(),
                    from_holder: from_holder.clone(),
                    standing_order: standing_order.clone(),
                }
            }
            (_, C::Request { .. }) => return Err(R::AlreadyRequested),
            (S::Unrequested, _) => return Err(R::NotRequested),
            (
                S::Held { terms, .. },
                C::Release {
                    to,
                    destination,
                    ordered_by,
                },
            ) => {
                destination.accepts(terms.currency)?;
                E::ReleaseOrdered {
                    to: *to,
                    ordered_by: ordered_by.clone(),
                }
            }
            (_, C::Release { .. }) => return Err(R::NotHeld),
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
            (S::Releasing { .. }, C::RecordReleased) => E::Released,
            (S::Releasing { .. }, C::RecordReleaseRefused { reason }) => E::ReleaseRefused {
                reason: reason.clone(),
            },
            // Finished (completed, failed, or released): the deadline has nothing to say.
            (S::Completed { .. } | S::Failed { .. } | S::Released { .. }, C::MarkOverdue) => {
                return Ok(Vec::new())
            }
            (_, C::MarkOverdue) => E::TransferOverdue,
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
        S::Refunding { .. } | S::Completed { .. } => matches!(step, Step::Debit | Step::Credit),
        S::Failed { at, .. } => match at {
            Step::Debit => step == Step::Debit,
            _ => step != Step::Release,
        },
        // Held again after a refused release: that release's record is past too.
        S::Held { releases, .. } => step != Step::Release || *releases > 0,
        S::Releasing { .. } => step != Step::Release,
        S::Released { .. } => true,
    };
    match command {
        C::Request { .. } | C::Release { .. } | C::MarkOverdue => false,
        C::RecordDebited | C::RecordDebitRefused { .. } => past(Step::Debit),
        C::RecordCredited | C::RecordCreditRefused { .. } => past(Step::Credit),
        C::RecordRefunded | C::RecordRefundRefused { .. } => past(Step::Refund),
        C::RecordReleased | C::RecordReleaseRefused { .. } => past(Step::Release),
    }
}
