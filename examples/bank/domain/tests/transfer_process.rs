//! The transfer process, pure: the account and transfer deciders behind a model of the command loop (accepted
//! commands remembered by (actor, idempotency key); a process's orders remember their rejections too, as their
//! receipts do), driven by the process manager through random interleavings of many transfers among a few accounts,
//! with the owners depositing, withdrawing and closing meanwhile, strangers asking for transfers from accounts they
//! do not own, destinations in another currency, redelivered events (a step run again), crashes between an order and
//! its record (the account's answer lost), stale workers (an order computed earlier, delivered and recorded later, as
//! a second worker on the same transfer would), and an operator releasing held money to any account. At the end, run
//! to completion, money is neither created nor destroyed (held money counted), every transfer is completed, failed,
//! held or released, a completed one moved its amount exactly once, a failed one moved nothing or gave it back, and no
//! account's stream holds a refusal. An idempotency key sent again with another command fails the test (the command
//! loop would answer `idempotency-key-reused`: two workers recording different answers for one step).

use bank_account::account::Step;
use bank_account::account::TRANSFER_PROCESS;
use bank_account::transfer::Destination;
use bank_account::transfer_process::{next_order, record, Answer, Order};
use bank_account::{
    Account, AccountCommand, AccountEvent, AccountId, Amount, Currency, Principal, Transfer,
    TransferCommand, TransferEvent, TransferId, TransferState,
};
use proptest::prelude::*;
use std::collections::HashMap;
use tributary_core::Decider;

/// An aggregate behind the command loop: its state, its events, and the commands it remembers by (actor, key)
/// with their outcome (the model remembers every command for ever: no window, no expiry).
struct Stream<D: Decider> {
    state: D::State,
    events: Vec<D::Event>,
    remembered: HashMap<(String, String), Remembered<D::Event>>,
}

/// What the command loop keeps of a command: the command (to refuse its key for another one) and its events, or the
/// code of its rejection (remembered for a process's orders only).
type Remembered<E> = (String, Result<Vec<E>, String>);

/// How a command sent with a key came out: its events, a rejection decided now, one remembered, or not allowed.
#[derive(Debug)]
enum Outcome<E, R> {
    Events(Vec<E>),
    Rejected(R),
    RejectedEarlier(String),
    NotAllowed,
}

impl<D: Decider> Stream<D>
where
    D::Event: Clone,
    D::Command: std::fmt::Debug,
{
    fn new() -> Self {
        Self {
            state: D::initial(),
            events: Vec::new(),
            remembered: HashMap::new(),
        }
    }

    /// What the command loop does with one command: replay a remembered key, refuse a stranger, decide, append.
    /// `order`: a process's order, whose rejection is remembered under its key like an accepted command.
    fn execute(
        &mut self,
        actor: &str,
        command: &D::Command,
        key: &str,
        order: bool,
    ) -> Outcome<D::Event, D::Rejection> {
        let id = (actor.to_owned(), key.to_owned());
        if let Some((sent, outcome)) = self.remembered.get(&id) {
            assert_eq!(
                sent,
                &format!("{command:?}"),
                "idempotency key {key} reused for another command"
            );
            return match outcome {
                Ok(events) => Outcome::Events(events.clone()),
                Err(code) => Outcome::RejectedEarlier(code.clone()),
            };
        }
        if !D::may_command(&self.state, actor, command) {
            return Outcome::NotAllowed;
        }
        let events = match D::decide(&self.state, command) {
            Ok(events) => events,
            Err(rejection) => {
                if order {
                    let code = D::rejection_code(&rejection).to_owned();
                    self.remembered
                        .insert(id, (format!("{command:?}"), Err(code)));
                }
                return Outcome::Rejected(rejection);
            }
        };
        for e in &events {
            self.state = D::evolve(std::mem::replace(&mut self.state, D::initial()), e);
        }
        self.events.extend(events.iter().cloned());
        self.remembered
            .insert(id, (format!("{command:?}"), Ok(events.clone())));
        Outcome::Events(events)
    }

    /// A caller's command: whether it was applied.
    fn command(&mut self, actor: &str, command: &D::Command, key: &str) -> bool {
        matches!(self.execute(actor, command, key, false), Outcome::Events(_))
    }
}

