//! Every `sam local invoke` fixture in `events/` is deserialised exactly as Lambda would and run through its
//! function's handler against the embedded stack, so the fixtures cannot rot.

mod common;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::kafka::KafkaEvent;
use axum::body::Body;
use bank_service::transfers::{TransferProcess, CONSUMER_GROUP};
use command_function::{CommandService, PublishFaults};
use http_body_util::BodyExt;
use query_function::QueryService;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;
use tributary_aggregate::SnapshotPolicy;
use tributary_consumer::reactor::Reactor;
use tributary_consumer::{default_consumer_group, Denormaliser};
use tributary_dynamodb::DynamoDbEventStore;
use tributary_kafka::{KafkaConfig, LazyPublisher, Publisher};
use tributary_projections::{ProjectionStore, ReadModel};
use tributary_testkit::{dynamo, kafka};

fn events_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../events"))
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(events_dir().join(name))
        .unwrap_or_else(|e| panic!("events/{name}: {e}"))
}

/// The expected status of each HTTP fixture, in the order they run (open first: the others address its account;
/// the queries after the denormaliser batch).
const HTTP_FIXTURES: &[(&str, u16)] = &[
    ("command-open-account.json", 201),
    ("command-open-second-account.json", 201),
    ("command-deposit.json", 200),
    ("command-withdraw-insufficient-funds.json", 422),
    ("command-close-balance-not-zero.json", 422),
    ("command-malformed-json.json", 400),
    ("command-request-transfer.json", 202),
    ("command-create-standing-order.json", 201),
    ("query-account.json", 200),
    ("query-statement.json", 200),
    ("query-my-accounts.json", 200),
    ("query-transfer.json", 200),
    ("query-standing-orders.json", 200),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_runs_through_its_handler() {
    let config = common::test_config().await;
    let d = dynamo();
    let kafka_config = KafkaConfig {
        dead_letter_topic: config.dead_letter_topic.clone(),
        ..KafkaConfig::plaintext(
            &kafka().bootstrap,
            &config.events_topic,
            &config.rejections_topic,
        )
    };
    let no_aws = aws_types::SdkConfig::builder().build();
    let publisher = Publisher::connect(&kafka_config, &no_aws).await.unwrap();
    let projections = ProjectionStore::new(d.client(), &d.projections_table);
    let commands = CommandService::new(d.client(), &d.events_table).with_publisher(
        LazyPublisher::ready(publisher.clone()),
        PublishFaults::default(),
    );
    let queries = QueryService::new(
        projections.clone(),
        DynamoDbEventStore::shared(d.client(), &d.events_table),
        b"fixture-secret",
    );
    let api = command_function::routes(commands).merge(query_function::routes(queries));
    let denormaliser = |projection: Arc<dyn ReadModel>| Denormaliser {
        consumer_group: default_consumer_group(&projection.label()),
        projection,
        projections: projections.clone(),
        events: DynamoDbEventStore::shared(d.client(), &d.events_table),
        dead_letters: LazyPublisher::ready(publisher.clone()),
    };
    let mut exercised = BTreeSet::new();
    let mut schedule_id = String::new();

    for (name, expected) in HTTP_FIXTURES {
        // The Kafka batch after the commands and before the queries: the denormalisers read what it names from the
        // event store (which the command fixtures wrote), and the query fixtures read what they projected.
        if name.starts_with("query-") && !exercised.contains("denormaliser-batch.json") {
            let batch: KafkaEvent =
                serde_json::from_str(&fixture("denormaliser-batch.json")).unwrap();
            // Two events of one account; the transfers read model skips them (not a stream it reads).
            let batch_stream = "account-7e3a27e3-0706-5af8-a594-8f1b359d1f44";
            for projection in bank_service::read_models() {
                let reads = projection.entity(batch_stream).is_some();
                let name = projection.label();
                let report = denormaliser(projection).handle(&batch).await.unwrap();
                assert_eq!((report.records, report.dead_lettered), (2, 0), "{name}");
                assert_eq!(
                    (report.streams, report.not_read),
                    if reads { (1, 0) } else { (0, 2) },
                    "{name}"
                );
                assert_eq!(
                    report.ahead_of_store, 0,
                    "the store holds what the batch names"
                );
            }
            exercised.insert("denormaliser-batch.json".to_owned());
            let poison: KafkaEvent =
                serde_json::from_str(&fixture("denormaliser-poison-record.json")).unwrap();
            assert_eq!(
                denormaliser(Arc::new(bank_account::views::AccountSummaries))
                    .handle(&poison)
                    .await
                    .unwrap()
                    .dead_lettered,
                1
            );
            exercised.insert("denormaliser-poison-record.json".to_owned());

            // The transfer the command fixture requested: the process manager carries it out (the teller's first
            // account is debited, its second credited), then the transfers read model shows it.
            let batch: KafkaEvent =
                serde_json::from_str(&fixture("transfer-process-batch.json")).unwrap();
            let events = DynamoDbEventStore::shared(d.client(), &d.events_table);
            let process = Reactor {
                manager: TransferProcess::over(events, SnapshotPolicy::default()),
                consumer_group: CONSUMER_GROUP.to_owned(),
                dead_letters: LazyPublisher::ready(publisher.clone()),
            };
            let report = process.handle(&batch).await.unwrap();
            assert_eq!((report.streams, report.dead_lettered), (1, 0), "{report:?}");
            let transfers = denormaliser(Arc::new(bank_account::views::Transfers))
                .handle(&batch)
                .await
                .unwrap();
            assert_eq!((transfers.streams, transfers.dead_lettered), (1, 0));
            exercised.insert("transfer-process-batch.json".to_owned());

            // The standing order the command fixture created, in the scheduler's due index (as the schedules
            // denormaliser would fold it).
            let events = DynamoDbEventStore::shared(d.client(), &d.events_table);
            let stream = format!(
                "{}{schedule_id}",
                tributary_scheduler::schedule::STREAM_PREFIX
            );
            tributary_projections::rebuild_stream(
                &tributary_scheduler::ScheduleViews,
                &projections,
                &*events,
                &stream,
            )
            .await
            .unwrap();
        }
        let request = lambda_http::request::from_str(&fixture(name))
            .unwrap_or_else(|e| panic!("events/{name}: {e}"));
        let response = api.clone().oneshot(request.map(Body::new)).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            status,
            *expected,
            "events/{name}: {}",
            String::from_utf8_lossy(&body)
        );
        if *name == "query-transfer.json" {
            let transfer: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                (
                    &transfer["status"],
                    &transfer["failed_at"],
                    &transfer["amount"]
                ),
                (&json!("completed"), &serde_json::Value::Null, &json!(250)),
                "{transfer}"
            );
        }
        if *name == "command-create-standing-order.json" {
            let created: serde_json::Value = serde_json::from_slice(&body).unwrap();
            schedule_id = created["schedule_id"].as_str().unwrap().to_owned();
        }
        if *name == "query-standing-orders.json" {
            let listing: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let order = &listing["items"][0];
            assert_eq!(
                (
                    &order["schedule_id"],
                    &order["status"],
                    &order["occurrences"]
                ),
                (&json!(schedule_id), &json!("active"), &json!(0)),
                "{listing}"
            );
            // What EventBridge Scheduler sends the scheduler function, and one sweep at the first occurrence's time:
            // it is sent (a transfer requested as the teller), once.
            let _: serde_json::Value =
                serde_json::from_str(&fixture("scheduler-tick.json")).unwrap();
            let first: chrono::DateTime<chrono::Utc> =
                order["next_at"].as_str().unwrap().parse().unwrap();
            let events = DynamoDbEventStore::shared(d.client(), &d.events_table);
            let scheduler = tributary_scheduler::Scheduler::new(
                events.clone(),
                SnapshotPolicy::default(),
                &projections,
                app::dispatch(events, SnapshotPolicy::default()),
            );
            let at = first + chrono::Duration::minutes(1);
            let report = tributary_consumer::lambda::sweep_now(&scheduler, at)
                .await
                .unwrap();
            assert_eq!((report.sent, report.failed), (1, 0), "{report:?}");
            exercised.insert("scheduler-tick.json".to_owned());
        }
        if *name == "query-my-accounts.json" {
            // The request also carries a forged bearer token for "mallory": in Lambda only the authorizer's
            // principal counts, so the teller's account is listed.
            let listing: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                listing["items"][0]["owner"], "arn:aws:sts::123456789012:assumed-role/teller",
                "{listing}"
            );
        }
        exercised.insert((*name).to_owned());
    }

    // The caller API Gateway authenticated is each event's actor: the teller role opened the account and deposited
    // into it from another session (one principal: the session name is dropped); the transfer's debit was sent as
    // its requester, the teller.
    let deposit: serde_json::Value =
        serde_json::from_str(&fixture("command-deposit.json")).unwrap();
    let account = deposit["rawPath"]
        .as_str()
        .and_then(|path| path.split('/').nth(2))
        .unwrap();
    let stream = bank_account::AccountId::parse(account).unwrap().stream_id();
    let actors: Vec<(String, String)> = DynamoDbEventStore::shared(d.client(), &d.events_table)
        .load(&stream)
        .await
        .unwrap()
        .into_iter()
        .map(|event| (event.event_type, event.metadata.actor))
        .collect();
    let teller = "arn:aws:sts::123456789012:assumed-role/teller";
    assert_eq!(
        actors,
        [
            ("AccountOpened".to_owned(), teller.to_owned()),
            ("MoneyDeposited".to_owned(), teller.to_owned()),
            ("TransferSent".to_owned(), teller.to_owned()),
        ]
    );

    let stream: StreamEvent = serde_json::from_str(&fixture("relay-stream-batch.json")).unwrap();
    let response = relay_function::relay(&publisher, stream).await;
    assert!(response.batch_item_failures.is_empty());
    exercised.insert("relay-stream-batch.json".to_owned());

    let env: serde_json::Value = serde_json::from_str(&fixture("env.json")).unwrap();
    assert!(env
        .as_object()
        .is_some_and(|functions| functions.contains_key("CommandFunction")));
    exercised.insert("env.json".to_owned());

    let on_disk: BTreeSet<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(on_disk, exercised, "every fixture in events/ is exercised");
}
