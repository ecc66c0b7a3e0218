//! The local stack: everything the deployed system has, in one process on loopback.
//!
//! * a DynamoDB API: embedded dynoxide (in memory, or a file), or an external server (`AWS_ENDPOINT_URL_DYNAMODB`,
//!   e.g. the official DynamoDB Local);
//! * a Kafka cluster: embedded (librdkafka's mock brokers), or an external broker (`KAFKA_BOOTSTRAP_SERVERS`,
//!   e.g. tansu), with the topics created;
//! * the tables, created from the shared definitions in `tributary_dynamodb::tables`;
//! * the command and query APIs on one address (the same routers the Lambda functions serve);
//! * the relay (the same handler the Lambda function runs), fed by a local DynamoDB Streams event source mapping;
//! * one denormaliser per read model (the same handler), each fed by its own consumer group through a local MSK
//!   event source mapping, and the transfer process manager (the same handler) on its own consumer group.
//!
//! [`Devstack::start`] is what `cargo run --bin devstack` runs; end-to-end tests start it the same way.

pub mod kafka_mapping;
pub mod lag;
pub mod scheduler;
pub mod stream_mapping;

use anyhow::Context;
use aws_sdk_dynamodbstreams::config::{BehaviorVersion, Credentials, Region};
use bank_service::transfers::{TransferProcess, CONSUMER_GROUP_SUFFIX};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tributary_aggregate::{PublishFaults, SnapshotPolicy};
use tributary_consumer::reactor::Reactor;
use tributary_consumer::Denormaliser;
use tributary_dynamodb::local::{local_client, local_config};
use tributary_dynamodb::tables;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_http::commands::Commands;
use tributary_http::cursor::Cursors;
use tributary_http::shell::ReadSide;
use tributary_http::OperatorRule;
use tributary_kafka::local::{create_topics, EmbeddedKafka};
use tributary_kafka::{KafkaConfig, LazyPublisher, Publisher};
use tributary_projections::ProjectionStore;
use tributary_runtime::config::SdkPolicy;
use tributary_store::EventStore;

/// Partitions of the topics devstack creates.
pub const TOPIC_PARTITIONS: i32 = 6;
/// Default name of the projections table.
pub const DEFAULT_PROJECTIONS_TABLE: &str = "tributary-projections";

/// Where the DynamoDB API comes from.
#[derive(Debug, Clone)]
pub enum DynamoSource {
    /// Embedded dynoxide on `addr`; in memory, or persisted in `file`.
    Embedded {
        addr: SocketAddr,
        file: Option<PathBuf>,
    },
    /// A server already running at this URL.
    External(String),
}

/// Where Kafka comes from.
#[derive(Debug, Clone)]
pub enum KafkaSource {
    /// An in-process mock cluster on loopback.
    Embedded,
    /// A broker already running at this bootstrap list.
    External(String),
}

