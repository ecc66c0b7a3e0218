//! The bank's read models, as pure folds over recorded events ([`tributary_core::Projection`]): the account
//! summary, the statement (one line per money movement), the accounts of an owner, and transfers. Where each item
//! lives is decided here; `tributary-projections` stores, guards, catches up and rebuilds them. No I/O.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | account summary (checkpoint) | `account#<id>` | `summary` |
//! | statement checkpoint | `statement#<id>` | `~checkpoint` |
//! | statement line (row) | `statement#<id>` | `line#<version, 20 digits>` |
//!
//! The statement has two versions: [`Statements`] (version 1) and [`StatementsV2`], whose lines and checkpoint also
//! carry `transfers`, the running count of transfer movements on the account. The kit keeps version 2's items under
//! `statement-v2/` before these partition keys; which version the query side serves is its catalog's choice.
//! | owner listing checkpoint | `owner-of#<id>` | `checkpoint` |
//! | account of an owner (row) | `owner#<owner>` | `account#<id>` |
//! | transfer checkpoint | `transfer#<id>` | `~checkpoint` |
//! | transfer view (row) | `transfer#<id>` | `view` |

use crate::account::Step;
use crate::account::{AccountEvent, AccountState};
use crate::transfer::{Transfer, TransferEvent, TransferState};
use crate::values::{AccountId, Amount, TransferId};
use serde::{Deserialize, Serialize};
use tributary_core::{Decider, ItemKey, Personal, Projection, RecordedEvent, Row};

/// The account summary: one checkpoint item per account, read by `GET /accounts/{id}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountSummaries;

/// The statement: a checkpoint and one row per money movement, read by `GET /accounts/{id}/statement`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Statements;

/// The statement, version 2: version 1's lines and checkpoint, each also carrying `transfers` (how many transfer
/// movements the account has had up to it). Built beside version 1 from the event store, then promoted.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatementsV2;

/// The accounts of an owner: one row per account under the owner's partition, read by `GET /accounts`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountsByOwner;

/// Transfers: the view of each transfer, read by `GET /transfers/{id}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Transfers;

/// Key of an account's summary.
pub fn summary_key(account_id: &str) -> ItemKey {
    ItemKey::new(format!("account#{account_id}"), "summary")
}

/// Partition of an account's statement (checkpoint and lines).
pub fn statement_partition(account_id: &str) -> String {
    format!("statement#{account_id}")
}

/// Sort key of the statement line of the event at `version`.
pub fn statement_line_sk(version: u64) -> String {
    format!("line#{version:020}")
}

/// Partition of an owner's listing.
pub fn owner_partition(owner: &str) -> String {
    format!("owner#{owner}")
}

/// Sort key of an account in its owner's listing.
pub fn owner_entry_sk(account_id: &str) -> String {
    format!("account#{account_id}")
}

/// Key of a transfer's view.
pub fn transfer_view_key(transfer_id: &str) -> ItemKey {
    ItemKey::new(format!("transfer#{transfer_id}"), "view")
}

fn occurred_at<E>(event: &RecordedEvent<E>) -> String {
    event.metadata.occurred_at.to_rfc3339()
}

impl Projection for AccountSummaries {
    type Event = AccountEvent;
    type State = AccountSummary;

    fn name(&self) -> &'static str {
        "account-summary"
    }
    fn entity<'s>(&self, stream_id: &'s str) -> Option<&'s str> {
        AccountId::of_stream(stream_id)
    }
    fn checkpoint_key(&self, account_id: &str) -> ItemKey {
        summary_key(account_id)
    }
    fn step(
        &self,
        account_id: &str,
        state: Option<AccountSummary>,
        event: &RecordedEvent<AccountEvent>,
        _rows: &mut Vec<Row>,
    ) -> Option<AccountSummary> {
        AccountSummary::evolve(
            state,
            account_id,
            event.version,
            &occurred_at(event),
            &event.event,
        )
    }
}

impl Projection for AccountsByOwner {
    type Event = AccountEvent;
    type State = AccountSummary;

