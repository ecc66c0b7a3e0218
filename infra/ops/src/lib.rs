//! `tributary`, the operator CLI: one binary, one subcommand per question an operator asks.
//!
//! * `lag`: how far each consumer (every read model's denormaliser, the transfer process manager) is behind on the
//!   events topic, per partition: its committed offset, the end, and how old the oldest record it has not read is;
//! * `dead-letters list | show <id> | replay <consumer>`: what the dead-letter topic holds (each letter marked
//!   replayed once a replay of its consumer has read past it), one letter in full, and re-driving a consumer's
//!   letters once their cause is fixed (idempotent: from the event store, never the bytes);
//! * `rebuild <read model>`: recompute a read model from the event store (resumable, beside the live consumers);
//! * `stream <id>`: one aggregate's events from the event store, as recorded.
//!
//! Tables and counts for people (progress on stderr), `--json` for scripts. Credentials as for every AWS tool (the
//! default chain); a local stack through `AWS_ENDPOINT_URL_DYNAMODB` and `KAFKA_BOOTSTRAP_SERVERS` (README,
//! "Operating"). The wiring to the bank's read models and process manager is here; the work is in
//! `tributary-consumer` (`ops`, `redrive`) and `tributary-projections` (`rebuild`).

use anyhow::{bail, Context};
use bank_service::transfers::{TransferProcess, CONSUMER_GROUP_SUFFIX};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;
use tributary_aggregate::SnapshotPolicy;
use tributary_consumer::redrive::{
    redrive_topic, ProcessTarget, ReadModelTarget, RedriveReport, Selection,
};
use tributary_consumer::{cli, ops};
use tributary_dynamodb::DynamoDbEventStore;
use tributary_kafka::KafkaConfig;
use tributary_projections::{
    rebuild, rebuild_streams, ProjectionStore, RebuildOptions, RebuildOutcome, RebuildProgress,
};
use tributary_store::{AuditEvent, EventStore, Order};

/// The operator CLI.
#[derive(Debug, Parser)]
#[command(
    name = "tributary",
    version,
    about = "Operate a Tributary deployment: lag, dead letters, rebuilds, streams."
)]
pub struct Cli {
    /// JSON on stdout instead of tables (progress stays on stderr).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub env: Environment,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the deployment is (flags, or the same environment variables the functions read).
#[derive(Debug, Args)]
pub struct Environment {
    #[arg(
        long,
        global = true,
        env = "EVENTS_TABLE",
        default_value = "tributary-events"
    )]
    pub events_table: String,
    #[arg(
        long,
        global = true,
        env = "PROJECTIONS_TABLE",
        default_value = "tributary-projections"
    )]
    pub projections_table: String,
    /// A local DynamoDB API (the devstack's is http://127.0.0.1:8042); AWS when unset.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    pub dynamodb_endpoint: Option<String>,
    /// Kafka brokers (host:port,...), e.g. the devstack's; or --msk-cluster-arn (IAM auth).
    #[arg(long, global = true, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub kafka_bootstrap: Option<String>,
    #[arg(long, global = true, env = "MSK_CLUSTER_ARN")]
    pub msk_cluster_arn: Option<String>,
    #[arg(long, global = true, env = "KAFKA_EVENTS_TOPIC")]
    pub events_topic: Option<String>,
    #[arg(long, global = true, env = "KAFKA_DEAD_LETTER_TOPIC")]
    pub dead_letter_topic: Option<String>,
    /// Consumer groups are named `<prefix>-<consumer>` (deployed: tributary).
    #[arg(
        long,
        global = true,
        env = "CONSUMER_GROUP_PREFIX",
        default_value = "tributary"
    )]
    pub group_prefix: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// How far each consumer is behind on the events topic, per partition.
    Lag {
        /// Only these consumers (default: every read model and the transfer process).
        #[arg(long = "consumer")]
        consumers: Vec<String>,
    },
    /// What the dead-letter topic holds, and re-driving it.
    #[command(subcommand)]
    DeadLetters(Letters),
    /// Recompute a read model from the event store (resumable: run again to go on; --restart starts over).
    Rebuild {
        /// account-summary, statement, accounts-by-owner or transfers.
        projection: String,
        #[arg(long)]
        restart: bool,
        /// Streams read per page (progress is saved after each).
        #[arg(long, default_value_t = 100)]
        page_size: i32,
        /// Stop after this many pages.
        #[arg(long)]
        max_pages: Option<usize>,
        /// Rebuild only this stream (repeatable): retry the ones an earlier run reported as failed. Saved progress is
        /// left as it is.
        #[arg(long = "stream")]
        streams: Vec<String>,
        /// Leave this stream out (repeatable).
        #[arg(long = "skip")]
        skip: Vec<String>,
    },
    /// One aggregate's events from the event store, oldest first.
    Stream {
        /// A stream id (account-<uuid>, transfer-<uuid>) or a bare aggregate id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum Letters {
    /// Every letter: id, consumer, stream, when, why, and whether a replay has dealt with it.
    List {
        /// Only the letters of this consumer (a read model, transfer-process, or a consumer group).
        #[arg(long)]
        consumer: Option<String>,
        /// Only the letters no replay has dealt with yet.
        #[arg(long)]
        pending: bool,
    },
    /// One letter in full, with the failed record decoded.
    Show { id: String },
    /// Re-drive a consumer's letters (from where its last re-drive stopped to the end), after the fix. Every stream
    /// is re-driven; those that still fail are listed with why and their letters wait for the next replay.
    Replay {
        /// A read model (account-summary, statement, accounts-by-owner, transfers) or transfer-process.
        consumer: String,
        /// Re-drive only this stream (repeatable): a targeted retry that commits nothing.
        #[arg(long = "stream")]
        streams: Vec<String>,
        /// Leave this stream out (repeatable): its letters wait for the next replay.
        #[arg(long = "skip")]
        skip: Vec<String>,
    },
}