/// What to start.
#[derive(Debug, Clone)]
pub struct DevstackConfig {
    /// Address of the HTTP API.
    pub http_addr: SocketAddr,
    pub dynamo: DynamoSource,
    pub events_table: String,
    pub projections_table: String,
    pub kafka: KafkaSource,
    pub events_topic: String,
    pub rejections_topic: String,
    pub dead_letter_topic: String,
    /// Batching of the local MSK event source mappings.
    pub mapping: kafka_mapping::MappingSettings,
    /// Run the denormalisers and the transfer process manager (off only in tests that drive them directly).
    pub denormalisers: bool,
    /// The read models whose denormalisers run (default: every one the application deploys, every version).
    pub read_models: tributary_projections::ReadModels,
    /// Fraction of the command path's publishes to drop after the commit (chaos switch; 0 normally).
    pub fail_publish_rate: f64,
    /// Run the relay (off only in tests that simulate a crash before it could run).
    pub relay: bool,
    /// Who may read every account (bearer tokens with a scope or group; see `OperatorRule::local_default`).
    pub operators: OperatorRule,
    /// Refuse requests without a bearer token (401), as API Gateway does, instead of serving them as `anonymous`.
    pub require_authentication: bool,
    /// Timeouts and retries of the DynamoDB clients of the command and query APIs (deployed: 10 s functions).
    pub request_path_policy: SdkPolicy,
    /// Timeouts and retries of the relay's and the denormalisers' DynamoDB clients (deployed: 60 s functions).
    pub background_policy: SdkPolicy,
    /// Snapshots and the idempotency window of the command API (the deployed defaults unless a test shrinks them).
    pub snapshots: tributary_aggregate::SnapshotPolicy,
    /// The per-principal budget of the HTTP API (deployed: 20 a second; locally none unless asked for).
    pub rate_limit: Option<tributary_http::RateLimit>,
    /// How long the command API's publish may wait for the brokers (deployed: 2 s; the relay publishes anything
    /// slower). Tests on tansu give it the relay's patience: tansu 0.6.0 loses its storage when an idempotent
    /// producer's message times out (librdkafka bumps the producer's epoch), which a loaded machine can cause.
    pub command_delivery_timeout: Duration,
    /// Who seals the ledger's checkpoints (deployed: the KMS key `LEDGER_KMS_KEY_ID`); default a new local key.
    pub ledger: Option<Arc<dyn tributary_store::chain::Notary>>,
    /// The personal-data vault's key table (deployed: `SUBJECT_KEYS_TABLE`).
    pub subject_keys_table: String,
    /// What wraps the subjects' data keys (deployed: the KMS key `PERSONAL_DATA_KMS_KEY_ID`); default a new local
    /// key. `None`: no vault, and events with personal data are refused.
    pub personal_data: Option<Arc<dyn tributary_ledger::KeyWrap>>,
    /// How often the scheduler sweeps (deployed: every minute), at the time of [`Devstack::clock`]. It runs with
    /// the denormalisers.
    pub scheduler_tick: Duration,
}

/// The personal-data key table's default name.
pub const DEFAULT_SUBJECT_KEYS_TABLE: &str = "tributary-subject-keys";

impl DevstackConfig {
    /// The vault the stack's writers and readers use, through `client` (none without a key wrap).
    fn vault(
        &self,
        client: &aws_sdk_dynamodb::Client,
    ) -> Option<Arc<dyn tributary_store::personal::Vault>> {
        let wrap = self.personal_data.clone()?;
        let keys =
            tributary_dynamodb::DynamoDbSubjectKeys::new(client.clone(), &self.subject_keys_table);
        Some(Arc::new(tributary_ledger::SubjectVault::new(
            Arc::new(keys),
            wrap,
        )))
    }

    /// Defaults: HTTP on `http_addr`, everything embedded, default names, no chaos, relay on, the deployed
    /// functions' timeouts.
    pub fn embedded(http_addr: SocketAddr) -> Self {
        Self {
            http_addr,
            dynamo: DynamoSource::Embedded {
                addr: "127.0.0.1:0".parse().expect("valid address"),
                file: None,
            },
            events_table: tributary_http::commands::DEFAULT_EVENTS_TABLE.to_owned(),
            projections_table: DEFAULT_PROJECTIONS_TABLE.to_owned(),
            kafka: KafkaSource::Embedded,
            events_topic: tributary_kafka::config::DEFAULT_EVENTS_TOPIC.to_owned(),
            rejections_topic: tributary_kafka::config::DEFAULT_REJECTIONS_TOPIC.to_owned(),
            dead_letter_topic: tributary_kafka::config::DEFAULT_DEAD_LETTER_TOPIC.to_owned(),
            mapping: kafka_mapping::MappingSettings::default(),
            denormalisers: true,
            read_models: app::read_models(),
            fail_publish_rate: 0.0,
            relay: true,
            operators: OperatorRule::local_default(),
            require_authentication: false,
            request_path_policy: SdkPolicy::REQUEST_PATH,
            background_policy: SdkPolicy::BACKGROUND,
            snapshots: tributary_aggregate::SnapshotPolicy::default(),
            rate_limit: None,
            command_delivery_timeout: Duration::from_secs(2),
            ledger: Some(Arc::new(
                tributary_ledger::LocalNotary::generate(tributary_ledger::DEFAULT_SEAL_EVERY)
                    .expect("a new P-256 key"),
            )),
            subject_keys_table: DEFAULT_SUBJECT_KEYS_TABLE.to_owned(),
            personal_data: Some(Arc::new(
                tributary_ledger::LocalKeyWrap::generate().expect("a new AES-256 key"),
            )),
            scheduler_tick: Duration::from_secs(1),
        }
    }
}

