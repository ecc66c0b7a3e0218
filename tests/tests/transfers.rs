//! Transfers end to end, over HTTP, under faults: 200 concurrent transfers among 20 accounts — some refused
//! (insufficient funds, a closed source), some into closed accounts or accounts of another currency (refunded) —
//! with half of the command path's publishes dropped (the relay delivers them) and the transfer process manager
//! restarted mid-run. At the end, from the event store: money is neither created nor destroyed, every transfer is
//! completed or failed, a completed one moved its amount exactly once, a failed one left both balances as they
//! were; the read side agrees (summaries, statements with counterparties, transfer views).
//!
//! Runs on the test binary's DynamoDB API and Kafka: embedded by default, DynamoDB Local + tansu in the full run.

mod common;

use bank_account::{Account, AccountEvent, AccountState};
use bank_service::transfers::TransferProcess;
use base64::Engine;
use common::{client_as, post, test_config};
use devstack::Devstack;
use futures::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tributary_consumer::redrive::{redrive_topic, ProcessTarget};
use tributary_dynamodb::EventStore;
use tributary_testkit::dynamo;

const ACCOUNTS: usize = 20;
const TRANSFERS: usize = 200;
const DEPOSIT: u64 = 10_000;
/// Accounts closed before any transfer (the last ones): a transfer from one is refused at the debit, a transfer to
/// one is refunded.
const CLOSED: usize = 2;

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
    for i in 0..ACCOUNTS {
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
        let closed = i >= ACCOUNTS - CLOSED;
        let deposited = if closed {
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

/// A transfer as requested: who asked, between which accounts (indices), how much, and its id.
struct Requested {
    id: String,
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
    let plan: Vec<(usize, usize, u64)> = (0..TRANSFERS)
        .map(|_| {
            let from = rng.random_range(0..ACCOUNTS);
            let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
            (from, to, rng.random_range(1..=4_000))
        })
        .collect();
    let tasks = plan.into_iter().enumerate().map(|(n, (from, to, amount))| {
        let accounts = accounts.clone();
        let acknowledged = acknowledged.clone();
        let base = base.to_owned();
        tokio::spawn(async move {
            let client = client_as(&accounts[from].owner);
            let reply = post_definite(
                &client,
                &format!("{base}/transfers"),
                &format!("transfer-{n}"),
                &format!(
                    r#"{{"from":"{}","to":"{}","amount":{amount}}}"#,
                    accounts[from].id, accounts[to].id
                ),
            )
            .await;
            assert_eq!(reply.status, 202, "{reply:?}");
            assert_eq!(
                reply.header("location"),
                format!("/transfers/{}", reply.body["transfer_id"].as_str().unwrap())
            );
            acknowledged.fetch_add(1, Ordering::SeqCst);
            Requested {
                id: reply.body["transfer_id"].as_str().unwrap().to_owned(),
                from,
                to,
                amount,
            }
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(|t| t.expect("request task"))
        .collect()
}

/// The transfer's view once it is completed or failed (its requester reads it).
async fn settled(base: &str, owner: &str, id: &str) -> Value {
    let client = client_as(owner);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let reply = client
            .get(format!("{base}/transfers/{id}"))
            .send()
            .await
            .unwrap();
        if reply.status() == 200 {
            let view: Value = reply.json().await.unwrap();
            if view["status"] != "pending" {
                return view;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "transfer {id} did not settle in 180 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
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
    let requested = requests.await.expect("requests");

    let views = join_all(
        requested
            .iter()
            .map(|t| settled(&base, &accounts[t.from].owner, &t.id)),
    )
    .await;

    // The event store's account of what happened.
    let store = EventStore::new(dynamo().client(), &dynamo().events_table);
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

    // Every transfer ended, and moved its money exactly once or not at all.
    let (mut completed, mut failed_at_debit, mut refunded) = (0, 0, 0);
    for (t, view) in requested.iter().zip(&views) {
        let m = moves.get(&t.id).copied().unwrap_or_default();
        // An open account answers a refused order with an event; a closed one refuses it without one.
        let refusal_of = |account: usize| u32::from(accounts[account].deposited > 0);
        assert_eq!(view["amount"], t.amount, "{view}");
        match (view["status"].as_str().unwrap(), view["failed_at"].as_str()) {
            ("completed", None) => {
                assert_eq!(m, [1, 1, 0, 0], "completed {}: one debit, one credit", t.id);
                completed += 1;
            }
            ("failed", Some("debit")) => {
                assert_eq!(
                    m,
                    [0, 0, 0, refusal_of(t.from)],
                    "failed at the debit {}: nothing moved",
                    t.id
                );
                failed_at_debit += 1;
            }
            ("failed", Some("credit")) => {
                assert_eq!(
                    m,
                    [1, 0, 1, refusal_of(t.to)],
                    "failed at the credit {}: debited once, refunded once",
                    t.id
                );
                refunded += 1;
            }
            other => panic!("transfer {} ended as {other:?}: {view}", t.id),
        }
        let (from, to) = (&accounts[t.from], &accounts[t.to]);
        if view["status"] == "failed" && from.deposited > 0 && to.deposited > 0 {
            // Both open, same currency: only the source's funds can have refused it.
            if t.from % 5 != 4 && t.to % 5 != 4 || t.from % 5 == 4 && t.to % 5 == 4 {
                assert_eq!(
                    view["reason"], "the source refused the debit: insufficient-funds",
                    "{view}"
                );
            }
        }
    }
    assert_eq!(completed + failed_at_debit + refunded, TRANSFERS);
    assert!(
        completed > 0 && failed_at_debit > 0 && refunded > 0,
        "every path is exercised: {completed} completed, {failed_at_debit} refused at the debit, {refunded} refunded"
    );

    // The read side agrees: each summary (once at the store's version) holds the folded balance.
    for (account, (balance, version)) in accounts.iter().zip(&balances) {
        let reply = client_as(&account.owner)
            .get(format!(
                "{base}/accounts/{}?min_version={version}",
                account.id
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        let summary: Value = reply.json().await.unwrap();
        assert_eq!(summary["balance"], *balance, "{summary}");
    }
    // A completed transfer is on both statements, each naming the other account.
    let (t, _) = requested
        .iter()
        .zip(&views)
        .find(|(_, v)| v["status"] == "completed")
        .unwrap();
    for (reader, kind, other) in [
        (t.from, "transfer-out", t.to),
        (t.to, "transfer-in", t.from),
    ] {
        let account = &accounts[reader];
        let statement: Value = client_as(&account.owner)
            .get(format!(
                "{base}/accounts/{}/statement?limit=100&min_version={}",
                account.id, balances[reader].1
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let line = statement["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["transfer_id"] == t.id.as_str())
            .unwrap_or_else(|| panic!("{kind} line of {} in {statement}", t.id));
        assert_eq!(line["kind"], kind);
        assert_eq!(line["counterparty"], accounts[other].id.as_str());
    }
    // Someone else's transfer does not exist for a stranger.
    let stranger = client_as("stranger")
        .get(format!("{base}/transfers/{}", requested[0].id))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 404);
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
    let store = EventStore::new(dynamo().client(), &dynamo().events_table);
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

    let store = EventStore::new(dynamo().client(), &dynamo().events_table);
    let process = TransferProcess::over(store.clone(), common::SNAPSHOTS);
    let report = redrive_topic(&kafka, &no_aws, &ProcessTarget(&process), group, |_| {})
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
    let again = redrive_topic(&kafka, &no_aws, &ProcessTarget(&process), group, |_| {})
        .await
        .unwrap();
    assert_eq!(again.ours, 0, "{again:?}");
    stack.stop().await;
}
