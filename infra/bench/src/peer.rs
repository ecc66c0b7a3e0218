//! The peer comparison: the same bank domain and workload on cqrs-es 0.5 + dynamo-es 0.5, built apart from the
//! workspace (`infra/bench-peer`, its own lock file and target) and run as a child process against the run's own
//! services. It prints its cells as JSON on stdout.

use crate::setup::Services;
use crate::write_side::Plan;
use bench_core::Cell;
use serde_json::json;
use std::path::Path;

/// Run the peer binary at `binary` with the same plan; its cells (systems "cqrs-es" and "cqrs-es + snapshots").
pub async fn run(
    binary: &Path,
    services: &Services,
    plan: &Plan,
    snapshot_every: u64,
    progress: &impl Fn(&str),
) -> anyhow::Result<Vec<Cell>> {
    let spec = json!({
        "dynamodb_endpoint": services.endpoint,
        "kafka_bootstrap": services.kafka_bootstrap,
        "topic": services.events_topic,
        "accounts": plan.accounts,
        "cell_seconds": plan.cell.as_secs_f64(),
        "concurrencies": plan.concurrencies,
        "hot_writers": plan.hot_writers,
        "lengths": plan.lengths,
        "deposits_per_length": plan.deposits_per_length,
        "snapshot_every": snapshot_every,
    });
    progress(&format!("peer: {}", binary.display()));
    let output = tokio::process::Command::new(binary)
        .arg(spec.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "the peer benchmark failed: {}",
        output.status
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}
