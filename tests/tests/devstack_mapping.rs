//! The local event source mappings behave like the deployed ones, under faults: a batch that keeps failing is
//! retried until it applies (never skipped, never committed unapplied); a poison record costs exactly one dead
//! letter per consumer group, however often its batch is retried; and stopping the stack drains it (requests in
//! flight are answered).

mod common;

use bank_service::reads::BankReads;
use common::{post, test_config};
use devstack::{Devstack, DevstackConfig, DynamoSource};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tributary_projections::ProjectionStore;
use tributary_testkit::{dynamo, kafka, read_topic, ChaosProxy, Faults};

/// Throttle every write to the projections table (the denormalisers' batches fail), for `for_how_long`.
async fn throttle_projection_writes(proxy: &ChaosProxy, table: &str, for_how_long: Duration) {
    proxy.set(Faults {
        throttle: 1.0,
        operations: vec![
            "PutItem",
            "UpdateItem",
            "TransactWriteItems",
            "BatchWriteItem",
        ],
        tables: vec![table.to_owned()],
        ..Faults::none()
    });
    tokio::time::sleep(for_how_long).await;
    proxy.set(Faults::none());
}

/// The version of `account` in each projection.
async fn projected_versions(projections: &ProjectionStore, account: &str, owner: &str) -> [u64; 3] {
    let reads = BankReads::new(projections.clone());
    [
        reads
            .summary(account)
            .await
            .unwrap()
            .map_or(0, |s| s.version),
        reads
            .statement_at(1)
            .checkpoint(account)
            .await
            .unwrap()
            .version,
        reads
            .owner_entry(owner, account)
            .await
            .unwrap()
            .map_or(0, |s| s.version),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_batches_are_retried_until_applied_and_poison_costs_one_letter_per_group() {
    let d = dynamo();
    let proxy = Arc::new(ChaosProxy::start(&d.endpoint, 3).await);
    let config = DevstackConfig {
        dynamo: DynamoSource::External(proxy.url.clone()),
        ..test_config().await
    };
    let stack = Devstack::start(config.clone()).await.unwrap();
    let (http, base) = (reqwest::Client::new(), stack.base_url());
    let owner = tributary_http::caller::ANONYMOUS;

    let opened = post(
        &http,
        &format!("{base}/accounts"),
        &[],
        Some(r#"{"currency":"EUR"}"#),
    )
    .await;
    let account = opened.body["account_id"].as_str().unwrap().to_owned();

    // While the projections cannot be written (longer than the old mapping's three retries took), commands go on
    // and poison records arrive among them.
    let throttled = tokio::spawn({
        let (proxy, table) = (proxy.clone(), config.projections_table.clone());
        async move { throttle_projection_writes(&proxy, &table, Duration::from_secs(5)).await }
    });
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &kafka().bootstrap)
        .create()
        .unwrap();
    const POISON: usize = 5;
    let mut head = 1;
    for n in 0..POISON {
        let deposit = post(
            &http,
            &format!("{base}/accounts/{account}/deposits"),
            &[],
            Some(r#"{"amount":100}"#),
        )
        .await;
        assert_eq!(deposit.status, 200, "{}", deposit.body);
        head = deposit.body["version"].as_u64().unwrap();
        let key = format!("account-{account}");
        let garbage = format!("garbage #{n}");
        producer
            .send(
                FutureRecord::to(&config.events_topic)
                    .key(&key)
                    .payload(&garbage),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
    }
    throttled.await.unwrap();

    // Every projection reaches the head: no batch was skipped.
    let projections = ProjectionStore::new(d.client(), &config.projections_table);
    let deadline = tokio::time::Instant::now() + tributary_testkit::EVENTUALLY;
    loop {
        let versions = projected_versions(&projections, &account, owner).await;
        if versions == [head; 3] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "projections at {versions:?}, the store at {head}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // One dead letter per poison record and consumer group, named after the group. A record that is not an event
    // envelope is poison to every consumer of the topic — each read model's denormaliser (the transfers one too: it
    // cannot tell whose stream garbage is about) and the transfer process.
    let groups: BTreeMap<String, usize> = app::read_models()
        .iter()
        .map(|m| m.label())
        .chain([bank_service::transfers::CONSUMER_GROUP_SUFFIX.to_owned()])
        .map(|consumer| {
            (
                devstack::kafka_mapping::group_id(&config.mapping.group_prefix, &consumer),
                POISON,
            )
        })
        .collect();
    let expected = POISON * groups.len();
    let letters = read_topic(
        &kafka().bootstrap,
        &config.dead_letter_topic,
        Duration::from_secs(10),
        move |r| r.len() > expected,
    )
    .await;
    let mut per_group: BTreeMap<String, usize> = BTreeMap::new();
    for letter in &letters {
        *per_group
            .entry(letter.value["consumer"].as_str().unwrap().to_owned())
            .or_default() += 1;
        assert_eq!(letter.header("consumer"), letter.value["consumer"].as_str());
    }
    assert_eq!(per_group, groups, "{letters:?}");
    stack.stop().await;
}

/// A stack whose DynamoDB writes to `table` are held for 1.5 s (so work is in flight when it stops), on tables of
/// its own.
async fn stack_with_slow_writes_to(
    table: impl Fn(&DevstackConfig) -> String,
) -> (Devstack, Arc<ChaosProxy>) {
    let proxy = Arc::new(ChaosProxy::start(&dynamo().endpoint, 9).await);
    // Tables of its own: the relay publishes everything in its events table's stream, and with every projection
    // write held, other tests' events queued before this stack's own would keep its denormalisers busy for minutes.
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let config = DevstackConfig {
        dynamo: DynamoSource::External(proxy.url.clone()),
        events_table: format!("slow-writes-events-{unique}"),
        projections_table: format!("slow-writes-projections-{unique}"),
        ..test_config().await
    };
    proxy.set(Faults {
        stall: 1.0,
        stall_for: Duration::from_millis(1500),
        operations: vec![
            "PutItem",
            "UpdateItem",
            "TransactWriteItems",
            "BatchWriteItem",
        ],
        tables: vec![table(&config)],
        ..Faults::none()
    });
    (Devstack::start(config).await.unwrap(), proxy)
}

async fn until_stalled(proxy: &ChaosProxy, n: u64) {
    while proxy.counts().stalled < n {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_answers_the_requests_in_flight_first() {
    let (stack, proxy) = stack_with_slow_writes_to(|c| c.events_table.clone()).await;
    let (http, base) = (reqwest::Client::new(), stack.base_url());
    let open = tokio::spawn(async move {
        let reply = post(
            &http,
            &format!("{base}/accounts"),
            &[],
            Some(r#"{"currency":"EUR"}"#),
        )
        .await;
        (reply.status, tokio::time::Instant::now())
    });
    until_stalled(&proxy, 1).await;
    stack.stop().await;
    let stopped = tokio::time::Instant::now();
    let (status, answered) = open.await.unwrap();
    assert_eq!(status, 201, "the request in flight was answered");
    // The server answers before `stop` returns; the client's task notes the time when it next runs, which on a
    // loaded machine can be after this task noted `stopped` (a loaded run saw it). A stop that did not wait would
    // have returned while the write was still held (1.5 s), its answer coming about that much later.
    assert!(
        answered <= stopped + Duration::from_millis(500),
        "the stop waited for the answer: answered {:?} after the stop returned",
        answered.saturating_duration_since(stopped)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_finishes_and_commits_the_batches_in_hand() {
    let (stack, proxy) = stack_with_slow_writes_to(|c| c.projections_table.clone()).await;
    let (http, base) = (reqwest::Client::new(), stack.base_url());
    let opened = post(
        &http,
        &format!("{base}/accounts"),
        &[],
        Some(r#"{"currency":"EUR"}"#),
    )
    .await;
    let account = opened.body["account_id"].as_str().unwrap().to_owned();
    // Every account denormaliser has the opening in hand, its write held by the proxy: the summary's and the
    // statement's checkpoint puts (the opening writes no statement line) and the owner listing's first put (the
    // owner's entry; its checkpoint follows).
    while proxy.stalled("PutItem") < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let table = stack.projections_table.clone();
    stack.stop().await;
    let projections = ProjectionStore::new(dynamo().client(), &table);
    assert_eq!(
        tributary_tests::projection::applied_versions(&projections, &account).await,
        [1, 1, 1],
        "each batch in hand was applied before the stop returned"
    );
}
