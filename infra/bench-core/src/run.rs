//! The closed loop: `concurrency` workers each send one operation at a time until the deadline (or until the
//! cell's operation budget is spent), timing every operation. Only completed operations count towards the rate and
//! the percentiles; conflicts and failures are counted beside them.

use crate::stats::{ms, percentile};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How one operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done (a command committed, a write landed).
    Done,
    /// Lost a race for good (an HTTP 409, a conflict error).
    Conflict,
    /// Anything else (the first one is kept as an example).
    Failed(String),
}

/// How long, how wide and how much a cell runs.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub concurrency: usize,
    pub duration: Duration,
    /// Stop after this many operations in all, if earlier than the deadline.
    pub max_ops: Option<u64>,
}

/// One measured cell: what ran, and what it measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The system measured: "floor", "command path", "cqrs-es", ...
    pub system: String,
    /// The scenario: "1000 accounts", "hot account", "stream of 50000 events", ...
    pub scenario: String,
    pub concurrency: usize,
    pub done: u64,
    pub conflicts: u64,
    pub failures: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<String>,
    pub seconds: f64,
    /// Completed operations per second.
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Figures particular to the cell (items read per operation, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

impl Cell {
    /// Conflicts as a share of all operations sent (0-1).
    pub fn conflict_rate(&self) -> f64 {
        let sent = self.done + self.conflicts + self.failures;
        if sent == 0 {
            0.0
        } else {
            self.conflicts as f64 / sent as f64
        }
    }
}

/// Run `operation(worker, n)` in a closed loop as `workload` says; `n` counts each worker's operations from 0.
pub async fn run<F, Fut>(system: &str, scenario: &str, workload: Workload, operation: F) -> Cell
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let operation = Arc::new(operation);
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + workload.duration;
    let workers: Vec<_> = (0..workload.concurrency.max(1))
        .map(|worker| {
            let (operation, issued) = (operation.clone(), issued.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut n = 0;
                while Instant::now() < deadline
                    && workload
                        .max_ops
                        .is_none_or(|max| issued.fetch_add(1, Ordering::SeqCst) < max)
                {
                    let sent = Instant::now();
                    let outcome = operation(worker, n).await;
                    tally.add(outcome, sent.elapsed());
                    n += 1;
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for worker in workers {
        all.merge(worker.await.expect("a benchmark worker panicked"));
    }
    let seconds = started.elapsed().as_secs_f64();
    all.latencies.sort();
    let quantile = |p| {
        if all.latencies.is_empty() {
            0.0
        } else {
            ms(percentile(&all.latencies, p))
        }
    };
    Cell {
        system: system.to_owned(),
        scenario: scenario.to_owned(),
        concurrency: workload.concurrency,
        done: all.latencies.len() as u64,
        conflicts: all.conflicts,
        failures: all.failures,
        first_failure: all.first_failure,
        seconds,
        per_second: all.latencies.len() as f64 / seconds,
        p50_ms: quantile(0.50),
        p99_ms: quantile(0.99),
        extra: BTreeMap::new(),
    }
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    conflicts: u64,
    failures: u64,
    first_failure: Option<String>,
}

impl Tally {
    fn add(&mut self, outcome: Outcome, took: Duration) {
        match outcome {
            Outcome::Done => self.latencies.push(took),
            Outcome::Conflict => self.conflicts += 1,
            Outcome::Failed(why) => {
                self.failures += 1;
                self.first_failure.get_or_insert(why);
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.conflicts += other.conflicts;
        self.failures += other.failures;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outcomes_are_counted_and_only_completed_operations_timed() {
        let cell = run(
            "test",
            "mixed",
            Workload {
                concurrency: 1,
                duration: Duration::from_secs(5),
                max_ops: Some(30),
            },
            |_, n| async move {
                match n % 3 {
                    0 => Outcome::Done,
                    1 => Outcome::Conflict,
                    _ => Outcome::Failed(format!("failure {n}")),
                }
            },
        )
        .await;
        assert_eq!(cell.done + cell.conflicts + cell.failures, 30);
        assert_eq!(cell.done, 10);
        assert_eq!(cell.conflicts, 10);
        assert!(cell
            .first_failure
            .as_deref()
            .unwrap()
            .starts_with("failure"));
        assert!((cell.conflict_rate() - 1.0 / 3.0).abs() < 1e-9);
    }
}
