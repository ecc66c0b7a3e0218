//! `tributary stream <id>`: one aggregate's events from the event store, as recorded.

use crate::{one_line, Context};
use anyhow::{bail, Context as _};
use serde_json::json;
use std::io::Write;
use tributary_store::{AuditEvent, EventStore, Order};

/// The events of `id` (a stream id, or an aggregate id).
pub(crate) async fn stream(
    ctx: &Context<'_>,
    id: &str,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let Context {
        events,
        bar,
        json,
        stream_prefixes,
        ..
    } = ctx;
    bar.set_message(format!("reading {id}"));
    let (stream, events) = stream_events(events, stream_prefixes, id).await?;
    bar.finish_and_clear();
    if *json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json!({"stream": stream, "events": events}))?
        )?;
    } else {
        writeln!(out, "{stream}: {} events", events.len())?;
        for e in &events {
            writeln!(
                out,
                "{:>6}  {}  {:<22} v{}  {:<24} {}",
                e.version,
                e.occurred_at,
                e.event_type,
                e.schema_version,
                one_line(&e.actor, 24),
                e.payload
            )?;
        }
    }
    Ok(())
}

/// The events of `id`: a stream id, or an aggregate id under each of the domain's stream prefixes in turn.
async fn stream_events(
    store: &dyn EventStore,
    stream_prefixes: &[&str],
    id: &str,
) -> anyhow::Result<(String, Vec<AuditEvent>)> {
    let candidates = candidates(stream_prefixes, id);
    for stream in &candidates {
        let mut events = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .page(stream, Order::OldestFirst, after, 500)
                .await
                .with_context(|| format!("reading {stream}"))?;
            after = page.events.last().map(|e| e.version);
            events.extend(page.events.into_iter().map(AuditEvent::from));
            if !page.more {
                break;
            }
        }
        if !events.is_empty() {
            return Ok((stream.clone(), events));
        }
    }
    bail!("no events in {}", candidates.join(" or "))
}

/// The streams `id` may name: itself when it is a stream id, else the aggregate id under each prefix.
pub(crate) fn candidates(stream_prefixes: &[&str], id: &str) -> Vec<String> {
    if id.contains('-') && !is_bare_uuid(id) {
        vec![id.to_owned()]
    } else {
        stream_prefixes
            .iter()
            .map(|prefix| format!("{prefix}{id}"))
            .collect()
    }
}

fn is_bare_uuid(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}
