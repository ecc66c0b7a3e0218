//! `infra/bench.sh` (or `cargo run --profile bench-local -p tributary-bench -- ...`): one run of every benchmark of
//! the write and read sides against the same services — the embedded dynoxide and mock cluster by default,
//! DynamoDB Local and tansu when `AWS_ENDPOINT_URL_DYNAMODB` and `KAFKA_BOOTSTRAP_SERVERS` are set (`--full` of
//! the script). Writes every cell and the targets as JSON, prints the Markdown, and with `--markdown` replaces the
//! harness's section of BENCHMARKS.md. `--smoke` runs everything at toy sizes (CI runs it to keep the harness
//! working; its figures mean nothing). Nothing here asserts a timing.

mod ledger_cost;
mod neighbours;
mod peer;
mod read_side;
mod report;
mod setup;
mod systems;
mod version_build;
mod write_side;

use clap::Parser;
use report::{Machine, Results};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tributary_aggregate::SnapshotPolicy;
use write_side::Plan;

#[derive(Debug, Parser)]
#[command(about = "Tributary's benchmark harness: floor, command path, peer, read side")]
struct Args {
    /// Toy sizes: checks that every part runs (CI), measures nothing worth reporting.
    #[arg(long)]
    smoke: bool,
    /// Accounts the throughput cells spread over.
    #[arg(long, default_value_t = 1000)]
    accounts: usize,
    /// Seconds each throughput and hot-account cell runs.
    #[arg(long, default_value_t = 10.0)]
    cell_seconds: f64,
    /// Concurrencies of the throughput cells.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 32])]
    concurrency: Vec<usize>,
    /// Writers on the hot account.
    #[arg(long, default_value_t = 8)]
    hot_writers: usize,
    /// Stream lengths measured.
    #[arg(long, value_delimiter = ',', default_values_t = [10, 1_000, 10_000, 50_000])]
    lengths: Vec<u64>,
    /// Deposits measured at each stream length.
    #[arg(long, default_value_t = 200)]
    deposits_per_length: u64,
    /// Batches per denormaliser.
    #[arg(long, default_value_t = 20)]
    read_batches: usize,
    /// Commands of the command-to-query lag measurement.
    #[arg(long, default_value_t = 300)]
    lag_commands: usize,
    /// Only build a read-model version from the store (its rate and units per million events; BENCHMARKS.md,
    /// "Building a read-model version"): `--build-streams` streams of `--build-length` events.
    #[arg(long)]
    build_only: bool,
    /// Only measure what tamper evidence costs per command (in process, no server; BENCHMARKS.md, "What the ledger
    /// costs"): `--ledger-events` events hashed, chained and verified.
    #[arg(long)]
    ledger_only: bool,
    #[arg(long, default_value_t = 200_000)]
    ledger_events: usize,
    #[arg(long, default_value_t = 1000)]
    build_streams: usize,
    #[arg(long, default_value_t = 50)]
    build_length: u64,
    /// The peer benchmark's binary (`infra/bench.sh --peer` builds it).
    #[arg(long)]
    peer: Option<PathBuf>,
    /// Where to write the JSON results.
    #[arg(long, default_value = "target/bench/results.json")]
    json: PathBuf,
    /// Replace the harness's section of this Markdown file (BENCHMARKS.md).
    #[arg(long)]
    markdown: Option<PathBuf>,
}