    fn name(&self) -> &'static str {
        "accounts-by-owner"
    }
    fn entity<'s>(&self, stream_id: &'s str) -> Option<&'s str> {
        AccountId::of_stream(stream_id)
    }
    fn checkpoint_key(&self, account_id: &str) -> ItemKey {
        // Not `owner`: that sort key held the owner pointer (a bare string) of an earlier layout.
        ItemKey::new(format!("owner-of#{account_id}"), "checkpoint")
    }
    fn step(
        &self,
        account_id: &str,
        state: Option<AccountSummary>,
        event: &RecordedEvent<AccountEvent>,
        rows: &mut Vec<Row>,
    ) -> Option<AccountSummary> {
        let next = AccountSummaries.step(account_id, state, event, rows)?;
        rows.push(Row::new(
            ItemKey::new(owner_partition(&next.owner), owner_entry_sk(account_id)),
            &next,
        ));
        Some(next)
    }
}

impl Projection for Statements {
    type Event = AccountEvent;
    type State = StatementCheckpoint;

    fn name(&self) -> &'static str {
        "statement"
    }
    fn entity<'s>(&self, stream_id: &'s str) -> Option<&'s str> {
        AccountId::of_stream(stream_id)
    }
    fn checkpoint_key(&self, account_id: &str) -> ItemKey {
        ItemKey::new(statement_partition(account_id), "~checkpoint")
    }
    fn step(
        &self,
        account_id: &str,
        state: Option<StatementCheckpoint>,
        event: &RecordedEvent<AccountEvent>,
        rows: &mut Vec<Row>,
    ) -> Option<StatementCheckpoint> {
        if state.is_none() && !matches!(event.event, AccountEvent::AccountOpened { .. }) {
            return None;
        }
        let (line, next) = statement_step(
            state.unwrap_or_default(),
            event.version,
            &occurred_at(event),
            &event.event,
        );
        rows.extend(line.map(|line| statement_row(account_id, &line)));
        Some(next)
    }
}

fn statement_row(account_id: &str, line: &StatementLine) -> Row {
    Row::new(
        ItemKey::new(
            statement_partition(account_id),
            statement_line_sk(line.version),
        ),
        line,
    )
}

impl Projection for StatementsV2 {
    type Event = AccountEvent;
    type State = StatementCheckpoint;

    fn name(&self) -> &'static str {
        Statements.name()
    }
    fn version(&self) -> u32 {
        2
    }
    fn entity<'s>(&self, stream_id: &'s str) -> Option<&'s str> {
        Statements.entity(stream_id)
    }
    fn checkpoint_key(&self, account_id: &str) -> ItemKey {
        Statements.checkpoint_key(account_id)
    }
    fn step(
        &self,
        account_id: &str,
        state: Option<StatementCheckpoint>,
        event: &RecordedEvent<AccountEvent>,
        rows: &mut Vec<Row>,
    ) -> Option<StatementCheckpoint> {
        if state.is_none() && !matches!(event.event, AccountEvent::AccountOpened { .. }) {
            return None;
        }
        let before = state.unwrap_or_default();
        let transfers = before.transfers.unwrap_or(0);
        let (line, mut next) =
            statement_step(before, event.version, &occurred_at(event), &event.event);
        let transfers =
            transfers + u64::from(line.as_ref().is_some_and(|l| l.transfer_id.is_some()));
        next.transfers = Some(transfers);
        rows.extend(line.map(|line| {
            statement_row(
                account_id,
                &StatementLine {
                    transfers: Some(transfers),
                    ..line
                },
            )
        }));
        Some(next)
    }
}

/// A transfer as `GET /transfers/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferView {
    pub transfer_id: String,
    pub from: String,
    pub to: String,
    /// Minor units.
    pub amount: u64,
    pub currency: String,
    pub requested_by: String,
    /// `pending`, `completed`, `failed` (nothing moved, or the money came back), `held` (the money left the source and
    /// could not be given back: in no account until an operator releases it) or `released` (an operator paid it to
    /// `released_to`).
    pub status: String,
    /// Why it failed (`insufficient-funds`, `account-closed`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Which step failed it: `debit` (no money moved), `credit` (the money went back to the source) or `refund`
    /// (the money was held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<String>,
    /// The account an operator ordered the held money paid to (the latest order), and who ordered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<String>,
    /// Its deadline passed before it completed or failed (`TransferOverdue`; it goes on as before).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overdue: bool,
    pub version: u64,
    pub updated_at: String,
}

/// The transfers read model's checkpoint: the transfer's state, and whether its deadline passed (a checkpoint
/// written before deadlines existed reads as not overdue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferFold {
    #[serde(flatten)]
    pub state: TransferState,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overdue: bool,
}