impl Environment {
    fn kafka(&self) -> anyhow::Result<KafkaConfig> {
        let lookup = |name: &str| match name {
            "KAFKA_BOOTSTRAP_SERVERS" => self.kafka_bootstrap.clone(),
            "MSK_CLUSTER_ARN" => self.msk_cluster_arn.clone(),
            "KAFKA_EVENTS_TOPIC" => self.events_topic.clone(),
            "KAFKA_DEAD_LETTER_TOPIC" => self.dead_letter_topic.clone(),
            _ => None,
        };
        Ok(KafkaConfig::from_lookup(lookup, Duration::from_secs(10))?)
    }

    fn group(&self, consumer: &str) -> String {
        format!("{}-{consumer}", self.group_prefix)
    }

    /// The consumers an operator names: every read model, and the transfer process.
    fn consumers() -> Vec<String> {
        tributary_projections::names(&bank_service::read_models())
            .into_iter()
            .map(str::to_owned)
            .chain([CONSUMER_GROUP_SUFFIX.to_owned()])
            .collect()
    }
}

/// Run one command, writing its answer to `out`.
pub async fn run(cli: Cli, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let env = &cli.env;
    let aws = cli::aws_config().await;
    let dynamodb = match &env.dynamodb_endpoint {
        Some(endpoint) if !endpoint.is_empty() => tributary_dynamodb::local::local_client(endpoint),
        _ => aws_sdk_dynamodb::Client::new(&aws),
    };
    let events = DynamoDbEventStore::shared(dynamodb.clone(), &env.events_table);
    let projections = ProjectionStore::new(dynamodb, &env.projections_table);
    let bar = spinner();
    match &cli.command {
        Command::Lag { consumers } => {
            let names = if consumers.is_empty() {
                Environment::consumers()
            } else {
                consumers.clone()
            };
            let groups: Vec<String> = names.iter().map(|n| env.group(n)).collect();
            bar.set_message(format!(
                "asking the brokers about {} consumer groups",
                groups.len()
            ));
            let lags = ops::lag(&env.kafka()?, &aws, &groups).await?;
            bar.finish_and_clear();
            if cli.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&lags)?)?;
            } else {
                print_lag(out, &lags)?;
            }
        }
        Command::DeadLetters(Letters::List { consumer, pending }) => {
            bar.set_message("reading the dead-letter topic");
            let (letters, unreadable) = ops::dead_letters(&env.kafka()?, &aws).await?;
            bar.finish_and_clear();
            let wanted = consumer.as_deref().map(|c| (c.to_owned(), env.group(c)));
            let letters: Vec<_> = letters
                .into_iter()
                .filter(|l| !(*pending && l.replayed))
                .filter(|l| {
                    let consumer = &l.placed.letter.consumer;
                    wanted
                        .as_ref()
                        .is_none_or(|(name, group)| consumer == name || consumer == group)
                })
                .collect();
            if cli.json {
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
        }
        Command::DeadLetters(Letters::Show { id }) => {
            bar.set_message("reading the dead-letter topic");
            let (letters, _) = ops::dead_letters(&env.kafka()?, &aws).await?;
            bar.finish_and_clear();
            let Some(found) = letters.into_iter().find(|l| &l.placed.letter.id == id) else {
                bail!("no dead letter with id {id:?} (`tributary dead-letters list` shows them)");
            };
            let mut shown = serde_json::to_value(&found.placed.letter)?;
            shown["position"] =
                json!({"partition": found.placed.partition, "offset": found.placed.offset});
            shown["replayed"] = json!(found.replayed);
            shown["decoded"] = decoded(&shown["source"]);
            writeln!(out, "{}", serde_json::to_string_pretty(&shown)?)?;
        }
        Command::DeadLetters(Letters::Replay {
            consumer,
            streams,
            skip,
        }) => {
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
            let report = if consumer == CONSUMER_GROUP_SUFFIX {
                // The snapshots it writes keep the window the deployment's carry (whatever this shell's settings).
                let process = TransferProcess::over(events.clone(), SnapshotPolicy::from_env()?);
                redrive_topic(
                    &kafka,
                    &aws,
                    &ProcessTarget(&process),
                    &group,
                    &selection,
                    progress,
                )
                .await?
            } else {
                let model = cli::read_model(&bank_service::read_models(), consumer)
                    .map_err(|e| anyhow::anyhow!("{e} or {CONSUMER_GROUP_SUFFIX:?}"))?;
                let target = ReadModelTarget {
                    model: model.as_ref(),
                    projections: &projections,
                    events: &*events,
                };
                redrive_topic(&kafka, &aws, &target, &group, &selection, progress).await?
            };
            bar.finish_and_clear();
            if cli.json {
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
        }
        Command::Rebuild {
            projection,
            restart,
            page_size,
            max_pages,
            streams,
            skip,
        } => {
            let model = cli::read_model(&bank_service::read_models(), projection)
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
                let options = RebuildOptions {
                    page_size: *page_size,
                    max_pages: *max_pages,
                    restart: *restart,
                    skip: skip.iter().cloned().collect(),
                };
                match rebuild(model.as_ref(), &projections, &*events, options, show).await? {
                    RebuildOutcome::Completed(p) => (true, p),
                    RebuildOutcome::Interrupted(p) => (false, p),
                }
            } else {
                let p =
                    rebuild_streams(model.as_ref(), &projections, &*events, streams, show).await;
                (true, p)
            };
            bar.finish_and_clear();
            if cli.json {
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
            if !cli.json {
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
        }
        Command::Stream { id } => {
            bar.set_message(format!("reading {id}"));
            let (stream, events) = stream_events(&*events, id).await?;
            bar.finish_and_clear();
            if cli.json {
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
        }
    }
    Ok(())
}

/// The events of `id`: a stream id, or an aggregate id under each of the bank's stream prefixes in turn.
async fn stream_events(
    store: &dyn EventStore,
    id: &str,
) -> anyhow::Result<(String, Vec<AuditEvent>)> {
    let candidates: Vec<String> = if id.contains('-') && !is_bare_uuid(id) {
        vec![id.to_owned()]
    } else {
        ["account", "transfer"]
            .iter()
            .map(|p| format!("{p}-{id}"))
            .collect()
    };
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

fn is_bare_uuid(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

fn print_lag(out: &mut (dyn Write + Send), lags: &[ops::PartitionLag]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<40} {:>9} {:>10} {:>10} {:>8} {:>14}",
        "consumer group", "partition", "committed", "end", "behind", "oldest unread"
    )?;
    for l in lags {
        writeln!(
            out,
            "{:<40} {:>9} {:>10} {:>10} {:>8} {:>14}",
            l.consumer_group,
            l.partition,
            l.committed.map_or("-".into(), |c| c.to_string()),
            l.end,
            l.behind,
            l.oldest_unapplied_age_ms
                .map_or("-".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0)),
        )?;
    }
    let mut groups: Vec<&str> = lags.iter().map(|l| l.consumer_group.as_str()).collect();
    groups.dedup();
    for group in groups {
        let of = lags.iter().filter(|l| l.consumer_group == group);
        let behind: i64 = of.clone().map(|l| l.behind).sum();
        let expired: i64 = of.clone().map(|l| l.expired).sum();
        let oldest = of.filter_map(|l| l.oldest_unapplied_age_ms).max();
        match (behind, oldest) {
            (0, _) => writeln!(out, "{group}: up to date")?,
            (_, Some(ms)) => writeln!(
                out,
                "{group}: {behind} records behind, the oldest written {:.1} s ago",
                ms as f64 / 1000.0
            )?,
            (_, None) => writeln!(
                out,
                "{group}: {behind} records behind (the oldest could not be read in time)"
            )?,
        }
        if expired > 0 {
            writeln!(
                out,
                "{group}: WARNING {expired} records expired before it read them: `tributary rebuild` its read model"
            )?;
        }
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

/// `text` on one line, at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        flat.chars().take(max - 1).chain(['…']).collect()
    }
}

/// A spinner on stderr (drawn only on a terminal), with the elapsed time.
fn spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
