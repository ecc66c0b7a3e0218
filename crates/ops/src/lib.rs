//! `tributary`, the operator CLI: one binary, one subcommand per question an operator asks.
//!
//! * `lag`: how far each consumer (every read model's denormaliser, the process manager) is behind on the
//!   events topic, per partition: its committed offset, the end, and how old the oldest record it has not read is;
//! * `dead-letters list | show <id> | replay <consumer>`: what the dead-letter topic holds (each letter marked
//!   replayed once a replay of its consumer has read past it), one letter in full, and re-driving a consumer's
//!   letters once their cause is fixed (idempotent: from the event store, never the bytes);
//! * `rebuild <read model>`: recompute a read model from the event store (resumable, beside the live consumers);
//! * `read-models list | build | promote | retire`: a read model's versions side by side — build a new one from
//!   the event store, serve it, roll back, retire the old one;
//! * `stream <id>`: one aggregate's events from the event store, as recorded;
//! * `verify <stream> | --all`: the events as stored against their hash chain and signed checkpoints — what was
//!   modified, deleted, inserted or reordered;
//! * `forget <subject> --reason ..`: erase a data subject's personal data by destroying their data key (recorded,
//!   idempotent).
//!
//! Tables and counts for people (progress on stderr), `--json` for scripts. Credentials as for every AWS tool (the
//! default chain); a local stack through `AWS_ENDPOINT_URL_DYNAMODB` and `KAFKA_BOOTSTRAP_SERVERS` (README,
//! "Operating"). It operates any domain: the domain says what it has in one [`Domain`] impl, and its binary is
//! one call (`examples/app/src/bin/tributary.rs`); the work is in `tributary-consumer` (`ops`, `redrive`) and
//! `tributary-projections` (`rebuild`).

mod dead_letters;
mod forget;
mod lag;
mod read_models;
mod rebuild;
mod schedules;
mod stream;
mod verify;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tributary_consumer::cli;
use tributary_consumer::reactor::ProcessManager;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_kafka::KafkaConfig;
use tributary_projections::{ProjectionStore, ReadModels, RebuildOptions};
use tributary_store::EventStore;

/// What the CLI needs to know of a domain: its read models, its process manager and its aggregates' stream
/// prefixes. Everything else is the same for any domain.
pub trait Domain: Sync {
    /// The process manager `dead-letters replay` re-drives (a domain with several: an enum over them).
    type Process: ProcessManager;
    /// The read models, by name (`rebuild`, `dead-letters replay`, `lag`).
    fn read_models(&self) -> ReadModels;
    /// The process manager's consumer name (its consumer group's suffix).
    fn process_name(&self) -> &'static str;
    /// The process manager over `events`, as the deployment runs it.
    fn process(&self, events: Arc<dyn EventStore>) -> anyhow::Result<Self::Process>;
    /// The prefixes of the aggregates' streams, tried in turn for an id given without one (`stream <uuid>`).
    fn stream_prefixes(&self) -> &'static [&'static str];
}

