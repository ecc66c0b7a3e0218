//! `tributary schedules [--late MINUTES] [--at TIME]`: the scheduled commands with work to do now, from the scheduler's due
//! index (the schedules read model) — an occurrence owed and not sent yet, or one started and not finished — oldest
//! first, with how long each has waited. What `SchedulerBehindAlarm` is about: a schedule listed here for minutes
//! is failing (the scheduler's logs name it), or more fell due than the sweeps send.

use crate::Context;
use serde_json::json;
use std::io::Write;

pub(crate) async fn schedules(
    ctx: &Context<'_>,
    late: Option<u64>,
    at: Option<chrono::DateTime<chrono::Utc>>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let now = at.unwrap_or_else(chrono::Utc::now);
    ctx.bar.set_message("reading the due index");
    let mut due: Vec<_> = tributary_scheduler::due(&ctx.projections, now)
        .await?
        .into_iter()
        .filter_map(|view| {
            let owed = view.in_flight.or(view.next)?;
            let waited = now - owed.at;
            let minutes = u64::try_from(waited.num_minutes()).unwrap_or(0);
            late.is_none_or(|late| minutes >= late)
                .then_some((owed.at, waited, view))
        })
        .collect();
    due.sort_by_key(|(at, _, view)| (*at, view.schedule_id.clone()));
    ctx.bar.finish_and_clear();
    if ctx.json {
        let rows: Vec<_> = due
            .iter()
            .map(|(at, waited, view)| {
                json!({
                    "schedule_id": view.schedule_id,
                    "kind": view.spec.kind,
                    "group": view.spec.group,
                    "status": view.status,
                    "owed_at": at,
                    "waited_seconds": waited.num_seconds(),
                    "in_flight": view.in_flight.is_some(),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(rows))?;
        return Ok(());
    }
    if due.is_empty() {
        writeln!(
            out,
            "nothing owed{}",
            late.map_or(String::new(), |m| format!(" for {m} minutes or more"))
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<36}  {:<16}  {:<25}  {:>9}  STATE",
        "SCHEDULE", "KIND", "OWED AT", "WAITED"
    )?;
    for (at, waited, view) in &due {
        writeln!(
            out,
            "{:<36}  {:<16}  {:<25}  {:>8}m  {}",
            view.schedule_id,
            crate::one_line(&view.spec.kind, 16),
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            waited.num_minutes(),
            if view.in_flight.is_some() {
                "in flight"
            } else {
                "owed"
            },
        )?;
    }
    Ok(())
}