impl TransferView {
    /// The view of a transfer in `state` after `version` events; `None` before it was requested.
    pub fn of(
        transfer_id: &str,
        state: &TransferState,
        version: u64,
        updated_at: &str,
    ) -> Option<Self> {
        let terms = state.terms()?;
        let (reason, failed_at, release) = match state {
            TransferState::Failed { reason, at, .. } => {
                (Some(reason.clone()), Some(at.name().to_owned()), None)
            }
            TransferState::Held { reason, .. } => (
                Some(reason.clone()),
                Some(Step::Refund.name().to_owned()),
                None,
            ),
            TransferState::Releasing {
                reason, release, ..
            }
            | TransferState::Released {
                reason, release, ..
            } => (
                Some(reason.clone()),
                Some(Step::Refund.name().to_owned()),
                Some(release),
            ),
            _ => (None, None, None),
        };
        Some(Self {
            transfer_id: transfer_id.to_owned(),
            from: terms.from.to_string(),
            to: terms.to.to_string(),
            amount: terms.amount.minor_units(),
            currency: terms.currency.code().to_owned(),
            requested_by: terms.requested_by.as_str().to_owned(),
            status: state.status().to_owned(),
            reason,
            failed_at,
            released_to: release.map(|r| r.to.to_string()),
            released_by: release.map(|r| r.ordered_by.as_str().to_owned()),
            overdue: false,
            version,
            updated_at: updated_at.to_owned(),
        })
    }
}

impl Projection for Transfers {
    type Event = TransferEvent;
    type State = TransferFold;

    fn name(&self) -> &'static str {
        "transfers"
    }
    fn entity<'s>(&self, stream_id: &'s str) -> Option<&'s str> {
        TransferId::of_stream(stream_id)
    }
    fn checkpoint_key(&self, transfer_id: &str) -> ItemKey {
        ItemKey::new(format!("transfer#{transfer_id}"), "~checkpoint")
    }
    fn step(
        &self,
        transfer_id: &str,
        state: Option<TransferFold>,
        event: &RecordedEvent<TransferEvent>,
        rows: &mut Vec<Row>,
    ) -> Option<TransferFold> {
        let (before, overdue) =
            state.map_or((Transfer::initial(), false), |f| (f.state, f.overdue));
        let requested = matches!(event.event, TransferEvent::TransferRequested { .. });
        if (before == TransferState::Unrequested) != requested {
            return None;
        }
        let next = Transfer::evolve(before, &event.event);
        let overdue = overdue || matches!(event.event, TransferEvent::TransferOverdue);
        let view = TransferView {
            overdue,
            ..TransferView::of(transfer_id, &next, event.version, &occurred_at(event))?
        };
        rows.push(Row::new(transfer_view_key(transfer_id), &view));
        Some(TransferFold {
            state: next,
            overdue,
        })
    }
}

/// The summary of an account after `version` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSummary {
    pub account_id: String,
    /// The principal the account belongs to (the query side answers others 404).
    pub owner: String,
    pub currency: String,
    /// Minor units.
    pub balance: u64,
    /// `open` or `closed`.
    pub status: String,
    pub version: u64,
    /// When the last applied event happened (RFC 3339).
    pub updated_at: String,
    /// The holder's name: sealed in the row, shown opened (or `null` once the owner was forgotten) by the query API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<Personal>,
}

impl AccountSummary {
    /// The summary of an account in `state` right after its event `version` (which happened at `occurred_at`): what
    /// folding the summary over the same events gives (a test says so), from the aggregate's state instead — so a
    /// past version can be read from the nearest snapshot. `None` before the account was opened.
    pub fn of_account(
        account_id: &str,
        state: &AccountState,
        version: u64,
        occurred_at: &str,
    ) -> Option<Self> {
        let (owner, currency, balance, status, holder) = match state {
            AccountState::Unopened => return None,
            AccountState::Open {
                owner,
                currency,
                balance,
                holder,
            } => (owner, currency, *balance, "open", holder),
            AccountState::Closed {
                owner,
                currency,
                holder,
            } => (owner, currency, 0, "closed", holder),
        };
        Some(Self {
            account_id: account_id.to_owned(),
            owner: owner.as_str().to_owned(),
            currency: currency.code().to_owned(),
            balance,
            status: status.to_owned(),
            version,
            updated_at: occurred_at.to_owned(),
            holder: holder.clone(),
        })
    }

