//! The transfer process, pure: the account and transfer deciders behind a model of the command loop (the last
//! accepted commands remembered by (actor, idempotency key), rejections not remembered), driven by the process
//! manager through random interleavings of many transfers among a few accounts, with the owners depositing,
//! withdrawing and closing meanwhile, strangers asking for transfers from accounts they do not own, destinations
//! in another currency, redelivered events (a step run again), crashes between an order and its record (the
//! account's answer lost), and stale workers (an order computed earlier, delivered and recorded later, as a second
//! worker on the same transfer would). At the end, run to completion, money is neither created nor destroyed, every
//! transfer is completed or failed, a completed one moved its amount exactly once, and a failed one moved nothing or
//! gave it back. An idempotency key sent again with another command fails the test (the command loop would answer
//! `idempotency-key-reused`: two workers recording different answers for one step).

use bank_account::account::TRANSFER_PROCESS;
use bank_account::transfer::{next_order, record, Answer, Order, Step};
use bank_account::{
    Account, AccountCommand, AccountEvent, AccountId, Amount, Currency, Principal, Transfer,
    TransferCommand, TransferEvent, TransferId, TransferState,
};
use proptest::prelude::*;
use std::collections::HashMap;
use tributary_core::Decider;

/// An aggregate behind the command loop: its state, its events, and the commands it remembers by (actor, key)
/// with their events (the model remembers every accepted command: no window).
struct Stream<D: Decider> {
    state: D::State,
    events: Vec<D::Event>,
    remembered: HashMap<(String, String), Remembered<D::Event>>,
}

/// What the command loop keeps of an accepted command: the command (to refuse its key for another one) and its events.
type Remembered<E> = (String, Vec<E>);

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
    fn execute(
        &mut self,
        actor: &str,
        command: &D::Command,
        key: &str,
    ) -> Result<Vec<D::Event>, Option<D::Rejection>> {
        let id = (actor.to_owned(), key.to_owned());
        if let Some((sent, events)) = self.remembered.get(&id) {
            assert_eq!(
                sent,
                &format!("{command:?}"),
                "idempotency key {key} reused for another command"
            );
            return Ok(events.clone());
        }
        if !D::may_command(&self.state, actor, command) {
            return Err(None);
        }
        let events = D::decide(&self.state, command).map_err(Some)?;
        for e in &events {
            self.state = D::evolve(std::mem::replace(&mut self.state, D::initial()), e);
        }
        self.events.extend(events.iter().cloned());
        self.remembered
            .insert(id, (format!("{command:?}"), events.clone()));
        Ok(events)
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
        let answer = match account.execute(&order.actor, &order.command, &order.idempotency_key) {
            Ok(events) => Answer::of_events(&events),
            Err(Some(rejection)) => Answer::of_rejection(&rejection),
            Err(None) => Answer::NotAllowed,
        };
        if crash {
            return;
        }
        let (id, transfer) = &mut self.transfers[i];
        let (command, key) = record(*id, order.step, &answer);
        let recorded = transfer.execute(TRANSFER_PROCESS, &command, &key);
        assert!(
            recorded.is_ok(),
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
            let open = AccountCommand::Open { owner: Principal::parse(&owner).unwrap(), currency };
            stream.execute(&owner, &open, "open").unwrap();
            if *first > 0 {
                let deposit = AccountCommand::Deposit { amount: amount(*first), by: Principal::parse(&owner).unwrap() };
                stream.execute(&owner, &deposit, "first").unwrap();
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
                    };
                    let mut stream = Stream::<Transfer>::new();
                    if stream.execute(&requester, &request, "request").is_ok() {
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
                    if bank.accounts.get_mut(&ids[account]).unwrap().execute(&owner, &command, &key).is_ok() {
                        bank.external += n;
                    }
                }
                Action::Withdraw { account, amount: n } => {
                    let owner = bank.owners[&ids[account]].clone();
                    let key = bank.key();
                    let command = AccountCommand::Withdraw { amount: amount(n) };
                    if bank.accounts.get_mut(&ids[account]).unwrap().execute(&owner, &command, &key).is_ok() {
                        bank.external -= n;
                    }
                }
                Action::Close { account } => {
                    let owner = bank.owners[&ids[account]].clone();
                    let key = bank.key();
                    let _ = bank.accounts.get_mut(&ids[account]).unwrap().execute(&owner, &AccountCommand::Close, &key);
                }
            }
        }

        // The stale workers deliver what they hold; then every transfer runs to its end (at most three steps).
        for (i, order) in std::mem::take(&mut picked) {
            bank.deliver(i, &order, false);
        }
        for _ in 0..3 {
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
                TransferState::Failed { at: Step::Refund, .. } => {
                    prop_assert_eq!((sent, received, refunded), (1, 0, 0), "held {:?}", transfer.events);
                    held += terms.amount.minor_units();
                }
                other => prop_assert!(false, "transfer {} ended {:?}", id, other),
            }
            // A transfer that never debited the source never asked more of it; one asked by a stranger failed
            // at the debit.
            if terms.requested_by.as_str() == "stranger" {
                let failed_at_debit = matches!(transfer.state, TransferState::Failed { at: Step::Debit, .. });
                prop_assert!(failed_at_debit, "a stranger's transfer ended {:?}", transfer.state);
            }
            let requests = transfer.events.iter().filter(|e| matches!(e, TransferEvent::TransferRequested { .. })).count();
            prop_assert_eq!(requests, 1);
        }
        let balances: u64 = ids.iter().map(|id| bank.balance(id)).sum();
        prop_assert_eq!(balances + held, bank.external, "money created or destroyed");
    }
}