/// The operator CLI.
#[derive(Debug, Parser)]
#[command(
    name = "tributary",
    version,
    about = "Operate a Tributary deployment: lag, dead letters, rebuilds, read-model versions, streams, verifying the ledger, forgetting a data subject."
)]
pub struct Cli {
    /// JSON on stdout instead of tables (progress stays on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub env: Environment,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the deployment is (flags, or the same environment variables the functions read).
#[derive(Debug, Args)]
pub struct Environment {
    #[arg(
        long,
        global = true,
        env = "EVENTS_TABLE",
        default_value = "tributary-events"
    )]
    pub events_table: String,
    #[arg(
        long,
        global = true,
        env = "PROJECTIONS_TABLE",
        default_value = "tributary-projections"
    )]
    pub projections_table: String,
    /// The personal-data vault's key table (`forget`).
    #[arg(
        long,
        global = true,
        env = "SUBJECT_KEYS_TABLE",
        default_value = "tributary-subject-keys"
    )]
    pub subject_keys_table: String,
    /// A local DynamoDB API (the devstack's is http://127.0.0.1:8042); AWS when unset.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    pub dynamodb_endpoint: Option<String>,
    /// Kafka brokers (host:port,...), e.g. the devstack's; or --msk-cluster-arn (IAM auth).
    #[arg(long, global = true, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub kafka_bootstrap: Option<String>,
    #[arg(long, global = true, env = "MSK_CLUSTER_ARN")]
    pub msk_cluster_arn: Option<String>,
    #[arg(long, global = true, env = "KAFKA_EVENTS_TOPIC")]
    pub events_topic: Option<String>,
    #[arg(long, global = true, env = "KAFKA_DEAD_LETTER_TOPIC")]
    pub dead_letter_topic: Option<String>,
    /// Consumer groups are named `<prefix>-<consumer>` (deployed: tributary).
    #[arg(
        long,
        global = true,
        env = "CONSUMER_GROUP_PREFIX",
        default_value = "tributary"
    )]
    pub group_prefix: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// How far each consumer is behind on the events topic, per partition.
    Lag {
        /// Only these consumers (default: every read model and the process manager; `lag` lists them).
        #[arg(long = "consumer")]
        consumers: Vec<String>,
    },
    /// What the dead-letter topic holds, and re-driving it.
    #[command(subcommand)]
    DeadLetters(Letters),
    /// Recompute a read model from the event store (resumable: run again to go on; --restart starts over).
    Rebuild {
        /// A read model's name (`lag` lists them).
        projection: String,
        #[command(flatten)]
        scan: ScanArgs,
        /// Rebuild only this stream (repeatable): retry the ones an earlier run reported as failed. Saved progress is
        /// left as it is.
        #[arg(long = "stream")]
        streams: Vec<String>,
        /// Leave this stream out (repeatable).
        #[arg(long = "skip")]
        skip: Vec<String>,
    },
    /// A read model's versions: list them, build one from the event store, promote (or roll back), retire.
    #[command(subcommand)]
    ReadModels(VersionCommand),
    /// One aggregate's events from the event store, oldest first.
    Stream {
        /// A stream id (<prefix><uuid>, e.g. account-<uuid>) or a bare aggregate id (each of the domain's prefixes is tried).
        id: String,
    },
    /// Erase a data subject's personal data: destroy their data key, so that every value sealed under it reads as
    /// erased everywhere (events, Kafka, projections, backups). Recorded (who, when, why); idempotent.
    Forget {
        /// The subject: the pseudonymous id their data was sealed for (in the bank, the account owner's principal).
        subject: String,
        /// Why (kept with the record of the erasure).
        #[arg(long)]
        reason: String,
    },
    /// Scheduled commands with work to do now (an occurrence owed and not sent, or one under way), oldest first,
    /// from the scheduler's due index: what `SchedulerBehindAlarm` is about.
    Schedules {
        /// Only those owed for longer than this many minutes.
        #[arg(long, value_name = "MINUTES")]
        late: Option<u64>,
        /// As of this time (RFC 3339) instead of now: what will be owed then, if no sweep runs meanwhile.
        #[arg(long, value_name = "TIME")]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Check the events as stored against their hash chain and signed checkpoints: what was modified, deleted,
    /// inserted or reordered, which checkpoint does not verify. Exit status 1 when anything is found.
    Verify {
        /// A stream id or aggregate id.
        #[arg(required_unless_present = "all")]
        stream: Option<String>,
        /// Every stream of the events table.
        #[arg(long, conflicts_with = "stream")]
        all: bool,
        #[command(flatten)]
        keys: verify::KeyArgs,
    },
}

/// How a read model is filled from the event store (`rebuild`, `read-models build`).
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Ignore saved progress and start from the beginning.
    #[arg(long)]
    pub restart: bool,
    /// Items of the events table scanned per page (progress is saved after each).
    #[arg(long, default_value_t = 100)]
    pub page_size: i32,
    /// Stop after this many pages (run again to resume).
    #[arg(long)]
    pub max_pages: Option<usize>,
}

