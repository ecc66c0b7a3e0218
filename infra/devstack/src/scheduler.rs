//! The scheduler in the local stack: the same sweep the deployed function runs every minute
//! (`tributary_scheduler::Scheduler`), on a loop, at the time of a [`Clock`] that tests move forward — a month
//! passes in a call. Crashing it ([`crate::Devstack::restart_scheduler`]) aborts a sweep wherever it is, as a
//! Lambda timeout or a lost container would.

use bank_service::standing_orders::BankDispatch;
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tributary_scheduler::{Scheduler, SweepReport};

/// The stack's clock: the wall clock plus an offset that only moves forward. The scheduler's time input.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The time now, on this clock.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds().max(0), Ordering::SeqCst);
    }

    /// Move the clock forward to `at` (no change if it is there already).
    pub fn advance_to(&self, at: DateTime<Utc>) {
        let ahead = at - self.now();
        if ahead > chrono::Duration::zero() {
            self.advance(ahead);
        }
    }
}

/// The last sweep: the time it swept at, and what it did.
pub type LastSweep = Option<(DateTime<Utc>, SweepReport)>;

/// A running scheduler loop and how to start another.
pub(crate) struct SchedulerWorker {
    pub(crate) task: JoinHandle<()>,
    pub(crate) scheduler: Scheduler<BankDispatch>,
    pub(crate) tick: Duration,
}

/// Start the loop: every `tick`, a sweep at the clock's time; each sweep's report on `reports`.
pub(crate) fn spawn(
    scheduler: Scheduler<BankDispatch>,
    clock: Clock,
    tick: Duration,
    reports: watch::Sender<LastSweep>,
    stop: CancellationToken,
) -> SchedulerWorker {
    let worker = scheduler.clone();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(tick) => {}
            }
            let now = clock.now();
            match worker.sweep(now).await {
                Ok(report) => {
                    if report.sent > 0 || report.failed > 0 {
                        tracing::info!(
                            %now,
                            sent = report.sent,
                            refused = report.refused,
                            late = report.late,
                            failed = report.failed,
                            "scheduler swept"
                        );
                    }
                    reports.send_replace(Some((now, report)));
                }
                Err(error) => tracing::warn!(%error, "the scheduler could not read its due index"),
            }
        }
    });
    SchedulerWorker {
        task,
        scheduler,
        tick,
    }
}
