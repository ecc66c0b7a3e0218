//! Publishing end to end: commands over HTTP, events on Kafka — in order per account, spread over partitions, and
//! never lost, whatever fails between the commit and the publish (dropped publishes, a broker outage, a crash).

mod common;

use common::{post, test_config};
use devstack::{Devstack, DevstackConfig, KafkaSource};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_testkit::{dynamo, kafka, read_topic, ConsumedRecord};

const ACCOUNTS: usize = 20;
const COMMANDS: usize = 200;

/// Run `COMMANDS` commands over `ACCOUNTS` accounts (opens, deposits, withdrawals, some refused), one task per
/// account, each with an `Idempotency-Key` so that a 503 (the event store slow to answer on a loaded machine) is
/// retried as clients are told to ([`common::post`]). Returns the account ids.
async fn load(base: &str) -> Vec<String> {
    let http = reqwest::Client::new();
    let tasks = (0..ACCOUNTS).map(|_| {
        let (http, base) = (http.clone(), base.to_owned());
        tokio::spawn(async move {
            let key = uuid::Uuid::new_v4().to_string();
            let opened = post(
                &http,
                &format!("{base}/accounts"),
                &[("idempotency-key", &format!("{key}-open"))],
                Some(r#"{"currency":"EUR"}"#),
            )
            .await;
            assert_eq!(opened.status, 201, "{}", opened.body);
            let id = opened.body["account_id"].as_str().unwrap().to_owned();
            for n in 1..COMMANDS / ACCOUNTS {
                let (path, amount) = if n % 3 == 0 {
                    ("withdrawals", 150)
                } else {
                    ("deposits", 100)
                };
                let reply = post(
                    &http,
                    &format!("{base}/accounts/{id}/{path}"),
                    &[("idempotency-key", &format!("{key}-{n}"))],
                    Some(&format!(r#"{{"amount":{amount}}}"#)),
                )
                .await;
                assert!(
                    reply.status == 200 || reply.status == 422,
                    "{} {}",
                    reply.status,
                    reply.body
                );
            }
            id
        })
    });
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

/// The committed head version of each account's stream.
async fn committed_heads(ids: &[String]) -> HashMap<String, u64> {
    let d = dynamo();
    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
    let mut heads = HashMap::new();
    for id in ids {
        let stream = format!("account-{id}");
        let head = store
            .load(&stream)
            .await
            .unwrap()
            .last()
            .map_or(0, |e| e.version);
        heads.insert(stream, head);
    }
    heads
}

/// Per account of `heads`: the versions in the order they appear on the topic, and the partitions they were on.
/// (Records of other accounts are ignored: the tests of one binary share the events table, and every stack's relay
/// publishes all of it.)
fn by_account(
    records: &[ConsumedRecord],
    heads: &HashMap<String, u64>,
) -> BTreeMap<String, (Vec<u64>, Vec<i32>)> {
    let mut sorted: Vec<&ConsumedRecord> = records
        .iter()
        .filter(|r| heads.contains_key(&r.key))
        .collect();
    sorted.sort_by_key(|r| (r.partition, r.offset));
    let mut out: BTreeMap<String, (Vec<u64>, Vec<i32>)> = BTreeMap::new();
    for r in sorted {
        assert_eq!(
            r.value["aggregate_id"].as_str(),
            Some(r.key.as_str()),
            "key = aggregate id"
        );
        let entry = out.entry(r.key.clone()).or_default();
        entry.0.push(r.value["version"].as_u64().expect("version"));
        entry.1.push(r.partition);
    }
    out
}

/// How far a reader that applies only `version == applied + 1` (skipping duplicates and records that run ahead)
/// gets through `versions`.
fn ordered_prefix(versions: &[u64]) -> u64 {
    versions
        .iter()
        .fold(0, |applied, v| if *v == applied + 1 { *v } else { applied })
}

/// Wait until the topic holds every committed version of every account, then check the guarantee: each account on
/// one partition; every version present; the versions, read in topic order by a version-guarded reader, reach the
/// committed head (nothing missing, nothing out of order). Returns the records.
async fn assert_every_committed_event_arrives(
    stack: &Devstack,
    heads: &HashMap<String, u64>,
) -> Vec<ConsumedRecord> {
    let expected = heads.clone();
    let records = read_topic(
        &stack.kafka_bootstrap,
        &stack.events_topic,
        tributary_testkit::EVENTUALLY,
        move |records| {
            let seen = by_account(records, &expected);
            expected.iter().all(|(stream, head)| {
                seen.get(stream)
                    .is_some_and(|(versions, _)| ordered_prefix(versions) == *head)
            })
        },
    )
    .await;
    let seen = by_account(&records, heads);
    for (stream, head) in heads {
        let (versions, partitions) = seen
            .get(stream)
            .unwrap_or_else(|| panic!("{stream}: nothing on the topic"));
        assert!(
            partitions.windows(2).all(|w| w[0] == w[1]),
            "{stream}: one partition, got {partitions:?}"
        );
        for v in 1..=*head {
            assert!(
                versions.contains(&v),
                "{stream}: version {v} of {head} missing"
            );
        }
        assert_eq!(
            ordered_prefix(versions),
            *head,
            "{stream}: versions out of order: {versions:?}"
        );
    }
    records
}

fn event_count(heads: &HashMap<String, u64>) -> u64 {
    heads.values().sum()
}

/// Fast-path publishes that failed since `capture` started (the command path's `PublishFailures` metric; other tests
/// of this binary may add theirs, never take any away).
fn publish_failures(capture: &tributary_runtime::metrics::Capture) -> usize {
    capture
        .lines()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|doc| doc["PublishFailures"].as_u64())
        .sum::<u64>() as usize
}

/// The steady state: keyed by account, spread over partitions, envelope and headers complete, and the cost of the
/// safety net: one extra record per event (the relay's copy), no extra DynamoDB write. A fast-path publish that
/// fails (its delivery timed out: a loaded machine) leaves the relay's copy alone; such an event must be one the
/// command path counted as a `PublishFailures`, or one of a command answered 503 or 409 and retried (its commit's
/// answer was lost before the publish), so the test holds however slow the machine is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_keyed_ordered_and_published_twice_at_most() {
    let capture = tributary_runtime::metrics::Capture::start();
    let stack = Devstack::start(test_config().await).await.unwrap();
    let ids = load(&stack.base_url()).await;
    // Each command's publish has ended (succeeded or counted) before its response.
    let failed =
        publish_failures(&capture) + common::RETRIED.load(std::sync::atomic::Ordering::Relaxed);
    let heads = committed_heads(&ids).await;
    assert_every_committed_event_arrives(&stack, &heads).await;
    // Both copies of every event whose fast path succeeded: wait for the relay's too, then keep this test's accounts.
    let events = event_count(&heads) as usize;
    let total = (events * 2).saturating_sub(failed);
    let ours = heads.clone();
    // Every event at least once (so every partition holding one was read: however many failures were counted, the
    // reader does not stop after the first partitions), and the copies expected.
    let records: Vec<ConsumedRecord> = read_topic(
        &stack.kafka_bootstrap,
        &stack.events_topic,
        tributary_testkit::EVENTUALLY,
        move |r| {
            let mine: Vec<&ConsumedRecord> =
                r.iter().filter(|r| ours.contains_key(&r.key)).collect();
            let distinct: std::collections::HashSet<(&str, u64)> = mine
                .iter()
                .map(|r| (r.key.as_str(), r.value["version"].as_u64().unwrap_or(0)))
                .collect();
            mine.len() >= total && distinct.len() >= events
        },
    )
    .await
    .into_iter()
    .filter(|r| heads.contains_key(&r.key))
    .collect();
    let partitions: std::collections::HashSet<i32> = records.iter().map(|r| r.partition).collect();
    assert!(
        partitions.len() > 1,
        "{ACCOUNTS} accounts should spread over partitions, used {partitions:?}"
    );
    let mut copies: HashMap<(String, u64), usize> = HashMap::new();
    for r in &records {
        *copies
            .entry((r.key.clone(), r.value["version"].as_u64().unwrap()))
            .or_default() += 1;
    }
    let mut histogram: BTreeMap<usize, usize> = BTreeMap::new();
    for n in copies.values() {
        *histogram.entry(*n).or_default() += 1;
    }
    let singles = histogram.get(&1).copied().unwrap_or(0);
    assert!(
        histogram.keys().all(|copies| *copies == 1 || *copies == 2) && singles <= failed,
        "each event twice (fast path + relay), once only where the fast path failed ({failed} failures counted): \
         {histogram:?}, {} records",
        records.len()
    );
    assert!(
        histogram.contains_key(&2),
        "the fast path published: {histogram:?}"
    );
    println!(
        "steady state: {} events, {} records ({:.2} per event, {:.2} extra)",
        event_count(&heads),
        records.len(),
        records.len() as f64 / event_count(&heads) as f64,
        records.len() as f64 / event_count(&heads) as f64 - 1.0
    );
    // Snapshots stay in the store: the items carry them, the records do not (and the copies above show that no
    // record was published for one).
    let store = DynamoDbEventStore::shared(dynamo().client(), &dynamo().events_table);
    for stream in heads.keys() {
        let tail = store
            .load_tail(stream, common::SNAPSHOTS.every as i32 + 1)
            .await
            .unwrap();
        assert!(tail.snapshot.is_some(), "{stream}: the store has snapshots");
    }
    for r in &records {
        let fields: Vec<&String> = r.value.as_object().unwrap().keys().collect();
        assert!(
            !fields
                .iter()
                .any(|f| f.contains("snapshot") || f.contains("recent")),
            "no snapshot on the topic: {fields:?}"
        );
        assert!(
            !r.value["payload"].to_string().contains("recent"),
            "no snapshot in a payload: {}",
            r.value["payload"]
        );
    }
    let r = &records[0];
    for field in [
        "event_id",
        "event_type",
        "schema_version",
        "occurred_at",
        "command_id",
        "correlation_id",
        "causation_id",
        "payload",
    ] {
        assert!(
            !r.value[field].is_null(),
            "envelope has {field}: {}",
            r.value
        );
    }
    assert_eq!(r.header("event_type"), r.value["event_type"].as_str());
    assert_eq!(
        r.header("version"),
        Some(r.value["version"].to_string().as_str())
    );
    assert_eq!(
        r.header("correlation_id"),
        r.value["correlation_id"].as_str()
    );
    assert!(r
        .header("traceparent")
        .is_some_and(|t| t.starts_with("00-") && t.len() == 55));
}

/// Half of the command path's publishes are dropped after the commit: the relay delivers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_publishes_after_commit_lose_nothing() {
    let config = DevstackConfig {
        fail_publish_rate: 0.5,
        ..test_config().await
    };
    let stack = Devstack::start(config).await.unwrap();
    let ids = load(&stack.base_url()).await;
    let heads = committed_heads(&ids).await;
    assert_every_committed_event_arrives(&stack, &heads).await;
    println!(
        "fail rate 0.5: {} events committed, all on the topic",
        event_count(&heads)
    );
}

/// Every broker is down for 10 s in the middle of the load: nothing is lost once they are back. The stack gets a
/// Kafka cluster of its own (the outage must not hit the other tests), always the embedded one: the outage is
/// injected with librdkafka's mock `broker_down`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_mid_load_loses_nothing() {
    let stack = Devstack::start(DevstackConfig {
        kafka: KafkaSource::Embedded,
        ..test_config().await
    })
    .await
    .unwrap();
    let kafka = stack.embedded_kafka().expect("an embedded cluster");
    let base = stack.base_url();
    let load = tokio::spawn(async move { load(&base).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    kafka.set_available(false).unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    kafka.set_available(true).unwrap();
    let ids = load.await.unwrap();
    let heads = committed_heads(&ids).await;
    assert_every_committed_event_arrives(&stack, &heads).await;
}

/// The process dies between commit and publish (every fast-path publish dropped, relay not running). Nothing is
/// on the topic; after recovery (a new process with its relay) everything is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_commit_and_publish_is_recovered() {
    let config = test_config().await;
    let crashed = Devstack::start(DevstackConfig {
        fail_publish_rate: 1.0,
        relay: false,
        ..config.clone()
    })
    .await
    .unwrap();
    let ids = load(&crashed.base_url()).await;
    drop(crashed);
    let heads = committed_heads(&ids).await;
    let before = read_topic(
        &kafka().bootstrap,
        &config.events_topic,
        Duration::from_secs(2),
        |_| false,
    )
    .await;
    assert!(
        by_account(&before, &heads).is_empty(),
        "nothing was published before the recovery"
    );

    let recovered = Devstack::start(config).await.unwrap();
    assert_every_committed_event_arrives(&recovered, &heads).await;
}

/// A command refused by a business rule publishes a rejection (not an event) with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_are_published_with_their_reason() {
    let stack = Devstack::start(test_config().await).await.unwrap();
    let http = reqwest::Client::new();
    let base = stack.base_url();
    let opened = post(
        &http,
        &format!("{base}/accounts"),
        &[("X-Correlation-Id", "corr-42")],
        Some(r#"{"currency":"EUR"}"#),
    )
    .await;
    let id = opened.body["account_id"].as_str().unwrap().to_owned();
    let refused = post(
        &http,
        &format!("{base}/accounts/{id}/withdrawals"),
        &[("X-Correlation-Id", "corr-42")],
        Some(r#"{"amount":5000}"#),
    )
    .await;
    assert_eq!(refused.status, 422);
    let malformed = post(
        &http,
        &format!("{base}/accounts/{id}/withdrawals"),
        &[],
        Some(r#"{"amount":"#),
    )
    .await;
    assert_eq!(malformed.status, 400);

    let records = read_topic(
        &kafka().bootstrap,
        &stack.rejections_topic,
        tributary_testkit::EVENTUALLY,
        |r| !r.is_empty(),
    )
    .await;
    assert_eq!(
        records.len(),
        1,
        "one rejection; malformed requests publish nothing"
    );
    let rejection = &records[0];
    assert_eq!(rejection.key, format!("account-{id}"));
    assert_eq!(rejection.value["reason"], "insufficient-funds");
    assert_eq!(rejection.value["command"], "withdraw");
    assert_eq!(rejection.value["command_body"]["body"]["amount"], 5000);
    assert_eq!(rejection.value["correlation_id"], "corr-42");
    assert_eq!(rejection.value["aggregate_version"], 1);
    assert!(rejection.value["detail"]
        .as_str()
        .unwrap()
        .contains("insufficient funds"));
    // The refused command is not in the account's stream.
    assert_eq!(committed_heads(&[id]).await.into_values().next(), Some(1));
}
