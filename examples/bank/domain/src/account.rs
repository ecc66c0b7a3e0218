//! The account aggregate: its commands, events, state, rules and the Decider that ties them together.

use crate::values::{AccountId, Amount, Currency, HolderName, Principal, TransferId, MAX_BALANCE};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tributary_core::{Decider, DomainEvent, Personal, StoredShape};

/// What a caller may ask of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountCommand {
    /// Open an account owned by `owner`: the authenticated caller, never a value from the request body.
    Open {
        owner: Principal,
        currency: Currency,
        /// The account holder's name: personal data of the owner (stored sealed under their key, erasable).
        holder: Option<HolderName>,
    },
    /// A deposit by `by`: the authenticated caller, never a value from the request body.
    Deposit {
        amount: Amount,
        by: Principal,
    },
    Withdraw {
        amount: Amount,
    },
    Close,
    /// A transfer's debit: sent by the transfer process on behalf of the transfer's requester, who must own the
    /// account (the command loop checks it like any other command).
    SendTransfer {
        transfer_id: TransferId,
        to: AccountId,
        amount: Amount,
        /// The currency the transfer was asked in: refused unless it is the account's.
        currency: Currency,
        /// The standing order whose occurrence the transfer is: a debit the balance cannot cover is recorded
        /// ([`AccountEvent::StandingOrderRefused`], a line on the statement) rather than only refused.
        standing_order: Option<String>,
    },
    /// A transfer's credit, in the source account's currency: sent by the transfer process only (also to pay out a
    /// held transfer's money to the account an operator named).
    ReceiveTransfer {
        transfer_id: TransferId,
        from: AccountId,
        amount: Amount,
        currency: Currency,
        /// The source's holder, sealed as the source's events hold it (shown on this account's statement).
        from_holder: Option<Personal>,
    },
    /// A transfer's debit given back after its credit was refused: sent by the transfer process only.
    RefundTransfer {
        transfer_id: TransferId,
        amount: Amount,
    },
}

/// The principal the transfer process commands accounts as when it credits or refunds them. Only it may; the HTTP
/// edge refuses every caller whose principal starts with `system:` (`tributary_http::caller`), whatever its
/// identity provider says.
pub const TRANSFER_PROCESS: &str = "system:transfers";

/// What happened to an account. The serialised form is the stored and published payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum AccountEvent {
    /// `owner` is the principal the account belongs to (only they may command it).
    AccountOpened {
        owner: Principal,
        currency: Currency,
        /// The holder's name, the owner's personal data (absent before it was asked for, or when not given).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        holder: Option<Personal>,
    },
    /// `deposited_by`: who made the deposit. Since schema version 2; a version-1 payload (stored before) is
    /// upcast with the principal its metadata names as the actor.
    MoneyDeposited {
        amount: Amount,
        deposited_by: Principal,
    },
    MoneyWithdrawn {
        amount: Amount,
    },
    AccountClosed,
    /// Money left for `to` in transfer `transfer_id`.
    TransferSent {
        transfer_id: TransferId,
        to: AccountId,
        amount: Amount,
    },
    /// Money arrived from `from` in transfer `transfer_id`.
    TransferReceived {
        transfer_id: TransferId,
        from: AccountId,
        amount: Amount,
        /// The source's holder: personal data of the source's owner, sealed under their key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_holder: Option<Personal>,
    },
    /// A transfer's debit came back: its credit was refused.
    TransferRefunded {
        transfer_id: TransferId,
        amount: Amount,
    },
    /// The account refused a transfer's order by its rules (`code`). Nothing moved. Written by earlier builds only
    /// (and still read): a refusal is now remembered by the order's receipt, not on the account's stream — so a
    /// transfer that another principal requested leaves nothing on an account but money that arrives.
    TransferOrderRefused {
        transfer_id: TransferId,
        step: Step,
        code: String,
    },
    /// A standing order's transfer asked for more than the balance: nothing moved. On the statement, so the owner
    /// sees the payment that did not happen.
    StandingOrderRefused {
        transfer_id: TransferId,
        to: AccountId,
        amount: Amount,
        standing_order: String,
        code: String,
    },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::AccountOpened { .. } => "AccountOpened",
            Self::MoneyDeposited { .. } => "MoneyDeposited",
            Self::MoneyWithdrawn { .. } => "MoneyWithdrawn",
            Self::AccountClosed => "AccountClosed",
            Self::TransferSent { .. } => "TransferSent",
            Self::TransferReceived { .. } => "TransferReceived",
            Self::TransferRefunded { .. } => "TransferRefunded",
            Self::TransferOrderRefused { .. } => "TransferOrderRefused",
            Self::StandingOrderRefused { .. } => "StandingOrderRefused",
        }
    }

    fn current_schema_version(event_type: &str) -> u32 {
        match event_type {
            "MoneyDeposited" => 2,
            _ => 1,
        }
    }

    /// `MoneyDeposited` v1 -> v2: `deposited_by` is the actor of the command that made it.
    fn upcast(from: StoredShape<'_>, mut payload: Value) -> Result<Value, String> {
        match (from.event_type, from.schema_version) {
            ("MoneyDeposited", 1) => {
                let fields = payload
                    .as_object_mut()
                    .ok_or("a MoneyDeposited payload is an object")?;
                fields.insert("deposited_by".into(), from.metadata.actor.clone().into());
                Ok(payload)
            }
            (event_type, version) => Err(format!("{event_type} v{version} has no upcaster")),
        }
    }
}