struct Bank {
    accounts: HashMap<AccountId, Stream<Account>>,
    owners: HashMap<AccountId, String>,
    transfers: Vec<(TransferId, Stream<Transfer>)>,
    /// Money that came in from outside minus money that went out (deposits minus withdrawals).
    external: u64,
    keys: u64,
}

impl Bank {
    fn key(&mut self) -> String {
        self.keys += 1;
        format!("k{}", self.keys)
    }

    /// One step of the process for transfer `i`: the next order, then its record unless the process crashes in
    /// between (the answer is lost). Whether there was an order.
    fn step(&mut self, i: usize, crash: bool) -> bool {
        let Some(order) = next_order(self.transfers[i].0, &self.transfers[i].1.state) else {
            return false;
        };
        self.deliver(i, &order, crash);
        true
    }

    /// Send `order` of transfer `i` to its account and record the answer (unless the worker crashes first).
    fn deliver(&mut self, i: usize, order: &Order, crash: bool) {
        let account = self
            .accounts
            .get_mut(&order.account)
            .expect("orders name existing accounts");
        let answer =
            match account.execute(&order.actor, &order.command, &order.idempotency_key, true) {
                Outcome::Events(events) => Answer::of_events(&events),
                Outcome::Rejected(rejection) => Answer::of_rejection(&rejection),
                Outcome::RejectedEarlier(code) => Answer::Refused { code },
                Outcome::NotAllowed => Answer::NotAllowed,
            };
        if crash {
            return;
        }
        let (_, transfer) = &mut self.transfers[i];
        let (command, key) = record(order, &answer);
        let recorded = transfer.execute(TRANSFER_PROCESS, &command, &key, true);
        assert!(
            matches!(recorded, Outcome::Events(_)),
            "{command:?} after {answer:?}: {recorded:?}"
        );
    }

    fn balance(&self, account: &AccountId) -> u64 {
        self.accounts[account].state.balance()
    }
}

#[derive(Debug, Clone)]
enum Action {
    /// A transfer from account `from` to account `to`, asked by the source's owner or (if `stranger`) not.
    Transfer {
        from: usize,
        to: usize,
        amount: u64,
        stranger: bool,
    },
    /// One step of a transfer's process (an event delivered, or delivered again), maybe crashing mid-step.
    Step {
        transfer: usize,
        crash: bool,
    },
    /// A second worker computes a transfer's next order now...
    Pick {
        transfer: usize,
    },
    /// ...and delivers and records it later (maybe crashing first).
    Deliver {
        picked: usize,
        crash: bool,
    },
    /// An owner's own command.
    Deposit {
        account: usize,
        amount: u64,
    },
    Withdraw {
        account: usize,
        amount: u64,
    },
    Close {
        account: usize,
    },
    /// An operator orders a transfer's held money paid to an account (refused unless it is held).
    Release {
        transfer: usize,
        to: usize,
    },
}

fn action(accounts: usize) -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..accounts, 0..accounts, 1..400u64, prop::bool::weighted(0.1))
            .prop_map(|(from, to, amount, stranger)| Action::Transfer { from, to, amount, stranger }),
        8 => (0..64usize, prop::bool::weighted(0.2))
            .prop_map(|(transfer, crash)| Action::Step { transfer, crash }),
        2 => (0..64usize).prop_map(|transfer| Action::Pick { transfer }),
        2 => (0..64usize, prop::bool::weighted(0.2))
            .prop_map(|(picked, crash)| Action::Deliver { picked, crash }),
        1 => (0..accounts, 1..300u64).prop_map(|(account, amount)| Action::Deposit { account, amount }),
        1 => (0..accounts, 1..300u64).prop_map(|(account, amount)| Action::Withdraw { account, amount }),
        1 => (0..accounts).prop_map(|account| Action::Close { account }),
        1 => (0..64usize, 0..accounts).prop_map(|(transfer, to)| Action::Release { transfer, to }),
    ]
}

