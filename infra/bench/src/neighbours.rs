//! Neighbours: what one caller flooding the API does to another. The command function's router with the per-principal
//! budget in front of it (50 requests a second, bursts of 100), called in process: one caller deposits at a steady
//! 25 a second (within its budget), first alone, then beside a second caller that sends 500 a second — ten times its
//! own budget — open loop. The figures: the first caller's success share and p50/p99 both times, and how the flood was
//! answered (429s, refused before any store call). Nothing here asserts a timing; the report compares the two.

use crate::setup::{seed_accounts, Services, OWNER};
use crate::systems::CommandPath;
use bench_core::stats::{ms, percentile};
use bench_core::Cell;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_aggregate::SnapshotPolicy;
use tributary_http::RateLimit;

/// Each principal's budget: requests a second, and burst.
const BUDGET: (u32, u32) = (50, 100);
/// The steady caller's rate (within its budget), and the flood's (ten times the flooder's budget).
const STEADY_PER_SECOND: u64 = 25;
const FLOOD_PER_SECOND: u64 = 500;

/// The steady caller alone, then beside the flood, each for `duration`.
pub async fn noisy_neighbour(
    services: &Services,
    duration: Duration,
    progress: &impl Fn(&str),
) -> anyhow::Result<Vec<Cell>> {
    let limit = RateLimit::new(
        NonZeroU32::new(BUDGET.0).expect("positive"),
        NonZeroU32::new(BUDGET.1).expect("positive"),
    );
    let path = CommandPath::new(services, SnapshotPolicy::default())
        .await?
        .limited(limit);
    let accounts = Arc::new(seed_accounts(services, 20, 10).await?);
    let scenario = format!("{STEADY_PER_SECOND}/s within a budget of {}/s", BUDGET.0);
    progress("neighbours: the steady caller alone");
    let alone = steady(&path, &accounts, duration, &scenario, None).await;
    progress(&format!(
        "neighbours: beside a caller sending {FLOOD_PER_SECOND}/s (10x its budget)"
    ));
    let flooded = steady(
        &path,
        &accounts,
        duration,
        &format!("{scenario}, beside a flood of {FLOOD_PER_SECOND}/s"),
        Some(FLOOD_PER_SECOND),
    )
    .await;
    Ok(vec![alone, flooded])
}

/// The steady caller's deposits for `duration` (and, with `flood`, another caller's at that rate meanwhile).
async fn steady(
    path: &CommandPath,
    accounts: &Arc<Vec<String>>,
    duration: Duration,
    scenario: &str,
    flood: Option<u64>,
) -> Cell {
    let stop = Instant::now() + duration;
    let flood_sent = Arc::new(AtomicU64::new(0));
    let flood_refused = Arc::new(AtomicU64::new(0));
    let flooder = flood.map(|per_second| {
        let (path, accounts) = (path.clone(), accounts.clone());
        let (sent, refused) = (flood_sent.clone(), flood_refused.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
            let mut inflight = Vec::new();
            while Instant::now() < stop {
                tick.tick().await;
                let (path, accounts, sent, refused) = (
                    path.clone(),
                    accounts.clone(),
                    sent.clone(),
                    refused.clone(),
                );
                inflight.push(tokio::spawn(async move {
                    let account = &accounts[rand::random_range(0..accounts.len())];
                    // A stranger's deposit: within its budget it costs a load (and a 404), past it nothing.
                    let status = path.deposit_as("flooder", account).await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if status == 429 {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
            for task in inflight {
                let _ = task.await;
            }
        })
    });
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / STEADY_PER_SECOND));
    let (mut latencies, mut failures, mut first_failure) = (Vec::new(), 0u64, None);
    while Instant::now() < stop {
        tick.tick().await;
        let account = &accounts[rand::random_range(0..accounts.len())];
        let began = Instant::now();
        let status = path.deposit_as(OWNER, account).await;
        if status == 200 {
            latencies.push(began.elapsed());
        } else {
            failures += 1;
            first_failure.get_or_insert(format!("HTTP {status}"));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some(flooder) = flooder {
        let _ = flooder.await;
    }
    latencies.sort();
    let done = latencies.len() as u64;
    let mut cell = Cell {
        system: "rate limit".into(),
        scenario: scenario.to_owned(),
        concurrency: 1,
        done,
        failures,
        first_failure,
        seconds,
        per_second: done as f64 / seconds,
        p50_ms: ms(percentile(&latencies, 0.50)),
        p99_ms: ms(percentile(&latencies, 0.99)),
        ..Cell::default()
    };
    cell.extra.insert(
        "success share".into(),
        done as f64 / (done + failures).max(1) as f64,
    );
    if flood.is_some() {
        let sent = flood_sent.load(Ordering::Relaxed);
        cell.extra
            .insert("flood sent per second".into(), sent as f64 / seconds);
        cell.extra.insert(
            "flood refused (429) share".into(),
            flood_refused.load(Ordering::Relaxed) as f64 / sent.max(1) as f64,
        );
    }
    cell
}
