//! `tributary dead-letters list | show <id> | replay <consumer>`: what the dead-letter topic holds, one letter in
//! full, and re-driving a consumer's letters once their cause is fixed (from the event store, never the bytes).

use crate::{one_line, Context, Domain};
use anyhow::bail;
use serde_json::{json, Value};
use std::io::Write;
use tributary_consumer::redrive::{
    redrive_topic, ProcessTarget, ReadModelTarget, RedriveReport, Selection,
};
use tributary_consumer::{cli, ops};

/// The letters (of one consumer, or not replayed yet, when asked).
pub(crate) async fn list(
    ctx: &Context<'_>,
    consumer: Option<&str>,
    pending: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let Context {
        env,
        aws,
        bar,
        json,
        ..
    } = ctx;
    bar.set_message("reading the dead-letter topic");
    let (letters, unreadable) = ops::dead_letters(&env.kafka()?, aws).await?;
    bar.finish_and_clear();
    let wanted = consumer.map(|c| (c.to_owned(), env.group(c)));
    let letters: Vec<_> = letters
        .into_iter()
        .filter(|l| !(pending && l.replayed))
        .filter(|l| {
            let consumer = &l.placed.letter.consumer;
            wanted
                .as_ref()
                .is_none_or(|(name, group)| consumer == name || consumer == group)
        })
        .collect();
    if *json {
        let listed: Vec<Value> = letters
            .iter()
            .map(|l| {
                json!({
                    "partition": l.placed.partition,
                    "offset": l.placed.offset,
                    "replayed": l.replayed,
                    "letter": l.placed.letter,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&listed)?)?;
    } else {
        writeln!(
            out,
            "{:<60} {:<36} {:<44} {:<24} {:<8} error",
            "id", "consumer", "stream", "failed at", "replayed"
        )?;
        for l in &letters {
            let letter = &l.placed.letter;
            writeln!(
                out,
                "{:<60} {:<36} {:<44} {:<24} {:<8} {}",
                letter.id,
                letter.consumer,
                letter.aggregate_id().unwrap_or_else(|| "-".into()),
                letter.failed_at.format("%Y-%m-%d %H:%M:%S"),
                if l.replayed { "yes" } else { "no" },
                one_line(&letter.error, 100)
            )?;
        }
        let waiting = letters.iter().filter(|l| !l.replayed).count();
        writeln!(
            out,
            "{} letters, {waiting} not replayed yet; {unreadable} records on the topic are not letters",
            letters.len()
        )?;
    }
    Ok(())
}

/// One letter in full, its failed record decoded.
pub(crate) async fn show(
    ctx: &Context<'_>,
    id: &str,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let Context { env, aws, bar, .. } = ctx;
    bar.set_message("reading the dead-letter topic");
    let (letters, _) = ops::dead_letters(&env.kafka()?, aws).await?;
    bar.finish_and_clear();
    let Some(found) = letters.into_iter().find(|l| l.placed.letter.id == id) else {
        bail!("no dead letter with id {id:?} (`tributary dead-letters list` shows them)");
    };
    let mut shown = serde_json::to_value(&found.placed.letter)?;
    shown["position"] = json!({"partition": found.placed.partition, "offset": found.placed.offset});
    shown["replayed"] = json!(found.replayed);
    shown["decoded"] = decoded(&shown["source"]);
    writeln!(out, "{}", serde_json::to_string_pretty(&shown)?)?;
    Ok(())
}

/// Re-drive `consumer`'s letters (only `streams`, when named; never `skip`).
pub(crate) async fn replay(
    ctx: &Context<'_>,
    domain: &impl Domain,
    consumer: &str,
    streams: &[String],
    skip: &[String],
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let Context {
        env,
        aws,
        events,
        projections,
        bar,
        json,
        ..
    } = ctx;
    let kafka = env.kafka()?;
    let group = env.group(consumer);
    let selection = Selection {
        only: (!streams.is_empty()).then(|| streams.iter().cloned().collect()),
        skip: skip.iter().cloned().collect(),
    };
    bar.set_message(format!("reading {} for {group}", kafka.dead_letter_topic));
    let progress = |r: &RedriveReport| {
        bar.set_message(format!(
            "{} letters read, {} of {group}, {} streams re-driven, {} failed",
            r.read,
            r.ours,
            r.streams.len(),
            r.failed.len()
        ))
    };
    let report = if consumer == ctx.process_name {
        let process = domain.process(events.clone())?;
        redrive_topic(
            &kafka,
            aws,
            &ProcessTarget(&process),
            &group,
            &selection,
            progress,
        )
        .await?
    } else {
        let model = cli::read_model(&ctx.read_models, consumer)
            .map_err(|e| anyhow::anyhow!("{e} or {:?}", ctx.process_name))?;
        let target = ReadModelTarget {
            model: model.as_ref(),
            projections,
            events,
        };
        redrive_topic(&kafka, aws, &target, &group, &selection, progress).await?
    };
    bar.finish_and_clear();
    if *json {
        let answer = json!({
            "consumer_group": group,
            "read": report.read,
            "ours": report.ours,
            "streams": report.streams,
            "failed": report.failed,
            "skipped": report.skipped,
            "not_read": report.not_read,
            "unreadable": report.unreadable,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
    } else {
        writeln!(
            out,
            "{group}: {} letters read, {} of this consumer; {} streams brought up to the event store, {} failed, {} left out; {} about no stream it reads; {} unreadable records",
            report.read,
            report.ours,
            report.streams.len(),
            report.failed.len(),
            report.skipped.len(),
            report.not_read,
            report.unreadable
        )?;
        for (stream, why) in &report.failed {
            writeln!(out, "failed: {stream}: {}", one_line(why, 200))?;
        }
        if selection.only.is_some() {
            writeln!(out, "(only the streams named: nothing committed)")?;
        } else if !report.failed.is_empty() || !report.skipped.is_empty() {
            writeln!(
                out,
                "their letters were published again and wait for the next replay"
            )?;
        }
    }
    if !report.failed.is_empty() {
        bail!("{} stream(s) could not be re-driven", report.failed.len());
    }
    Ok(())
}

/// The failed record of a letter, decoded where it can be (key and value as text).
fn decoded(source: &Value) -> Value {
    use base64::Engine;
    let text = |field: &str| {
        source[field]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    };
    json!({"key": text("key_base64"), "value": text("value_base64")})
}
