//! Changing a read model in production: version 2 of the statement (lines carrying a running count of transfers)
//! built beside version 1 from the event store while 8 writers keep committing, promoted, rolled back, promoted
//! again, and version 1 retired — all through the operator CLI (`tributary read-models`) against the local stack,
//! whose query side serves whichever version the catalog names. Runs on the embedded servers and on DynamoDB
//! Local + tansu.
//!
//! What would break it, and is here: events committed while the build scans (they reach version 2 only through its
//! consumer, which starts from the position the build recorded, after the build is over); a promotion in the middle
//! of reads (no read may mix versions or disagree with a pure fold of the store); a version 1 consumer still
//! running when it is retired (it must stop writing: no item of version 1 may remain); a build killed half way
//! (resumed, it must end equal to a clean build).

mod common;

use bank_account::views::{
    statement_step, StatementCheckpoint, StatementLine, Statements, StatementsV2,
};
use bank_account::AccountEvent;
use common::{client_as, get, open_account, post, test_config};
use devstack::Devstack;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tributary_dynamodb::DynamoDbEventStore;
use tributary_projections::{ProjectionStore, ReadModel};
use tributary_store::{EventStore, StoredEvent};
use tributary_testkit::dynamo;

const WRITERS: usize = 8;
/// Commands each writer sends at most, a pause apart: the load is bounded, so a slow machine takes longer but never
/// has more to do (every phase's work grows with what the writers have written).
const COMMANDS_PER_WRITER: u64 = 100;
const PAUSE: Duration = Duration::from_millis(150);

/// Run `tributary <args>` against `stack` (consumer groups `<prefix>-<label>`); its stdout.
async fn tributary(stack: &Devstack, prefix: &str, args: &[&str]) -> String {
    common::tributary_cli(stack, prefix, args)
        .await
        .unwrap_or_else(|e| panic!("tributary {args:?}: {e:#}"))
}

/// The statement lines (newest first) and checkpoint a pure fold of `events` gives, in version 1 or 2.
fn folded(events: &[StoredEvent], version: u32) -> (Vec<StatementLine>, StatementCheckpoint) {
    let mut checkpoint = StatementCheckpoint::default();
    let mut lines = Vec::new();
    let mut transfers = 0;
    for e in events {
        let event: AccountEvent = e.decode().expect("stored account events decode").event;
        let at = e.metadata.occurred_at.to_rfc3339();
        let (line, next) = statement_step(checkpoint, e.version, &at, &event);
        checkpoint = next;
        if version == 2 {
            transfers += u64::from(
                line.as_ref()
                    .is_some_and(|l| l.kind.starts_with("transfer-")),
            );
            checkpoint.transfers = Some(transfers);
        }
        lines.extend(line.map(|line| StatementLine {
            transfers: (version == 2).then_some(transfers),
            ..line
        }));
    }
    lines.reverse();
    (lines, checkpoint)
}

/// Which version a page of lines comes from: 2 if they carry the transfer count, 1 if none does; a page that mixes
/// them fails the test.
fn version_of(lines: &[StatementLine], account: &str) -> Option<u32> {
    let with = lines.iter().filter(|l| l.transfers.is_some()).count();
    assert!(
        with == 0 || with == lines.len(),
        "a read of {account}'s statement mixes versions: {lines:?}"
    );
    match (lines.is_empty(), with) {
        (true, _) => None,
        (false, 0) => Some(1),
        _ => Some(2),
    }
}

