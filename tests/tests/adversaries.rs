//! People, not faults: what a stranger with one account of their own, a busy account that others write to, and the
//! requester of a transfer can do to someone else's money — and what they cannot. Over HTTP against the local stack
//! (SECURITY.md, "The adversaries").

mod common;

use bank_account::transfer::Destination;
use bank_account::transfer_process::next_order;
use bank_account::{
    Account, AccountEvent, AccountId, AccountState, Amount, Currency, Principal, TransferCommand,
    TransferId, TransferState,
};
use common::{
    client_as, get, money, open_account, operator_client, post, settled_transfer, stack,
    test_config,
};
use devstack::Devstack;
use serde_json::Value;
use std::sync::Arc;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_store::EventStore;
use tributary_testkit::dynamo;

fn store() -> Arc<dyn EventStore> {
    DynamoDbEventStore::shared(dynamo().client(), &dynamo().events_table)
}

/// An account's events and state, from the event store.
async fn account(id: &str) -> (Vec<AccountEvent>, AccountState) {
    let events: Vec<AccountEvent> = store()
        .load(&format!("account-{id}"))
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode().unwrap().event)
        .collect();
    let state = tributary_core::fold::<Account>(&events);
    (events, state)
}

/// A transfer's state, from the event store.
async fn transfer_state(id: &str) -> TransferState {
    let events: Vec<bank_account::TransferEvent> = store()
        .load(&format!("transfer-{id}"))
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode().unwrap().event)
        .collect();
    tributary_core::fold::<bank_account::Transfer>(&events)
}

