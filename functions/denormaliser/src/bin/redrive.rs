//! `cargo run --bin redrive -- <projection>`: re-drive a projection's dead letters once their cause is fixed —
//! every stream they name is recomputed from the event store (idempotent; a projection never moves backwards).
//! Reads the dead-letter topic from where the last re-drive of this projection stopped to its current end.
//!
//! Kafka as the functions configure it (`KAFKA_BOOTSTRAP_SERVERS`, or `MSK_CLUSTER_ARN` with IAM auth;
//! `KAFKA_DEAD_LETTER_TOPIC`); tables `EVENTS_TABLE`, `PROJECTIONS_TABLE`; DynamoDB as for `rebuild`.

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::time::Duration;
use tributary_consumer::redrive::redrive_topic;
use tributary_consumer::{cli, default_consumer_group};
use tributary_dynamodb::EventStore;
use tributary_kafka::KafkaConfig;
use tributary_projections::{ProjectionStore, ReadModel};

/// Re-drive one projection's dead letters from the event store.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// account-summary, statement, accounts-by-owner or transfers.
    #[arg(value_parser = |raw: &str| cli::read_model(&bank_service::read_models(), raw))]
    projection: Arc<dyn ReadModel>,
    /// The consumer group whose letters to re-drive (default: tributary-<projection>, as deployed).
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
    let group = args
        .consumer_group
        .unwrap_or_else(|| default_consumer_group(args.projection.name()));
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message(format!("reading {}", kafka.dead_letter_topic));
    let report = redrive_topic(
        &kafka,
        &aws,
        args.projection.as_ref(),
        &group,
        &projections,
        &events,
        |r| {
            bar.set_message(format!(
                "{} letters read, {} of {group}, {} streams recomputed",
                r.read,
                r.ours,
                r.streams.len()
            ))
        },
    )
    .await?;
    bar.finish_with_message(format!(
        "{group}: {} of {} letters re-driven; {} streams recomputed from the event store; {} about no stream it reads; {} unreadable records",
        report.ours - report.not_read,
        report.read,
        report.streams.len(),
        report.not_read,
        report.unreadable
    ));
    Ok(())
}
