//! `tributary read-models list | build | promote | retire`: a read model's versions side by side (see
//! `tributary_projections::versions`).
//!
//! * `build <name>@<version>`: start the version's consumer group at the end of the events topic (unless it
//!   consumes already), then fill the version from the event store, resumably, with progress (events/s, an
//!   estimated time left). Every event is in it afterwards: those before the group's start position from the
//!   store, those after from its consumer (both write version-guarded, so what both see is written once).
//! * `promote <name>@<version>`: serve it (one conditional write; query containers follow within their catalog
//!   cache time). Rolling back is promoting the previous version, while it is still maintained.
//! * `retire <name>@<version>`: a version not served stops writing, then its items are deleted (a table scan).
//! * `list`: every version of every read model: state, which one is served, its consumer's lag, build progress.

use crate::{Context, VersionCommand};
use anyhow::{bail, Context as _};
use serde::Serialize;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tributary_consumer::{cli, ops};
use tributary_projections::versions::{self, VersionState};
use tributary_projections::{rebuild, ReadModel, RebuildOptions, RebuildOutcome, RebuildProgress};

/// Run one `read-models` subcommand.
pub(crate) async fn run(
    ctx: &Context<'_>,
    command: &VersionCommand,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    match command {
        VersionCommand::List => list(ctx, out).await,
        VersionCommand::Build {
            read_model,
            scan,
            no_handover,
        } => build(ctx, read_model, scan.options(&[]), *no_handover, out).await,
        VersionCommand::Promote { read_model } => promote(ctx, read_model, out).await,
        VersionCommand::Retire {
            read_model,
            grace_seconds,
        } => retire(ctx, read_model, Duration::from_secs(*grace_seconds), out).await,
    }
}

fn model(ctx: &Context<'_>, raw: &str) -> anyhow::Result<Arc<dyn ReadModel>> {
    cli::read_model(&ctx.read_models, raw)
        .map_err(|e| anyhow::anyhow!("{raw:?}: {e} (or <name>@<version>, e.g. statement@2)"))
}

/// One version as `list` shows it.
#[derive(Debug, Serialize)]
struct Listed {
    read_model: &'static str,
    version: u32,
    label: String,
    state: &'static str,
    served: bool,
    consumer_group: String,
    /// Records its consumer group has not read (`None`: Kafka was not asked, or did not answer).
    behind: Option<i64>,
    /// A build's saved progress (streams, events), when one is running or was interrupted.
    build: Option<RebuildProgress>,
}

async fn list(ctx: &Context<'_>, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let mut listed = Vec::new();
    for model in &ctx.read_models {
        let catalog = versions::catalog(&ctx.projections, model.name()).await?;
        let build = ctx
            .projections
            .of(model.as_ref())
            .rebuild_progress(model.name())
            .await?
            .and_then(|saved| serde_json::from_value(saved).ok());
        listed.push(Listed {
            read_model: model.name(),
            version: model.version(),
            label: model.label(),
            state: catalog
                .state(model.version())
                .map_or("deployed", VersionState::as_str),
            served: catalog.serving == model.version(),
            consumer_group: ctx.env.group(&model.label()),
            behind: None,
            build,
        });
    }
    let mut note = None;
    if ctx.env.kafka_bootstrap.is_some() || ctx.env.msk_cluster_arn.is_some() {
        ctx.bar
            .set_message("asking the brokers how far each version's consumer is");
        let groups: Vec<String> = listed.iter().map(|l| l.consumer_group.clone()).collect();
        match ops::positions(&ctx.env.kafka()?, &ctx.aws, &groups).await {
            Ok(lags) => {
                for l in &mut listed {
                    l.behind = Some(
                        lags.iter()
                            .filter(|p| p.consumer_group == l.consumer_group)
                            .map(|p| p.behind)
                            .sum(),
                    );
                }
            }
            Err(e) => note = Some(format!("lag unknown: {e}")),
        }
    } else {
        note =
            Some("lag unknown: no Kafka given (KAFKA_BOOTSTRAP_SERVERS or MSK_CLUSTER_ARN)".into());
    }
    ctx.bar.finish_and_clear();
    if ctx.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&listed)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<20} {:>7} {:<9} {:<6} {:<36} {:>8}  build",
        "read model", "version", "state", "served", "consumer group", "behind"
    )?;
    for l in &listed {
        writeln!(
            out,
            "{:<20} {:>7} {:<9} {:<6} {:<36} {:>8}  {}",
            l.read_model,
            l.version,
            l.state,
            if l.served { "yes" } else { "" },
            l.consumer_group,
            l.behind.map_or("-".into(), |b| b.to_string()),
            l.build.as_ref().map_or("-".into(), |p| format!(
                "{} streams, {} events so far",
                p.streams, p.events
            )),
        )?;
    }
    if let Some(note) = note {
        writeln!(out, "{note}")?;
    }
    Ok(())
}

