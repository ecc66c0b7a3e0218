//! `cargo run --bin devstack`: start the whole system locally and print where everything is.

use clap::Parser;
use devstack::kafka_mapping::MappingSettings;
use devstack::{Devstack, DevstackConfig, DynamoSource, KafkaSource};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Tributary local stack: a DynamoDB API, Kafka, the tables and topics, the HTTP API and the relay, on loopback.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address of the HTTP API.
    #[arg(long, env = "DEVSTACK_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// Address of the embedded DynamoDB API.
    #[arg(long, env = "DEVSTACK_DYNAMODB_ADDR", default_value = "127.0.0.1:8042")]
    dynamodb_addr: SocketAddr,
    /// Keep the embedded DynamoDB's data in this SQLite file (default: in memory, gone at exit).
    #[arg(long, env = "DEVSTACK_DATA_FILE")]
    data_file: Option<PathBuf>,
    /// Use this DynamoDB API (e.g. DynamoDB Local) instead of the embedded one.
    #[arg(long, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    dynamodb_endpoint: Option<String>,
    /// Name of the events table.
    #[arg(long, env = "EVENTS_TABLE", default_value = tributary_http::commands::DEFAULT_EVENTS_TABLE)]
    events_table: String,
    /// Name of the projections table.
    #[arg(long, env = "PROJECTIONS_TABLE", default_value = devstack::DEFAULT_PROJECTIONS_TABLE)]
    projections_table: String,
    /// Use this Kafka broker (e.g. tansu) instead of the embedded mock cluster.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    kafka_bootstrap: Option<String>,
    /// Topic of committed events.
    #[arg(long, env = "KAFKA_EVENTS_TOPIC", default_value = tributary_kafka::config::DEFAULT_EVENTS_TOPIC)]
    events_topic: String,
    /// Topic of rejected commands.
    #[arg(long, env = "KAFKA_REJECTIONS_TOPIC", default_value = tributary_kafka::config::DEFAULT_REJECTIONS_TOPIC)]
    rejections_topic: String,
    /// Dead-letter topic (poison records, batches that exhausted their retries).
    #[arg(long, env = "KAFKA_DEAD_LETTER_TOPIC", default_value = tributary_kafka::config::DEFAULT_DEAD_LETTER_TOPIC)]
    dead_letter_topic: String,
    /// Most records per denormaliser batch (Lambda: BatchSize).
    #[arg(long, env = "DEVSTACK_BATCH_SIZE", default_value_t = 100)]
    batch_size: usize,
    /// How long a denormaliser batch waits for more records, in ms (Lambda: MaximumBatchingWindowInSeconds).
    #[arg(long, env = "DEVSTACK_BATCHING_WINDOW_MS", default_value_t = 0)]
    batching_window_ms: u64,
    /// Consumer groups are `<prefix>-<projection>` (as deployed: tributary-account-summary, ...).
    #[arg(long, env = "DEVSTACK_GROUP_PREFIX", default_value = "tributary")]
    group_prefix: String,
    /// Refuse requests without an `Authorization: Bearer <JWT>` header (401), as API Gateway does; by default they
    /// are served as the caller `anonymous`.
    #[arg(long, env = "DEVSTACK_REQUIRE_AUTH")]
    require_auth: bool,
    /// Chaos: drop this fraction (0 to 1) of the command path's publishes after the commit, as if the process
    /// died there. The relay still publishes every event.
    #[arg(long, env = "DEVSTACK_FAIL_PUBLISH_RATE", default_value_t = 0.0, value_parser = rate)]
    fail_publish_rate: f64,
}

fn rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("must be a number from 0 to 1, got {raw:?}")),
    }
}

/// The ledger's signing key: the one in `LEDGER_SIGNING_KEY_FILE` (PEM) when set, else the one this port's stack
/// kept, else a new one (kept); sealing every `LEDGER_SEAL_EVERY` events; its public key written to a file for
/// `tributary verify --public-key`.
fn ledger_key(
    addr: std::net::SocketAddr,
) -> anyhow::Result<(tributary_ledger::LocalNotary, std::path::PathBuf)> {
    use anyhow::Context as _;
    let every = tributary_runtime::config::count_between(
        "LEDGER_SEAL_EVERY",
        tributary_ledger::DEFAULT_SEAL_EVERY,
        1,
        100_000,
    )?;
    // Kept beside the system's temporary files and used again by the next start, so checkpoints a stack with a
    // --data-file (or an external DynamoDB) wrote before a restart still verify.
    let kept =
        std::env::temp_dir().join(format!("tributary-devstack-{}-ledger-key.pem", addr.port()));
    let file = std::env::var("LEDGER_SIGNING_KEY_FILE")
        .ok()
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from);
    let notary = match file.as_ref().or(kept.exists().then_some(&kept)) {
        Some(path) => tributary_ledger::LocalNotary::from_pem(
            &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            every,
        )?,
        None => {
            let notary = tributary_ledger::LocalNotary::generate(every)?;
            write_private(&kept, &notary.private_key_pem())?;
            notary
        }
    };
    let path = std::env::temp_dir().join(format!(
        "tributary-devstack-{}-ledger-public-key.pem",
        addr.port()
    ));
    std::fs::write(&path, notary.public_key_pem())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((notary, path))
}