fn scenario() -> impl Strategy<Value = (Vec<(bool, u64)>, Vec<Action>)> {
    (2..7usize).prop_flat_map(|n| {
        (
            // Per account: in dollars rather than euros? and its first deposit.
            prop::collection::vec((prop::bool::weighted(0.2), 0..1000u64), n),
            prop::collection::vec(action(n), 0..120),
        )
    })
}

fn amount(n: u64) -> Amount {
    Amount::new(n).unwrap()
}

/// Count the account events of transfer `id` in `account`'s stream: (sent, received, refunded).
fn movements(bank: &Bank, account: &AccountId, id: TransferId) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for e in &bank.accounts[account].events {
        match e {
            AccountEvent::TransferSent { transfer_id, .. } if *transfer_id == id => counts.0 += 1,
            AccountEvent::TransferReceived { transfer_id, .. } if *transfer_id == id => {
                counts.1 += 1
            }
            AccountEvent::TransferRefunded { transfer_id, .. } if *transfer_id == id => {
                counts.2 += 1
            }
            _ => {}
        }
    }
    counts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn transfers_neither_create_nor_destroy_money((accounts, actions) in scenario()) {
        let mut bank = Bank {
            accounts: HashMap::new(),
            owners: HashMap::new(),
            transfers: Vec::new(),
            external: 0,
            keys: 0,
        };
        let mut ids = Vec::new();
        let mut picked: Vec<(usize, Order)> = Vec::new();
        for (i, (dollars, first)) in accounts.iter().enumerate() {
            let id = AccountId::random();
            let owner = format!("owner-{i}");
            let mut stream = Stream::<Account>::new();
            let currency = Currency::parse(if *dollars { "USD" } else { "EUR" }).unwrap();
            let open = AccountCommand::Open { owner: Principal::parse(&owner).unwrap(), currency, holder: None };
            assert!(stream.command(&owner, &open, "open"));
            if *first > 0 {
                let deposit = AccountCommand::Deposit { amount: amount(*first), by: Principal::parse(&owner).unwrap() };
                assert!(stream.command(&owner, &deposit, "first"));
                bank.external += first;
            }
            bank.accounts.insert(id, stream);
            bank.owners.insert(id, owner);
            ids.push(id);
        }

        for action in actions {
            match action {
                Action::Transfer { from, to, amount: n, stranger } => {
                    let (from, to) = (ids[from], ids[to]);
                    // The edge reads the source's currency; a stranger's request is made all the same and
                    // refused at the debit.
                    let currency = match &bank.accounts[&from].state {
                        bank_account::AccountState::Open { currency, .. }
                        | bank_account::AccountState::Closed { currency, .. } => *currency,
                        bank_account::AccountState::Unopened => unreachable!(),
                    };
                    let requester = if stranger { "stranger".to_owned() } else { bank.owners[&from].clone() };
                    let request = TransferCommand::Request {
                        from, to, amount: amount(n), currency,
                        requested_by: Principal::parse(&requester).unwrap(),
                        destination: Destination::of(&bank.accounts[&to].state),
                        from_holder: None,
        standing_order: None,
                    };
                    let mut stream = Stream::<Transfer>::new();
                    if stream.command(&requester, &request, "request") {
                        bank.transfers.push((TransferId::random(), stream));
                    }
                }
                Action::Step { transfer, crash } => {
                    if !bank.transfers.is_empty() {
                        let i = transfer % bank.transfers.len();
                        bank.step(i, crash);
                    }
                }
                Action::Pick { transfer } => {
                    if !bank.transfers.is_empty() {
                        let i = transfer % bank.transfers.len();
                        if let Some(order) = next_order(bank.transfers[i].0, &bank.transfers[i].1.state) {
                            picked.push((i, order));
                        }
                    }
                }
                Action::Deliver { picked: k, crash } => {
                    if !picked.is_empty() {
                        let (i, order) = picked.remove(k % picked.len());
                        bank.deliver(i, &order, crash);
                    }
                }
                Action::Deposit { account, amount: n } => {
                    let owner = bank.owners[&ids[account]].clone();
                    let key = bank.key();
                    let command = AccountCommand::Deposit { amount: amount(n), by: Principal::parse(&owner).unwrap() };
                    if bank.accounts.get_mut(&ids[account]).unwrap().command(&owner, &command, &key) {
                        bank.external += n;
                    }
                }
                Action::Withdraw { account, amount: n } => {
                    let owner = bank.owners[&ids[account]].clone();
                    let key = bank.key();
                    let command = AccountCommand::Withdraw { amount: amount(n) };
                    if bank.accounts.get_mut(&ids[account]).unwrap().command(&owner, &command, &key) {
                        bank.external -= n;
                    }
                }
                Action::Close { account } => {
                    let owner = bank.owners[&ids[account]].clone();
                    let key = bank.key();
                    bank.accounts.get_mut(&ids[account]).unwrap().command(&owner, &AccountCommand::Close, &key);
                }
                Action::Release { transfer, to } => {
                    if !bank.transfers.is_empty() {
                        let i = transfer % bank.transfers.len();
                        let release = TransferCommand::Release {
                            to: ids[to],
                            destination: Destination::of(&bank.accounts[&ids[to]].state),
                            ordered_by: Principal::parse("operator").unwrap(),
                        };
                        let key = bank.key();
                        bank.transfers[i].1.command("operator", &release, &key);
                    }
                }
            }
        }

        // The stale workers deliver what they hold; then every transfer runs to its end (at most four steps).
        for (i, order) in std::mem::take(&mut picked) {
            bank.deliver(i, &order, false);
        }
        for _ in 0..4 {
            for i in 0..bank.transfers.len() {
                bank.step(i, false);
            }
        }

        let mut held = 0;
        for (id, transfer) in &bank.transfers {
            let terms = transfer.state.terms().unwrap().clone();
            let (sent, _, refunded) = movements(&bank, &terms.from, *id);
            let (_, received, _) = movements(&bank, &terms.to, *id);
            match &transfer.state {
                TransferState::Completed { .. } => {
                    prop_assert_eq!((sent, received, refunded), (1, 1, 0), "completed {:?}", transfer.events);
                }
                TransferState::Failed { at: Step::Debit, .. } => {
                    prop_assert_eq!((sent, received, refunded), (0, 0, 0), "failed at the debit {:?}", transfer.events);
                }
                TransferState::Failed { at: Step::Credit, .. } => {
                    prop_assert_eq!((sent, received, refunded), (1, 0, 1), "refunded {:?}", transfer.events);
                }
                TransferState::Held { .. } => {
                    prop_assert_eq!((sent, received, refunded), (1, 0, 0), "held {:?}", transfer.events);
                    held += terms.amount.minor_units();
                }
                TransferState::Released { release, .. } => {
                    let (_, paid_out, _) = movements(&bank, &release.to, *id);
                    let at_destination = usize::from(release.to == terms.to);
                    prop_assert_eq!((sent, received, refunded, paid_out), (1, at_destination, 0, 1), "released {:?}", transfer.events);
                }
                other => prop_assert!(false, "transfer {} ended {:?}", id, other),
            }
            prop_assert_eq!(transfer.state.held(), if matches!(transfer.state, TransferState::Held { .. }) { terms.amount.minor_units() } else { 0 });
            // A transfer that never debited the source never asked more of it; one asked by a stranger failed
            // at the debit.
            if terms.requested_by.as_str() == "stranger" {
                let failed_at_debit = matches!(transfer.state, TransferState::Failed { at: Step::Debit, .. });
                prop_assert!(failed_at_debit, "a stranger's transfer ended {:?}", transfer.state);
            }
            let requests = transfer.events.iter().filter(|e| matches!(e, TransferEvent::TransferRequested { .. })).count();
            prop_assert_eq!(requests, 1);
        }
        // No account holds a refusal: an account sees money arrive or leave, nothing else of a transfer.
        for id in &ids {
            let refusals = bank.accounts[id].events.iter().filter(|e| matches!(e, AccountEvent::TransferOrderRefused { .. })).count();
            prop_assert_eq!(refusals, 0);
        }
        let balances: u64 = ids.iter().map(|id| bank.balance(id)).sum();
        prop_assert_eq!(balances + held, bank.external, "money created or destroyed");
    }
}