/// An account's state as far as the rules need it (serialised into snapshots: bump `STATE_SHAPE` when it changes).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AccountState {
    /// No event yet: only `Open` is allowed.
    #[default]
    Unopened,
    Open {
        owner: Principal,
        currency: Currency,
        /// Minor units, never above [`MAX_BALANCE`].
        balance: u64,
        /// Sealed as stored (a decider never reads it): carried so that views can show it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        holder: Option<Personal>,
    },
    Closed {
        owner: Principal,
        currency: Currency,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        holder: Option<Personal>,
    },
}

impl AccountState {
    /// The balance in minor units (zero unless open).
    pub fn balance(&self) -> u64 {
        match self {
            Self::Open { balance, .. } => *balance,
            _ => 0,
        }
    }
}

/// Why an account refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountRejection {
    #[error("the account is already open")]
    AlreadyOpened,
    #[error("the account does not exist")]
    NotOpened,
    #[error("the account is closed")]
    Closed,
    #[error("insufficient funds: balance {balance}, requested {requested}")]
    InsufficientFunds { balance: u64, requested: u64 },
    #[error("the balance must be zero to close the account (balance {balance})")]
    BalanceNotZero { balance: u64 },
    #[error("the deposit would take the balance above {MAX_BALANCE} (balance {balance}, deposit {requested})")]
    BalanceLimitExceeded { balance: u64, requested: u64 },
    #[error("the account holds {}, not {}", account.code(), requested.code())]
    CurrencyMismatch {
        account: Currency,
        requested: Currency,
    },
}

/// The account Decider.
pub struct Account;

impl Decider for Account {
    type State = AccountState;
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Rejection = AccountRejection;

    fn initial() -> AccountState {
        AccountState::Unopened
    }

    /// Anyone may open an account; only its owner may command it after that (others are told it does not
    /// exist), except that only the transfer process may credit or refund it.
    fn may_command(state: &AccountState, actor: &str, command: &AccountCommand) -> bool {
        match (state, command) {
            (_, AccountCommand::ReceiveTransfer { .. } | AccountCommand::RefundTransfer { .. }) => {
                actor == TRANSFER_PROCESS
            }
            (AccountState::Unopened, _) => true,
            (AccountState::Open { owner, .. } | AccountState::Closed { owner, .. }, _) => {
                owner.as_str() == actor
            }
        }
    }