/// A running stack. [`Devstack::stop`] drains it; dropping it aborts everything it started.
pub struct Devstack {
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    /// The DynamoDB endpoint in use.
    pub dynamo_endpoint: String,
    pub dynamo_description: String,
    pub events_table: String,
    pub projections_table: String,
    pub subject_keys_table: String,
    /// The Kafka bootstrap list in use.
    pub kafka_bootstrap: String,
    pub kafka_description: String,
    pub events_topic: String,
    pub rejections_topic: String,
    pub dead_letter_topic: String,
    embedded_kafka: Option<EmbeddedKafka>,
    /// The servers the rest depends on (the embedded DynamoDB API): stopped last.
    infrastructure: Vec<JoinHandle<()>>,
    /// The HTTP API, the relay and the denormalisers: drained on stop.
    workers: Vec<JoinHandle<()>>,
    /// The transfer process manager, restartable on its own ([`Devstack::restart_transfer_process`]).
    transfer_process: Option<ProcessWorker>,
    /// How to start it again while it is paused ([`Devstack::pause_transfer_process`]).
    paused_process: Option<ProcessStart>,
    /// How to start another denormaliser ([`Devstack::start_denormaliser`]).
    denormaliser_start: DenormaliserStart,
    /// The scheduler's time: the wall clock, unless a test moves it forward.
    pub clock: scheduler::Clock,
    /// The scheduler loop, crashable on its own ([`Devstack::restart_scheduler`]).
    scheduler: Option<scheduler::SchedulerWorker>,
    sweeps: tokio::sync::watch::Sender<scheduler::LastSweep>,
    shutdown: CancellationToken,
}

/// A running process manager and how to start another like it.
struct ProcessWorker {
    task: JoinHandle<()>,
    stop: CancellationToken,
    start: ProcessStart,
}

/// Everything a transfer process manager worker is started from.
#[derive(Clone)]
struct ProcessStart {
    bootstrap: String,
    topic: String,
    group: String,
    reactor: Reactor<TransferProcess>,
    mapping: kafka_mapping::MappingSettings,
}

impl ProcessStart {
    /// Start a worker under `parent`, and wait (up to 30 s) until its consumer group consumes.
    async fn spawn(self, parent: &CancellationToken) -> ProcessWorker {
        let stop = parent.child_token();
        let (assigned, when_assigned) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(kafka_mapping::run(
            self.bootstrap.clone(),
            self.topic.clone(),
            self.group.clone(),
            self.reactor.clone(),
            self.mapping.clone(),
            assigned,
            stop.clone(),
        ));
        if tokio::time::timeout(Duration::from_secs(30), when_assigned)
            .await
            .is_err()
        {
            tracing::warn!(group = %self.group, "not assigned after 30 s; it will catch up");
        }
        ProcessWorker {
            task,
            stop,
            start: self,
        }
    }
}

/// How long [`Devstack::stop`] lets in-flight requests and batches finish before aborting them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

impl Drop for Devstack {
    fn drop(&mut self) {
        self.shutdown.cancel();
        for task in self.workers.iter().chain(&self.infrastructure) {
            task.abort();
        }
        if let Some(worker) = &self.transfer_process {
            worker.task.abort();
        }
        if let Some(worker) = &self.scheduler {
            worker.task.abort();
        }
    }
}