/// The key that wraps the subjects' data keys: the one in `PERSONAL_DATA_KEY_FILE` when set, else the one this
/// port's stack kept, else a new one (kept, so that personal data written before a restart still opens).
fn personal_data_key(
    addr: std::net::SocketAddr,
) -> anyhow::Result<(tributary_ledger::LocalKeyWrap, std::path::PathBuf)> {
    let kept = std::env::temp_dir().join(format!(
        "tributary-devstack-{}-personal-data-key",
        addr.port()
    ));
    let path = std::env::var("PERSONAL_DATA_KEY_FILE")
        .ok()
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or(kept);
    if path.exists() {
        return Ok((tributary_ledger::LocalKeyWrap::read(&path)?, path));
    }
    let wrap = tributary_ledger::LocalKeyWrap::generate()?;
    write_private(&path, wrap.to_hex().as_bytes())?;
    Ok((wrap, path))
}

/// Write `bytes` to a new file only its owner may read.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .with_context(|| format!("writing {}", path.display()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tributary_runtime::init_tracing();
    let args = Args::parse();
    let dynamo = match args.dynamodb_endpoint.filter(|url| !url.is_empty()) {
        Some(url) => DynamoSource::External(url),
        None => DynamoSource::Embedded {
            addr: args.dynamodb_addr,
            file: args.data_file,
        },
    };
    let kafka = match args.kafka_bootstrap.filter(|b| !b.is_empty()) {
        Some(bootstrap) => KafkaSource::External(bootstrap),
        None => KafkaSource::Embedded,
    };
    let (ledger, ledger_public_key) = ledger_key(args.addr)?;
    let ledger_name = tributary_store::chain::Notary::key(&ledger).to_owned();
    let ledger_every = tributary_store::chain::Notary::every(&ledger);
    let (personal_data, personal_data_key) = personal_data_key(args.addr)?;
    let stack = Devstack::start(DevstackConfig {
        http_addr: args.addr,
        dynamo,
        events_table: args.events_table,
        projections_table: args.projections_table,
        kafka,
        events_topic: args.events_topic,
        rejections_topic: args.rejections_topic,
        dead_letter_topic: args.dead_letter_topic,
        mapping: MappingSettings {
            batch_size: args.batch_size.max(1),
            batching_window: Duration::from_millis(args.batching_window_ms),
            group_prefix: args.group_prefix.clone(),
            ..MappingSettings::default()
        },
        denormalisers: true,
        fail_publish_rate: args.fail_publish_rate,
        require_authentication: args.require_auth,
        // RATE_LIMIT_PER_SECOND (and RATE_LIMIT_BURST) give each principal a budget, as deployed; off by default.
        rate_limit: tributary_http::RateLimit::from_env_or(0)?,
        ledger: Some(std::sync::Arc::new(ledger)),
        personal_data: Some(std::sync::Arc::new(personal_data)),
        ..DevstackConfig::embedded(args.addr)
    })
    .await?;
    println!("Tributary devstack is up");
    println!("  HTTP API      {}", stack.base_url());
    println!(
        "  DynamoDB API  {} ({})",
        stack.dynamo_endpoint, stack.dynamo_description
    );
    println!(
        "  tables        {}, {}",
        stack.events_table, stack.projections_table
    );
    println!(
        "  Kafka         {} ({})",
        stack.kafka_bootstrap, stack.kafka_description
    );
    println!(
        "  topics        {}, {}, {}",
        stack.events_topic, stack.rejections_topic, stack.dead_letter_topic
    );
    println!(
        "  read models   {} (consumer groups {}-<name>)",
        tributary_projections::names(&app::read_models()).join(", "),
        args.group_prefix
    );
    println!(
        "  processes     transfer process manager (consumer group {}-{})",
        args.group_prefix,
        bank_service::transfers::CONSUMER_GROUP_SUFFIX
    );
    println!(
        "  ledger        checkpoints signed every {} events by {}: tributary verify --all --public-key {}",
        ledger_every,
        ledger_name,
        ledger_public_key.display()
    );
    println!(
        "  personal data sealed per subject in table {} (data keys wrapped by {}): tributary forget <subject>",
        stack.subject_keys_table,
        personal_data_key.display()
    );
    if args.fail_publish_rate > 0.0 {
        println!(
            "  chaos         {:.0}% of publishes after commit are dropped; the relay delivers them",
            args.fail_publish_rate * 100.0
        );
    }
    println!("Try: curl -s -X POST {}/accounts -H 'content-type: application/json' -d '{{\"currency\":\"EUR\"}}'", stack.base_url());
    println!("Ctrl-C to stop.");
    tributary_http::serve::shutdown_signal().await;
    println!("stopping: answering requests in flight, finishing the batches in hand");
    stack.stop().await;
    println!("stopped");
    Ok(())
}