    fn rejection_code(rejection: &AccountRejection) -> &'static str {
        match rejection {
            AccountRejection::NotOpened => "account-not-found",
            AccountRejection::AlreadyOpened => "account-already-exists",
            AccountRejection::Closed => "account-closed",
            AccountRejection::InsufficientFunds { .. } => "insufficient-funds",
            AccountRejection::BalanceNotZero { .. } => "balance-not-zero",
            AccountRejection::BalanceLimitExceeded { .. } => "balance-limit-exceeded",
            AccountRejection::CurrencyMismatch { .. } => "currency-mismatch",
        }
    }

    fn evolve(state: AccountState, event: &AccountEvent) -> AccountState {
        use AccountEvent as E;
        use AccountState as S;
        match (state, event) {
            (
                S::Unopened,
                E::AccountOpened {
                    owner,
                    currency,
                    holder,
                },
            ) => S::Open {
                owner: owner.clone(),
                currency: *currency,
                balance: 0,
                holder: holder.clone(),
            },
            (
                S::Open {
                    owner,
                    currency,
                    balance,
                    holder,
                },
                E::MoneyDeposited { amount, .. }
                | E::TransferReceived { amount, .. }
                | E::TransferRefunded { amount, .. },
            ) => S::Open {
                owner,
                currency,
                balance: balance.saturating_add(amount.minor_units()),
                holder,
            },
            (
                S::Open {
                    owner,
                    currency,
                    balance,
                    holder,
                },
                E::MoneyWithdrawn { amount } | E::TransferSent { amount, .. },
            ) => S::Open {
                owner,
                currency,
                balance: balance.saturating_sub(amount.minor_units()),
                holder,
            },
            (
                S::Open {
                    owner,
                    currency,
                    holder,
                    ..
                },
                E::AccountClosed,
            ) => S::Closed {
                owner,
                currency,
                holder,
            },
            // `decide` never emits any other combination; ignoring it keeps the fold total.
            (state, _) => state,
        }
    }

    fn decide(
        state: &AccountState,
        command: &AccountCommand,
    ) -> Result<Vec<AccountEvent>, AccountRejection> {
        use AccountCommand as C;
        use AccountRejection as R;
        use AccountState as S;
        let event = match (state, command) {
            (
                S::Unopened,
                C::Open {
                    owner,
                    currency,
                    holder,
                },
            ) => AccountEvent::AccountOpened {
                owner: owner.clone(),
                currency: *currency,
                holder: holder
                    .as_ref()
                    .map(|name| Personal::new(owner.as_str(), name.as_str())),
            },
            (S::Unopened, _) => return Err(R::NotOpened),
            (S::Closed { .. }, C::Open { .. }) | (S::Open { .. }, C::Open { .. }) => {
                return Err(R::AlreadyOpened)
            }
            (S::Closed { .. }, _) => return Err(R::Closed),
            (S::Open { balance, .. }, C::Deposit { amount, by }) => {
                within_limit(*balance, *amount)?;
                AccountEvent::MoneyDeposited {
                    amount: *amount,
                    deposited_by: by.clone(),
                }
            }
            (S::Open { balance, .. }, C::Withdraw { amount }) => {
                covered(*balance, *amount)?;
                AccountEvent::MoneyWithdrawn { amount: *amount }
            }
            (
                S::Open {
                    balance,
                    currency: held,
                    ..
                },
                C::SendTransfer {
                    transfer_id,
                    to,
                    amount,
                    currency,
                    standing_order,
                },
            ) => {
                same_currency(*held, *currency)?;
                match (covered(*balance, *amount), standing_order) {
                    (Err(rejection), Some(standing_order)) => {
                        return Ok(vec![AccountEvent::StandingOrderRefused {
                            transfer_id: *transfer_id,
                            to: *to,
                            amount: *amount,
                            standing_order: standing_order.clone(),
                            code: Self::rejection_code(&rejection).to_owned(),
                        }])
                    }
                    (result, _) => result?,
                }
                AccountEvent::TransferSent {
                    transfer_id: *transfer_id,
                    to: *to,
                    amount: *amount,
                }
            }
            (
                S::Open {
                    balance,
                    currency: held,
                    ..
                },
                C::ReceiveTransfer {
                    transfer_id,
                    from,
                    amount,
                    currency,
                    from_holder,
                },
            ) => {
                same_currency(*held, *currency)?;
                within_limit(*balance, *amount)?;
                AccountEvent::TransferReceived {
                    transfer_id: *transfer_id,
                    from: *from,
                    amount: *amount,
                    from_holder: from_holder.clone(),
                }
            }
            (
                S::Open { balance, .. },
                C::RefundTransfer {
                    transfer_id,
                    amount,
                },
            ) => {
                within_limit(*balance, *amount)?;
                AccountEvent::TransferRefunded {
                    transfer_id: *transfer_id,
                    amount: *amount,
                }
            }
            (S::Open { balance, .. }, C::Close) => {
                if *balance != 0 {
                    return Err(R::BalanceNotZero { balance: *balance });
                }
                AccountEvent::AccountClosed
            }
        };
        Ok(vec![event])
    }
}

