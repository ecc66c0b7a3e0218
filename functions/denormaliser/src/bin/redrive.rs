//! `cargo run --bin redrive -- <consumer>`: re-drive a consumer's dead letters once their cause is fixed. For a
//! read model (`account-summary`, `statement`, `accounts-by-owner`, `transfers`) every stream the letters name is
//! recomputed from the event store (idempotent; a projection never moves backwards); for `transfer-process`, the
//! transfer process manager reacts to every transfer they name again (it does what is left, from the store).
//! Reads the dead-letter topic from where the last re-drive of this consumer stopped to its current end.
//!
//! Kafka as the functions configure it (`KAFKA_BOOTSTRAP_SERVERS`, or `MSK_CLUSTER_ARN` with IAM auth;
//! `KAFKA_DEAD_LETTER_TOPIC`); tables `EVENTS_TABLE`, `PROJECTIONS_TABLE`; DynamoDB as for `rebuild`.

use bank_service::transfers::{TransferProcess, CONSUMER_GROUP, CONSUMER_GROUP_SUFFIX};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;
use tributary_aggregate::SnapshotPolicy;
use tributary_consumer::redrive::{redrive_topic, ProcessTarget, ReadModelTarget, RedriveReport};
use tributary_consumer::{cli, default_consumer_group};
use tributary_dynamodb::EventStore;
use tributary_kafka::KafkaConfig;
use tributary_projections::ProjectionStore;

/// Re-drive one consumer's dead letters from the event store.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// account-summary, statement, accounts-by-owner, transfers, or transfer-process.
    consumer: String,
    /// The consumer group whose letters to re-drive (default: tributary-<consumer>, as deployed).
    #[arg(long)]
    consumer_group: Option<String>,
    #[arg(long, env = "EVENTS_TABLE", default_value = "tributary-events")]
    events_table: String,
    #[arg(
        long,
        env = "PROJECTIONS_TABLE",
        default_value = "tributary-projections"
    )]
    projections_table: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let kafka = KafkaConfig::from_env(Duration::from_secs(10))?;
    let aws = cli::aws_config().await;
    let client = cli::dynamodb_client(&aws);
    let projections = ProjectionStore::new(client.clone(), &args.projections_table);
    let events = EventStore::new(client, &args.events_table);
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message(format!("reading {}", kafka.dead_letter_topic));
    let group = |default: String| args.consumer_group.clone().unwrap_or(default);
    let progress = |group: &str, r: &RedriveReport| {
        bar.set_message(format!(
            "{} letters read, {} of {group}, {} streams re-driven",
            r.read,
            r.ours,
            r.streams.len()
        ))
    };
    let (group, report) = if args.consumer == CONSUMER_GROUP_SUFFIX {
        let process = TransferProcess::over(events.clone(), SnapshotPolicy::from_env()?);
        let group = group(CONSUMER_GROUP.to_owned());
        let report = redrive_topic(&kafka, &aws, &ProcessTarget(&process), &group, |r| {
            progress(&group, r)
        })
        .await?;
        (group, report)
    } else {
        let model = cli::read_model(&bank_service::read_models(), &args.consumer)
            .map_err(|e| format!("{e} or {CONSUMER_GROUP_SUFFIX:?}"))?;
        let group = group(default_consumer_group(model.name()));
        let target = ReadModelTarget {
            model: model.as_ref(),
            projections: &projections,
            events: &events,
        };
        let report = redrive_topic(&kafka, &aws, &target, &group, |r| progress(&group, r)).await?;
        (group, report)
    };
    bar.finish_with_message(format!(
        "{group}: {} of {} letters re-driven; {} streams brought up to the event store; {} about no stream it reads; {} unreadable records",
        report.ours - report.not_read,
        report.read,
        report.streams.len(),
        report.not_read,
        report.unreadable
    ));
    Ok(())
}
