//! `cargo run --bin redrive -- <projection>`: re-drive a projection's dead letters once their cause is fixed —
//! every account they name is recomputed from the event store (idempotent; a projection never moves backwards).
//! Reads the dead-letter topic from where the last re-drive of this projection stopped to its current end.
//!
//! Kafka as the functions configure it (`KAFKA_BOOTSTRAP_SERVERS`, or `MSK_CLUSTER_ARN` with IAM auth;
//! `KAFKA_DEAD_LETTER_TOPIC`); tables `EVENTS_TABLE`, `PROJECTIONS_TABLE`; DynamoDB as for `rebuild`.

use clap::Parser;
use denormaliser_function::redrive::redrive_topic;
use denormaliser_function::{cli, default_consumer_group};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;
use tributary_dynamodb::EventStore;
use tributary_kafka::KafkaConfig;
use tributary_projections::{Projection, ProjectionStore};

/// Re-drive one projection's dead letters from the event store.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// account-summary, statement or accounts-by-owner.
    #[arg(value_parser = cli::projection)]
    projection: Projection,
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
        .unwrap_or_else(|| default_consumer_group(args.projection));
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message(format!("reading {}", kafka.dead_letter_topic));
    let report = redrive_topic(
        &kafka,
        &aws,
        args.projection,
        &group,
        &projections,
        &events,
        |r| {
            bar.set_message(format!(
                "{} letters read, {} of {group}, {} accounts recomputed",
                r.read,
                r.ours,
                r.accounts.len()
            ))
        },
    )
    .await?;
    bar.finish_with_message(format!(
        "{group}: {} of {} letters re-driven; {} accounts recomputed from the event store; {} not about an account; {} unreadable records",
        report.ours - report.not_accounts,
        report.read,
        report.accounts.len(),
        report.not_accounts,
        report.unreadable
    ));
    Ok(())
}