impl Devstack {
    /// Start every part, create tables and topics, and return once the HTTP API accepts connections: the DynamoDB
    /// API and its tables, Kafka and its topics, the HTTP API (command and query functions), the relay, one
    /// denormaliser per read model, and the transfer process manager.
    pub async fn start(config: DevstackConfig) -> anyhow::Result<Self> {
        let mut infrastructure = Vec::new();
        let mut workers = Vec::new();
        let shutdown = CancellationToken::new();
        let (dynamo_endpoint, dynamo_description) =
            start_dynamo(&config.dynamo, &mut infrastructure).await?;
        let clients = Clients::new(&dynamo_endpoint, &config);
        ensure_tables(&clients.admin, &config, &dynamo_endpoint).await?;
        let kafka = start_kafka(&config).await?;
        // One clock for the commands and the scheduler: a test that moves it forward moves both.
        let clock = scheduler::Clock::default();
        let http_addr = serve_http(
            &config,
            &clients,
            &kafka.config,
            &clock,
            &shutdown,
            &mut workers,
        )
        .await?;
        if config.relay {
            workers.push(
                start_relay(
                    &config,
                    &clients,
                    &dynamo_endpoint,
                    &kafka.config,
                    &shutdown,
                )
                .await?,
            );
        }
        let denormaliser_start = DenormaliserStart::new(&config, &clients, &kafka, &shutdown);
        let (sweeps, _) = tokio::sync::watch::channel(None);
        let (transfer_process, scheduler) = if config.denormalisers {
            start_denormalisers(&config, &denormaliser_start, &mut workers).await?;
            let process = transfer_process(&config, &clients, &kafka)
                .await?
                .spawn(&shutdown)
                .await;
            let scheduler = scheduler::spawn(
                the_scheduler(&config, &clients),
                clock.clone(),
                config.scheduler_tick,
                sweeps.clone(),
                shutdown.child_token(),
            );
            (Some(process), Some(scheduler))
        } else {
            (None, None)
        };
        Ok(Self {
            http_addr,
            dynamo_endpoint,
            dynamo_description,
            events_table: config.events_table,
            projections_table: config.projections_table,
            subject_keys_table: config.subject_keys_table,
            kafka_bootstrap: kafka.bootstrap,
            kafka_description: kafka.description,
            events_topic: config.events_topic,
            rejections_topic: config.rejections_topic,
            dead_letter_topic: config.dead_letter_topic,
            embedded_kafka: kafka.embedded,
            infrastructure,
            workers,
            transfer_process,
            paused_process: None,
            denormaliser_start,
            clock,
            scheduler,
            sweeps,
            shutdown,
        })
    }

    /// Crash the scheduler wherever its sweep is (an occurrence may be started and not sent, or sent and not
    /// recorded) and start a fresh one, as a Lambda timeout and the next minute's invocation would. A no-op when
    /// the stack runs no consumers.
    pub fn restart_scheduler(&mut self) {
        if let Some(worker) = self.scheduler.take() {
            worker.task.abort();
            self.scheduler = Some(scheduler::spawn(
                worker.scheduler,
                self.clock.clone(),
                worker.tick,
                self.sweeps.clone(),
                self.shutdown.child_token(),
            ));
        }
    }

    /// The scheduler's sweeps: the time of the last one and what it did.
    pub fn sweeps(&self) -> tokio::sync::watch::Receiver<scheduler::LastSweep> {
        self.sweeps.subscribe()
    }

    /// Start the denormaliser of `projection` (a read model, or a new version of one, deployed after the stack
    /// started), on its own consumer group; returns once the group consumes (up to 30 s).
    pub async fn start_denormaliser(
        &mut self,
        projection: std::sync::Arc<dyn tributary_projections::ReadModel>,
    ) -> anyhow::Result<()> {
        let (worker, when_assigned) = self.denormaliser_start.spawn(projection).await?;
        self.workers.push(worker);
        if tokio::time::timeout(Duration::from_secs(30), when_assigned)
            .await
            .is_err()
        {
            tracing::warn!("the new denormaliser's consumer group is not assigned after 30 s; it will catch up");
        }
        Ok(())
    }

