//! `cargo run --profile bench-local -p devstack --bin lag-bench`: how long after a command is accepted its effect
//! is visible in the query API, on the embedded local stack.
//!
//! For each command (sequential, one in flight): the clock starts when the command's response arrives and stops
//! when `GET /accounts/{id}` (polled every millisecond, without `min_version`) shows the command's version. Prints
//! p50/p90/p99/max of that lag and of the command latency. Figures go to BENCHMARKS.md; nothing here asserts.

use bench_core::stats::{ms, percentile};
use clap::Parser;
use devstack::{Devstack, DevstackConfig};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(about = "Command-to-query lag on the local stack")]
struct Args {
    /// Commands to measure (after the accounts are opened).
    #[arg(long, default_value_t = 500)]
    commands: usize,
    /// Accounts the commands rotate over.
    #[arg(long, default_value_t = 20)]
    accounts: usize,
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<16} n={:<5} p50={:>7.2} ms  p90={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
        samples.len(),
        ms(percentile(&samples, 0.50)),
        ms(percentile(&samples, 0.90)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().expect("samples")),
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let stack = Devstack::start(DevstackConfig::embedded("127.0.0.1:0".parse()?)).await?;
    let every = (args.commands / 10).max(1);
    let lag = devstack::lag::measure(&stack, args.commands, args.accounts, |n| {
        if n % every == 0 {
            eprintln!("{n} / {} commands", args.commands);
        }
    })
    .await?;
    report("command latency", lag.command_latencies);
    report("visible after", lag.visible_after);
    stack.stop().await;
    Ok(())
}