fn transfer_body(from: &str, to: &str, amount: u64) -> String {
    format!(r#"{{"from":"{from}","to":"{to}","amount":{amount}}}"#)
}

/// A withdrawal with an idempotency key: the reply.
async fn withdraw(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    key: &str,
    amount: u64,
) -> common::Reply {
    post(
        client,
        &format!("{base}/accounts/{id}/withdrawals"),
        &[("idempotency-key", key)],
        Some(&format!(r#"{{"amount":{amount}}}"#)),
    )
    .await
}

/// The owner's retry is a replay however many commands reached the account since its first attempt: the answer of
/// the first attempt, `Idempotent-Replayed`, and nothing applied twice.
fn assert_replayed(retry: &common::Reply, version: u64) {
    assert_eq!(
        (retry.status, retry.header("idempotent-replayed")),
        (200, "true"),
        "the retry is a replay: {retry:?}"
    );
    assert_eq!(retry.body["version"], version, "{retry:?}");
}

/// A stranger who owns one cent sends 200 transfers at an owner's account: one-cent transfers from a USD account
/// (another currency) and from a EUR account (one cent, so all but the first are refused at the debit). Before, each
/// USD transfer was accepted, refused at the credit **on the owner's stream**, and refunded: 200 of them pushed the
/// owner's idempotency key out of the window of recent commands, and the owner's retry of a withdrawal (after a 503,
/// as our problem text tells them) withdrew again. Now: another currency is refused when the transfer is asked for,
/// a refused order is remembered by its receipt (not on anyone's stream), and the owner's key is kept for 24 hours
/// whatever reaches the account — the retry is a replay and the balance is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_with_one_cent_cannot_make_an_owners_retry_apply_twice() {
    let stack = stack().await;
    let base = stack.base_url();
    let (owner, stranger) = (
        client_as(&format!("owner-{}", uuid::Uuid::new_v4().simple())),
        client_as(&format!("stranger-{}", uuid::Uuid::new_v4().simple())),
    );
    let victim = open_account(&owner, &base, "EUR").await;
    money(&owner, &base, &victim, "deposits", 1_000).await;
    let first = withdraw(&owner, &base, &victim, "withdraw-1", 100).await;
    assert_eq!(first.status, 200, "{first:?}");
    let first_version = first.body["version"].as_u64().unwrap();

    let dollars = open_account(&stranger, &base, "USD").await;
    money(&stranger, &base, &dollars, "deposits", 1).await;
    let cents = open_account(&stranger, &base, "EUR").await;
    money(&stranger, &base, &cents, "deposits", 1).await;
    let mut accepted = Vec::new();
    let mut refused = 0;
    for n in 0..200 {
        let from = if n % 2 == 0 { &dollars } else { &cents };
        let reply = post(
            &stranger,
            &format!("{base}/transfers"),
            &[("idempotency-key", &format!("flush-{n}"))],
            Some(&transfer_body(from, &victim, 1)),
        )
        .await;
        match reply.status {
            202 => accepted.push(reply.body["transfer_id"].as_str().unwrap().to_owned()),
            422 => {
                assert_eq!(
                    reply.body["type"], "urn:tributary:problem:currency-mismatch",
                    "{reply:?}"
                );
                refused += 1;
            }
            _ => panic!("transfer {n}: {reply:?}"),
        }
    }
    assert_eq!(
        refused, 100,
        "every transfer in another currency is refused when asked for"
    );
    for id in &accepted {
        settled_transfer(&stranger, &base, id).await;
    }

    let retry = withdraw(&owner, &base, &victim, "withdraw-1", 100).await;
    assert_replayed(&retry, first_version);
    let (events, state) = account(&victim).await;
    // One cent arrived (the first EUR transfer); the other 99 were refused at the stranger's own debit.
    assert_eq!(state.balance(), 1_000 - 100 + 1, "{events:?}");
    assert!(
        events.iter().all(|e| !matches!(
            e,
            AccountEvent::TransferOrderRefused { .. } | AccountEvent::TransferSent { .. }
        )),
        "nothing of the stranger's failed transfers is on the owner's stream: {events:?}"
    );
    stack.stop().await;
}

/// A merchant's account receives more than the window of recent commands (the test stacks remember 16) in incoming
/// transfers between the owner's attempt at a withdrawal and its retry: the retry is a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_receiving_account_keeps_its_owners_keys() {
    let stack = stack().await;
    let base = stack.base_url();
    let (merchant, payer) = (
        client_as(&format!("merchant-{}", uuid::Uuid::new_v4().simple())),
        client_as(&format!("payer-{}", uuid::Uuid::new_v4().simple())),
    );
    let till = open_account(&merchant, &base, "EUR").await;
    money(&merchant, &base, &till, "deposits", 500).await;
    let first = withdraw(&merchant, &base, &till, "payout-1", 50).await;
    assert_eq!(first.status, 200, "{first:?}");
    let wallet = open_account(&payer, &base, "EUR").await;
    money(&payer, &base, &wallet, "deposits", 1_000).await;
    let incoming = common::SNAPSHOTS.window as u64 + common::SNAPSHOTS.every + 4;
    for n in 0..incoming {
        let reply = post(
            &payer,
            &format!("{base}/transfers"),
            &[("idempotency-key", &format!("pay-{n}"))],
            Some(&transfer_body(&wallet, &till, 1)),
        )
        .await;
        assert_eq!(reply.status, 202, "{reply:?}");
        let view =
            settled_transfer(&payer, &base, reply.body["transfer_id"].as_str().unwrap()).await;
        assert_eq!(view["status"], "completed", "{view}");
    }
    let retry = withdraw(&merchant, &base, &till, "payout-1", 50).await;
    assert_replayed(&retry, first.body["version"].as_u64().unwrap());
    let (_, state) = account(&till).await;
    assert_eq!(state.balance(), 500 - 50 + incoming);
    stack.stop().await;
}

/// The requester of a transfer cannot take the key the transfer process will debit their account with: before, a
/// withdrawal sent with `transfer-<id>-debit` (predictable: the transfer id derives from the requester and their
/// key) turned the process's debit into `idempotency-key-reused`, recorded as "nothing moved" — and a stale worker
/// could later have the debit accepted under that record. Now the process's keys carry a prefix no caller may send
/// (400), and the key without it is just another key: the transfer completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requester_cannot_take_the_process_keys() {
    let stack = stack().await;
    let base = stack.base_url();
    let principal = format!("requester-{}", uuid::Uuid::new_v4().simple());
    let (requester, payee) = (
        client_as(&principal),
        client_as(&format!("payee-{}", uuid::Uuid::new_v4().simple())),
    );
    let from = open_account(&requester, &base, "EUR").await;
    money(&requester, &base, &from, "deposits", 100).await;
    let to = open_account(&payee, &base, "EUR").await;

    // The id the transfer will have, and the key its debit would be sent with.
    let transfer = TransferId::derived_from(&format!("{principal}\nt-1"));
    let terms = TransferCommand::Request {
        from: AccountId::parse(&from).unwrap(),
        to: AccountId::parse(&to).unwrap(),
        amount: Amount::new(10).unwrap(),
        currency: Currency::parse("EUR").unwrap(),
        requested_by: Principal::parse(&principal).unwrap(),
        destination: Destination::Open {
            currency: Currency::parse("EUR").unwrap(),
        },
        from_holder: None,
        standing_order: None,
    };
    let requested = match <bank_account::Transfer as tributary_core::Decider>::decide(
        &TransferState::Unrequested,
        &terms,
    ) {
        Ok(events) => tributary_core::fold::<bank_account::Transfer>(&events),
        Err(e) => panic!("{e}"),
    };
    let debit_key = next_order(transfer, &requested).unwrap().idempotency_key;
    let reserved = format!("{}{debit_key}", tributary_core::RESERVED_KEY_PREFIX);
    let taken = withdraw(&requester, &base, &from, &reserved, 1).await;
    assert_eq!(
        (taken.status, taken.body["type"].as_str()),
        (400, Some("urn:tributary:problem:invalid-idempotency-key")),
        "{taken:?}"
    );
    let plain = withdraw(&requester, &base, &from, &debit_key, 1).await;
    assert_eq!(plain.status, 200, "{plain:?}");

    let reply = post(
        &requester,
        &format!("{base}/transfers"),
        &[("idempotency-key", "t-1")],
        Some(&transfer_body(&from, &to, 10)),
    )
    .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.body["transfer_id"], transfer.to_string());
    let view = settled_transfer(&requester, &base, &transfer.to_string()).await;
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(account(&from).await.1.balance(), 100 - 1 - 10);
    assert_eq!(account(&to).await.1.balance(), 10);
    stack.stop().await;
}