    /// Apply the event at `version` (the caller guarantees `version == self.version + 1`, or 1 for `None`).
    pub fn evolve(
        state: Option<Self>,
        account_id: &str,
        version: u64,
        occurred_at: &str,
        event: &AccountEvent,
    ) -> Option<Self> {
        let mut next = match (state, event) {
            (
                None,
                AccountEvent::AccountOpened {
                    owner,
                    currency,
                    holder,
                },
            ) => Self {
                account_id: account_id.to_owned(),
                owner: owner.as_str().to_owned(),
                currency: currency.code().to_owned(),
                balance: 0,
                status: "open".into(),
                version,
                updated_at: occurred_at.to_owned(),
                holder: holder.clone(),
            },
            (None, _) => return None,
            (
                Some(mut s),
                AccountEvent::MoneyDeposited { amount, .. }
                | AccountEvent::TransferReceived { amount, .. }
                | AccountEvent::TransferRefunded { amount, .. },
            ) => {
                s.balance = s.balance.saturating_add(amount.minor_units());
                s
            }
            (
                Some(mut s),
                AccountEvent::MoneyWithdrawn { amount } | AccountEvent::TransferSent { amount, .. },
            ) => {
                s.balance = s.balance.saturating_sub(amount.minor_units());
                s
            }
            (
                Some(s),
                AccountEvent::TransferOrderRefused { .. }
                | AccountEvent::StandingOrderRefused { .. },
            ) => s,
            (Some(mut s), AccountEvent::AccountClosed) => {
                s.status = "closed".into();
                s
            }
            (Some(s), AccountEvent::AccountOpened { .. }) => s,
        };
        next.version = version;
        next.updated_at = occurred_at.to_owned();
        Some(next)
    }
}

/// One money movement on a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    /// The event's version in the account's stream (lines are ordered by it).
    pub version: u64,
    /// `deposit`, `withdrawal`, `transfer-out`, `transfer-in`, `transfer-refund`, or `standing-order-refused` (a
    /// standing order's payment the balance could not cover: nothing moved).
    pub kind: String,
    /// Minor units, always positive.
    pub amount: u64,
    /// Balance after the movement, minor units.
    pub balance_after: u64,
    pub occurred_at: String,
    /// The transfer a `transfer-*` line belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
    /// The other account of a `transfer-out` (where the money went) or `transfer-in` line (where it came from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<String>,
    /// Transfer movements on the account up to and including this line (statement version 2 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfers: Option<u64>,
    /// The holder of the account a `transfer-in` line came from (sealed in the row; opened, or `null` once that
    /// holder was forgotten, by the query API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty_holder: Option<Personal>,
}

/// The statement's running state: the last applied version, the balance then, and whose account it is (so the
/// query side can check ownership from the statement alone).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatementCheckpoint {
    pub version: u64,
    pub balance: u64,
    #[serde(default)]
    pub owner: String,
    /// Transfer movements so far (statement version 2 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfers: Option<u64>,
}

