//! The write side: deposits through the floor and the command path on many accounts at several concurrencies, on
//! one hot account, and on streams of growing length — each system on accounts of its own, seeded alike.

use crate::setup::{seed_accounts, Services};
use crate::systems::{CommandPath, System};
use bench_core::{run, Cell, Outcome, Workload};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How big a run is.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Accounts the throughput cells spread over (each starts with 10 events).
    pub accounts: usize,
    /// How long each throughput and hot-account cell runs.
    pub cell: Duration,
    pub concurrencies: Vec<usize>,
    /// Writers on the hot account.
    pub hot_writers: usize,
    /// Stream lengths measured, and deposits per length.
    pub lengths: Vec<u64>,
    pub deposits_per_length: u64,
}

/// Events each account starts with in the throughput and hot-account cells.
const STARTING_EVENTS: u64 = 10;

type Deposit = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// Deposits through `system` into one of `accounts` picked at random each time (by the workers of `alternate` in
/// turn, when given: even workers use `system`, odd ones `alternate`).
fn deposits(
    system: &System,
    alternate: Option<&System>,
    accounts: &Arc<Vec<String>>,
) -> impl Fn(usize, u64) -> Deposit + Send + Sync + 'static {
    let (system, alternate, accounts) = (system.clone(), alternate.cloned(), accounts.clone());
    move |worker, _| {
        let system = match &alternate {
            Some(other) if worker % 2 == 1 => other.clone(),
            _ => system.clone(),
        };
        let accounts = accounts.clone();
        Box::pin(async move {
            let account = &accounts[rand::random_range(0..accounts.len())];
            system.deposit(account).await
        })
    }
}

/// Measure `system` on `accounts`; for the command path, with its DynamoDB cost per command.
async fn measure(
    system: &System,
    scenario: &str,
    workload: Workload,
    accounts: &Arc<Vec<String>>,
) -> Cell {
    if let System::CommandPath(path) = system {
        path.calls.clear();
    }
    let cell = run(
        system.name(),
        scenario,
        workload,
        deposits(system, None, accounts),
    )
    .await;
    match system {
        System::CommandPath(path) => with_costs(cell, path),
        System::Floor(_) => cell,
    }
}

/// Record the command path's DynamoDB cost per command on `cell`: operations, and the items its queries read.
fn with_costs(mut cell: Cell, path: &CommandPath) -> Cell {
    let sent = (cell.done + cell.conflicts + cell.failures).max(1) as f64;
    for operation in ["Query", "PutItem", "TransactWriteItems"] {
        cell.extra.insert(
            format!("{operation} per command"),
            path.calls.count(operation) as f64 / sent,
        );
    }
    let read = path.calls.items_queried();
    let total: i64 = read.iter().map(|n| i64::from(*n)).sum();
    let most = read.iter().copied().max().unwrap_or_default();
    cell.extra
        .insert("items read per command".into(), total as f64 / sent);
    cell.extra
        .insert("most items read by one query".into(), f64::from(most));
    cell
}

/// Deposits through both systems for `duration`, unmeasured: the servers' caches and (DynamoDB Local's) JIT warm up
/// before the first cell, so the system measured first is not the one measured cold.
pub async fn warm_up(
    services: &Services,
    systems: &[System; 2],
    duration: Duration,
    progress: &impl Fn(&str),
) -> anyhow::Result<()> {
    progress(&format!("warming up for {duration:?}"));
    let accounts = Arc::new(seed_accounts(services, 50, STARTING_EVENTS).await?);
    let workload = Workload {
        concurrency: 8,
        duration,
        max_ops: None,
    };
    let operation = deposits(&systems[0], Some(&systems[1]), &accounts);
    run("warm-up", "", workload, operation).await;
    Ok(())
}

/// Every system at every concurrency of the plan, on `plan.accounts` accounts each.
pub async fn throughput(
    services: &Services,
    plan: &Plan,
    systems: &[System],
    progress: &impl Fn(&str),
) -> anyhow::Result<Vec<Cell>> {
    let mut accounts = Vec::new();
    for system in systems {
        progress(&format!(
            "seeding {} accounts of {STARTING_EVENTS} events for the {}",
            plan.accounts,
            system.name()
        ));
        accounts.push(Arc::new(
            seed_accounts(services, plan.accounts, STARTING_EVENTS).await?,
        ));
    }
    let scenario = format!("{} accounts", plan.accounts);
    let mut cells = Vec::new();
    for &concurrency in &plan.concurrencies {
        let workload = Workload {
            concurrency,
            duration: plan.cell,
            max_ops: None,
        };
        for (system, accounts) in systems.iter().zip(&accounts) {
            progress(&format!(
                "{scenario}, concurrency {concurrency}: {}",
                system.name()
            ));
            cells.push(measure(system, &scenario, workload, accounts).await);
        }
    }
    Ok(cells)
}

/// One account: one writer, then `plan.hot_writers` writers at once.
pub async fn hot_account(
    services: &Services,
    plan: &Plan,
    system: &System,
    progress: &impl Fn(&str),
) -> anyhow::Result<Vec<Cell>> {
    let account = Arc::new(seed_accounts(services, 1, STARTING_EVENTS).await?);
    let mut cells = Vec::new();
    for writers in [1, plan.hot_writers] {
        progress(&format!(
            "hot account, {writers} writer(s): {}",
            system.name()
        ));
        let workload = Workload {
            concurrency: writers,
            duration: plan.cell,
            max_ops: None,
        };
        cells.push(measure(system, "hot account", workload, &account).await);
    }
    Ok(cells)
}

/// Streams of each length of the plan, one per system: a history written before snapshots, the first deposit timed
/// apart (the command path folds the whole stream once and stores a snapshot), then `plan.deposits_per_length`
/// deposits one at a time — fewer for the floor on long streams, as it reads everything every time.
pub async fn stream_lengths(
    services: &Services,
    plan: &Plan,
    systems: &[System],
    progress: &impl Fn(&str),
) -> anyhow::Result<Vec<Cell>> {
    let mut cells = Vec::new();
    for &length in &plan.lengths {
        let scenario = format!("stream of {length} events");
        for system in systems {
            progress(&format!("{scenario}: seeding, then the {}", system.name()));
            let stream = Arc::new(seed_accounts(services, 1, length).await?);
            let deposits = match system {
                System::Floor(_) if length > 5_000 => plan.deposits_per_length.min(10),
                _ => plan.deposits_per_length,
            };
            let first = Instant::now();
            let outcome = system.deposit(&stream[0]).await;
            let first_ms = first.elapsed().as_secs_f64() * 1000.0;
            if outcome != Outcome::Done {
                anyhow::bail!(
                    "{}: the first deposit on {scenario}: {outcome:?}",
                    system.name()
                );
            }
            let mut cell = measure(system, &scenario, sequential(deposits), &stream).await;
            cell.extra.insert("first deposit ms".into(), first_ms);
            cells.push(cell);
        }
    }
    Ok(cells)
}

/// One at a time, `ops` operations (or 10 minutes, whichever ends first).
fn sequential(ops: u64) -> Workload {
    Workload {
        concurrency: 1,
        duration: Duration::from_secs(600),
        max_ops: Some(ops),
    }
}
