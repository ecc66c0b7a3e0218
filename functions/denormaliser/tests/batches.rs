//! The denormaliser handler on Lambda-shaped batches where good records travel with bad ones, against a real
//! DynamoDB API and a real Kafka protocol.
//!
//! Fault model: poison among good records (a record that can never apply must cost one dead letter, never the
//! batch), and transient failures (throttling) that must fail the batch for a retry without publishing anything
//! twice.

use aws_lambda_events::event::kafka::KafkaEvent;
use bank_account::{AccountEvent, Amount, Currency, Principal};
use denormaliser_function::{default_consumer_group, Denormaliser};
use std::time::Duration;
use tributary_core::EventMetadata;
use tributary_dynamodb::{tables, EventStore, NewEvent, StoredEvent};
use tributary_kafka::{KafkaConfig, LazyPublisher, Publisher};
use tributary_projections::{Projection, ProjectionStore};
use tributary_testkit::{
    client_at, dynamo, kafka, kafka_batch_json, read_topic, ChaosProxy, Faults, RawRecord,
};
use uuid::Uuid;

fn metadata() -> EventMetadata {
    tributary_testkit::event_metadata("tester")
}

/// An account opened with `deposits` deposits, in the event store.
async fn account(deposits: u64) -> Vec<StoredEvent> {
    let d = dynamo();
    let store = EventStore::new(d.client(), &d.events_table);
    let stream = format!("account-{}", Uuid::new_v4());
    let mut domain = vec![AccountEvent::AccountOpened {
        owner: Principal::parse("batcher").unwrap(),
        currency: Currency::parse("EUR").unwrap(),
    }];
    domain.extend((1..=deposits).map(|n| AccountEvent::MoneyDeposited {
        amount: Amount::new(n).unwrap(),
        deposited_by: Principal::parse("batcher").unwrap(),
    }));
    for (i, event) in domain.iter().enumerate() {
        store
            .append(
                &stream,
                i as u64,
                &[NewEvent::from_domain(event, metadata())],
            )
            .await
            .unwrap();
    }
    store.load(&stream).await.unwrap()
}

/// A well-formed event of a stream that is not an account.
fn not_an_account(template: &StoredEvent) -> RawRecord {
    let mut foreign = template.clone();
    foreign.stream_id = format!("transfer-{}", Uuid::new_v4());
    RawRecord::of(&foreign)
}

fn batch(records: &[RawRecord]) -> KafkaEvent {
    serde_json::from_value(kafka_batch_json("events", records, 0)).unwrap()
}

async fn fresh_projections(client: aws_sdk_dynamodb::Client) -> ProjectionStore {
    let table = format!("test-batches-{}", Uuid::new_v4().simple());
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
    Denormaliser {
        projection: Projection::Summary,
        consumer_group: default_consumer_group(Projection::Summary),
        projections,
        events: EventStore::new(d.client(), &d.events_table),
        dead_letters: LazyPublisher::ready(
            Publisher::connect(&config, &aws_types::SdkConfig::builder().build())
                .await
                .unwrap(),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_of_another_aggregate_costs_one_dead_letter_not_the_batch() {
    let (a, b) = (account(3).await, account(2).await);
    let dead_letters = kafka().topic("dead-letters", 1).await;
    let projections = fresh_projections(dynamo().client()).await;
    let denormaliser = denormaliser(projections.clone(), &dead_letters).await;
    let mut records: Vec<RawRecord> = a.iter().map(RawRecord::of).collect();
    records.insert(2, not_an_account(&a[1]));
    records.extend(b.iter().map(RawRecord::of));

    denormaliser
        .handle(&batch(&records))
        .await
        .expect("the batch succeeds: the foreign record is dead-lettered");
    for events in [&a, &b] {
        let account = events[0].stream_id.trim_start_matches("account-");
        let summary = projections.summary(account).await.unwrap().unwrap();
        assert_eq!(
            summary.version,
            events.len() as u64,
            "every good event applied"
        );
    }
    let letters = read_topic(
        &kafka().bootstrap,
        &dead_letters,
        Duration::from_secs(20),
        |r| !r.is_empty(),
    )
    .await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0].value;
    assert!(
        letter["error"].as_str().unwrap().contains("not an account"),
        "{letter}"
    );
    assert_eq!(
        letter["source"]["offset"], 2,
        "the foreign record's own coordinates"
    );
    assert_eq!(letter["consumer"], "tributary-account-summary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_fails_the_batch_and_dead_letters_go_out_once() {
    let a = account(2).await;
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
    let account = a[0].stream_id.trim_start_matches("account-");
    assert_eq!(
        projections.summary(account).await.unwrap().unwrap().version,
        a.len() as u64
    );
    // One poison record, two deliveries of its batch: one dead letter.
    let letters = read_topic(
        &kafka().bootstrap,
        &dead_letters,
        Duration::from_secs(6),
        |r| r.len() > 1,
    )
    .await;
    assert_eq!(letters.len(), 1, "{letters:?}");
}
