//! `tributary verify <stream> | --all`: re-walk streams' hash chains and signed checkpoints as stored, and say what
//! was modified, deleted, inserted or reordered, and which checkpoints do not verify (`tributary_ledger`). Exits
//! non-zero when anything is found.

use crate::stream::candidates;
use crate::Context;
use anyhow::{bail, Context as _};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use tributary_ledger::{verify_all, verify_stream, Progress, TrustedKeys};
use tributary_store::verify::{Expected, StreamReport};
use tributary_store::{EventStore, Order};

/// Which keys' checkpoints are trusted, and how the deployment writes.
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// The deployment's checkpoint interval (`LEDGER_SEAL_EVERY`): a seal is due on every multiple of it; 0 expects
    /// none (a stack that chains without signing, e.g. sam local).
    #[arg(long, env = "LEDGER_SEAL_EVERY", default_value_t = tributary_ledger::DEFAULT_SEAL_EVERY)]
    pub seal_every: u64,
    /// Accept events without hashes at the start of a stream (written before this release): counted, not verified.
    /// Without it every event without hashes is a finding.
    #[arg(long)]
    pub unchained_start: bool,
    /// Trust checkpoints signed by this public key (PEM; repeatable): the devstack's prints its path.
    #[arg(long = "public-key")]
    pub public_keys: Vec<PathBuf>,
    /// Trust checkpoints signed by this KMS key (id, ARN or alias; repeatable): the deployment's `LedgerKey` output.
    #[arg(long = "kms-key", env = "LEDGER_KMS_KEY_ID", value_delimiter = ',')]
    pub kms_keys: Vec<String>,
}

impl KeyArgs {
    fn expected(&self) -> Expected {
        Expected {
            seal_every: Some(self.seal_every).filter(|every| *every > 0),
            unchained_start: self.unchained_start,
        }
    }

    async fn trusted(&self, aws: &aws_types::SdkConfig) -> anyhow::Result<TrustedKeys> {
        let mut keys = TrustedKeys::new();
        for path in &self.public_keys {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            keys.add_pem(&pem)
                .with_context(|| format!("{} is not a public key (PEM)", path.display()))?;
        }
        if !self.kms_keys.is_empty() {
            let kms = tributary_ledger::kms_client(aws);
            for key in &self.kms_keys {
                keys.add_kms(&kms, key)
                    .await
                    .with_context(|| format!("the public key of KMS key {key}"))?;
            }
        }
        if keys.is_empty() {
            bail!("name the keys whose checkpoints you trust: --public-key <PEM> or --kms-key <id> (LEDGER_KMS_KEY_ID)");
        }
        Ok(keys)
    }
}

/// Verify `stream` (a stream or aggregate id), or every stream.
pub(crate) async fn verify(
    ctx: &Context<'_>,
    stream: Option<&str>,
    keys: &KeyArgs,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let trusted = keys.trusted(&ctx.aws).await?;
    let bar = &ctx.bar;
    let mut on_page = |p: &Progress| {
        bar.set_message(format!(
            "verifying: {} streams, {} events, {} findings, {:.0} events/s",
            p.streams,
            p.events,
            p.findings,
            p.rate()
        ))
    };
    let (damaged, progress) = match stream {
        Some(id) => {
            let stream_id = existing_stream(&*ctx.events, ctx.stream_prefixes, id).await?;
            let mut progress = Progress::new();
            let report = verify_stream(
                &*ctx.events,
                &stream_id,
                &trusted,
                keys.expected(),
                &mut progress,
                &mut on_page,
            )
            .await
            .with_context(|| format!("reading {stream_id}"))?;
            if ctx.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            }
            let damaged = if report.is_intact() {
                if !ctx.json {
                    say_intact(out, &report)?;
                }
                Vec::new()
            } else {
                vec![report]
            };
            (damaged, progress)
        }
        None => verify_all(&*ctx.events, &trusted, keys.expected(), &mut on_page)
            .await
            .context("reading the events table")?,
    };
    bar.finish_and_clear();
    if ctx.json && stream.is_none() {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json!({
                "streams": progress.streams,
                "events": progress.events,
                "damaged": damaged,
            }))?
        )?;
    } else if !ctx.json {
        for report in &damaged {
            writeln!(
                out,
                "{}: {} events, sealed to {}",
                report.stream_id,
                report.events,
                report
                    .sealed_to
                    .map_or("no checkpoint".to_owned(), |v| format!("event {v}"))
            )?;
            for finding in &report.findings {
                writeln!(out, "  {finding}")?;
            }
        }
        writeln!(
            out,
            "verified {} stream{}, {} events in {:.1} s ({:.0} events/s): {}",
            progress.streams,
            if progress.streams == 1 { "" } else { "s" },
            progress.events,
            progress.started.elapsed().as_secs_f64(),
            progress.rate(),
            if damaged.is_empty() {
                "intact".to_owned()
            } else {
                format!("{} streams with findings", damaged.len())
            }
        )?;
    }
    if !damaged.is_empty() {
        let findings: usize = damaged.iter().map(|r| r.findings.len()).sum();
        bail!("{findings} findings in {} streams", damaged.len());
    }
    Ok(())
}

fn say_intact(out: &mut (dyn Write + Send), report: &StreamReport) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: {} events, intact; sealed to {}{}",
        report.stream_id,
        report.events,
        report
            .sealed_to
            .map_or("no checkpoint yet".to_owned(), |v| format!("event {v}")),
        if report.unchained_before_chaining > 0 {
            format!(
                " ({} events written before chaining are not covered)",
                report.unchained_before_chaining
            )
        } else {
            String::new()
        }
    )
}

/// The stream `id` names that has events.
async fn existing_stream(
    store: &dyn EventStore,
    stream_prefixes: &[&str],
    id: &str,
) -> anyhow::Result<String> {
    let candidates = candidates(stream_prefixes, id);
    for stream in &candidates {
        let page = store
            .page(stream, Order::OldestFirst, None, 1)
            .await
            .with_context(|| format!("reading {stream}"))?;
        if !page.events.is_empty() {
            return Ok(stream.clone());
        }
    }
    bail!("no events in {}", candidates.join(" or "))
}