    /// Stop the transfer process manager as a Lambda container is stopped — the batch in hand finished and
    /// committed if it succeeds, left for redelivery if not — and start a fresh one on the same consumer group.
    /// Returns once the new one consumes. A no-op when the stack runs no consumers.
    pub async fn restart_transfer_process(&mut self) {
        self.pause_transfer_process().await;
        self.resume_transfer_process().await;
    }

    /// Stop the transfer process manager (as [`Devstack::restart_transfer_process`] does) until
    /// [`Devstack::resume_transfer_process`]: transfers requested meanwhile wait on its consumer group, as they
    /// would for a function that is failing or throttled.
    pub async fn pause_transfer_process(&mut self) {
        let Some(worker) = self.transfer_process.take() else {
            return;
        };
        worker.stop.cancel();
        let mut task = worker.task;
        if tokio::time::timeout(DRAIN_TIMEOUT, &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
        self.paused_process = Some(worker.start);
    }

    /// Start the paused transfer process manager again; returns once it consumes.
    pub async fn resume_transfer_process(&mut self) {
        if let Some(start) = self.paused_process.take() {
            self.transfer_process = Some(start.spawn(&self.shutdown).await);
        }
    }

    /// Stop gracefully: the HTTP API stops accepting and answers the requests in flight; the relay and the
    /// denormalisers finish (and commit) the batch in hand; then the DynamoDB server stops, and (on drop) the
    /// embedded Kafka. Whatever has not finished after 15 s is aborted.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        let process = self.transfer_process.take().map(|w| w.task);
        let scheduler = self.scheduler.take().map(|w| w.task);
        for mut task in std::mem::take(&mut self.workers)
            .into_iter()
            .chain(process)
            .chain(scheduler)
        {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::warn!(
                    "the stack did not drain in {DRAIN_TIMEOUT:?}; aborting what is left"
                );
                task.abort();
                let _ = task.await;
            }
        }
        for task in std::mem::take(&mut self.infrastructure) {
            task.abort();
            let _ = task.await;
        }
    }

    /// Base URL of the HTTP API.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The embedded Kafka, if this stack runs one (for broker-outage tests).
    pub fn embedded_kafka(&self) -> Option<&EmbeddedKafka> {
        self.embedded_kafka.as_ref()
    }
}

/// The DynamoDB clients of the stack: one to create tables, and the functions' own, with the timeouts and retries
/// each has when deployed.
struct Clients {
    admin: aws_sdk_dynamodb::Client,
    request_path: aws_sdk_dynamodb::Client,
    background: aws_sdk_dynamodb::Client,
}

impl Clients {
    fn new(endpoint: &str, config: &DevstackConfig) -> Self {
        Self {
            admin: local_client(endpoint),
            request_path: dynamodb_client(endpoint, config.request_path_policy),
            background: dynamodb_client(endpoint, config.background_policy),
        }
    }
}

/// Create the events, projections and subject-key tables (or leave them as they are).
async fn ensure_tables(
    client: &aws_sdk_dynamodb::Client,
    config: &DevstackConfig,
    endpoint: &str,
) -> anyhow::Result<()> {
    for (spec, name) in [
        (tables::EVENTS, &config.events_table),
        (tables::PROJECTIONS, &config.projections_table),
        (tables::SUBJECT_KEYS, &config.subject_keys_table),
    ] {
        spec.ensure(client, name)
            .await
            .with_context(|| format!("cannot create table {name} at {endpoint}"))?;
    }
    Ok(())
}

/// The stack's Kafka: the embedded cluster (kept running) or an external broker, with its topics created.
struct StackKafka {
    embedded: Option<EmbeddedKafka>,
    description: String,
    bootstrap: String,
    config: KafkaConfig,
}