async fn build(
    ctx: &Context<'_>,
    raw: &str,
    options: RebuildOptions,
    no_handover: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let model = model(ctx, raw)?;
    let (name, version, label) = (model.name(), model.version(), model.label());
    versions::begin_build(&ctx.projections, name, version).await?;
    let group = ctx.env.group(&label);
    let handover = if no_handover {
        "its consumer group's position left as it is (--no-handover)".to_owned()
    } else {
        ctx.bar.set_message(format!(
            "starting consumer group {group} at the end of the topic"
        ));
        let kafka = ctx.env.kafka().context(
            "the build starts the version's consumer group at the end of the events topic: give Kafka \
             (KAFKA_BOOTSTRAP_SERVERS or MSK_CLUSTER_ARN), or --no-handover if its consumer runs already",
        )?;
        match ops::start_group_at_end(&kafka, &ctx.aws, &group).await? {
            Some(positions) => format!(
                "consumer group {group} starts at {}",
                positions
                    .iter()
                    .map(|(p, o)| format!("{p}:{o}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => format!("consumer group {group} consumes already; its position stands"),
        }
    };
    if !ctx.json {
        writeln!(out, "{label}: {handover}")?;
    }
    let estimate = estimated_events(ctx).await;
    let started = Instant::now();
    let mut first: Option<u64> = None;
    let show = |p: &RebuildProgress| {
        let done_before = *first.get_or_insert(p.events);
        let secs = started.elapsed().as_secs_f64().max(0.001);
        let rate = (p.events - done_before) as f64 / secs;
        let left = match estimate {
            Some(total) if rate > 0.0 && total > p.events => {
                format!(", about {:.0} s left", (total - p.events) as f64 / rate)
            }
            _ => String::new(),
        };
        let resumed = if p.resumed { " (resumed)" } else { "" };
        ctx.bar.set_message(format!(
            "{label}{resumed}: {} streams, {} events, {rate:.0} events/s{left}, {} failed",
            p.streams,
            p.events,
            p.failed.len()
        ));
    };
    let outcome = rebuild(
        model.as_ref(),
        &ctx.projections,
        &*ctx.events,
        options,
        show,
    )
    .await?;
    ctx.bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let (completed, p) = match outcome {
        RebuildOutcome::Completed(p) => (p.failed.is_empty(), p),
        RebuildOutcome::Interrupted(p) => (false, p),
    };
    if completed {
        versions::finish_build(&ctx.projections, name, version).await?;
    }
    if ctx.json {
        let answer = json!({"read_model": label, "completed": completed, "streams": p.streams, "events": p.events, "failed": p.failed, "seconds": elapsed, "handover": handover});
        writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
    } else if completed {
        writeln!(
            out,
            "{label}: built from {} streams, {} events in {elapsed:.1} s; promote it with `tributary read-models promote {name}@{version}`",
            p.streams, p.events
        )?;
    } else {
        writeln!(
            out,
            "{label}: not complete ({} streams, {} events, {} failed); run the build again to go on",
            p.streams,
            p.events,
            p.failed.len()
        )?;
        for (stream, why) in &p.failed {
            writeln!(out, "failed: {stream}: {}", crate::one_line(why, 200))?;
        }
    }
    if !p.failed.is_empty() {
        bail!("{} stream(s) could not be built", p.failed.len());
    }
    Ok(())
}

/// About how many items the events table holds (DynamoDB's own count, refreshed about every six hours on AWS):
/// for an estimate of the time left, nothing more.
async fn estimated_events(ctx: &Context<'_>) -> Option<u64> {
    let out = ctx
        .dynamodb
        .describe_table()
        .table_name(&ctx.env.events_table)
        .send()
        .await
        .ok()?;
    out.table()?
        .item_count()
        .and_then(|n| u64::try_from(n).ok())
}

async fn promote(ctx: &Context<'_>, raw: &str, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let model = model(ctx, raw)?;
    let before = versions::catalog(&ctx.projections, model.name()).await?;
    let after = versions::promote(&ctx.projections, model.name(), model.version()).await?;
    ctx.bar.finish_and_clear();
    let served = tributary_projections::label(model.name(), after.serving);
    if ctx.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(
                &json!({"read_model": model.name(), "serving": served, "was": tributary_projections::label(model.name(), before.serving)})
            )?
        )?;
    } else if before.serving == after.serving {
        writeln!(out, "{served} was served already")?;
    } else {
        writeln!(
            out,
            "{served} is served (was {}); query functions follow within {} s",
            tributary_projections::label(model.name(), before.serving),
            versions::DEFAULT_CATALOG_TTL.as_secs_f64()
        )?;
    }
    Ok(())
}

async fn retire(
    ctx: &Context<'_>,
    raw: &str,
    grace: Duration,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let model = model(ctx, raw)?;
    let (name, version, label) = (model.name(), model.version(), model.label());
    versions::begin_retire(&ctx.projections, name, version).await?;
    // Its denormaliser sees `retiring` within its catalog cache time and stops writing; a batch already past that
    // check finishes first. Each pass deletes what carries the version's tag; passes go on, a grace period apart,
    // until one finds nothing (a late batch's writes are caught by the next).
    let mut total = 0;
    for pass in 1..=5 {
        ctx.bar.set_message(format!(
            "{label}: waiting {} s for its consumer to stop writing",
            grace.as_secs()
        ));
        tokio::time::sleep(grace).await;
        let deleted = ctx
            .projections
            .delete_tagged(&label, |scanned, deleted| {
                ctx.bar.set_message(format!(
                    "{label}: pass {pass}: {scanned} items scanned, {deleted} deleted"
                ));
            })
            .await?;
        total += deleted;
        if deleted == 0 {
            versions::finish_retire(&ctx.projections, name, version).await?;
            ctx.bar.finish_and_clear();
            if ctx.json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"read_model": label, "retired": true, "deleted": total, "passes": pass})
                    )?
                )?;
            } else {
                writeln!(
                    out,
                    "{label}: retired, {total} items deleted; remove its consumer from the template (Mappings: ReadModels)"
                )?;
            }
            return Ok(());
        }
    }
    ctx.bar.finish_and_clear();
    bail!("{label}: items kept appearing after 5 passes ({total} deleted): is its consumer still running an older release? Run retire again")
}
