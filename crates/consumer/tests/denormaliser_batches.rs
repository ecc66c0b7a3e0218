//! The denormaliser on Lambda-shaped batches where good records travel with bad ones, against a real DynamoDB API
//! and a real Kafka protocol, over the testkit's tally domain (nothing of the bank's: the shell is the kit's).
//!
//! Fault model: poison among good records (a record that can never apply must cost one dead letter, never the
//! batch), records of another aggregate on the same topic (skipped, never the batch), and transient failures
//! (throttling) that must fail the batch for a retry without publishing anything twice.

use aws_lambda_events::event::kafka::KafkaEvent;
use std::sync::Arc;
use std::time::Duration;
use tributary_consumer::{default_consumer_group, Denormaliser};
use tributary_core::Projection;
use tributary_dynamodb::{tables, DynamoDbEventStore};
use tributary_kafka::{KafkaConfig, LazyPublisher, Publisher};
use tributary_projections::{ProjectionStore, ReadModel};
use tributary_store::{EventStore, NewEvent, StoredEvent};
use tributary_testkit::tally::{TallyEvent, TallyTotals, Total, STREAM_PREFIX};
use tributary_testkit::{
    client_at, dynamo, kafka, kafka_batch_json, read_topic, ChaosProxy, Faults, RawRecord,
};
use uuid::Uuid;

/// A tally started and counted `counts` times (by 1, 2, ...), in the event store.
async fn tally(counts: u64) -> Vec<StoredEvent> {
    let d = dynamo();
    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
    let stream = format!("{STREAM_PREFIX}{}", Uuid::new_v4());
    let mut events = vec![TallyEvent::started("keeper")];
    events.extend((1..=counts).map(|by| TallyEvent::TallyCounted { by }));
    for (i, event) in events.iter().enumerate() {
        let new = NewEvent::from_domain(event, tributary_testkit::event_metadata("tester"));
        store.append(&stream, i as u64, &[new]).await.unwrap();
    }
    store.load(&stream).await.unwrap()
}

/// The total a tally's `events` fold to.
fn total_of(events: &[StoredEvent]) -> u64 {
    (1..events.len() as u64).sum()
}

/// A well-formed event of a stream that is not a tally.
fn not_a_tally(template: &StoredEvent) -> RawRecord {
    let mut foreign = template.clone();
    foreign.stream_id = format!("other-{}", Uuid::new_v4());
    RawRecord::of(&foreign)
}

/// A tally event of a type no tally has: it can never apply.
fn poison(template: &StoredEvent) -> RawRecord {
    let mut unknown = template.clone();
    unknown.event_type = "TallyFrozen".into();
    unknown.payload = r#"{"type":"TallyFrozen"}"#.into();
    RawRecord::of(&unknown)
}

fn batch(records: &[RawRecord]) -> KafkaEvent {
    serde_json::from_value(kafka_batch_json("events", records, 0)).unwrap()
}

async fn fresh_projections(client: aws_sdk_dynamodb::Client) -> ProjectionStore {
    let table = format!("test-tallies-{}", Uuid::new_v4().simple());
    tables::PROJECTIONS
        .ensure(&dynamo().client(), &table)
        .await
        .unwrap();
    ProjectionStore::new(client, &table)
}

async fn denormaliser(projections: ProjectionStore, dead_letters: &str) -> Denormaliser {
    let d = dynamo();
    let config = KafkaConfig {
        dead_letter_topic: dead_letters.to_owned(),
        ..KafkaConfig::plaintext(&kafka().bootstrap, "unused", "unused")
    };
    let projection: Arc<dyn ReadModel> = Arc::new(TallyTotals);
    Denormaliser {
        consumer_group: default_consumer_group(&projection.label()),
        projection,
        projections,
        events: DynamoDbEventStore::shared(d.client(), &d.events_table),
        dead_letters: LazyPublisher::ready(
            Publisher::connect(&config, &aws_types::SdkConfig::builder().build())
                .await
                .unwrap(),
        ),
    }
}

