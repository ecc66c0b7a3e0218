//! Building a new read-model version from the event store (`tributary read-models build`): how fast, and what it
//! costs in DynamoDB units per million events — the figures an operator needs before starting one in production.
//!
//! Account streams are written straight into the run's events table, then version 2 of the statement is built from
//! them with the CLI's code path (`tributary_projections::rebuild`, pages of 100). The rate is events read per
//! second of the build. The units are computed from the items as stored, by DynamoDB's on-demand rules: the scan
//! for first events reads every item of the events table (eventually consistent: half a unit per 4 KB); each stream
//! is loaded by one consistent query (a unit per 4 KB of its items); each transaction writes the checkpoint and up
//! to 99 rows at two units per KB of each item.

use crate::setup::{seed_accounts, Services};
use aws_sdk_dynamodb::types::AttributeValue;
use bank_account::views::StatementsV2;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_projections::{rebuild, ProjectionStore, RebuildOptions, RebuildOutcome};
use tributary_projections::{ReadModel, TAG_ATTRIBUTE};

/// What one build measured.
#[derive(Debug, Serialize)]
pub struct BuildCost {
    pub streams: u64,
    pub events: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    /// Bytes of the events table's items (events and snapshots).
    pub events_table_bytes: u64,
    /// Bytes of the version's items written (lines and checkpoints).
    pub written_bytes: u64,
    pub scan_read_units: f64,
    pub load_read_units: f64,
    pub write_units: f64,
    /// All units per million events built.
    pub read_units_per_million_events: f64,
    pub write_units_per_million_events: f64,
}

/// Seed `streams` account streams of `length` events and build the statement's version 2 from them.
pub async fn measure(
    services: &Services,
    streams: usize,
    length: u64,
    progress: &impl Fn(&str),
) -> anyhow::Result<BuildCost> {
    progress(&format!(
        "version build: seeding {streams} streams of {length} events"
    ));
    seed_accounts(services, streams, length).await?;
    let client = services.client();
    let store = DynamoDbEventStore::shared(client.clone(), &services.events_table);
    let projections = ProjectionStore::new(client.clone(), &services.projections_table);
    progress("version build: building statement@2 from the store");
    let started = Instant::now();
    let outcome = rebuild(
        &StatementsV2,
        &projections,
        &*store,
        RebuildOptions::default(),
        |_| {},
    )
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let RebuildOutcome::Completed(done) = outcome else {
        anyhow::bail!("the build did not complete: {outcome:?}");
    };
    anyhow::ensure!(done.failed.is_empty(), "streams failed: {:?}", done.failed);

    // The events table as stored, per stream.
    let mut per_stream: BTreeMap<String, u64> = BTreeMap::new();
    for item in scan(services, &services.events_table, None).await? {
        let stream = item
            .get("stream_id")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        *per_stream.entry(stream).or_default() += item_size(&item);
    }
    let events_table_bytes: u64 = per_stream.values().sum();
    let scan_read_units = (events_table_bytes as f64 / 4096.0).ceil() * 0.5;
    let load_read_units: f64 = per_stream
        .values()
        .map(|bytes| (*bytes as f64 / 4096.0).ceil())
        .sum();
    // The version's items as written: every line once; the checkpoint once per transaction (99 rows each).
    let label = StatementsV2.label();
    let mut checkpoints = HashMap::new();
    let mut lines_per_partition: HashMap<String, u64> = HashMap::new();
    let (mut written_bytes, mut write_units) = (0u64, 0f64);
    for item in scan(services, &services.projections_table, Some(&label)).await? {
        let pk = item
            .get("pk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let sk = item
            .get("sk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let size = item_size(&item);
        if sk.starts_with('~') {
            checkpoints.insert(pk, size);
        } else {
            *lines_per_partition.entry(pk).or_default() += 1;
            written_bytes += size;
            write_units += 2.0 * (size as f64 / 1024.0).ceil();
        }
    }
    for (pk, size) in &checkpoints {
        let lines = lines_per_partition.get(pk).copied().unwrap_or(0);
        let transactions = lines.div_ceil(99).max(1);
        written_bytes += size * transactions;
        write_units += transactions as f64 * 2.0 * (*size as f64 / 1024.0).ceil();
    }
    let events = done.events;
    let million = |units: f64| units / events.max(1) as f64 * 1_000_000.0;
    Ok(BuildCost {
        streams: done.streams,
        events,
        seconds,
        events_per_second: events as f64 / seconds,
        events_table_bytes,
        written_bytes,
        scan_read_units,
        load_read_units,
        write_units,
        read_units_per_million_events: million(scan_read_units + load_read_units),
        write_units_per_million_events: million(write_units),
    })
}

/// Every item of `table` (only those tagged `tag`, when given).
async fn scan(
    services: &Services,
    table: &str,
    tag: Option<&str>,
) -> anyhow::Result<Vec<HashMap<String, AttributeValue>>> {
    let mut request = services.client().scan().table_name(table);
    if let Some(tag) = tag {
        request = request
            .filter_expression("#rm = :rm")
            .expression_attribute_names("#rm", TAG_ATTRIBUTE)
            .expression_attribute_values(":rm", AttributeValue::S(tag.to_owned()));
    }
    let mut pages = request.into_paginator().send();
    let mut items = Vec::new();
    while let Some(page) = pages.next().await {
        items.extend(page?.items().iter().cloned());
    }
    Ok(items)
}

/// An item's size as DynamoDB bills it: attribute names and values (numbers about one byte per two digits).
fn item_size(item: &HashMap<String, AttributeValue>) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(s) => s.len() as u64,
        AttributeValue::N(n) => n.len().div_ceil(2) as u64 + 1,
        AttributeValue::B(b) => b.as_ref().len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() as u64 + value_size(v) + 1)
                .sum::<u64>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|v| value_size(v) + 1).sum::<u64>(),
        AttributeValue::Ss(ss) => ss.iter().map(|s| s.len() as u64).sum(),
        AttributeValue::Ns(ns) => ns.iter().map(|n| n.len().div_ceil(2) as u64 + 1).sum(),
        AttributeValue::Bs(bs) => bs.iter().map(|b| b.as_ref().len() as u64).sum(),
        _ => 0,
    }
}