/// The answers, one by one: a refused debit fails the transfer with nothing moved; a credit into a closed account is
/// refunded; a refund into a closed source is held, until an operator releases it to an account that takes it (a
/// refused release holds it again, and a new release is an order of its own); recording a step twice changes nothing.
#[test]
fn each_answer_moves_the_transfer_where_it_should() {
    use tributary_core::given::given;
    let (from, to, id) = (
        AccountId::random(),
        AccountId::random(),
        TransferId::random(),
    );
    let eur = Currency::parse("EUR").unwrap();
    let open_eur = Destination::Open { currency: eur };
    let requested = TransferEvent::TransferRequested {
        from,
        to,
        amount: amount(5),
        currency: eur,
        requested_by: Principal::parse("ann").unwrap(),
        from_holder: None,
        standing_order: None,
    };
    let state = |events: &[TransferEvent]| tributary_core::fold::<Transfer>(events);

    let order = next_order(id, &state(std::slice::from_ref(&requested))).unwrap();
    assert_eq!(
        (order.step, order.account, order.actor.as_str()),
        (Step::Debit, from, "ann")
    );
    assert_eq!(order.idempotency_key, format!("transfer-{id}-debit"));
    let (refused, _) = record(
        &order,
        &Answer::Refused {
            code: "insufficient-funds".into(),
        },
    );
    let failed = given::<Transfer>([requested.clone()])
        .when_by(TRANSFER_PROCESS, refused)
        .then([TransferEvent::DebitRefused {
            reason: "the source refused the debit: insufficient-funds".into(),
        }]);
    assert!(next_order(id, failed.state()).is_none());
    assert_eq!(failed.state().status(), "failed");

    let debited = [requested.clone(), TransferEvent::SourceDebited];
    let order = next_order(id, &state(&debited)).unwrap();
    assert_eq!(
        (order.step, order.account, order.actor.as_str()),
        (Step::Credit, to, TRANSFER_PROCESS)
    );
    let (refused, _) = record(
        &order,
        &Answer::of_rejection(&bank_account::AccountRejection::Closed),
    );
    let refunding = given::<Transfer>(debited.clone())
        .when_by(TRANSFER_PROCESS, refused)
        .then([TransferEvent::CreditRefused {
            reason: "the destination refused the credit: account-closed".into(),
        }]);
    let order = next_order(id, refunding.state()).unwrap();
    assert_eq!((order.step, order.account), (Step::Refund, from));
    let (held, _) = record(
        &order,
        &Answer::of_rejection(&bank_account::AccountRejection::Closed),
    );
    let refunding = refunding.and_given();
    let stuck = refunding
        .when_by(TRANSFER_PROCESS, held)
        .then([TransferEvent::RefundRefused {
            reason: "account-closed".into(),
        }]);
    assert!(matches!(
        stuck.state(),
        TransferState::Held { releases: 0, .. }
    ));
    assert_eq!((stuck.state().status(), stuck.state().held()), ("held", 5));
    assert!(
        next_order(id, stuck.state()).is_none(),
        "held money waits for an operator"
    );

    // An operator releases it: to a closed account or another currency, refused at once; to an open account, ordered.
    let (other, usd) = (AccountId::random(), Currency::parse("USD").unwrap());
    let release = |to: AccountId, destination: Destination| TransferCommand::Release {
        to,
        destination,
        ordered_by: Principal::parse("op").unwrap(),
    };
    let stuck = stuck.and_given();
    stuck
        .clone()
        .when_by("op", release(other, Destination::Closed))
        .then_rejected(bank_account::TransferRejection::DestinationClosed);
    stuck
        .clone()
        .when_by("op", release(other, Destination::Open { currency: usd }))
        .then_rejected(bank_account::TransferRejection::CurrencyMismatch {
            currency: eur,
            destination: usd,
        });
    stuck
        .clone()
        .when_by("mallory", release(other, open_eur))
        .then_not_allowed();
    let releasing =
        stuck
            .when_by("op", release(other, open_eur))
            .then([TransferEvent::ReleaseOrdered {
                to: other,
                ordered_by: Principal::parse("op").unwrap(),
            }]);
    let first = next_order(id, releasing.state()).unwrap();
    assert_eq!(
        (first.step, first.account, first.actor.as_str()),
        (Step::Release, other, TRANSFER_PROCESS)
    );
    // That account refuses (say it reached its balance limit): held again; a second release is a new order.
    let (refused, _) = record(
        &first,
        &Answer::Refused {
            code: "balance-limit-exceeded".into(),
        },
    );
    let again = releasing
        .and_given()
        .when_by(TRANSFER_PROCESS, refused)
        .then([TransferEvent::ReleaseRefused {
            reason: "balance-limit-exceeded".into(),
        }]);
    assert_eq!(again.state().held(), 5);
    let again = again.and_given();
    let retried =
        again
            .when_by("op", release(from, open_eur))
            .then([TransferEvent::ReleaseOrdered {
                to: from,
                ordered_by: Principal::parse("op").unwrap(),
            }]);
    let second = next_order(id, retried.state()).unwrap();
    assert_ne!(second.idempotency_key, first.idempotency_key);
    assert_ne!(second.record_key, first.record_key);
    let (paid, _) = record(&second, &Answer::Accepted);
    let released = retried
        .and_given()
        .when_by(TRANSFER_PROCESS, paid)
        .then([TransferEvent::Released]);
    assert_eq!(
        (released.state().status(), released.state().held()),
        ("released", 0)
    );
    assert!(next_order(id, released.state()).is_none());

    // Recording the debit again after it was recorded: nothing new. Out of order: refused.
    given::<Transfer>(debited.clone())
        .when_by(TRANSFER_PROCESS, TransferCommand::RecordDebited)
        .then([]);
    given::<Transfer>(debited.clone())
        .when_by(TRANSFER_PROCESS, TransferCommand::RecordRefunded)
        .then_rejected(bank_account::TransferRejection::OutOfOrder);
    given::<Transfer>(debited.clone())
        .when_by("op", release(other, open_eur))
        .then_rejected(bank_account::TransferRejection::NotHeld);
    // Only the transfer process records steps; a transfer is asked for by the requester it names, and not from an
    // account to itself.
    given::<Transfer>(debited)
        .when_by("ann", TransferCommand::RecordCredited)
        .then_not_allowed();
    let request =
        |to: AccountId, requested_by: &str, destination: Destination| TransferCommand::Request {
            from,
            to,
            amount: amount(1),
            currency: eur,
            requested_by: Principal::parse(requested_by).unwrap(),
            destination,
            from_holder: None,
            standing_order: None,
        };
    given::<Transfer>([])
        .when_by("ann", request(from, "ann", open_eur))
        .then_rejected(bank_account::TransferRejection::SameAccount);
    given::<Transfer>([])
        .when_by("mallory", request(to, "ann", open_eur))
        .then_not_allowed();
    // A destination that was never opened, is closed, or holds another currency: refused when asked for.
    given::<Transfer>([])
        .when_by("ann", request(to, "ann", Destination::Unopened))
        .then_rejected(bank_account::TransferRejection::DestinationNotFound);
    given::<Transfer>([])
        .when_by("ann", request(to, "ann", Destination::Closed))
        .then_rejected(bank_account::TransferRejection::DestinationClosed);
    given::<Transfer>([])
        .when_by(
            "ann",
            request(to, "ann", Destination::Open { currency: usd }),
        )
        .then_rejected(bank_account::TransferRejection::CurrencyMismatch {
            currency: eur,
            destination: usd,
        });
}