impl ScanArgs {
    fn options(&self, skip: &[String]) -> RebuildOptions {
        RebuildOptions {
            page_size: self.page_size,
            max_pages: self.max_pages,
            restart: self.restart,
            skip: skip.iter().cloned().collect(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum VersionCommand {
    /// Every version of every read model: its state, whether it is served, its consumer's lag, build progress.
    List,
    /// Fill a version from the event store (resumable: run again to go on), after starting its consumer group at
    /// the end of the events topic, so that no event falls between the build and the live feed.
    Build {
        /// `<name>@<version>` (e.g. statement@2) or its label (statement-v2).
        read_model: String,
        #[command(flatten)]
        scan: ScanArgs,
        /// Leave the consumer group's position alone (its consumer runs already): no Kafka needed.
        #[arg(long)]
        no_handover: bool,
    },
    /// Serve this version from now on; promoting the previous one rolls back (while it is still maintained).
    Promote {
        /// `<name>@<version>` or its label.
        read_model: String,
    },
    /// Stop a version that is not served: its consumer stops writing, then every item of it is deleted.
    Retire {
        /// `<name>@<version>` or its label.
        read_model: String,
        /// How long its consumer may still be finishing a batch (deployed: the function's 60 s timeout and a
        /// little more).
        #[arg(long, default_value_t = 70)]
        grace_seconds: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum Letters {
    /// Every letter: id, consumer, stream, when, why, and whether a replay has dealt with it.
    List {
        /// Only the letters of this consumer (a read model, the process manager, or a consumer group).
        #[arg(long)]
        consumer: Option<String>,
        /// Only the letters no replay has dealt with yet.
        #[arg(long)]
        pending: bool,
    },
    /// One letter in full, with the failed record decoded.
    Show { id: String },
    /// Re-drive a consumer's letters (from where its last re-drive stopped to the end), after the fix. Every stream
    /// is re-driven; those that still fail are listed with why and their letters wait for the next replay.
    Replay {
        /// A read model or the process manager (`lag` lists them).
        consumer: String,
        /// Re-drive only this stream (repeatable): a targeted retry that commits nothing.
        #[arg(long = "stream")]
        streams: Vec<String>,
        /// Leave this stream out (repeatable): its letters wait for the next replay.
        #[arg(long = "skip")]
        skip: Vec<String>,
    },
}

impl Environment {
    fn kafka(&self) -> anyhow::Result<KafkaConfig> {
        let lookup = |name: &str| match name {
            "KAFKA_BOOTSTRAP_SERVERS" => self.kafka_bootstrap.clone(),
            "MSK_CLUSTER_ARN" => self.msk_cluster_arn.clone(),
            "KAFKA_EVENTS_TOPIC" => self.events_topic.clone(),
            "KAFKA_DEAD_LETTER_TOPIC" => self.dead_letter_topic.clone(),
            _ => None,
        };
        Ok(KafkaConfig::from_lookup(lookup, Duration::from_secs(10))?)
    }

    fn group(&self, consumer: &str) -> String {
        format!("{}-{consumer}", self.group_prefix)
    }
}

/// What every subcommand works with: the domain's consumers, the deployment's tables and topics, AWS, a spinner,
/// and how to answer.
pub(crate) struct Context<'a> {
    env: &'a Environment,
    read_models: ReadModels,
    process_name: &'static str,
    stream_prefixes: &'static [&'static str],
    aws: aws_types::SdkConfig,
    events: Arc<dyn EventStore>,
    projections: ProjectionStore,
    dynamodb: aws_sdk_dynamodb::Client,
    bar: ProgressBar,
    json: bool,
}

impl Context<'_> {
    /// The consumers an operator names: every read model, and the process manager.
    fn consumers(&self) -> Vec<String> {
        tributary_projections::names(&self.read_models)
            .into_iter()
            .chain([self.process_name.to_owned()])
            .collect()
    }
}

/// Run one command on `domain`'s deployment, writing its answer to `out`.
pub async fn run(
    domain: &impl Domain,
    cli: Cli,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let env = &cli.env;
    let aws = cli::aws_config().await;
    let dynamodb = match &env.dynamodb_endpoint {
        Some(endpoint) if !endpoint.is_empty() => tributary_dynamodb::local::local_client(endpoint),
        _ => aws_sdk_dynamodb::Client::new(&aws),
    };
    // A re-drive of the process manager writes events: sealed as the deployment seals them (LEDGER_KMS_KEY_ID and
    // LEDGER_SEAL_EVERY as the functions have them; the operator needs kms:Sign). No other command writes events.
    let notary = match &cli.command {
        Command::DeadLetters(Letters::Replay { .. }) => {
            tributary_ledger::notary_from_env(&aws).await?
        }
        _ => None,
    };
    let ctx = Context {
        env,
        read_models: domain.read_models(),
        process_name: domain.process_name(),
        stream_prefixes: domain.stream_prefixes(),
        events: Arc::new(
            DynamoDbEventStore::new(dynamodb.clone(), &env.events_table).with_notary(notary),
        ),
        projections: ProjectionStore::new(dynamodb.clone(), &env.projections_table),
        dynamodb,
        aws,
        bar: spinner(),
        json: cli.json,
    };
    match &cli.command {
        Command::Lag { consumers } => lag::lag(&ctx, consumers, out).await,
        Command::DeadLetters(Letters::List { consumer, pending }) => {
            dead_letters::list(&ctx, consumer.as_deref(), *pending, out).await
        }
        Command::DeadLetters(Letters::Show { id }) => dead_letters::show(&ctx, id, out).await,
        Command::DeadLetters(Letters::Replay {
            consumer,
            streams,
            skip,
        }) => dead_letters::replay(&ctx, domain, consumer, streams, skip, out).await,
        Command::Rebuild {
            projection,
            scan,
            streams,
            skip,
        } => rebuild::rebuild(&ctx, projection, scan.options(skip), streams, out).await,
        Command::ReadModels(command) => read_models::run(&ctx, command, out).await,
        Command::Stream { id } => stream::stream(&ctx, id, out).await,
        Command::Forget { subject, reason } => forget::forget(&ctx, subject, reason, out).await,
        Command::Schedules { late, at } => schedules::schedules(&ctx, *late, *at, out).await,
        Command::Verify { stream, keys, .. } => {
            verify::verify(&ctx, stream.as_deref(), keys, out).await
        }
    }
}

/// `text` on one line, at most `max` characters.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        flat.chars().take(max - 1).chain(['…']).collect()
    }
}

/// A spinner on stderr (drawn only on a terminal), with the elapsed time.
fn spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
