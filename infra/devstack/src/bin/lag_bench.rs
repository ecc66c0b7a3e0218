//! `cargo run --profile bench-local -p devstack --bin lag-bench`: how long after a command is accepted its effect
//! is visible in the query API, on the embedded local stack.
//!
//! For each command (sequential, one in flight): the clock starts when the command's response arrives and stops
//! when `GET /accounts/{id}` (polled every millisecond, without `min_version`) shows the command's version. Prints
//! p50/p90/p99/max of that lag and of the command latency. Figures go to BENCHMARKS.md; nothing here asserts.

use clap::Parser;
use devstack::stats::{ms, percentile};
use devstack::{Devstack, DevstackConfig};
use serde_json::Value;
use std::time::{Duration, Instant};

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
    let base = stack.base_url();
    let http = reqwest::Client::new();
    let post = |url: String, body: String| {
        let http = http.clone();
        async move {
            let reply = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?;
            anyhow::Ok(reply.json::<Value>().await?)
        }
    };
    let mut ids = Vec::new();
    for _ in 0..args.accounts {
        let opened = post(
            format!("{base}/accounts"),
            r#"{"currency":"EUR"}"#.to_owned(),
        )
        .await?;
        ids.push(
            opened["account_id"]
                .as_str()
                .expect("account id")
                .to_owned(),
        );
    }
    let (mut lags, mut latencies) = (Vec::new(), Vec::new());
    for n in 0..args.commands {
        let id = &ids[n % ids.len()];
        let sent = Instant::now();
        let accepted = post(
            format!("{base}/accounts/{id}/deposits"),
            r#"{"amount":1}"#.to_owned(),
        )
        .await?;
        let accepted_at = Instant::now();
        latencies.push(accepted_at - sent);
        let version = accepted["version"].as_u64().expect("version");
        loop {
            let summary: Value = http
                .get(format!("{base}/accounts/{id}"))
                .send()
                .await?
                .json()
                .await?;
            if summary["version"].as_u64().is_some_and(|v| v >= version) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        lags.push(accepted_at.elapsed());
        if (n + 1) % (args.commands / 10).max(1) == 0 {
            eprintln!("{} / {} commands", n + 1, args.commands);
        }
    }
    report("command latency", latencies);
    report("visible after", lags);
    stack.stop().await;
    Ok(())
}
