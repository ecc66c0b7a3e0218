//! Read models of accounts, as pure folds over recorded events: the account summary (also listed by owner) and the
//! statement (one line per money movement). The projection store persists them; nothing here does I/O.

use crate::account::AccountEvent;
use crate::values::Amount;
use serde::{Deserialize, Serialize};

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
}

impl AccountSummary {
    /// Apply the event at `version` (the caller guarantees `version == self.version + 1`, or 1 for `None`).
    pub fn evolve(
        state: Option<Self>,
        account_id: &str,
        version: u64,
        occurred_at: &str,
        event: &AccountEvent,
    ) -> Option<Self> {
        let mut next = match (state, event) {
            (None, AccountEvent::AccountOpened { owner, currency }) => Self {
                account_id: account_id.to_owned(),
                owner: owner.as_str().to_owned(),
                currency: currency.code().to_owned(),
                balance: 0,
                status: "open".into(),
                version,
                updated_at: occurred_at.to_owned(),
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
            (Some(s), AccountEvent::TransferOrderRefused { .. }) => s,
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
    /// `deposit`, `withdrawal`, `transfer-out`, `transfer-in` or `transfer-refund`.
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
}

/// The statement's running state: the last applied version, the balance then, and whose account it is (so the
/// query side can check ownership from the statement alone).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatementCheckpoint {
    pub version: u64,
    pub balance: u64,
    #[serde(default)]
    pub owner: String,
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
        } => (
            "transfer-in",
            amount,
            into(amount),
            Some(transfer_id),
            Some(from),
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
                owner: "ann".into()
            }
        );
    }
}
