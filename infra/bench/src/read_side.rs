//! The read side: a denormaliser applying a 100-event batch over 10 accounts (as the MSK event source mapping
//! delivers it) against the raw rate of conditional `UpdateItem`s a naive per-event projector would make; and the
//! command-to-query lag on a whole local stack over the same services.

use crate::setup::{stored_history, Services};
use aws_lambda_events::event::kafka::KafkaEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use bench_core::stats::{ms, percentile};
use bench_core::Cell;
use devstack::{Devstack, DevstackConfig, DynamoSource, KafkaSource};
use futures::stream::{self, StreamExt};
use std::time::{Duration, Instant};
use tributary_consumer::{Denormaliser, CONCURRENT_STREAMS};
use tributary_dynamodb::DynamoDbEventStore;
use tributary_kafka::LazyPublisher;
use tributary_projections::ProjectionStore;
use tributary_store::StoredEvent;
use tributary_testkit::{kafka_batch_json, seed_history, RawRecord};

/// Accounts in a batch, and events per account.
const ACCOUNTS_PER_BATCH: usize = 10;
const EVENTS_PER_ACCOUNT: u64 = 10;

/// A batch's accounts, written to the store, and the batch that says so.
async fn batch(services: &Services) -> anyhow::Result<KafkaEvent> {
    let client = services.client();
    let mut records = Vec::new();
    for _ in 0..ACCOUNTS_PER_BATCH {
        let stream = format!("account-{}", uuid::Uuid::new_v4());
        let history: Vec<StoredEvent> = stored_history(&stream, EVENTS_PER_ACCOUNT);
        records.extend(history.iter().map(RawRecord::of));
        let events = history.into_iter().map(|e| tributary_store::NewEvent {
            event_type: e.event_type,
            schema_version: e.schema_version,
            payload: e.payload,
            metadata: e.metadata,
        });
        seed_history(&client, &services.events_table, &stream, 1, events).await?;
    }
    Ok(serde_json::from_value(kafka_batch_json(
        &services.events_topic,
        &records,
        0,
    ))?)
}

fn cell(system: &str, per_batch: &mut [Duration], events: u64) -> Cell {
    per_batch.sort();
    let total: Duration = per_batch.iter().sum();
    Cell {
        system: system.to_owned(),
        scenario: format!("batches of {events} events over {ACCOUNTS_PER_BATCH} accounts"),
        concurrency: CONCURRENT_STREAMS,
        done: per_batch.len() as u64 * events,
        seconds: total.as_secs_f64(),
        per_second: (per_batch.len() as u64 * events) as f64 / total.as_secs_f64(),
        p50_ms: ms(percentile(per_batch, 0.5)),
        p99_ms: ms(percentile(per_batch, 0.99)),
        ..Cell::default()
    }
}