async fn start_kafka(config: &DevstackConfig) -> anyhow::Result<StackKafka> {
    let topics = [
        (config.events_topic.as_str(), TOPIC_PARTITIONS),
        (config.rejections_topic.as_str(), TOPIC_PARTITIONS),
        (config.dead_letter_topic.as_str(), TOPIC_PARTITIONS),
    ];
    let (embedded, bootstrap, description) = match &config.kafka {
        KafkaSource::Embedded => {
            let kafka = EmbeddedKafka::start().context("cannot start the embedded Kafka")?;
            for (name, partitions) in topics {
                kafka
                    .create_topic(name, partitions)
                    .with_context(|| format!("cannot create topic {name}"))?;
            }
            let bootstrap = kafka.bootstrap_servers().to_owned();
            (
                Some(kafka),
                bootstrap,
                "embedded mock cluster, 3 brokers".to_owned(),
            )
        }
        KafkaSource::External(bootstrap) => {
            create_topics(bootstrap, &topics)
                .await
                .with_context(|| format!("cannot create topics on {bootstrap}"))?;
            (None, bootstrap.clone(), "external broker".to_owned())
        }
    };
    Ok(StackKafka {
        embedded,
        description,
        config: KafkaConfig {
            dead_letter_topic: config.dead_letter_topic.clone(),
            ..KafkaConfig::plaintext(&bootstrap, &config.events_topic, &config.rejections_topic)
        },
        bootstrap,
    })
}

/// A producer of the stack's Kafka (no AWS: plaintext).
async fn producer(kafka: &KafkaConfig) -> anyhow::Result<Publisher> {
    Ok(Publisher::connect(kafka, &aws_types::SdkConfig::builder().build()).await?)
}

/// The HTTP API (the command and query functions' routes on one listener); returns where it listens.
async fn serve_http(
    config: &DevstackConfig,
    clients: &Clients,
    kafka: &KafkaConfig,
    clock: &scheduler::Clock,
    shutdown: &CancellationToken,
    workers: &mut Vec<JoinHandle<()>>,
) -> anyhow::Result<SocketAddr> {
    // The command function: its own producer, with the short delivery timeout of the request path.
    let command_publisher = producer(&KafkaConfig {
        delivery_timeout: config.command_delivery_timeout,
        ..kafka.clone()
    })
    .await?;
    let vault = config.vault(&clients.request_path);
    let commands = Commands::new(Arc::new(
        DynamoDbEventStore::new(clients.request_path.clone(), &config.events_table)
            .with_notary(config.ledger.clone())
            .with_vault(vault.clone()),
    ))
    .with_snapshots(config.snapshots)
    .with_clock({
        let clock = clock.clone();
        Arc::new(move || clock.now())
    })
    .with_publisher(
        LazyPublisher::ready(command_publisher),
        PublishFaults {
            fail_rate: config.fail_publish_rate,
        },
    );
    let listener = TcpListener::bind(config.http_addr).await.with_context(|| {
        format!(
            "cannot listen on {} for the HTTP API (set DEVSTACK_ADDR)",
            config.http_addr
        )
    })?;
    let http_addr = listener.local_addr()?;
    let reads = ReadSide {
        projections: ProjectionStore::new(clients.request_path.clone(), &config.projections_table),
        events: Arc::new(
            DynamoDbEventStore::new(clients.request_path.clone(), &config.events_table)
                .with_vault(vault),
        ),
        cursors: Cursors::new(tributary_http::cursor::LOCAL_CURSOR_SECRET.as_bytes()),
        snapshots: SnapshotPolicy::default(),
    };
    let mut router = tributary_http::with_operators(
        tributary_http::with_rate_limit(
            tributary_http::with_problem_fallbacks(
                app::command_routes(commands).merge(app::reads(reads).into_router()),
            ),
            config.rate_limit.clone(),
        ),
        config.operators.clone(),
    );
    if config.require_authentication {
        router = tributary_http::with_required_authentication(router);
    }
    let stopping = shutdown.clone();
    workers.push(tokio::spawn(async move {
        // On stop: no new connections; requests in flight are answered.
        if let Err(e) = axum::serve(tributary_http::ProblemListener(listener), router)
            .with_graceful_shutdown(async move { stopping.cancelled().await })
            .await
        {
            tracing::error!(%e, "HTTP API stopped");
        }
    }));
    Ok(http_addr)
}