/// What reached the dead-letter topic: read for six seconds, or until more than one letter (one is expected).
async fn letters_on(topic: &str) -> Vec<tributary_testkit::ConsumedRecord> {
    read_topic(&kafka().bootstrap, topic, Duration::from_secs(6), |r| {
        r.len() > 1
    })
    .await
}

/// A tally's total and the version it reached, as the read model holds them.
async fn projected(projections: &ProjectionStore, events: &[StoredEvent]) -> Option<(u64, u64)> {
    let entity = Projection::entity(&TallyTotals, &events[0].stream_id).unwrap();
    let (state, version) = projections
        .checkpoint(&Projection::checkpoint_key(&TallyTotals, entity))
        .await
        .unwrap()?;
    let total: Total = serde_json::from_value(state).unwrap();
    Some((total.total, version))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_costs_one_dead_letter_and_another_aggregates_record_is_skipped_not_the_batch() {
    let (a, b) = (tally(3).await, tally(2).await);
    let dead_letters = kafka().topic("dead-letters", 1).await;
    let projections = fresh_projections(dynamo().client()).await;
    let denormaliser = denormaliser(projections.clone(), &dead_letters).await;
    let mut records: Vec<RawRecord> = a.iter().map(RawRecord::of).collect();
    records.insert(2, poison(&a[1]));
    records.insert(4, not_a_tally(&a[1]));
    records.extend(b.iter().map(RawRecord::of));

    let report = denormaliser
        .handle(&batch(&records))
        .await
        .expect("the batch succeeds: the poison record is dead-lettered, the foreign one skipped");
    assert_eq!(
        (
            report.records,
            report.streams,
            report.not_read,
            report.dead_lettered
        ),
        (records.len(), 2, 1, 1),
        "{report:?}"
    );
    for events in [&a, &b] {
        assert_eq!(
            projected(&projections, events).await,
            Some((total_of(events), events.len() as u64)),
            "every good event applied"
        );
    }
    let letters = letters_on(&dead_letters).await;
    assert_eq!(
        letters.len(),
        1,
        "the poison record only, not the foreign one: {letters:?}"
    );
    let letter = &letters[0].value;
    assert!(
        letter["error"].as_str().unwrap().contains("TallyFrozen"),
        "{letter}"
    );
    assert_eq!(
        letter["source"]["offset"], 2,
        "the poison record's own coordinates"
    );
    assert_eq!(letter["consumer"], "tributary-tally-totals");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_fails_the_batch_and_dead_letters_go_out_once() {
    let a = tally(2).await;
    let dead_letters = kafka().topic("dead-letters", 1).await;
    let proxy = ChaosProxy::start(&dynamo().endpoint, 7).await;
    let projections = fresh_projections(client_at(&proxy.url)).await;
    let denormaliser = denormaliser(projections.clone(), &dead_letters).await;
    let mut records: Vec<RawRecord> = a.iter().map(RawRecord::of).collect();
    records.insert(1, RawRecord::raw(&a[0].stream_id, b"{ not an envelope"));
    let batch = batch(&records);

    // DynamoDB throttles every projection write: the batch must fail (to be retried), publishing nothing yet.
    proxy.set(Faults {
        throttle: 1.0,
        operations: vec!["PutItem", "TransactWriteItems", "UpdateItem"],
        ..Faults::none()
    });
    assert!(
        denormaliser.handle(&batch).await.is_err(),
        "throttled: retry the batch"
    );
    assert!(proxy.counts().throttled > 0);
    // The retry succeeds.
    proxy.set(Faults::none());
    denormaliser.handle(&batch).await.unwrap();
    assert_eq!(
        projected(&projections, &a).await,
        Some((total_of(&a), a.len() as u64))
    );
    // One poison record, two deliveries of its batch: one dead letter.
    let letters = letters_on(&dead_letters).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
}