/// Held money goes home: a transfer whose credit is refused (its destination closed after it was asked for) and
/// whose refund is refused too (the source closed meanwhile) holds its money in no account — counted in the
/// conservation of money — until an operator releases it to an account in its currency. Only operators may; the
/// release is an audited event on the transfer; the account it names must be open and in the transfer's currency;
/// afterwards the money is in that account and nothing is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_money_is_released_by_an_operator_to_an_account() {
    let mut stack = Devstack::start(test_config().await).await.unwrap();
    let base = stack.base_url();
    let ann_principal = format!("ann-{}", uuid::Uuid::new_v4().simple());
    let (ann, bob) = (
        client_as(&ann_principal),
        client_as(&format!("bob-{}", uuid::Uuid::new_v4().simple())),
    );
    let source = open_account(&ann, &base, "EUR").await;
    money(&ann, &base, &source, "deposits", 100).await;
    let destination = open_account(&bob, &base, "EUR").await;

    // The process waits (a failing or throttled function) while both owners close their accounts around the debit.
    stack.pause_transfer_process().await;
    let reply = post(
        &ann,
        &format!("{base}/transfers"),
        &[("idempotency-key", "all-of-it")],
        Some(&transfer_body(&source, &destination, 100)),
    )
    .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let id = reply.body["transfer_id"].as_str().unwrap().to_owned();
    let stream = format!("transfer-{id}");
    let closed = post(
        &bob,
        &format!("{base}/accounts/{destination}/close"),
        &[],
        None,
    )
    .await;
    assert_eq!(closed.status, 200, "{closed:?}");
    let process = bank_service::transfers::TransferProcess::over(store(), common::SNAPSHOTS);
    assert!(process.step_once(&stream).await.unwrap(), "the debit");
    let closed = post(&ann, &format!("{base}/accounts/{source}/close"), &[], None).await;
    assert_eq!(closed.status, 200, "{closed:?}");
    stack.resume_transfer_process().await;

    let view = settled_transfer(&ann, &base, &id).await;
    assert_eq!(
        (view["status"].as_str(), view["failed_at"].as_str()),
        (Some("held"), Some("refund")),
        "{view}"
    );
    let held = transfer_state(&id).await.held();
    let balances = account(&source).await.1.balance() + account(&destination).await.1.balance();
    assert_eq!(
        (balances, held),
        (0, 100),
        "the money is held, in no account"
    );

    // Ann opens another account; a USD account is no home for euros; only an operator may release.
    let home = open_account(&ann, &base, "EUR").await;
    let dollars = open_account(&ann, &base, "USD").await;
    let release = |to: &str| format!(r#"{{"to":"{to}"}}"#);
    let url = format!("{base}/transfers/{id}/release");
    let by_owner = post(&ann, &url, &[], Some(&release(&home))).await;
    assert_eq!(by_owner.status, 403, "{by_owner:?}");
    let operator = operator_client("operator-on-call");
    let wrong = post(&operator, &url, &[], Some(&release(&dollars))).await;
    assert_eq!(
        (wrong.status, wrong.body["type"].as_str()),
        (422, Some("urn:tributary:problem:currency-mismatch")),
        "{wrong:?}"
    );
    let released = post(
        &operator,
        &url,
        &[("idempotency-key", "release-1")],
        Some(&release(&home)),
    )
    .await;
    assert_eq!(released.status, 202, "{released:?}");

    let view = common::eventually(
        &ann,
        &format!("{base}/transfers/{id}"),
        "the release",
        |r| r.body["status"] == "released",
    )
    .await
    .body;
    assert_eq!(
        (view["released_to"].as_str(), view["released_by"].as_str()),
        (Some(home.as_str()), Some("operator-on-call")),
        "{view}"
    );
    assert_eq!(transfer_state(&id).await.held(), 0);
    let (events, state) = account(&home).await;
    assert_eq!(state.balance(), 100, "{events:?}");
    assert!(matches!(
        events.last(),
        Some(AccountEvent::TransferReceived { from, .. }) if from.to_string() == source
    ));
    // The release is on the transfer's own stream, under the operator's name.
    let audit = store().load(&stream).await.unwrap();
    let ordered = audit
        .iter()
        .find(|e| e.event_type == "ReleaseOrdered")
        .expect("the release is recorded");
    assert_eq!(ordered.metadata.actor, "operator-on-call");
    // A transfer that is not held cannot be released.
    let again = post(&operator, &url, &[], Some(&release(&home))).await;
    assert_eq!(
        (again.status, again.body["type"].as_str()),
        (409, Some("urn:tributary:problem:transfer-not-held")),
        "{again:?}"
    );
    let _: Value = get(&ann, &format!("{base}/accounts/{home}")).await.body;
    stack.stop().await;
}