/// The relay function on the events table's stream: its own producer, patient like the Lambda's.
async fn start_relay(
    config: &DevstackConfig,
    clients: &Clients,
    dynamo_endpoint: &str,
    kafka: &KafkaConfig,
    shutdown: &CancellationToken,
) -> anyhow::Result<JoinHandle<()>> {
    let relay_publisher = producer(&KafkaConfig {
        delivery_timeout: Duration::from_secs(30),
        ..kafka.clone()
    })
    .await?;
    Ok(tokio::spawn(stream_mapping::run(
        streams_client(dynamo_endpoint),
        clients.admin.clone(),
        config.events_table.clone(),
        relay_publisher,
        shutdown.clone(),
    )))
}

/// What starts a read model's denormaliser: the stack's Kafka, tables and batching.
#[derive(Clone)]
struct DenormaliserStart {
    bootstrap: String,
    topic: String,
    mapping: kafka_mapping::MappingSettings,
    kafka: KafkaConfig,
    projections: ProjectionStore,
    events: std::sync::Arc<dyn tributary_store::EventStore>,
    shutdown: CancellationToken,
}

impl DenormaliserStart {
    fn new(
        config: &DevstackConfig,
        clients: &Clients,
        kafka: &StackKafka,
        shutdown: &CancellationToken,
    ) -> Self {
        Self {
            bootstrap: kafka.bootstrap.clone(),
            topic: config.events_topic.clone(),
            mapping: config.mapping.clone(),
            kafka: kafka.config.clone(),
            projections: ProjectionStore::new(
                clients.background.clone(),
                &config.projections_table,
            ),
            events: DynamoDbEventStore::shared(clients.background.clone(), &config.events_table),
            shutdown: shutdown.clone(),
        }
    }

    /// Start `projection`'s denormaliser on its own consumer group (and producer for dead letters); the worker, and
    /// a signal once its group consumes.
    async fn spawn(
        &self,
        projection: std::sync::Arc<dyn tributary_projections::ReadModel>,
    ) -> anyhow::Result<(JoinHandle<()>, tokio::sync::oneshot::Receiver<()>)> {
        let group = kafka_mapping::group_id(&self.mapping.group_prefix, &projection.label());
        let denormaliser = Denormaliser {
            projection,
            consumer_group: group.clone(),
            projections: self.projections.clone(),
            events: self.events.clone(),
            dead_letters: LazyPublisher::ready(producer(&self.kafka).await?),
        };
        let (assigned, when_assigned) = tokio::sync::oneshot::channel();
        let worker = tokio::spawn(kafka_mapping::run(
            self.bootstrap.clone(),
            self.topic.clone(),
            group,
            denormaliser,
            self.mapping.clone(),
            assigned,
            self.shutdown.clone(),
        ));
        Ok((worker, when_assigned))
    }
}

/// One denormaliser per read model of `config.read_models`, each on its own consumer group; returns once every
/// group consumes (up to 30 s), so that the first command's events are not waiting on a join.
async fn start_denormalisers(
    config: &DevstackConfig,
    start: &DenormaliserStart,
    workers: &mut Vec<JoinHandle<()>>,
) -> anyhow::Result<()> {
    let mut ready = Vec::new();
    for projection in config.read_models.iter().cloned() {
        let (worker, when_assigned) = start.spawn(projection).await?;
        workers.push(worker);
        ready.push(when_assigned);
    }
    let all_ready = futures::future::join_all(ready);
    if tokio::time::timeout(Duration::from_secs(30), all_ready)
        .await
        .is_err()
    {
        tracing::warn!(
            "the projections' consumer groups are not assigned after 30 s; they will catch up"
        );
    }
    Ok(())
}

