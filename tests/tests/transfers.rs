//! Transfers end to end, over HTTP, under faults: 200 concurrent transfers among 22 accounts — some refused when
//! asked for (a closed destination, another currency), some at the debit (insufficient funds, a closed source) —
//! after ten into two accounts that closed while the process manager was paused (refunded), with half of the command
//! path's publishes dropped (the relay delivers them) and the transfer process manager restarted mid-run. At the end,
//! from the event store: money is neither created nor destroyed, every transfer is completed or failed, a completed
//! one moved its amount exactly once, a failed one left both balances as they were, no account holds a refusal; the
//! read side agrees (summaries, statements with counterparties, transfer views).
//!
//! Runs on the test binary's DynamoDB API and Kafka: embedded by default, DynamoDB Local + tansu in the full run.

mod common;

use bank_account::{Account, AccountEvent, AccountState};
use bank_service::transfers::TransferProcess;
use base64::Engine;
use common::{client_as, get_fresh, post, settled_transfers, test_config};
use devstack::Devstack;
use futures::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tributary_consumer::redrive::{redrive_topic, ProcessTarget, Selection};
use tributary_dynamodb::DynamoDbEventStore;
use tributary_testkit::dynamo;

const ACCOUNTS: usize = 20;
const TRANSFERS: usize = 200;
const DEPOSIT: u64 = 10_000;
/// Accounts closed before any transfer (the last ones of ACCOUNTS): a transfer from one is refused at the debit, a
/// transfer to one when it is asked for.
const CLOSED: usize = 2;
/// Empty accounts (after ACCOUNTS) that close after transfers into them were asked for: those are refunded.
const CLOSING: usize = 2;
/// Transfers into the closing accounts.
const REFUNDED: usize = 10;

struct Opened {
    id: String,
    owner: String,
    deposited: u64,
}

