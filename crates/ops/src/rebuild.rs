//! `tributary rebuild <read model>`: recompute a read model from the event store (resumable, beside the live
//! consumers), or only the streams named.

use crate::{one_line, Context};
use anyhow::bail;
use serde_json::json;
use std::io::Write;
use tributary_consumer::cli;
use tributary_projections::{
    rebuild as rebuild_all, rebuild_streams, RebuildOptions, RebuildOutcome, RebuildProgress,
};

/// Rebuild `projection` (see `Command::Rebuild`).
pub(crate) async fn rebuild(
    ctx: &Context<'_>,
    projection: &str,
    options: RebuildOptions,
    streams: &[String],
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let Context {
        events,
        projections,
        read_models,
        bar,
        json,
        ..
    } = ctx;
    let model = cli::read_model(read_models, projection)
        .map_err(|e| anyhow::anyhow!("{projection:?}: {e}"))?;
    let name = model.name();
    let show = |p: &RebuildProgress| {
        let resumed = if p.resumed { " (resumed)" } else { "" };
        bar.set_message(format!(
            "{name}{resumed}: {} streams, {} events, {} failed",
            p.streams,
            p.events,
            p.failed.len()
        ));
    };
    let (completed, p) = if streams.is_empty() {
        match rebuild_all(model.as_ref(), projections, events, options, show).await? {
            RebuildOutcome::Completed(p) => (true, p),
            RebuildOutcome::Interrupted(p) => (false, p),
        }
    } else {
        let p = rebuild_streams(model.as_ref(), projections, events, streams, show).await;
        (true, p)
    };
    bar.finish_and_clear();
    if *json {
        let answer = json!({"read_model": name, "completed": completed, "streams": p.streams, "events": p.events, "failed": p.failed, "skipped": p.skipped});
        writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
    } else if completed {
        writeln!(
            out,
            "{name}: rebuilt {} streams from {} events; {} failed, {} left out",
            p.streams,
            p.events,
            p.failed.len(),
            p.skipped
        )?;
    } else {
        writeln!(
            out,
            "{name}: stopped after {} streams ({} events, {} failed); run again to resume",
            p.streams,
            p.events,
            p.failed.len()
        )?;
    }
    if !*json {
        for (stream, why) in &p.failed {
            writeln!(out, "failed: {stream}: {}", one_line(why, 200))?;
        }
        if !p.failed.is_empty() {
            writeln!(
                out,
                "retry them once fixed: tributary rebuild {name} --stream <id> ..."
            )?;
        }
    }
    if !p.failed.is_empty() {
        bail!("{} stream(s) could not be rebuilt", p.failed.len());
    }
    Ok(())
}