/// Only the transfer process credits or refunds an account: not its owner, not anyone else.
#[test]
fn only_the_transfer_process_credits_or_refunds_an_account() {
    use tributary_core::given::given;
    let eur = Currency::parse("EUR").unwrap();
    let opened = AccountEvent::AccountOpened {
        owner: Principal::parse("ann").unwrap(),
        currency: eur,
        holder: None,
    };
    let (transfer_id, from) = (TransferId::random(), AccountId::random());
    let credit = || AccountCommand::ReceiveTransfer {
        transfer_id,
        from,
        amount: amount(5),
        currency: eur,
        from_holder: None,
    };
    let refund = || AccountCommand::RefundTransfer {
        transfer_id,
        amount: amount(5),
    };
    for actor in ["ann", "bob"] {
        given::<Account>([opened.clone()])
            .when_by(actor, credit())
            .then_not_allowed();
        given::<Account>([opened.clone()])
            .when_by(actor, refund())
            .then_not_allowed();
    }
    given::<Account>([opened.clone()])
        .when_by(TRANSFER_PROCESS, credit())
        .then([AccountEvent::TransferReceived {
            transfer_id,
            from,
            amount: amount(5),
            from_holder: None,
        }]);
    given::<Account>([opened])
        .when_by(TRANSFER_PROCESS, refund())
        .then([AccountEvent::TransferRefunded {
            transfer_id,
            amount: amount(5),
        }]);
}

