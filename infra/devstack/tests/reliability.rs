//! The fault-injection suite: the whole system (the local stack: command and query APIs, relay, a denormaliser per
//! read model, the transfer process manager) under load while a fault is injected, then the end-to-end check — for
//! every account the event store, the events topic (distinct events), the account projections and the client's
//! record of acknowledged commands agree, and nothing was appended twice (`tributary_tests::agreement`).
//!
//! Runs against the embedded servers by default, and against DynamoDB Local and tansu when
//! `AWS_ENDPOINT_URL_DYNAMODB` and `KAFKA_BOOTSTRAP_SERVERS` are set (the full test run). The stacks use the deployed
//! functions' timeouts. Scenarios run one at a time (they share two cores, and an outage must not hit a neighbour).
//! RELIABILITY.md lists what each injects and what a run measured.

use devstack::kafka_mapping::MappingSettings;
use devstack::{Devstack, DevstackConfig, DynamoSource, KafkaSource, TOPIC_PARTITIONS};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use tributary_dynamodb::local::local_client;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_projections::{rebuild, ProjectionStore, RebuildOptions};
use tributary_testkit::{dynamo, kafka, ChaosCounts, ChaosProxy, Faults, PrivateBroker};
use tributary_tests::agreement::{assert_agreement, Agreement, Endpoints};
use tributary_tests::ledger::{self, LoadPlan, Target};

/// One scenario at a time.
static SERIAL: Mutex<()> = Mutex::const_new(());
/// How long tansu is paused in the outage scenario (see there).
const TANSU_PAUSE: Duration = Duration::from_millis(700);
/// How long the read side may take to catch up once the load is over.
const SETTLE: Duration = tributary_testkit::EVENTUALLY;

