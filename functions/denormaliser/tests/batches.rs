//! The denormaliser handler on Lambda-shaped batches where good records travel with bad ones, against a real
//! DynamoDB API and a real Kafka protocol.
//!
//! Fault model: poison among good records (a record that can never apply must cost one dead letter, never the
//! batch), records of another aggregate on the same topic (skipped, never the batch), and transient failures
//! (throttling) that must fail the batch for a retry without publishing anything twice.

use aws_lambda_events::event::kafka::KafkaEvent;
use bank_account::views::AccountSummaries;
use bank_account::{AccountEvent, Amount, Currency, Principal};
use bank_service::reads::BankReads;
use std::sync::Arc;
use std::time::Duration;
use tributary_consumer::{default_consumer_group, Denormaliser};
use tributary_core::EventMetadata;
use tributary_dynamodb::{tables, DynamoDbEventStore};
use tributary_kafka::{KafkaConfig, LazyPublisher, Publisher};
use tributary_projections::{ProjectionStore, ReadModel};
use tributary_store::{EventStore, NewEvent, StoredEvent};
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
    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
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

/// A well-formed event of a stream that is not an account (a transfer's).
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
    let projection: Arc<dyn ReadModel> = Arc::new(AccountSummaries);
    Denormaliser {
        consumer_group: default_consumer_group(projection.name()),
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

/// An account event of a type no account has: it can never apply.
fn poison(template: &StoredEvent) -> RawRecord {
    let mut unknown = template.clone();
    unknown.event_type = "AccountFrozen".into();
    unknown.payload = r#"{"type":"AccountFrozen"}"#.into();
    RawRecord::of(&unknown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_costs_one_dead_letter_and_another_aggregates_record_is_skipped_not_the_batch() {
    let (a, b) = (account(3).await, account(2).await);
    let dead_letters = kafka().topic("dead-letters", 1).await;
    let projections = fresh_projections(dynamo().client()).await;
    let denormaliser = denormaliser(projections.clone(), &dead_letters).await;
    let mut records: Vec<RawRecord> = a.iter().map(RawRecord::of).collect();
    records.insert(2, poison(&a[1]));
    records.insert(4, not_an_account(&a[1]));
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
    let reads = BankReads::new(projections.clone());
    for events in [&a, &b] {
        let account = events[0].stream_id.trim_start_matches("account-");
        let summary = reads.summary(account).await.unwrap().unwrap();
        assert_eq!(
            summary.version,
            events.len() as u64,
            "every good event applied"
        );
    }
    let letters = read_topic(
        &kafka().bootstrap,
        &dead_letters,
        Duration::from_secs(6),
        |r| r.len() > 1,
    )
    .await;
    assert_eq!(
        letters.len(),
        1,
        "the poison record only, not the foreign one: {letters:?}"
    );
    let letter = &letters[0].value;
    assert!(
        letter["error"].as_str().unwrap().contains("AccountFrozen"),
        "{letter}"
    );
    assert_eq!(
        letter["source"]["offset"], 2,
        "the poison record's own coordinates"
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
        BankReads::new(projections)
            .summary(account)
            .await
            .unwrap()
            .unwrap()
            .version,
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