/// The source's holder travels with the transfer: from the request to the credit's command and the destination's
/// `TransferReceived`, sealed as it was (copied, never read).
#[test]
fn the_sources_holder_reaches_the_destination_as_it_was_sealed() {
    let (from, to, id) = (
        AccountId::random(),
        AccountId::random(),
        TransferId::random(),
    );
    let eur = Currency::parse("EUR").unwrap();
    let holder = tributary_core::Personal::sealed("ann", "ciphertext");
    let requested = TransferEvent::TransferRequested {
        from,
        to,
        amount: amount(5),
        currency: eur,
        requested_by: Principal::parse("ann").unwrap(),
        from_holder: Some(holder.clone()),
        standing_order: None,
    };
    let debited = tributary_core::fold::<Transfer>(&[requested, TransferEvent::SourceDebited]);
    let credit = next_order(id, &debited).unwrap();
    assert_eq!(credit.step, Step::Credit);
    assert!(
        matches!(&credit.command, AccountCommand::ReceiveTransfer { from_holder: Some(h), .. } if *h == holder),
        "{:?}",
        credit.command
    );
    let opened = AccountEvent::AccountOpened {
        owner: Principal::parse("bob").unwrap(),
        currency: eur,
        holder: None,
    };
    let events =
        Account::decide(&tributary_core::fold::<Account>(&[opened]), &credit.command).unwrap();
    assert!(
        matches!(&events[..], [AccountEvent::TransferReceived { from_holder: Some(h), .. }] if *h == holder),
        "{events:?}"
    );
}