/// `min_version` asks who is calling before anything else: before, a stranger's `?min_version=99` on someone else's
/// account, statement or transfer waited a second and answered 503 with `current_version` — whether the id exists,
/// how many events it has, how far a transfer got. Now the same 404 as for an id that does not exist, at once, on
/// the first read (the view's owner, or the event store's for what is not projected yet). The owner still waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_learns_nothing_from_min_version() {
    let stack = stack().await;
    let base = stack.base_url();
    let (owner, payee, stranger) = (
        client_as(&format!("owner-{}", uuid::Uuid::new_v4().simple())),
        client_as(&format!("payee-{}", uuid::Uuid::new_v4().simple())),
        client_as(&format!("stranger-{}", uuid::Uuid::new_v4().simple())),
    );
    let id = open_account(&owner, &base, "EUR").await;
    money(&owner, &base, &id, "deposits", 10).await;
    let to = open_account(&payee, &base, "EUR").await;
    let reply = post(
        &owner,
        &format!("{base}/transfers"),
        &[],
        Some(&transfer_body(&id, &to, 5)),
    )
    .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let transfer = reply.body["transfer_id"].as_str().unwrap().to_owned();
    let nobody = uuid::Uuid::new_v4();
    for (url, missing) in [
        (
            format!("{base}/accounts/{id}?min_version=99"),
            format!("{base}/accounts/{nobody}?min_version=99"),
        ),
        (
            format!("{base}/accounts/{id}/statement?min_version=99"),
            format!("{base}/accounts/{nobody}/statement?min_version=99"),
        ),
        (
            format!("{base}/transfers/{transfer}?min_version=99"),
            format!("{base}/transfers/{nobody}?min_version=99"),
        ),
    ] {
        let (theirs, none) = (get(&stranger, &url).await, get(&stranger, &missing).await);
        assert_eq!(theirs.status, 404, "{url}: {theirs:?}");
        assert_eq!(
            (
                theirs.status,
                &theirs.body["type"],
                theirs.body.get("current_version")
            ),
            (none.status, &none.body["type"], None),
            "{url}: the same answer as for an id that does not exist"
        );
    }
    // The owner (and the requester) still wait, and are told how far the read model is.
    for url in [
        format!("{base}/accounts/{id}?min_version=99"),
        format!("{base}/transfers/{transfer}?min_version=99"),
    ] {
        let mine = get(&owner, &url).await;
        assert_eq!(mine.status, 503, "{url}: {mine:?}");
        assert!(mine.body["current_version"].is_u64(), "{mine:?}");
    }
    stack.stop().await;
}