/// The scheduler: schedules on the event store (as the transfer process writes it), their due index on the
/// projections table, the application's dispatch.
fn the_scheduler(
    config: &DevstackConfig,
    clients: &Clients,
) -> tributary_scheduler::Scheduler<bank_service::standing_orders::BankDispatch> {
    let events: Arc<dyn EventStore> = Arc::new(
        DynamoDbEventStore::new(clients.background.clone(), &config.events_table)
            .with_notary(config.ledger.clone())
            .with_vault(config.vault(&clients.background)),
    );
    tributary_scheduler::Scheduler::new(
        events.clone(),
        config.snapshots,
        &ProjectionStore::new(clients.background.clone(), &config.projections_table),
        app::dispatch(events, config.snapshots),
    )
}

/// How to start the transfer process manager: on its own consumer group (and producer for dead letters).
async fn transfer_process(
    config: &DevstackConfig,
    clients: &Clients,
    kafka: &StackKafka,
) -> anyhow::Result<ProcessStart> {
    let events: Arc<dyn EventStore> = Arc::new(
        DynamoDbEventStore::new(clients.background.clone(), &config.events_table)
            .with_notary(config.ledger.clone())
            .with_vault(config.vault(&clients.background)),
    );
    let group = kafka_mapping::group_id(&config.mapping.group_prefix, CONSUMER_GROUP_SUFFIX);
    Ok(ProcessStart {
        bootstrap: kafka.bootstrap.clone(),
        topic: config.events_topic.clone(),
        group: group.clone(),
        reactor: Reactor {
            manager: TransferProcess::over(events, config.snapshots),
            consumer_group: group,
            dead_letters: LazyPublisher::ready(producer(&kafka.config).await?),
        },
        mapping: config.mapping.clone(),
    })
}

async fn start_dynamo(
    source: &DynamoSource,
    tasks: &mut Vec<JoinHandle<()>>,
) -> anyhow::Result<(String, String)> {
    Ok(match source {
        DynamoSource::External(url) => (
            url.trim_end_matches('/').to_owned(),
            "external server".to_owned(),
        ),
        DynamoSource::Embedded { addr, file } => {
            let db = match file {
                Some(path) => {
                    let path_text = path
                        .to_str()
                        .context("the data file path must be valid UTF-8")?;
                    dynoxide::Database::new(path_text).with_context(|| {
                        format!("cannot open DynamoDB data file {}", path.display())
                    })?
                }
                None => {
                    dynoxide::Database::memory().context("cannot create the in-memory DynamoDB")?
                }
            };
            let listener = TcpListener::bind(addr).await.with_context(|| {
                format!("cannot listen on {addr} for the embedded DynamoDB API (set DEVSTACK_DYNAMODB_ADDR)")
            })?;
            let bound = listener.local_addr()?;
            tasks.push(tokio::spawn(dynoxide::server::serve_on(listener, db)));
            let description = match file {
                Some(path) => format!("embedded dynoxide, data in {}", path.display()),
                None => "embedded dynoxide, in memory".to_owned(),
            };
            (format!("http://{bound}"), description)
        }
    })
}

/// A DynamoDB client for the local server with a function's timeouts and retries.
fn dynamodb_client(endpoint: &str, policy: SdkPolicy) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        local_config(endpoint)
            .timeout_config(policy.timeout_config())
            .retry_config(policy.retry_config())
            .build(),
    )
}

/// A DynamoDB Streams client for the local server (same endpoint, dummy credentials).
fn streams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(tributary_runtime::http_client::sdk_http_client())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "local",
                "local",
                None,
                None,
                "tributary-local",
            ))
            .build(),
    )
}