/// The answers, one by one: a refused debit fails the transfer with nothing moved; a credit into a closed account or
/// another currency is refunded; a refund into a closed source is held; recording a step twice changes nothing.
#[test]
fn each_answer_moves_the_transfer_where_it_should() {
    use tributary_core::given::given;
    let (from, to, id) = (
        AccountId::random(),
        AccountId::random(),
        TransferId::random(),
    );
    let eur = Currency::parse("EUR").unwrap();
    let requested = TransferEvent::TransferRequested {
        from,
        to,
        amount: amount(5),
        currency: eur,
        requested_by: Principal::parse("ann").unwrap(),
    };
    let state = |events: &[TransferEvent]| tributary_core::fold::<Transfer>(events);

    let order = next_order(id, &state(std::slice::from_ref(&requested))).unwrap();
    assert_eq!(
        (order.step, order.account, order.actor.as_str()),
        (Step::Debit, from, "ann")
    );
    assert_eq!(order.idempotency_key, format!("transfer-{id}-debit"));
    let (refused, _) = record(
        id,
        Step::Debit,
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
        id,
        Step::Credit,
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
        id,
        Step::Refund,
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
        TransferState::Failed {
            at: Step::Refund,
            ..
        }
    ));

    // Recording the debit again after it was recorded: nothing new. Out of order: refused.
    given::<Transfer>(debited.clone())
        .when_by(TRANSFER_PROCESS, TransferCommand::RecordDebited)
        .then([]);
    given::<Transfer>(debited.clone())
        .when_by(TRANSFER_PROCESS, TransferCommand::RecordRefunded)
        .then_rejected(bank_account::TransferRejection::OutOfOrder);
    // Only the transfer process records steps; a transfer is asked for by the requester it names, and not from an
    // account to itself.
    given::<Transfer>(debited)
        .when_by("ann", TransferCommand::RecordCredited)
        .then_not_allowed();
    given::<Transfer>([])
        .when_by(
            "ann",
            TransferCommand::Request {
                from,
                to: from,
                amount: amount(1),
                currency: eur,
                requested_by: Principal::parse("ann").unwrap(),
            },
        )
        .then_rejected(bank_account::TransferRejection::SameAccount);
    given::<Transfer>([])
        .when_by(
            "mallory",
            TransferCommand::Request {
                from,
                to,
                amount: amount(1),
                currency: eur,
                requested_by: Principal::parse("ann").unwrap(),
            },
        )
        .then_not_allowed();
}

/// Only the transfer process credits or refunds an account: not its owner, not anyone else.
#[test]
fn only_the_transfer_process_credits_or_refunds_an_account() {
    use tributary_core::given::given;
    let eur = Currency::parse("EUR").unwrap();
    let opened = AccountEvent::AccountOpened {
        owner: Principal::parse("ann").unwrap(),
        currency: eur,
    };
    let (transfer_id, from) = (TransferId::random(), AccountId::random());
    let credit = || AccountCommand::ReceiveTransfer {
        transfer_id,
        from,
        amount: amount(5),
        currency: eur,
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
        }]);
    given::<Account>([opened])
        .when_by(TRANSFER_PROCESS, refund())
        .then([AccountEvent::TransferRefunded {
            transfer_id,
            amount: amount(5),
        }]);
}