/// One owner's two accounts and what the owner does to them until told to stop (at most [`COMMANDS_PER_WRITER`]
/// commands, [`PAUSE`] apart): deposits, withdrawals, transfers from one to the other.
async fn writer(
    base: String,
    owner: String,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) -> [String; 2] {
    let http = client_as(&owner);
    let a = open_account(&http, &base, "EUR").await;
    let b = open_account(&http, &base, "EUR").await;
    for id in [&a, &b] {
        let reply = post(
            &http,
            &format!("{base}/accounts/{id}/deposits"),
            &[],
            Some(r#"{"amount":1000}"#),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    for round in 0..COMMANDS_PER_WRITER {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (from, to) = if round.is_multiple_of(2) {
            (&a, &b)
        } else {
            (&b, &a)
        };
        let (url, body) = match round % 3 {
            0 => (
                format!("{base}/accounts/{from}/deposits"),
                r#"{"amount":7}"#.to_owned(),
            ),
            1 => (
                format!("{base}/accounts/{from}/withdrawals"),
                r#"{"amount":3}"#.to_owned(),
            ),
            _ => (
                format!("{base}/transfers"),
                format!(r#"{{"from":"{from}","to":"{to}","amount":5}}"#),
            ),
        };
        // As a client would: a conflict that outlasted the server's retries, or a request that timed out on a
        // loaded machine, is sent again (the same key: applied at most once).
        let key = [("idempotency-key", format!("{owner}-{round}"))];
        let key: Vec<(&str, &str)> = key.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = loop {
            let reply = post(&http, &url, &key, Some(&body)).await;
            if !matches!(reply.status, 409 | 429 | 503) {
                break reply;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(
            (200..=202).contains(&reply.status),
            "{owner}: {} {}",
            reply.status,
            reply.body
        );
        done.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(PAUSE).await;
    }
    [a, b]
}

/// When the served version changed, as the test saw its promotions.
#[derive(Debug, Default)]
struct Switches {
    /// (when a promotion was asked for, when it returned, the version it serves).
    at: Vec<(Instant, Instant, u32)>,
}

impl Switches {
    /// The version every read started at `when` must see: the last promotion's, once the query side's catalog cache
    /// (1 s) and a margin have passed since it returned; `None` while a switch may be on its way.
    fn expected(&self, when: Instant) -> Option<u32> {
        let settled = Duration::from_secs(3);
        let mut expected = Some(1);
        for (asked, returned, version) in &self.at {
            if when < *asked {
                break;
            }
            expected = (when >= *returned + settled).then_some(*version);
        }
        expected
    }
}

/// Reads the statements of `accounts` until told to stop, each read checked: one version only, the one served
/// (once settled), equal to a pure fold of the store in that version up to the read's newest line.
async fn reader(
    base: String,
    accounts: Vec<(String, String)>,
    events: Arc<dyn EventStore>,
    switches: Arc<Mutex<Switches>>,
    stop: Arc<AtomicBool>,
) -> [u64; 2] {
    let mut seen = [0u64; 2];
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let (owner, account) = &accounts[n % accounts.len()];
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let reply = get(
            &client_as(owner),
            &format!("{base}/accounts/{account}/statement?limit=20"),
        )
        .await;
        if reply.status != 200 {
            continue; // not projected yet
        }
        let lines: Vec<StatementLine> =
            serde_json::from_value(reply.body["items"].clone()).unwrap();
        let Some(version) = version_of(&lines, account) else {
            continue;
        };
        if let Some(expected) = switches.lock().unwrap().expected(started) {
            assert_eq!(
                version, expected,
                "the statement of {account} read at {started:?} came from version {version}"
            );
        }
        seen[version as usize - 1] += 1;
        let stored = events.load(&format!("account-{account}")).await.unwrap();
        let newest = lines[0].version;
        let upto: Vec<StoredEvent> = stored.into_iter().filter(|e| e.version <= newest).collect();
        let (expected, _) = folded(&upto, version);
        assert_eq!(
            lines,
            expected[..lines.len()],
            "the statement of {account} (version {version}) is a pure fold of its stream"
        );
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_statement_version_is_built_under_load_promoted_rolled_back_and_the_old_one_retired()
{
    let mut config = test_config().await;
    // Version 2 is not deployed yet: its consumer starts after its build.
    config
        .read_models
        .retain(|m| m.label() != StatementsV2.label());
    let prefix = config.mapping.group_prefix.clone();
    let mut stack = Devstack::start(config).await.expect("devstack starts");
    let began = Instant::now();
    let phase = |what: &str| eprintln!("[{:>6.1} s] {what}", began.elapsed().as_secs_f64());
    let base = stack.base_url();
    let d = dynamo();
    let events = DynamoDbEventStore::shared(d.client(), &stack.events_table);
    let projections = ProjectionStore::new(d.client(), &stack.projections_table);

    // 8 writers, each an owner with two accounts, keep committing through everything below.
    let stop_writers = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let owner = format!("owner-{i}-{}", uuid::Uuid::new_v4().simple());
            let task = tokio::spawn(writer(
                base.clone(),
                owner.clone(),
                stop_writers.clone(),
                done.clone(),
            ));
            (owner, task)
        })
        .collect();
    // Some history before the build, so that version 2 has a past to be built from.
    let deadline = Instant::now() + Duration::from_secs(300);
    while done.load(Ordering::Relaxed) < 80 {
        assert!(Instant::now() < deadline, "the writers did not get going");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The build, while the writers go on.
    phase("history written; building version 2");
    let before_build = done.load(Ordering::Relaxed);
    let built = tributary(&stack, &prefix, &["read-models", "build", "statement@2"]).await;
    phase(built.trim());
    assert!(
        built.contains("consumer group") && built.contains("starts at"),
        "{built}"
    );
    assert!(built.contains("statement-v2: built from"), "{built}");

    // The group starts where the scan began: it has committed positions before its consumer ever ran.
    let listed: serde_json::Value =
        serde_json::from_str(&tributary(&stack, &prefix, &["--json", "read-models", "list"]).await)
            .unwrap();
    let v2 = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"] == "statement-v2")
        .unwrap()
        .clone();
    assert_eq!(v2["state"], "built", "{listed}");
    assert_eq!(v2["served"], false, "{listed}");
    assert!(
        v2["behind"].as_i64().unwrap() > 0,
        "commands kept coming after the build began: {listed}"
    );
    let kafka = tributary_kafka::KafkaConfig::plaintext(
        &stack.kafka_bootstrap,
        &stack.events_topic,
        &stack.rejections_topic,
    );
    let group = format!("{prefix}-statement-v2");
    let positions = tributary_consumer::ops::positions(
        &kafka,
        &aws_types::SdkConfig::builder().build(),
        std::slice::from_ref(&group),
    )
    .await
    .unwrap();
    assert!(
        !positions.is_empty() && positions.iter().all(|p| p.committed.is_some()),
        "the build committed where the group starts, on every partition: {positions:?}"
    );
    // Now its consumer is deployed, and follows live from that position.
    stack
        .start_denormaliser(Arc::new(StatementsV2))
        .await
        .unwrap();
    phase("version 2's consumer deployed");
    // Commands committed after the build began and before version 2's consumer ran: they reach version 2 only if
    // its consumer starts where the build said (the scan may or may not have seen them).
    let before_consumer = done.load(Ordering::Relaxed) - before_build;

    // Read while switching: promote, roll back, promote again.
    let owners: Vec<String> = writers.iter().map(|(o, _)| o.clone()).collect();
    let switches = Arc::new(Mutex::new(Switches::default()));
    let stop_readers = Arc::new(AtomicBool::new(false));
    // The accounts, by reading each owner's listing (the writers opened them).
    let mut accounts = Vec::new();
    for owner in &owners {
        let listing = common::eventually(
            &client_as(owner),
            &format!("{base}/accounts"),
            "both accounts listed",
            |r| r.status == 200 && r.body["items"].as_array().is_some_and(|i| i.len() == 2),
        )
        .await;
        for item in listing.body["items"].as_array().unwrap() {
            accounts.push((
                owner.clone(),
                item["account_id"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let readers: Vec<_> = (0..2)
        .map(|i| {
            let mut mine = accounts.clone();
            mine.rotate_left(i * 3);
            tokio::spawn(reader(
                base.clone(),
                mine,
                events.clone(),
                switches.clone(),
                stop_readers.clone(),
            ))
        })
        .collect();
    for (target, expected_output) in [
        (2, "statement-v2 is served"),
        (1, "statement is served"),
        (2, "statement-v2 is served"),
    ] {
        tokio::time::sleep(Duration::from_secs(4)).await;
        let asked = Instant::now();
        switches
            .lock()
            .unwrap()
            .at
            .push((asked, asked + Duration::from_secs(3600), target));
        let out = tributary(
            &stack,
            &prefix,
            &["read-models", "promote", &format!("statement@{target}")],
        )
        .await;
        assert!(out.contains(expected_output), "{out}");
        phase(out.trim());
        switches.lock().unwrap().at.last_mut().unwrap().1 = Instant::now();
    }
    tokio::time::sleep(Duration::from_secs(4)).await;

    // Version 1 retired while its consumer still runs and the writers still write.
    let retired = tributary(
        &stack,
        &prefix,
        &[
            "--json",
            "read-models",
            "retire",
            "statement@1",
            "--grace-seconds=3",
        ],
    )
    .await;
    let retired: serde_json::Value = serde_json::from_str(&retired).unwrap();
    phase(&format!("retired: {retired}"));
    assert_eq!(retired["retired"], true, "{retired}");
    assert!(retired["deleted"].as_u64().unwrap() > 0, "{retired}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_writers.store(true, Ordering::Relaxed);
    let mut all_accounts = Vec::new();
    for (_, task) in writers {
        all_accounts.extend(task.await.unwrap());
    }
    stop_readers.store(true, Ordering::Relaxed);
    let mut seen = [0u64; 2];
    for task in readers {
        let [one, two] = task.await.unwrap();
        seen[0] += one;
        seen[1] += two;
    }
    phase(&format!(
        "writers and readers stopped after {} commands; reads by version {seen:?}",
        done.load(Ordering::Relaxed)
    ));
    assert!(
        seen[0] > 0 && seen[1] > 0,
        "reads saw both versions: {seen:?}"
    );
    assert!(
        before_consumer > 0,
        "commands were committed between the build's start and its consumer's"
    );

    // No item of version 1 remains (its keys, or its tag), although its consumer kept receiving records.
    let leftovers: Vec<_> = projections
        .dump()
        .await
        .unwrap()
        .into_iter()
        .filter(|(pk, _, _)| pk.starts_with("statement#") || pk.starts_with("rebuild#statement"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "version 1 items after retire: {leftovers:?}"
    );
    let v1_store = projections.of(&Statements);
    for account in &all_accounts {
        assert_eq!(
            v1_store
                .checkpoint(&Statements.checkpoint_key(account))
                .await
                .unwrap(),
            None
        );
    }

    // Version 2, served, ends equal to a pure fold of the store, every account.
    let v2_store = projections.of(&StatementsV2);
    for account in &all_accounts {
        // Transfers still settling append to the streams: compare once version 2 has what the store has.
        let deadline = Instant::now() + Duration::from_secs(120);
        let (stored, state) = loop {
            let stored = events.load(&format!("account-{account}")).await.unwrap();
            let head = stored.last().unwrap().version;
            let at = v2_store
                .checkpoint(&StatementsV2.checkpoint_key(account))
                .await
                .unwrap();
            match at {
                Some((state, version)) if version == head => break (stored, state),
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "version 2 of {account} at {at:?}, the store at {head}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let head = stored.last().unwrap().version;
        let (lines, checkpoint) = folded(&stored, 2);
        assert_eq!(
            serde_json::from_value::<StatementCheckpoint>(state).unwrap(),
            checkpoint
        );
        let reads = bank_service::reads::BankReads::new(projections.clone());
        let page = reads
            .statement_at(2)
            .page(account, 1000, None)
            .await
            .unwrap();
        assert_eq!(page.items, lines, "version 2 of {account}");
        // And the HTTP API serves it.
        let owner = &accounts.iter().find(|(_, a)| a == account).unwrap().0;
        let served = get(
            &client_as(owner),
            &format!("{base}/accounts/{account}/statement?limit=100&min_version={head}"),
        )
        .await;
        assert_eq!(served.status, 200, "{}", served.body);
        let served: Vec<StatementLine> =
            serde_json::from_value(served.body["items"].clone()).unwrap();
        assert_eq!(
            served,
            lines[..lines.len().min(100)],
            "the served statement of {account}"
        );
    }
    phase("version 2 equals the fold of every stream");
    let listed = tributary(&stack, &prefix, &["read-models", "list"]).await;
    assert!(listed.contains("retired"), "{listed}");
    stack.stop().await;
}
