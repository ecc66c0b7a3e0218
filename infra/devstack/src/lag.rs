//! Command-to-query lag on a running stack: for each command (one in flight), the clock starts when the command's
//! response arrives and stops when `GET /accounts/{id}` (polled every millisecond, without `min_version`) shows
//! the command's version — publish, consumer fetch, denormaliser, query read. `lag-bench` and the benchmark
//! harness measure with it; nothing here asserts.

use crate::Devstack;
use serde_json::Value;
use std::time::{Duration, Instant};

/// What one run measured: each command's latency, and how long after its response its effect was visible.
#[derive(Debug, Default)]
pub struct Lag {
    pub command_latencies: Vec<Duration>,
    pub visible_after: Vec<Duration>,
}

/// Open `accounts` accounts, then send `commands` deposits rotating over them, one at a time; `progress` hears how
/// many were measured.
pub async fn measure(
    stack: &Devstack,
    commands: usize,
    accounts: usize,
    progress: impl Fn(usize),
) -> anyhow::Result<Lag> {
    let base = stack.base_url();
    let http = reqwest::Client::new();
    let post = |url: String, body: &'static str| {
        let http = http.clone();
        async move {
            let reply = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await?
                .error_for_status()?;
            anyhow::Ok(reply.json::<Value>().await?)
        }
    };
    let mut ids = Vec::new();
    for _ in 0..accounts.max(1) {
        let opened = post(format!("{base}/accounts"), r#"{"currency":"EUR"}"#).await?;
        let id = opened["account_id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no account id in {opened}"))?;
        ids.push(id.to_owned());
    }
    let mut lag = Lag::default();
    for n in 0..commands {
        let id = &ids[n % ids.len()];
        let sent = Instant::now();
        let accepted = post(format!("{base}/accounts/{id}/deposits"), r#"{"amount":1}"#).await?;
        let accepted_at = Instant::now();
        lag.command_latencies.push(accepted_at - sent);
        let version = accepted["version"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no version in {accepted}"))?;
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
        lag.visible_after.push(accepted_at.elapsed());
        progress(n + 1);
    }
    Ok(lag)
}