/// Owners and idempotency keys unique to one run of a scenario.
fn tag(scenario: &str) -> String {
    format!(
        "{}-{}",
        scenario.replace(' ', "-"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// A stack on the test DynamoDB API behind a chaos proxy (no faults yet), fresh topics and consumer groups.
async fn config_behind(proxy: &ChaosProxy) -> DevstackConfig {
    let k = kafka();
    DevstackConfig {
        dynamo: DynamoSource::External(proxy.url.clone()),
        events_table: dynamo().events_table.clone(),
        projections_table: dynamo().projections_table.clone(),
        kafka: KafkaSource::External(k.bootstrap.clone()),
        events_topic: k.topic("events", TOPIC_PARTITIONS).await,
        rejections_topic: k.topic("rejections", TOPIC_PARTITIONS).await,
        dead_letter_topic: k.topic("dead-letters", TOPIC_PARTITIONS).await,
        mapping: MappingSettings {
            group_prefix: format!("reliability-{}", uuid::Uuid::new_v4().simple()),
            ..MappingSettings::default()
        },
        // A snapshot every 4 events (21 per account in the load), so faults also hit the writes that carry one.
        snapshots: tributary_aggregate::SnapshotPolicy {
            every: 4,
            ..Default::default()
        },
        // The deployed timeouts, but on tansu the command path's publish gets the relay's patience: a message timing
        // out on a loaded machine would take tansu's storage down (the embedded cluster keeps the deployed 2 s).
        command_delivery_timeout: if k.is_embedded() {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(30)
        },
        ..DevstackConfig::embedded("127.0.0.1:0".parse().unwrap())
    }
}

fn endpoints(stack: &Devstack) -> Endpoints {
    let client = dynamo().client();
    Endpoints {
        store: DynamoDbEventStore::shared(client.clone(), &stack.events_table),
        projections: ProjectionStore::new(client, &stack.projections_table),
        kafka_bootstrap: stack.kafka_bootstrap.clone(),
        events_topic: stack.events_topic.clone(),
    }
}

fn report(scenario: &str, agreement: &Agreement, faults: ChaosCounts) {
    println!("[{scenario}] {agreement}; faults: {faults:?}");
}

/// Load a stack while `faults` hit its DynamoDB traffic, then check the agreement.
async fn under_dynamodb_faults(scenario: &str, faults: Faults) {
    let _one_at_a_time = SERIAL.lock().await;
    let proxy = ChaosProxy::start(&dynamo().endpoint, 42).await;
    let stack = Devstack::start(config_behind(&proxy).await).await.unwrap();
    proxy.set(faults);
    let ledger = ledger::run(
        &Target::new(&stack.base_url()),
        LoadPlan::default(),
        &tag(scenario),
    )
    .await;
    let injected = proxy.counts();
    proxy.set(Faults::none());
    let agreement = assert_agreement(&ledger, &endpoints(&stack), SETTLE).await;
    report(scenario, &agreement, injected);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_write_responses() {
    under_dynamodb_faults(
        "lost responses",
        Faults {
            lose_write_responses: 0.2,
            ..Faults::none()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_calls() {
    under_dynamodb_faults(
        "stalled calls",
        Faults {
            stall: 0.05,
            // Longer than a request-path attempt may take (800 ms): the SDK gives up, the request lands later.
            stall_for: Duration::from_millis(1500),
            ..Faults::none()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling() {
    under_dynamodb_faults(
        "throttling",
        Faults {
            throttle: 0.15,
            ..Faults::none()
        },
    )
    .await;
}

/// Every broker is unreachable for a while mid-load, then stalls: the embedded cluster's brokers go down, come
/// back, then answer only after a delay; in the full run a tansu broker of the scenario's own is paused — it accepts
/// connections and answers nothing (briefly: see `TANSU_PAUSE`) — and thrown away after: tansu 0.6.0 can lose its
/// storage for good after a pause, and the broker every other test shares must never be the one paused. The injector
/// sleeps on the test's own thread, not on the runtime's workers: the fault ends on time even if the stack under
/// test stalls its runtime (it once did — consumer commits waiting on the paused broker held every worker, and the
/// broker was never resumed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage() {
    let _one_at_a_time = SERIAL.lock().await;
    let proxy = ChaosProxy::start(&dynamo().endpoint, 42).await;
    let mut config = config_behind(&proxy).await;
    let private = if kafka().is_embedded() {
        // A cluster of its own, so the outage can be injected with the mock's broker_down.
        config.kafka = KafkaSource::Embedded;
        None
    } else {
        let broker = PrivateBroker::start().expect(
            "TANSU_BIN names the tansu binary for the outage's own broker (infra/test.sh sets it)",
        );
        config.kafka = KafkaSource::External(broker.bootstrap.clone());
        Some(broker)
    };
    let stack = Devstack::start(config).await.unwrap();
    let target = Target::new(&stack.base_url());
    let tag = tag("outage");
    let plan = LoadPlan::default();
    let load = tokio::spawn({
        let (target, tag) = (target.clone(), tag.clone());
        async move { ledger::run(&target, plan, &tag).await }
    });
    target
        .wait_for_definite(plan.accounts * (plan.commands + 1) / 4, &load)
        .await;
    let outage = Duration::from_secs(4);
    if let Some(broker) = &private {
        let pid = broker.pid().to_string();
        // tansu 0.6.0 cannot take a pause that outlasts a message timeout (1.5 s on the request path): librdkafka
        // then re-initialises its idempotent producer, which tansu answers with a panic that takes its storage
        // down for good. So tansu pauses for less than that; the embedded run holds the longer outage and stall.
        signal(&pid, "STOP");
        std::thread::sleep(TANSU_PAUSE);
        signal(&pid, "CONT");
    } else {
        let cluster = stack.embedded_kafka().unwrap();
        cluster.set_available(false).unwrap();
        std::thread::sleep(outage);
        cluster.set_available(true).unwrap();
        cluster.set_round_trip_time(outage / 2).unwrap();
        std::thread::sleep(outage);
        cluster.set_round_trip_time(Duration::ZERO).unwrap();
    }
    let ledger = load.await.unwrap();
    let agreement = assert_agreement(&ledger, &endpoints(&stack), SETTLE).await;
    report("broker outage", &agreement, ChaosCounts::default());
    stack.stop().await;
    drop(private);
}

fn signal(pid: &str, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_owned()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// A rebuild of every read model runs again and again beside the live denormalisers, on the same accounts, while
/// the load runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_racing_the_live_denormalisers() {
    let _one_at_a_time = SERIAL.lock().await;
    let proxy = ChaosProxy::start(&dynamo().endpoint, 42).await;
    let stack = Devstack::start(config_behind(&proxy).await).await.unwrap();
    let at = endpoints(&stack);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rebuilding = tokio::spawn({
        let (projections, store, done) = (at.projections.clone(), at.store.clone(), done.clone());
        async move {
            let mut rounds = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                // Every read model of the bank (transfers too: a rebuild skips the streams it does not read).
                for model in bank_service::read_models() {
                    let options = RebuildOptions {
                        restart: true,
                        ..RebuildOptions::default()
                    };
                    rebuild(model.as_ref(), &projections, &store, options, |_| {})
                        .await
                        .unwrap();
                }
                rounds += 1;
            }
            rounds
        }
    });
    let ledger = ledger::run(
        &Target::new(&stack.base_url()),
        LoadPlan::default(),
        &tag("rebuild"),
    )
    .await;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let rounds = rebuilding.await.unwrap();
    assert!(rounds > 0, "rebuilds ran during the load");
    let agreement = assert_agreement(&ledger, &at, SETTLE).await;
    println!("[rebuild race] {agreement}; {rounds} full rebuild rounds during the load");
    stack.stop().await;
}

/// Where a devstack process listens, from what it prints at start.
struct Printed {
    http: String,
    dynamodb: String,
    kafka: String,
}

/// Start the devstack binary with `args`; return it once it serves, with where it listens. Its output is
/// drained in the background.
async fn start_process(args: &[String]) -> (Child, Printed) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_devstack"));
    command
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the devstack binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut http, mut dynamodb, mut kafka_at) = (None, None, None);
    let field = |line: &str, label: &str| {
        line.trim().strip_prefix(label).map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .expect("the devstack printed its addresses in time")
            .unwrap()
            .expect("the devstack exited during start-up");
        http = http.or(field(&line, "HTTP API"));
        dynamodb = dynamodb.or(field(&line, "DynamoDB API"));
        kafka_at = kafka_at.or(field(&line, "Kafka"));
        if line.starts_with("Ctrl-C to stop") {
            break;
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (
        child,
        Printed {
            http: http.unwrap(),
            dynamodb: dynamodb.unwrap(),
            kafka: kafka_at.unwrap(),
        },
    )
}

/// The devstack process is killed (SIGKILL) in the middle of the load and started again on the same data (the
/// embedded DynamoDB's `--data-file`, or the same external servers): clients retry what was in flight, and
/// everything converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_load_and_restart() {
    let _one_at_a_time = SERIAL.lock().await;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let dir = std::env::temp_dir().join(format!("tributary-kill9-{unique}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut args: Vec<String> = [
        "--addr",
        "127.0.0.1:0",
        "--events-table",
        &format!("kill9-events-{unique}"),
        "--projections-table",
        &format!("kill9-projections-{unique}"),
        "--events-topic",
        &format!("kill9-events-{unique}"),
        "--rejections-topic",
        &format!("kill9-rejections-{unique}"),
        "--dead-letter-topic",
        &format!("kill9-dead-letters-{unique}"),
        "--group-prefix",
        &format!("kill9-{unique}"),
    ]
    .map(str::to_owned)
    .to_vec();
    if dynamo().embedded {
        args.extend(
            [
                "--dynamodb-addr",
                "127.0.0.1:0",
                "--data-file",
                &dir.join("data.db").display().to_string(),
            ]
            .map(str::to_owned),
        );
    }
    // External servers (the full run) come from the environment, which the process inherits.
    let (mut first, printed) = start_process(&args).await;
    let target = Target::new(&printed.http);
    let tag = tag("kill9");
    let plan = LoadPlan::default();
    let load = tokio::spawn({
        let (target, tag) = (target.clone(), tag.clone());
        async move { ledger::run(&target, plan, &tag).await }
    });
    // A third of the way in: requests in flight, consumers mid-batch, the relay mid-stream.
    target
        .wait_for_definite(plan.accounts * (plan.commands + 1) / 3, &load)
        .await;
    first.kill().await.unwrap();
    let (_second, printed) = start_process(&args).await;
    target.set(&printed.http);
    let ledger = load.await.unwrap();

    let client = local_client(&printed.dynamodb);
    let at = Endpoints {
        store: DynamoDbEventStore::shared(client.clone(), format!("kill9-events-{unique}")),
        projections: ProjectionStore::new(client, format!("kill9-projections-{unique}")),
        kafka_bootstrap: printed.kafka,
        events_topic: format!("kill9-events-{unique}"),
    };
    let agreement = assert_agreement(&ledger, &at, SETTLE).await;
    println!("[kill -9] {agreement}");
    let _ = std::fs::remove_dir_all(&dir);
}