/// POST until the answer is definite (not a 5xx or a 409 race), with the same idempotency key.
async fn post_definite(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: &str,
) -> common::Reply {
    for _ in 0..40 {
        let reply = post(client, url, &[("idempotency-key", key)], Some(body)).await;
        if reply.status < 500 && reply.status != 409 {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url}: no definite answer after 40 attempts");
}

async fn open_accounts(base: &str) -> Vec<Opened> {
    let mut accounts = Vec::new();
    for i in 0..ACCOUNTS + CLOSING {
        let owner = format!("transfer-owner-{i}-{}", uuid::Uuid::new_v4().simple());
        let client = client_as(&owner);
        let currency = if i % 5 == 4 { "USD" } else { "EUR" };
        let opened = post_definite(
            &client,
            &format!("{base}/accounts"),
            &format!("open-{i}"),
            &format!(r#"{{"currency":"{currency}"}}"#),
        )
        .await;
        assert_eq!(opened.status, 201, "{opened:?}");
        let id = opened.body["account_id"].as_str().unwrap().to_owned();
        let closed = (ACCOUNTS - CLOSED..ACCOUNTS).contains(&i);
        let deposited = if i >= ACCOUNTS {
            0
        } else if closed {
            let reply = post_definite(
                &client,
                &format!("{base}/accounts/{id}/close"),
                "close",
                "{}",
            )
            .await;
            assert_eq!(reply.status, 200, "{reply:?}");
            0
        } else {
            let reply = post_definite(
                &client,
                &format!("{base}/accounts/{id}/deposits"),
                "deposit",
                &format!(r#"{{"amount":{DEPOSIT}}}"#),
            )
            .await;
            assert_eq!(reply.status, 200, "{reply:?}");
            DEPOSIT
        };
        accounts.push(Opened {
            id,
            owner,
            deposited,
        });
    }
    accounts
}

/// A transfer as requested: who asked, between which accounts (indices), how much, and its id — or why it was
/// refused when asked for.
struct Requested {
    id: Result<String, String>,
    from: usize,
    to: usize,
    amount: u64,
}

async fn request_transfers(
    base: &str,
    accounts: &Arc<Vec<Opened>>,
    acknowledged: &Arc<AtomicUsize>,
) -> Vec<Requested> {
    let mut rng = StdRng::seed_from_u64(12);
    let all = accounts.len();
    let plan: Vec<(usize, usize, u64)> = (0..TRANSFERS)
        .map(|_| {
            let from = rng.random_range(0..all);
            let to = (from + rng.random_range(1..all)) % all;
            (from, to, rng.random_range(1..=4_000))
        })
        .collect();
    let tasks = plan.into_iter().enumerate().map(|(n, (from, to, amount))| {
        let accounts = accounts.clone();
        let acknowledged = acknowledged.clone();
        let base = base.to_owned();
        tokio::spawn(async move {
            let requested =
                request_one(&base, &accounts, &format!("transfer-{n}"), from, to, amount).await;
            acknowledged.fetch_add(1, Ordering::SeqCst);
            requested
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(|t| t.expect("request task"))
        .collect()
}

/// Ask for one transfer (until the answer is definite): accepted, or refused when asked for.
async fn request_one(
    base: &str,
    accounts: &[Opened],
    key: &str,
    from: usize,
    to: usize,
    amount: u64,
) -> Requested {
    let client = client_as(&accounts[from].owner);
    let reply = post_definite(
        &client,
        &format!("{base}/transfers"),
        key,
        &format!(
            r#"{{"from":"{}","to":"{}","amount":{amount}}}"#,
            accounts[from].id, accounts[to].id
        ),
    )
    .await;
    let id = match reply.status {
        202 => {
            let id = reply.body["transfer_id"].as_str().unwrap().to_owned();
            assert_eq!(reply.header("location"), format!("/transfers/{id}"));
            Ok(id)
        }
        422 => Err(reply.body["type"]
            .as_str()
            .unwrap()
            .trim_start_matches("urn:tributary:problem:")
            .to_owned()),
        _ => panic!("{reply:?}"),
    };
    Requested {
        id,
        from,
        to,
        amount,
    }
}

/// Per transfer, what the accounts' streams hold: (sent, received, refunded, refused orders).
type Moves = BTreeMap<String, [u32; 4]>;

fn moves_of(events: &[AccountEvent], moves: &mut Moves) {
    for event in events {
        let (id, slot) = match event {
            AccountEvent::TransferSent { transfer_id, .. } => (transfer_id, 0),
            AccountEvent::TransferReceived { transfer_id, .. } => (transfer_id, 1),
            AccountEvent::TransferRefunded { transfer_id, .. } => (transfer_id, 2),
            AccountEvent::TransferOrderRefused { transfer_id, .. } => (transfer_id, 3),
            _ => continue,
        };
        moves.entry(id.to_string()).or_default()[slot] += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_conserve_money_under_dropped_publishes_and_a_process_restart() {
    let mut stack = Devstack::start(devstack::DevstackConfig {
        fail_publish_rate: 0.5,
        ..test_config().await
    })
    .await
    .expect("devstack starts");
    let base = stack.base_url();
    let accounts = Arc::new(open_accounts(&base).await);

    // Transfers into the closing accounts, asked for while the process manager is paused; then they close.
    stack.pause_transfer_process().await;
    let funded: Vec<usize> = (0..ACCOUNTS - CLOSED).filter(|i| i % 5 != 4).collect();
    let mut refunded_ones = Vec::new();
    for n in 0..REFUNDED {
        let (from, to) = (funded[n % funded.len()], ACCOUNTS + n % CLOSING);
        let requested =
            request_one(&base, &accounts, &format!("refunded-{n}"), from, to, 100).await;
        assert!(requested.id.is_ok(), "{:?}", requested.id);
        refunded_ones.push(requested);
    }
    for closing in &accounts[ACCOUNTS..] {
        let reply = post_definite(
            &client_as(&closing.owner),
            &format!("{base}/accounts/{}/close", closing.id),
            "close",
            "{}",
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    stack.resume_transfer_process().await;

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let requests = tokio::spawn({
        let (base, accounts, acknowledged) = (base.clone(), accounts.clone(), acknowledged.clone());
        async move { request_transfers(&base, &accounts, &acknowledged).await }
    });
    // Mid-run: once a quarter of the transfers are requested, the process manager stops (finishing or leaving its
    // batch) and a fresh one takes over its consumer group.
    while acknowledged.load(Ordering::SeqCst) < TRANSFERS / 4 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stack.restart_transfer_process().await;
    let mut requested = requests.await.expect("requests");
    requested.extend(refunded_ones);

    // A long queue on a loaded machine: wait while the transfers keep moving (common::settled_transfers).
    let asked: Vec<(reqwest::Client, String)> = requested
        .iter()
        .filter_map(|t| {
            let id = t.id.as_ref().ok()?;
            Some((client_as(&accounts[t.from].owner), id.clone()))
        })
        .collect();
    let mut settled = settled_transfers(&base, &asked).await.into_iter();
    let views: Vec<Option<serde_json::Value>> = requested
        .iter()
        .map(|t| t.id.as_ref().ok().and_then(|_| settled.next()))
        .collect();

    // The event store's account of what happened.
    let store = DynamoDbEventStore::shared(dynamo().client(), &dynamo().events_table);
    let mut moves = Moves::new();
    let mut balances = Vec::new();
    for account in accounts.iter() {
        let stored = store
            .load(&format!("account-{}", account.id))
            .await
            .unwrap();
        let events: Vec<AccountEvent> = stored
            .iter()
            .map(|e| e.decode::<AccountEvent>().unwrap().event)
            .collect();
        moves_of(&events, &mut moves);
        let balance = match tributary_core::fold::<Account>(&events) {
            AccountState::Open { balance, .. } => balance,
            AccountState::Closed { .. } => 0,
            AccountState::Unopened => panic!("account {} not opened", account.id),
        };
        balances.push((balance, stored.last().unwrap().version));
    }

    // Money is neither created nor destroyed.
    let total: u64 = balances.iter().map(|(b, _)| b).sum();
    let deposited: u64 = accounts.iter().map(|a| a.deposited).sum();
    assert_eq!(total, deposited, "the sum of balances equals the deposits");

    // Every transfer ended, and moved its money exactly once or not at all; none left a refusal on an account.
    let store_of = |id: &str| format!("transfer-{id}");
    let (mut completed, mut failed_at_debit, mut refunded, mut refused) = (0, 0, 0, 0);
    for (t, view) in requested.iter().zip(&views) {
        let (id, view) = match (&t.id, view) {
            (Ok(id), Some(view)) => (id, view),
            (Err(why), _) => {
                // Refused when asked for: a destination that is closed or in another currency; nothing written.
                let (to, from) = (&accounts[t.to], &accounts[t.from]);
                let expected = if t.to >= ACCOUNTS - CLOSED {
                    "destination-closed"
                } else {
                    assert_ne!(t.from % 5 == 4, t.to % 5 == 4, "{} -> {}", from.id, to.id);
                    "currency-mismatch"
                };
                assert_eq!(why, expected);
                refused += 1;
                continue;
            }
            (Ok(id), None) => panic!("{id} has no view"),
        };
        let m = moves.get(id).copied().unwrap_or_default();
        assert_eq!(view["amount"], t.amount, "{view}");
        match (view["status"].as_str().unwrap(), view["failed_at"].as_str()) {
            ("completed", None) => {
                assert_eq!(m, [1, 1, 0, 0], "completed {id}: one debit, one credit");
                completed += 1;
            }
            ("failed", Some("debit")) => {
                assert_eq!(m, [0, 0, 0, 0], "failed at the debit {id}: nothing moved");
                failed_at_debit += 1;
            }
            ("failed", Some("credit")) => {
                assert_eq!(
                    m,
                    [1, 0, 1, 0],
                    "failed at the credit {id}: debited once, refunded once"
                );
                assert_eq!(
                    view["reason"], "the destination refused the credit: account-closed",
                    "{view}"
                );
                refunded += 1;
            }
            other => panic!("transfer {id} ended as {other:?}: {view}"),
        }
        assert!(!store.load(&store_of(id)).await.unwrap().is_empty());
        let (from, to) = (&accounts[t.from], &accounts[t.to]);
        if view["status"] == "failed" && view["failed_at"] == "debit" && from.deposited > 0 {
            // An open source: only its funds can have refused it.
            assert_eq!(
                view["reason"], "the source refused the debit: insufficient-funds",
                "{view} ({} -> {})",
                from.id, to.id
            );
        }
    }
    assert_eq!(
        completed + failed_at_debit + refunded + refused,
        TRANSFERS + REFUNDED
    );
    assert_eq!(
        refunded, REFUNDED,
        "the transfers into the closing accounts were refunded"
    );
    assert!(
        completed > 0 && failed_at_debit > 0 && refused > 0,
        "every path is exercised: {completed} completed, {failed_at_debit} refused at the debit, {refunded} refunded, {refused} refused when asked for"
    );
    assert!(
        moves.values().all(|m| m[3] == 0),
        "no account holds a refusal: {moves:?}"
    );

    // The read side agrees: each summary (once at the store's version) holds the folded balance.
    for (account, (balance, version)) in accounts.iter().zip(&balances) {
        let reply = get_fresh(
            &client_as(&account.owner),
            &format!("{base}/accounts/{}?min_version={version}", account.id),
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body["balance"], *balance, "{}", reply.body);
    }
    // A completed transfer is on both statements, each naming the other account.
    let (t, _) = requested
        .iter()
        .zip(&views)
        .find(|(_, v)| v.as_ref().is_some_and(|v| v["status"] == "completed"))
        .unwrap();
    let t_id = t.id.as_ref().unwrap();
    for (reader, kind, other) in [
        (t.from, "transfer-out", t.to),
        (t.to, "transfer-in", t.from),
    ] {
        let account = &accounts[reader];
        let statement = get_fresh(
            &client_as(&account.owner),
            &format!(
                "{base}/accounts/{}/statement?limit=100&min_version={}",
                account.id, balances[reader].1
            ),
        )
        .await
        .body;
        let line = statement["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["transfer_id"] == t_id.as_str())
            .unwrap_or_else(|| panic!("{kind} line of {t_id} in {statement}"));
        assert_eq!(line["kind"], kind);
        assert_eq!(line["counterparty"], accounts[other].id.as_str());
    }
    // Someone else's transfer does not exist for a stranger.
    let stranger = common::get(&client_as("stranger"), &format!("{base}/transfers/{t_id}")).await;
    assert_eq!(stranger.status, 404);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_from_someone_elses_account_or_to_no_account_is_refused_and_writes_nothing() {
    let stack = common::stack().await;
    let base = stack.base_url();
    let owner = format!("owner-{}", uuid::Uuid::new_v4().simple());
    let opened = post(
        &client_as(&owner),
        &format!("{base}/accounts"),
        &[],
        Some(r#"{"currency":"EUR"}"#),
    )
    .await;
    let id = opened.body["account_id"].as_str().unwrap().to_owned();
    let thief = client_as("thief");
    let other = uuid::Uuid::new_v4();
    let reply = post(
        &thief,
        &format!("{base}/transfers"),
        &[("idempotency-key", "steal")],
        Some(&format!(r#"{{"from":"{id}","to":"{other}","amount":1}}"#)),
    )
    .await;
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(
        reply.body["type"],
        "urn:tributary:problem:account-not-found"
    );
    // The id the request would have created holds nothing.
    let would_be = bank_account::TransferId::derived_from("thief\nsteal");
    let store = DynamoDbEventStore::shared(dynamo().client(), &dynamo().events_table);
    assert!(store.load(&would_be.stream_id()).await.unwrap().is_empty());

    // The owner may not send to an account that was never opened (its answer to the credit could change once it
    // is): 422 destination-not-found, nothing written.
    let reply = post(
        &client_as(&owner),
        &format!("{base}/transfers"),
        &[("idempotency-key", "nowhere")],
        Some(&format!(r#"{{"from":"{id}","to":"{other}","amount":1}}"#)),
    )
    .await;
    assert_eq!(reply.status, 422, "{reply:?}");
    assert_eq!(
        reply.body["type"],
        "urn:tributary:problem:destination-not-found"
    );
    let would_be = bank_account::TransferId::derived_from(&format!("{owner}\nnowhere"));
    assert!(store.load(&would_be.stream_id()).await.unwrap().is_empty());
    stack.stop().await;
}

/// A transfer the process manager dead-lettered (an operator's case: say a record the transfer refused) is carried
/// out by the documented re-drive once the cause is fixed (`tributary dead-letters replay transfer-process`): the
/// process reacts to the transfer again and does what is left, from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_transfer_is_carried_out_by_the_redrive() {
    // No consumers run: nothing carries the transfer out but the re-drive.
    let stack = Devstack::start(devstack::DevstackConfig {
        denormalisers: false,
        ..test_config().await
    })
    .await
    .expect("devstack starts");
    let base = stack.base_url();
    let (ann, bob) = (client_as("redrive-ann"), client_as("redrive-bob"));
    let open = |client: reqwest::Client, key: &'static str| {
        let base = base.clone();
        async move {
            let reply = post_definite(
                &client,
                &format!("{base}/accounts"),
                key,
                r#"{"currency":"EUR"}"#,
            )
            .await;
            reply.body["account_id"].as_str().unwrap().to_owned()
        }
    };
    let (from, to) = (
        open(ann.clone(), "redrive-open-ann").await,
        open(bob.clone(), "redrive-open-bob").await,
    );
    let deposited = post_definite(
        &ann,
        &format!("{base}/accounts/{from}/deposits"),
        "redrive-deposit",
        r#"{"amount":500}"#,
    )
    .await;
    assert_eq!(deposited.status, 200);
    let requested = post_definite(
        &ann,
        &format!("{base}/transfers"),
        "redrive-transfer",
        &format!(r#"{{"from":"{from}","to":"{to}","amount":200}}"#),
    )
    .await;
    assert_eq!(requested.status, 202, "{requested:?}");
    let stream = format!(
        "transfer-{}",
        requested.body["transfer_id"].as_str().unwrap()
    );

    // The letter the process manager published for the transfer's record.
    let kafka = tributary_kafka::KafkaConfig {
        dead_letter_topic: stack.dead_letter_topic.clone(),
        ..tributary_kafka::KafkaConfig::plaintext(
            &stack.kafka_bootstrap,
            &stack.events_topic,
            "unused",
        )
    };
    let no_aws = aws_types::SdkConfig::builder().build();
    let group = "redrive-test-transfer-process";
    let letter = tributary_kafka::DeadLetter::kafka_record(
        group,
        &stack.events_topic,
        0,
        0,
        Some(base64::engine::general_purpose::STANDARD.encode(&stream)),
        None,
        "the transfer refused the process's record".to_owned(),
    );
    tributary_kafka::Publisher::connect(&kafka, &no_aws)
        .await
        .unwrap()
        .publish_dead_letters(&[letter])
        .await
        .unwrap();

    let store = DynamoDbEventStore::shared(dynamo().client(), &dynamo().events_table);
    let process = TransferProcess::over(store.clone(), common::SNAPSHOTS);
    let report = redrive_topic(
        &kafka,
        &no_aws,
        &ProcessTarget(&process),
        group,
        &Selection::all(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!((report.ours, report.not_read), (1, 0), "{report:?}");
    assert!(report.streams.contains(&stream), "{report:?}");
    let transfer: Vec<bank_account::TransferEvent> = store
        .load(&stream)
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode().unwrap().event)
        .collect();
    assert_eq!(
        tributary_core::fold::<bank_account::Transfer>(&transfer).status(),
        "completed"
    );
    for (account, balance) in [(&from, 300), (&to, 200)] {
        let events: Vec<AccountEvent> = store
            .load(&format!("account-{account}"))
            .await
            .unwrap()
            .iter()
            .map(|e| e.decode().unwrap().event)
            .collect();
        assert!(matches!(
            tributary_core::fold::<Account>(&events),
            AccountState::Open { balance: b, .. } if b == balance
        ));
    }
    // A second run finds nothing new.
    let again = redrive_topic(
        &kafka,
        &no_aws,
        &ProcessTarget(&process),
        group,
        &Selection::all(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(again.ours, 0, "{again:?}");
    stack.stop().await;
}

/// A record whose event this build cannot read (a newer event type, mid-deployment) is not poison for the process
/// manager, which reads the event store, not the record: before, it was dead-lettered — and a transfer that had
/// moved money already stopped half way. Now the process reacts from the store (the transfer completes, nothing is
/// dead-lettered); and when the store holds an event this build cannot read, the batch fails for now (retried; the
/// alarm fires; the new build picks it up) — still no dead letter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_event_this_build_cannot_read_is_retried_not_dead_lettered() {
    // An events table of its own: the event this build cannot read must not reach the other tests' stacks (each
    // relay publishes every stream of its table, and their process managers would rightly stop at it).
    let stack = Devstack::start(devstack::DevstackConfig {
        denormalisers: false,
        events_table: format!("test-newer-events-{}", uuid::Uuid::new_v4().simple()),
        ..test_config().await
    })
    .await
    .expect("devstack starts");
    let base = stack.base_url();
    let (ann, bob) = (
        client_as(&format!("newer-ann-{}", uuid::Uuid::new_v4().simple())),
        client_as(&format!("newer-bob-{}", uuid::Uuid::new_v4().simple())),
    );
    let from = common::open_account(&ann, &base, "EUR").await;
    common::money(&ann, &base, &from, "deposits", 100).await;
    let to = common::open_account(&bob, &base, "EUR").await;
    let request = |amount: u64| {
        let (ann, url) = (ann.clone(), format!("{base}/transfers"));
        let body = format!(r#"{{"from":"{from}","to":"{to}","amount":{amount}}}"#);
        async move {
            let reply = post(&ann, &url, &[], Some(&body)).await;
            assert_eq!(reply.status, 202, "{reply:?}");
            format!("transfer-{}", reply.body["transfer_id"].as_str().unwrap())
        }
    };
    let store = DynamoDbEventStore::shared(dynamo().client(), &stack.events_table);
    let kafka = tributary_kafka::KafkaConfig {
        dead_letter_topic: stack.dead_letter_topic.clone(),
        ..tributary_kafka::KafkaConfig::plaintext(
            &stack.kafka_bootstrap,
            &stack.events_topic,
            "unused",
        )
    };
    let publisher =
        tributary_kafka::Publisher::connect(&kafka, &aws_types::SdkConfig::builder().build())
            .await
            .unwrap();
    let reactor = tributary_consumer::reactor::Reactor {
        manager: TransferProcess::over(store.clone(), common::SNAPSHOTS),
        consumer_group: "newer-event-transfer-process".to_owned(),
        dead_letters: tributary_kafka::LazyPublisher::ready(publisher),
    };
    // A record of version 2 of `stream` carrying an event type this build does not know.
    let newer = |stream: &str, requested: &tributary_store::StoredEvent| {
        let mut newer = requested.clone();
        newer.stream_id = stream.to_owned();
        newer.version = 2;
        newer.event_type = "TransferExpedited".into();
        newer.payload = r#"{"type":"TransferExpedited","priority":"high"}"#.into();
        newer
    };
    let batch_of =
        |event: &tributary_store::StoredEvent| -> aws_lambda_events::event::kafka::KafkaEvent {
            let records = [tributary_testkit::RawRecord::of(event)];
            serde_json::from_value(tributary_testkit::kafka_batch_json("events", &records, 0))
                .unwrap()
        };

    // Only the record is newer: the process reacts from the store.
    let first = request(10).await;
    let requested = store.load(&first).await.unwrap();
    let report = reactor
        .handle(&batch_of(&newer(&first, &requested[0])))
        .await
        .unwrap();
    assert_eq!((report.streams, report.dead_lettered), (1, 0), "{report:?}");
    let state: Vec<bank_account::TransferEvent> = store
        .load(&first)
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode().unwrap().event)
        .collect();
    assert_eq!(
        tributary_core::fold::<bank_account::Transfer>(&state).status(),
        "completed"
    );

    // The store holds it too (a newer build appended it): the batch fails for now; nothing is dead-lettered.
    let second = request(20).await;
    let requested = store.load(&second).await.unwrap();
    let appended = newer(&second, &requested[0]);
    tributary_testkit::seed_history(
        &dynamo().client(),
        &stack.events_table,
        &second,
        2,
        [tributary_store::NewEvent {
            event_type: appended.event_type.clone(),
            schema_version: 1,
            payload: appended.payload.clone(),
            metadata: appended.metadata.clone(),
        }],
    )
    .await
    .unwrap();
    match reactor.handle(&batch_of(&appended)).await {
        Err(tributary_consumer::record::BatchError::Transient { stream, .. }) => {
            assert_eq!(stream, second)
        }
        other => panic!("the batch is retried, not settled: {other:?}"),
    }
    stack.stop().await;
}