impl Args {
    fn plan(&self) -> Plan {
        if self.smoke {
            return Plan {
                accounts: 10,
                cell: Duration::from_millis(300),
                concurrencies: vec![1, 4],
                hot_writers: self.hot_writers,
                lengths: vec![10, 200],
                deposits_per_length: 5,
            };
        }
        Plan {
            accounts: self.accounts,
            cell: Duration::from_secs_f64(self.cell_seconds),
            concurrencies: self.concurrency.clone(),
            hot_writers: self.hot_writers,
            lengths: self.lengths.clone(),
            deposits_per_length: self.deposits_per_length,
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = args.plan();
    let (read_batches, lag_commands) = if args.smoke {
        (2, 10)
    } else {
        (args.read_batches, args.lag_commands)
    };
    let started = Instant::now();
    let progress = |what: &str| eprintln!("[{:>7.1} s] {what}", started.elapsed().as_secs_f64());
    if args.ledger_only || args.smoke {
        let events = if args.smoke {
            1_000
        } else {
            args.ledger_events
        };
        let cost = ledger_cost::measure(events).await?;
        if args.ledger_only {
            println!("{}", serde_json::to_string_pretty(&cost)?);
            return Ok(());
        }
    }
    let services = setup::Services::start().await?;
    let described = if services.embedded {
        format!(
            "embedded dynoxide 3.2.0 at {} and librdkafka mock cluster",
            services.endpoint
        )
    } else {
        format!(
            "DynamoDB API at {} and Kafka at {}",
            services.endpoint, services.kafka_bootstrap
        )
    };
    progress(&format!("services: {described}"));
    if args.build_only {
        let cost =
            version_build::measure(&services, args.build_streams, args.build_length, &progress)
                .await?;
        println!("{}", serde_json::to_string_pretty(&cost)?);
        return Ok(());
    }
    let snapshots = SnapshotPolicy::default();
    let floor = systems::System::Floor(systems::Floor::new(&services).await?);
    let path = systems::System::CommandPath(systems::CommandPath::new(&services, snapshots).await?);
    let both = [floor, path.clone()];
    if !args.smoke {
        write_side::warm_up(&services, &both, Duration::from_secs(15), &progress).await?;
    }
    let mut cells = write_side::throughput(&services, &plan, &both, &progress).await?;
    // What a caller's Idempotency-Key costs: its receipt, written with the events (a two-item transaction).
    let mut keyed = systems::CommandPath::new(&services, snapshots).await?;
    keyed.keyed = true;
    let keyed_plan = write_side::Plan {
        concurrencies: plan
            .concurrencies
            .iter()
            .copied()
            .filter(|c| *c <= 8)
            .collect(),
        ..plan.clone()
    };
    cells.extend(
        write_side::throughput(
            &services,
            &keyed_plan,
            &[systems::System::CommandPath(keyed)],
            &progress,
        )
        .await?,
    );
    cells.extend(write_side::hot_account(&services, &plan, &path, &progress).await?);
    cells.extend(neighbours::noisy_neighbour(&services, plan.cell, &progress).await?);
    cells.extend(write_side::stream_lengths(&services, &plan, &both, &progress).await?);
    if let Some(binary) = &args.peer {
        cells.extend(peer::run(binary, &services, &plan, snapshots.every, &progress).await?);
    }
    cells.extend(read_side::denormalisers(&services, read_batches, &progress).await?);
    cells.push(read_side::lag(&services, lag_commands, &progress).await?);
    if args.smoke {
        // Keeps the version-build measurement working (its figures: `--build-only`).
        version_build::measure(&services, 10, 10, &progress).await?;
    }

    if args.smoke {
        // The smoke run is CI's check that the harness works: nothing may fail.
        if let Some(cell) = cells.iter().find(|c| c.failures > 0) {
            anyhow::bail!(
                "{} / {}: {} failures, e.g. {:?}",
                cell.system,
                cell.scenario,
                cell.failures,
                cell.first_failure
            );
        }
    }
    let results = Results {
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: Machine::describe(&described),
        snapshot_every: snapshots.every,
        targets: report::targets(&cells, snapshots.every),
        cells,
    };
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&results)?)?;
    let section = report::markdown(&results);
    println!("{section}");
    if let Some(path) = &args.markdown {
        let document = std::fs::read_to_string(path).unwrap_or_default();
        let (label, heading) = if services.embedded {
            (
                "embedded",
                "The harness on the embedded servers (`infra/bench.sh`)",
            )
        } else {
            (
                "full",
                "The harness on DynamoDB Local and tansu (`infra/bench.sh --full`)",
            )
        };
        std::fs::write(
            path,
            report::replace_section(&document, label, heading, &section),
        )?;
        progress(&format!("updated {}", path.display()));
    }
    progress(&format!("results in {}", args.json.display()));
    Ok(())
}