/// Events per second through each projection's denormaliser, batch after batch of fresh accounts; and the raw
/// conditional `UpdateItem` rate on the same number of items: one guarded write per event, accounts in parallel
/// as the denormaliser takes them, each account's events in order.
pub async fn denormalisers(
    services: &Services,
    batches: usize,
    progress: &impl Fn(&str),
) -> anyhow::Result<Vec<Cell>> {
    let events = ACCOUNTS_PER_BATCH as u64 * EVENTS_PER_ACCOUNT;
    let client = services.client();
    let mut cells = Vec::new();
    // The account read models (the batches hold account events only).
    for projection in bank_service::read_models().into_iter().filter(|m| {
        m.entity("account-00000000-0000-0000-0000-000000000000")
            .is_some()
    }) {
        progress(&format!(
            "denormaliser {}: {batches} batches",
            projection.label()
        ));
        let name = projection.label();
        let denormaliser = Denormaliser {
            projection,
            consumer_group: format!("bench-{name}"),
            projections: ProjectionStore::new(client.clone(), &services.projections_table),
            events: DynamoDbEventStore::shared(client.clone(), &services.events_table),
            dead_letters: LazyPublisher::ready(services.publisher().await?),
        };
        let mut took = Vec::new();
        for _ in 0..batches {
            let batch = batch(services).await?;
            let started = Instant::now();
            let report = denormaliser.handle(&batch).await?;
            took.push(started.elapsed());
            anyhow::ensure!(
                report.records as u64 == events
                    && report.dead_lettered == 0
                    && report.ahead_of_store == 0,
                "{}: {report:?}",
                name
            );
        }
        cells.push(cell(&format!("denormaliser ({})", name), &mut took, events));
    }
    progress(&format!("raw conditional UpdateItem: {batches} batches"));
    let mut took = Vec::new();
    for _ in 0..batches {
        let run = uuid::Uuid::new_v4();
        let started = Instant::now();
        let results: Vec<anyhow::Result<()>> = stream::iter(0..ACCOUNTS_PER_BATCH)
            .map(|account| {
                let client = client.clone();
                let table = services.projections_table.clone();
                async move {
                    for version in 1..=EVENTS_PER_ACCOUNT {
                        client
                            .update_item()
                            .table_name(&table)
                            .key("pk", AttributeValue::S(format!("raw-{run}-{account}")))
                            .key("sk", AttributeValue::S("summary".into()))
                            .update_expression("SET #v = :v, #d = :d")
                            .condition_expression("attribute_not_exists(#v) OR #v < :v")
                            .expression_attribute_names("#v", "version")
                            .expression_attribute_names("#d", "data")
                            .expression_attribute_values(
                                ":v",
                                AttributeValue::N(version.to_string()),
                            )
                            .expression_attribute_values(
                                ":d",
                                AttributeValue::S(format!(
                                    r#"{{"balance":{version},"currency":"EUR"}}"#
                                )),
                            )
                            .send()
                            .await?;
                    }
                    Ok(())
                }
            })
            .buffer_unordered(CONCURRENT_STREAMS)
            .collect()
            .await;
        took.push(started.elapsed());
        results.into_iter().collect::<anyhow::Result<()>>()?;
    }
    cells.push(cell("raw conditional UpdateItem", &mut took, events));
    Ok(cells)
}

/// Command-to-query lag: a whole local stack (relay, denormalisers, APIs) on the run's services, with tables and
/// topics of its own.
pub async fn lag(
    services: &Services,
    commands: usize,
    progress: &impl Fn(&str),
) -> anyhow::Result<Cell> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let k = tributary_testkit::kafka();
    let stack = Devstack::start(DevstackConfig {
        dynamo: DynamoSource::External(services.endpoint.clone()),
        events_table: format!("bench-lag-events-{run}"),
        projections_table: format!("bench-lag-projections-{run}"),
        kafka: KafkaSource::External(services.kafka_bootstrap.clone()),
        events_topic: k
            .topic("bench-lag-events", devstack::TOPIC_PARTITIONS)
            .await,
        rejections_topic: k
            .topic("bench-lag-rejections", devstack::TOPIC_PARTITIONS)
            .await,
        dead_letter_topic: k
            .topic("bench-lag-dead-letters", devstack::TOPIC_PARTITIONS)
            .await,
        mapping: devstack::kafka_mapping::MappingSettings {
            group_prefix: format!("bench-lag-{run}"),
            ..Default::default()
        },
        ..DevstackConfig::embedded("127.0.0.1:0".parse()?)
    })
    .await?;
    progress(&format!("command-to-query lag: {commands} commands"));
    let lag = devstack::lag::measure(&stack, commands, 20, |_| {}).await;
    stack.stop().await;
    let mut lag = lag?;
    lag.visible_after.sort();
    lag.command_latencies.sort();
    let mut cell = Cell {
        system: "command to query".into(),
        scenario: "visible in GET /accounts/{id} after the command's response".into(),
        concurrency: 1,
        done: lag.visible_after.len() as u64,
        p50_ms: ms(percentile(&lag.visible_after, 0.5)),
        p99_ms: ms(percentile(&lag.visible_after, 0.99)),
        ..Cell::default()
    };
    cell.extra.insert(
        "command p50 ms".into(),
        ms(percentile(&lag.command_latencies, 0.5)),
    );
    Ok(cell)
}