/// The lines the event at `version` adds (none for opening or closing), and the checkpoint after it.
pub fn statement_step(
    checkpoint: StatementCheckpoint,
    version: u64,
    occurred_at: &str,
    event: &AccountEvent,
) -> (Option<StatementLine>, StatementCheckpoint) {
    let into = |amount: &Amount| checkpoint.balance.saturating_add(amount.minor_units());
    let out_of = |amount: &Amount| checkpoint.balance.saturating_sub(amount.minor_units());
    let (kind, amount, balance, transfer, counterparty) = match event {
        AccountEvent::MoneyDeposited { amount, .. } => {
            ("deposit", amount, into(amount), None, None)
        }
        AccountEvent::MoneyWithdrawn { amount } => {
            ("withdrawal", amount, out_of(amount), None, None)
        }
        AccountEvent::TransferSent {
            transfer_id,
            to,
            amount,
        } => (
            "transfer-out",
            amount,
            out_of(amount),
            Some(transfer_id),
            Some(to),
        ),
        AccountEvent::TransferReceived {
            transfer_id,
            from,
            amount,
            ..
        } => (
            "transfer-in",
            amount,
            into(amount),
            Some(transfer_id),
            Some(from),
        ),
        // Nothing moved: the line shows what was asked, and the balance as it stayed.
        AccountEvent::StandingOrderRefused {
            transfer_id,
            to,
            amount,
            ..
        } => (
            "standing-order-refused",
            amount,
            checkpoint.balance,
            Some(transfer_id),
            Some(to),
        ),
        AccountEvent::TransferRefunded {
            transfer_id,
            amount,
        } => (
            "transfer-refund",
            amount,
            into(amount),
            Some(transfer_id),
            None,
        ),
        AccountEvent::AccountOpened { owner, .. } => {
            return (
                None,
                StatementCheckpoint {
                    version,
                    owner: owner.as_str().to_owned(),
                    ..checkpoint
                },
            );
        }
        AccountEvent::AccountClosed | AccountEvent::TransferOrderRefused { .. } => {
            return (
                None,
                StatementCheckpoint {
                    version,
                    ..checkpoint
                },
            );
        }
    };
    let line = StatementLine {
        version,
        kind: kind.into(),
        amount: amount.minor_units(),
        balance_after: balance,
        occurred_at: occurred_at.to_owned(),
        transfer_id: transfer.map(ToString::to_string),
        counterparty: counterparty.map(ToString::to_string),
        transfers: None,
        counterparty_holder: match event {
            AccountEvent::TransferReceived { from_holder, .. } => from_holder.clone(),
            _ => None,
        },
    };
    (
        Some(line),
        StatementCheckpoint {
            version,
            balance,
            ..checkpoint
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{Amount, Currency, Principal};

    fn events() -> Vec<AccountEvent> {
        vec![
            AccountEvent::AccountOpened {
                owner: Principal::parse("ann").unwrap(),
                currency: Currency::parse("EUR").unwrap(),
                holder: None,
            },
            AccountEvent::MoneyDeposited {
                amount: Amount::new(1000).unwrap(),
                deposited_by: Principal::parse("ann").unwrap(),
            },
            AccountEvent::MoneyWithdrawn {
                amount: Amount::new(250).unwrap(),
            },
            AccountEvent::MoneyWithdrawn {
                amount: Amount::new(750).unwrap(),
            },
            AccountEvent::AccountClosed,
        ]
    }

    proptest::proptest! {
        /// The summary from the aggregate's state (a read of the past from a snapshot) is the summary's own fold,
        /// after every event of any history the account can have.
        #[test]
        fn the_summary_of_an_accounts_state_is_its_fold(amounts in proptest::collection::vec((0u8..4, 1u64..500), 0..40)) {
            use crate::account::{Account, AccountCommand};
            use tributary_core::Decider;
            let ann = Principal::parse("ann").unwrap();
            let mut state = Account::initial();
            let mut summary = None;
            let commands = std::iter::once(AccountCommand::Open { owner: ann.clone(), currency: Currency::parse("EUR").unwrap(), holder: None })
                .chain(amounts.iter().map(|(kind, n)| {
                    let amount = Amount::new(*n).unwrap();
                    match kind {
                        0 | 1 => AccountCommand::Deposit { amount, by: ann.clone() },
                        2 => AccountCommand::Withdraw { amount },
                        _ => AccountCommand::Close,
                    }
                }));
            let mut version = 0;
            for command in commands {
                let Ok(events) = Account::decide(&state, &command) else { continue };
                for event in events {
                    version += 1;
                    state = Account::evolve(state, &event);
                    summary = AccountSummary::evolve(summary, "a-1", version, "t", &event);
                    proptest::prop_assert_eq!(&AccountSummary::of_account("a-1", &state, version, "t"), &summary);
                }
            }
        }
    }

    #[test]
    fn the_summary_follows_the_account() {
        let summary = events().iter().enumerate().fold(None, |s, (i, e)| {
            AccountSummary::evolve(s, "a-1", i as u64 + 1, "2026-11-27T10:00:00Z", e)
        });
        let s = summary.unwrap();
        assert_eq!(
            (s.balance, s.status.as_str(), s.version, s.owner.as_str()),
            (0, "closed", 5, "ann")
        );
    }

    #[test]
    fn the_statement_has_one_line_per_movement_with_running_balance() {
        let mut checkpoint = StatementCheckpoint::default();
        let mut lines = Vec::new();
        for (i, e) in events().iter().enumerate() {
            let (line, next) = statement_step(checkpoint, i as u64 + 1, "t", e);
            lines.extend(line);
            checkpoint = next;
        }
        let got: Vec<_> = lines
            .iter()
            .map(|l| (l.version, l.kind.as_str(), l.amount, l.balance_after))
            .collect();
        assert_eq!(
            got,
            [
                (2, "deposit", 1000, 1000),
                (3, "withdrawal", 250, 750),
                (4, "withdrawal", 750, 0)
            ]
        );
        assert_eq!(
            checkpoint,
            StatementCheckpoint {
                version: 5,
                balance: 0,
                owner: "ann".into(),
                transfers: None,
            }
        );
    }

    /// `events` as recorded in stream `stream`, versions 1, 2, ...
    fn recorded<E: Clone>(stream: &str, events: &[E]) -> Vec<RecordedEvent<E>> {
        events
            .iter()
            .enumerate()
            .map(|(i, event)| RecordedEvent {
                stream_id: stream.to_owned(),
                version: i as u64 + 1,
                event_type: "any".into(),
                schema_version: 1,
                event: event.clone(),
                metadata: tributary_core::EventMetadata {
                    event_id: uuid::Uuid::nil(),
                    command_id: uuid::Uuid::nil(),
                    correlation_id: String::new(),
                    causation_id: String::new(),
                    occurred_at: chrono::DateTime::UNIX_EPOCH,
                    actor: "ann".into(),
                    idempotency_key: None,
                    request_fingerprint: None,
                    traceparent: None,
                },
            })
            .collect()
    }

    /// Fold `events` with `projection` as the infrastructure does: the state and every row, in order.
    fn fold<P: Projection>(
        projection: &P,
        entity: &str,
        events: &[RecordedEvent<P::Event>],
    ) -> Option<(P::State, Vec<Row>)> {
        let mut state = None;
        let mut rows = Vec::new();
        for event in events {
            state = Some(projection.step(entity, state, event, &mut rows)?);
        }
        state.map(|s| (s, rows))
    }

    proptest::proptest! {
        /// Version 2 of the statement is version 1 plus the running count of transfer movements: the same items,
        /// the same lines, each line and the checkpoint carrying how many transfer lines there are up to it.
        #[test]
        fn statement_v2_is_v1_with_a_running_transfer_count(kinds in proptest::collection::vec(0u8..5, 0..30)) {
            let ann = Principal::parse("ann").unwrap();
            let amount = Amount::new(10).unwrap();
            let events: Vec<AccountEvent> = std::iter::once(AccountEvent::AccountOpened {
                owner: ann.clone(),
                currency: Currency::parse("EUR").unwrap(),
                holder: None,
            })
            .chain(kinds.iter().map(|kind| match kind {
                0 => AccountEvent::MoneyDeposited { amount, deposited_by: ann.clone() },
                1 => AccountEvent::MoneyWithdrawn { amount },
                2 => AccountEvent::TransferSent { transfer_id: TransferId::random(), to: AccountId::random(), amount },
                3 => AccountEvent::TransferReceived { transfer_id: TransferId::random(), from: AccountId::random(), amount, from_holder: None },
                _ => AccountEvent::TransferRefunded { transfer_id: TransferId::random(), amount },
            }))
            .collect();
            let history = recorded("account-a-1", &events);
            let (v1, v1_rows) = fold(&Statements, "a-1", &history).unwrap();
            let (v2, v2_rows) = fold(&StatementsV2, "a-1", &history).unwrap();
            let transfers = kinds.iter().filter(|k| **k >= 2).count() as u64;
            proptest::prop_assert_eq!(&v2, &StatementCheckpoint { transfers: Some(transfers), ..v1 });
            proptest::prop_assert_eq!(v1_rows.len(), v2_rows.len());
            let mut so_far = 0;
            for (one, two) in v1_rows.iter().zip(&v2_rows) {
                let mut line: StatementLine = serde_json::from_value(one.data.clone()).unwrap();
                so_far += u64::from(line.kind.starts_with("transfer-"));
                line.transfers = Some(so_far);
                proptest::prop_assert_eq!(&one.key, &two.key);
                proptest::prop_assert_eq!(serde_json::to_value(&line).unwrap(), two.data.clone());
            }
            proptest::prop_assert_eq!((StatementsV2.name(), StatementsV2.version()), ("statement", 2));
        }
    }

    #[test]
    fn the_account_read_models_read_account_streams_only() {
        let account = "7e3a27e3-0706-5af8-a594-8f1b359d1f44";
        for stream in [format!("account-{account}"), format!("transfer-{account}")] {
            let reads = [
                AccountSummaries.entity(&stream),
                Statements.entity(&stream),
                AccountsByOwner.entity(&stream),
            ];
            let transfers = Transfers.entity(&stream);
            if stream.starts_with("account-") {
                assert_eq!((reads, transfers), ([Some(account); 3], None));
            } else {
                assert_eq!((reads, transfers), ([None; 3], Some(account)));
            }
        }
    }

    #[test]
    fn the_owner_listing_keeps_one_row_per_account_in_its_owners_partition() {
        let (summary, rows) =
            fold(&AccountsByOwner, "a-1", &recorded("account-a-1", &events())).unwrap();
        assert_eq!((summary.balance, summary.status.as_str()), (0, "closed"));
        // One row per event, all the same item: the store writes the last.
        assert!(rows
            .iter()
            .all(|r| r.key == ItemKey::new("owner#ann", "account#a-1")));
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[4].data, serde_json::to_value(&summary).unwrap());
        // A stream that does not start with the opening does not fold.
        assert!(fold(
            &AccountsByOwner,
            "a-1",
            &recorded("account-a-1", &events()[1..])
        )
        .is_none());
        assert!(fold(&Statements, "a-1", &recorded("account-a-1", &events()[1..])).is_none());
    }

    #[test]
    fn a_transfers_view_follows_its_process() {
        let (from, to) = (AccountId::random(), AccountId::random());
        let requested = TransferEvent::TransferRequested {
            from,
            to,
            amount: Amount::new(250).unwrap(),
            currency: Currency::parse("EUR").unwrap(),
            requested_by: Principal::parse("ann").unwrap(),
            from_holder: None,
            standing_order: None,
        };
        let id = "t-1";
        let view = |events: &[TransferEvent]| {
            let (state, rows) = fold(&Transfers, id, &recorded("transfer-t-1", events)).unwrap();
            let last = rows.last().unwrap();
            assert_eq!(last.key, transfer_view_key(id));
            let view: TransferView = serde_json::from_value(last.data.clone()).unwrap();
            assert_eq!(view.status, state.state.status());
            view
        };
        let pending = view(std::slice::from_ref(&requested));
        assert_eq!(
            (
                pending.status.as_str(),
                pending.amount,
                pending.from,
                pending.version
            ),
            ("pending", 250, from.to_string(), 1)
        );
        assert!(!pending.overdue);
        // Past its deadline: overdue, and still so once it completes.
        let late = view(&[
            requested.clone(),
            TransferEvent::SourceDebited,
            TransferEvent::TransferOverdue,
        ]);
        assert_eq!((late.status.as_str(), late.overdue), ("pending", true));
        let late_completed = view(&[
            requested.clone(),
            TransferEvent::SourceDebited,
            TransferEvent::TransferOverdue,
            TransferEvent::DestinationCredited,
        ]);
        assert_eq!(
            (late_completed.status.as_str(), late_completed.overdue),
            ("completed", true)
        );
        // A checkpoint written before deadlines existed (the bare state) still reads.
        let old: TransferFold = serde_json::from_value(
            serde_json::to_value(Transfer::evolve(Transfer::initial(), &requested)).unwrap(),
        )
        .unwrap();
        assert!(!old.overdue && old.state.status() == "pending");
        let completed = view(&[
            requested.clone(),
            TransferEvent::SourceDebited,
            TransferEvent::DestinationCredited,
        ]);
        assert_eq!(
            (
                completed.status.as_str(),
                completed.failed_at,
                completed.version
            ),
            ("completed", None, 3)
        );
        let refunded = view(&[
            requested.clone(),
            TransferEvent::SourceDebited,
            TransferEvent::CreditRefused {
                reason: "the destination refused the credit: account-closed".into(),
            },
            TransferEvent::SourceRefunded,
        ]);
        assert_eq!(
            (
                refunded.status.as_str(),
                refunded.failed_at.as_deref(),
                refunded.reason.as_deref()
            ),
            (
                "failed",
                Some("credit"),
                Some("the destination refused the credit: account-closed")
            )
        );
        // A transfer stream that does not start with its request does not fold; nor does a second request.
        assert!(fold(
            &Transfers,
            id,
            &recorded("transfer-t-1", &[TransferEvent::SourceDebited])
        )
        .is_none());
        assert!(fold(
            &Transfers,
            id,
            &recorded("transfer-t-1", &[requested.clone(), requested])
        )
        .is_none());
    }
}