/// A transfer's credit is a command on someone else's account: before, its events carried the sender's trace (and
/// the destination's owner reads them, in the audit trail: the sender's trace id, which ties their requests
/// together, reached a stranger). Now the order starts a trace of its own (linked to the sender's in the exported
/// spans); the debit on the sender's own account still continues the request's trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credit_starts_a_trace_of_its_own() {
    let stack = stack().await;
    let base = stack.base_url();
    let (ann, bob) = (
        client_as(&format!("trace-ann-{}", uuid::Uuid::new_v4().simple())),
        client_as(&format!("trace-bob-{}", uuid::Uuid::new_v4().simple())),
    );
    let from = open_account(&ann, &base, "EUR").await;
    money(&ann, &base, &from, "deposits", 100).await;
    let to = open_account(&bob, &base, "EUR").await;
    let request = tributary_core::TraceParent::new_root();
    let reply = post(
        &ann,
        &format!("{base}/transfers"),
        &[("traceparent", &request.to_string())],
        Some(&transfer_body(&from, &to, 10)),
    )
    .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let view = settled_transfer(&ann, &base, reply.body["transfer_id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "completed", "{view}");
    let trace_of = |events: Vec<tributary_store::StoredEvent>, kind: &str| {
        let event = events.into_iter().find(|e| e.event_type == kind).unwrap();
        tributary_core::TraceParent::parse(event.metadata.traceparent.as_deref().unwrap()).unwrap()
    };
    let sent = trace_of(
        store().load(&format!("account-{from}")).await.unwrap(),
        "TransferSent",
    );
    let received = trace_of(
        store().load(&format!("account-{to}")).await.unwrap(),
        "TransferReceived",
    );
    assert_eq!(
        sent.trace_id(),
        request.trace_id(),
        "the debit is the sender's"
    );
    assert_ne!(
        received.trace_id(),
        request.trace_id(),
        "the credit does not carry the sender's trace"
    );
    // The owner of the destination, reading their audit trail, sees no trace of the sender's.
    let audit = get(&bob, &format!("{base}/accounts/{to}/events")).await;
    assert_eq!(audit.status, 200, "{audit:?}");
    assert!(
        !audit.body.to_string().contains(request.trace_id()),
        "{}",
        audit.body
    );
    stack.stop().await;
}

/// What a request says must be what it means. Before: a JSON array was read as the struct of its fields in order —
/// `POST /transfers` with `["<from>","<to>",1]` moved money — and a second `traceparent` was silently ignored (the
/// command joined whichever trace came first). Now every route refuses a body that is not a JSON object, and two
/// `traceparent` headers, with 400; nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_an_object_or_a_second_traceparent_is_refused() {
    let stack = stack().await;
    let base = stack.base_url();
    let (ann, bob) = (
        client_as(&format!("array-ann-{}", uuid::Uuid::new_v4().simple())),
        client_as(&format!("array-bob-{}", uuid::Uuid::new_v4().simple())),
    );
    let from = open_account(&ann, &base, "EUR").await;
    money(&ann, &base, &from, "deposits", 100).await;
    let to = open_account(&bob, &base, "EUR").await;
    let transfer = uuid::Uuid::new_v4();
    for (path, body) in [
        ("/transfers".to_owned(), format!(r#"["{from}","{to}",1]"#)),
        ("/accounts".to_owned(), r#"["EUR"]"#.to_owned()),
        (format!("/accounts/{from}/deposits"), "[5]".to_owned()),
        (format!("/accounts/{from}/withdrawals"), "[5]".to_owned()),
        (format!("/accounts/{from}/close"), "[]".to_owned()),
        (
            format!("/transfers/{transfer}/release"),
            format!(r#"["{to}"]"#),
        ),
    ] {
        let reply = post(&ann, &format!("{base}{path}"), &[], Some(&body)).await;
        assert_eq!(
            (reply.status, reply.body["type"].as_str()),
            (400, Some("urn:tributary:problem:invalid-request")),
            "POST {path} {body}: {reply:?}"
        );
    }
    let twice = ann
        .post(format!("{base}/accounts/{from}/deposits"))
        .header("content-type", "application/json")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .body(r#"{"amount":5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400);
    let problem: Value = twice.json().await.unwrap();
    assert_eq!(problem["type"], "urn:tributary:problem:invalid-traceparent");
    let (events, state) = account(&from).await;
    assert_eq!(
        (events.len(), state.balance()),
        (2, 100),
        "nothing was written"
    );
    assert_eq!(account(&to).await.1.balance(), 0);
    stack.stop().await;
}

/// One caller cannot take the API from the others: past its budget a flooder gets 429 `rate-limited` with
/// `Retry-After` — before anything is read — while another caller's requests are answered as usual. (The budget's
/// clock is a fake one here, so nothing depends on the machine's speed; what a flood does to another caller's p99 is
/// measured by the benchmark harness, BENCHMARKS.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_caller_is_refused_and_others_are_not() {
    use std::num::NonZeroU32;
    let clock = tributary_http::limit::FakeClock::default();
    let stack = Devstack::start(devstack::DevstackConfig {
        rate_limit: Some(tributary_http::RateLimit::with_clock(
            NonZeroU32::new(1).unwrap(),
            NonZeroU32::new(4).unwrap(),
            clock.clone(),
        )),
        ..test_config().await
    })
    .await
    .unwrap();
    let base = stack.base_url();
    let (owner, flooder) = (
        client_as(&format!("limited-owner-{}", uuid::Uuid::new_v4().simple())),
        client_as(&format!("flooder-{}", uuid::Uuid::new_v4().simple())),
    );
    let id = open_account(&owner, &base, "EUR").await;
    let url = format!("{base}/accounts/{id}");
    let mut answers = std::collections::BTreeMap::<u16, usize>::new();
    for _ in 0..40 {
        *answers.entry(get(&flooder, &url).await.status).or_default() += 1;
    }
    assert_eq!(
        answers,
        [(404, 4), (429, 36)].into(),
        "its burst (a stranger's 404s), then refusals"
    );
    let refused = get(&flooder, &url).await;
    assert_eq!(
        (
            refused.status,
            refused.header("retry-after"),
            refused.body["type"].as_str()
        ),
        (429, "1", Some("urn:tributary:problem:rate-limited")),
        "{refused:?}"
    );
    // The owner's own budget is untouched: a deposit, and reads (answered, whatever the read model holds yet).
    money(&owner, &base, &id, "deposits", 5).await;
    for _ in 0..2 {
        let read = get(&owner, &url).await;
        assert!(matches!(read.status, 200 | 404), "{read:?}");
    }
    // A second later the flooder may send one more.
    clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(get(&flooder, &url).await.status, 404);
    stack.stop().await;
}
