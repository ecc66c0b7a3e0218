//! `cargo run --bin rebuild -- <projection>`: rebuild (or backfill) one projection from the event store, with a
//! progress bar; interrupted, it resumes where it stopped (`--restart` starts over).
//!
//! Tables: `EVENTS_TABLE`, `PROJECTIONS_TABLE`. With `AWS_ENDPOINT_URL_DYNAMODB` set (a local server, e.g. the
//! devstack's `http://127.0.0.1:8042`) it uses that with local dummy credentials; otherwise the usual AWS
//! configuration.

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::time::Duration;
use tributary_consumer::cli;
use tributary_dynamodb::EventStore;
use tributary_projections::{rebuild, ProjectionStore, ReadModel, RebuildOptions, RebuildOutcome};

/// Rebuild one projection from the event store alone (no Kafka).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// account-summary, statement or accounts-by-owner.
    #[arg(value_parser = |raw: &str| cli::read_model(&bank_service::read_models(), raw))]
    projection: Arc<dyn ReadModel>,
    /// Ignore saved progress and start from the beginning.
    #[arg(long)]
    restart: bool,
    /// Items scanned per page (progress is saved after each page).
    #[arg(long, default_value_t = 100)]
    page_size: i32,
    /// Stop after this many pages (resume later by running again).
    #[arg(long)]
    max_pages: Option<usize>,
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
    let client = cli::dynamodb_client(&cli::aws_config().await);
    let projections = ProjectionStore::new(client.clone(), &args.projections_table);
    let events = EventStore::new(client, &args.events_table);
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let name = args.projection.name();
    let options = RebuildOptions {
        page_size: args.page_size,
        max_pages: args.max_pages,
        restart: args.restart,
    };
    let outcome = rebuild(
        args.projection.as_ref(),
        &projections,
        &events,
        options,
        |p| {
            let resumed = if p.resumed { " (resumed)" } else { "" };
            bar.set_message(format!(
                "{name}{resumed}: {} streams, {} events",
                p.streams, p.events
            ));
        },
    )
    .await?;
    match outcome {
        RebuildOutcome::Completed(p) => bar.finish_with_message(format!(
            "{name}: rebuilt {} streams from {} events",
            p.streams, p.events
        )),
        RebuildOutcome::Interrupted(p) => bar.finish_with_message(format!(
            "{name}: stopped after {} streams ({} events); run again to resume",
            p.streams, p.events
        )),
    }
    Ok(())
}