/// Money may come in only while the balance stays within [`MAX_BALANCE`].
fn within_limit(balance: u64, amount: Amount) -> Result<(), AccountRejection> {
    let requested = amount.minor_units();
    match balance.checked_add(requested) {
        Some(after) if after <= MAX_BALANCE => Ok(()),
        _ => Err(AccountRejection::BalanceLimitExceeded { balance, requested }),
    }
}

/// A transfer moves money of the account's own currency only.
fn same_currency(account: Currency, requested: Currency) -> Result<(), AccountRejection> {
    if account != requested {
        return Err(AccountRejection::CurrencyMismatch { account, requested });
    }
    Ok(())
}

/// Money may go out only if the balance covers it.
fn covered(balance: u64, amount: Amount) -> Result<(), AccountRejection> {
    if amount.minor_units() > balance {
        return Err(AccountRejection::InsufficientFunds {
            balance,
            requested: amount.minor_units(),
        });
    }
    Ok(())
}

/// The account commands a transfer is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Debit,
    Credit,
    Refund,
    /// Paying a held transfer's money to the account an operator named.
    Release,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Self::Debit => "debit",
            Self::Credit => "credit",
            Self::Refund => "refund",
            Self::Release => "release",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::MAX_AMOUNT;
    use proptest::prelude::*;
    use tributary_core::fold;
    use tributary_core::given::given;

    fn open() -> AccountCommand {
        AccountCommand::Open {
            owner: Principal::parse("alice").unwrap(),
            currency: Currency::parse("EUR").unwrap(),
            holder: None,
        }
    }
    fn deposit(n: u64) -> AccountCommand {
        AccountCommand::Deposit {
            amount: Amount::new(n).unwrap(),
            by: Principal::parse("alice").unwrap(),
        }
    }
    fn withdraw(n: u64) -> AccountCommand {
        AccountCommand::Withdraw {
            amount: Amount::new(n).unwrap(),
        }
    }

    /// Run commands in order; return the events of the accepted ones and every command's outcome.
    fn run(commands: &[AccountCommand]) -> (Vec<AccountEvent>, Vec<Result<(), AccountRejection>>) {
        let mut state = Account::initial();
        let mut history = Vec::new();
        let mut outcomes = Vec::new();
        for command in commands {
            match Account::decide(&state, command) {
                Ok(events) => {
                    for e in &events {
                        state = Account::evolve(state, e);
                    }
                    history.extend(events);
                    outcomes.push(Ok(()));
                }
                Err(rejection) => outcomes.push(Err(rejection)),
            }
        }
        (history, outcomes)
    }

    fn opened() -> AccountEvent {
        AccountEvent::AccountOpened {
            owner: Principal::parse("alice").unwrap(),
            currency: Currency::parse("EUR").unwrap(),
            holder: None,
        }
    }
    fn deposited(n: u64) -> AccountEvent {
        AccountEvent::MoneyDeposited {
            amount: Amount::new(n).unwrap(),
            deposited_by: Principal::parse("alice").unwrap(),
        }
    }
    fn withdrawn(n: u64) -> AccountEvent {
        AccountEvent::MoneyWithdrawn {
            amount: Amount::new(n).unwrap(),
        }
    }

    #[test]
    fn a_holder_name_is_the_owners_personal_data_and_the_state_carries_it_as_the_event_does() {
        let ada = HolderName::parse("Ada Lovelace").unwrap();
        let holder = Personal::new("alice", "Ada Lovelace");
        let opened = AccountEvent::AccountOpened {
            owner: Principal::parse("alice").unwrap(),
            currency: Currency::parse("EUR").unwrap(),
            holder: Some(holder.clone()),
        };
        given::<Account>([])
            .when_by(
                "alice",
                AccountCommand::Open {
                    owner: Principal::parse("alice").unwrap(),
                    currency: Currency::parse("EUR").unwrap(),
                    holder: Some(ada),
                },
            )
            .then([opened.clone()]);
        // Stored sealed: the state keeps what the event holds (a decider never reads it), so a transfer can copy it.
        let sealed = Personal::sealed("alice", "ciphertext");
        let state = fold::<Account>(&[AccountEvent::AccountOpened {
            owner: Principal::parse("alice").unwrap(),
            currency: Currency::parse("EUR").unwrap(),
            holder: Some(sealed.clone()),
        }]);
        assert!(matches!(state, AccountState::Open { holder: Some(h), .. } if h == sealed));
        for refused in ["", "a\u{7}b", &"x".repeat(101)] {
            assert!(HolderName::parse(refused).is_err(), "{refused:?}");
        }
        assert!(
            HolderName::parse(&"é".repeat(100)).is_ok(),
            "characters, not bytes"
        );
    }

    #[test]
    fn the_happy_path() {
        given::<Account>([])
            .when_by("alice", open())
            .then([opened()])
            .and_given()
            .when(deposit(1000))
            .then([deposited(1000)])
            .and_given()
            .when(withdraw(250))
            .then([withdrawn(250)])
            .and_given()
            .when(withdraw(750))
            .then([withdrawn(750)])
            .and_given()
            .when(AccountCommand::Close)
            .then([AccountEvent::AccountClosed])
            .and_state(&AccountState::Closed {
                owner: Principal::parse("alice").unwrap(),
                currency: Currency::parse("EUR").unwrap(),
                holder: None,
            });
    }

    #[test]
    fn rules_refuse_what_they_should() {
        use AccountRejection as R;
        given::<Account>([])
            .when(deposit(1))
            .then_rejected(R::NotOpened);
        given::<Account>([opened()])
            .when(open())
            .then_rejected(R::AlreadyOpened);
        given::<Account>([opened(), deposited(100)])
            .when(withdraw(101))
            .then_rejected(R::InsufficientFunds {
                balance: 100,
                requested: 101,
            });
        given::<Account>([opened(), deposited(100)])
            .when(AccountCommand::Close)
            .then_rejected(R::BalanceNotZero { balance: 100 });
        given::<Account>([opened(), AccountEvent::AccountClosed])
            .when(deposit(1))
            .then_rejected(R::Closed);
        given::<Account>([opened(), AccountEvent::AccountClosed])
            .when(open())
            .then_rejected(R::AlreadyOpened);
    }

    #[test]
    fn only_the_owner_may_command_an_account() {
        given::<Account>([opened(), deposited(10)])
            .when_by("alice", withdraw(10))
            .then([withdrawn(10)]);
        given::<Account>([opened(), deposited(10)])
            .when_by("bob", withdraw(10))
            .then_not_allowed();
        given::<Account>([opened()])
            .when_by("", deposit(1))
            .then_not_allowed();
        given::<Account>([opened(), AccountEvent::AccountClosed])
            .when_by("bob", deposit(1))
            .then_not_allowed();
        // Anyone may open an account that does not exist yet.
        given::<Account>([]).when_by("bob", open()).then([opened()]);
    }

    #[test]
    fn balance_cannot_exceed_the_limit() {
        let mut commands = vec![open()];
        commands.extend(std::iter::repeat_n(
            deposit(MAX_AMOUNT),
            (MAX_BALANCE / MAX_AMOUNT) as usize,
        ));
        commands.push(deposit(MAX_AMOUNT));
        let (events, outcomes) = run(&commands);
        assert!(outcomes[..outcomes.len() - 1].iter().all(Result::is_ok));
        assert!(fold::<Account>(&events).balance() <= MAX_BALANCE);
        given::<Account>(events)
            .when(deposit(MAX_AMOUNT))
            .then_rejected_as("BalanceLimitExceeded", |r| {
                matches!(r, AccountRejection::BalanceLimitExceeded { .. })
            });
    }

    #[test]
    fn events_round_trip_through_json() {
        let (events, _) = run(&[open(), deposit(5), withdraw(5), AccountCommand::Close]);
        for event in events {
            let json = serde_json::to_string(&event).unwrap();
            assert_eq!(serde_json::from_str::<AccountEvent>(&json).unwrap(), event);
        }
        assert!(
            serde_json::from_str::<AccountEvent>(r#"{"type":"MoneyDeposited","amount":0}"#)
                .is_err()
        );
    }

    #[test]
    fn a_version_1_deposit_reads_as_version_2_with_its_actor() {
        let metadata = tributary_core::EventMetadata {
            event_id: uuid::Uuid::nil(),
            command_id: uuid::Uuid::nil(),
            correlation_id: "c".into(),
            causation_id: "c".into(),
            occurred_at: chrono::Utc::now(),
            actor: "alice".into(),
            idempotency_key: None,
            request_fingerprint: None,
            traceparent: None,
        };
        let v1 = serde_json::json!({"type": "MoneyDeposited", "amount": 250});
        let read = tributary_core::decode_event::<AccountEvent>("MoneyDeposited", 1, &metadata, v1);
        assert_eq!(read, Ok((deposited(250), 2)));
        assert_eq!(deposited(250).schema_version(), 2);
        assert_eq!(withdrawn(1).schema_version(), 1);
        // Version 2 payloads are read as they are; a version-2 payload without the field is not a deposit.
        let v2 = serde_json::to_value(deposited(250)).unwrap();
        let read = tributary_core::decode_event::<AccountEvent>("MoneyDeposited", 2, &metadata, v2);
        assert_eq!(read, Ok((deposited(250), 2)));
        let bare = serde_json::json!({"type": "MoneyDeposited", "amount": 250});
        assert!(
            tributary_core::decode_event::<AccountEvent>("MoneyDeposited", 2, &metadata, bare)
                .is_err()
        );
        // Other events have one shape.
        let opened_v1 = serde_json::to_value(opened()).unwrap();
        let read =
            tributary_core::decode_event::<AccountEvent>("AccountOpened", 1, &metadata, opened_v1);
        assert_eq!(read, Ok((opened(), 1)));
    }

    fn any_command() -> impl Strategy<Value = AccountCommand> {
        let amount = prop_oneof![1..=1_000u64, 1..=MAX_AMOUNT];
        let currency =
            prop::sample::select(vec!["EUR", "USD"]).prop_map(|c| Currency::parse(c).unwrap());
        let transfer = || {
            (amount.clone(), currency.clone())
                .prop_map(|(n, currency)| (Amount::new(n).unwrap(), currency))
        };
        prop_oneof![
            1 => Just(open()),
            6 => amount.clone().prop_map(deposit),
            6 => amount.clone().prop_map(withdraw),
            1 => Just(AccountCommand::Close),
            2 => (transfer(), any::<bool>()).prop_map(|((amount, currency), scheduled)| AccountCommand::SendTransfer {
                transfer_id: TransferId::random(), to: AccountId::random(), amount, currency,
                standing_order: scheduled.then(|| "s-1".to_owned()),
            }),
            2 => transfer().prop_map(|(amount, currency)| AccountCommand::ReceiveTransfer {
                transfer_id: TransferId::random(), from: AccountId::random(), amount, currency, from_holder: None,
            }),
            1 => amount.clone().prop_map(|n| AccountCommand::RefundTransfer {
                transfer_id: TransferId::random(), amount: Amount::new(n).unwrap(),
            }),
        ]
    }

    proptest! {
        /// A simple model of the rules (i128 arithmetic, no types) agrees with the decider on every command,
        /// the balance never goes below zero or above the limit, and every accepted command's events re-fold
        /// to the state decide saw plus exactly that change.
        #[test]
        fn decider_agrees_with_a_model(commands in prop::collection::vec(any_command(), 0..60)) {
            let mut state = Account::initial();
            let mut history: Vec<AccountEvent> = Vec::new();
            let (mut opened, mut closed, mut model_balance) = (false, false, 0i128);
            for command in &commands {
                let result = Account::decide(&state, command);
                let fits = |amount: &Amount| model_balance + i128::from(amount.minor_units()) <= i128::from(MAX_BALANCE);
                let covered = |amount: &Amount| i128::from(amount.minor_units()) <= model_balance;
                let euros = |currency: &Currency| currency.code() == "EUR";
                // Whether the money moves (an order refused by the rules is a rejection, like any command).
                let moves = match command {
                    AccountCommand::Open { .. } => !opened,
                    _ if !opened || closed => false,
                    AccountCommand::Deposit { amount, .. } | AccountCommand::RefundTransfer { amount, .. } => fits(amount),
                    AccountCommand::ReceiveTransfer { amount, currency, .. } => euros(currency) && fits(amount),
                    AccountCommand::Withdraw { amount } => covered(amount),
                    AccountCommand::SendTransfer { amount, currency, .. } => euros(currency) && covered(amount),
                    AccountCommand::Close => model_balance == 0,
                };
                // A standing order's debit the balance cannot cover is recorded, not refused; nothing moves.
                let recorded_refusal = matches!(command, AccountCommand::SendTransfer { amount, currency, standing_order: Some(_), .. }
                    if opened && !closed && euros(currency) && !covered(amount));
                prop_assert_eq!(result.is_ok(), moves || recorded_refusal, "command {:?} in state {:?}", command, state);
                if recorded_refusal {
                    let events = result.unwrap();
                    prop_assert!(matches!(events.as_slice(), [AccountEvent::StandingOrderRefused { code, .. }] if code == "insufficient-funds"), "{:?}", events);
                    history.extend(events.iter().cloned());
                    state = events.iter().fold(state, Account::evolve);
                    prop_assert_eq!(&fold::<Account>(&history), &state);
                } else if let Ok(events) = result {
                    prop_assert!(
                        !events.iter().any(|e| matches!(e, AccountEvent::TransferOrderRefused { .. } | AccountEvent::StandingOrderRefused { .. })),
                        "no other refusal is an event: {:?}", events
                    );
                    match command {
                        AccountCommand::Open { .. } => opened = true,
                        AccountCommand::Deposit { amount, .. }
                        | AccountCommand::ReceiveTransfer { amount, .. }
                        | AccountCommand::RefundTransfer { amount, .. } => model_balance += i128::from(amount.minor_units()),
                        AccountCommand::Withdraw { amount } | AccountCommand::SendTransfer { amount, .. } => {
                            model_balance -= i128::from(amount.minor_units())
                        }
                        AccountCommand::Close => closed = true,
                    }
                    let before = state.clone();
                    history.extend(events.iter().cloned());
                    state = events.iter().fold(before, Account::evolve);
                    prop_assert_eq!(&fold::<Account>(&history), &state);
                }
                prop_assert!(model_balance >= 0);
                prop_assert_eq!(i128::from(state.balance()), if closed { 0 } else { model_balance });
                prop_assert!(state.balance() <= MAX_BALANCE);
            }
        }

        /// Folding the same events always gives the same state.
        #[test]
        fn fold_is_deterministic(commands in prop::collection::vec(any_command(), 0..60)) {
            let (events, _) = run(&commands);
            prop_assert_eq!(fold::<Account>(&events), fold::<Account>(&events));
            let json = serde_json::to_string(&events).unwrap();
            let reread: Vec<AccountEvent> = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(fold::<Account>(&reread), fold::<Account>(&events));
        }
    }
}
