//! Dead letters end to end on the local stack: a record that can never apply (here, because a read-model item is
//! corrupt) becomes a dead letter instead of blocking its partition; after the fix, the documented re-drive
//! (`tributary dead-letters replay`, `tributary_consumer::redrive`) brings the projection to what the store says.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use bank_service::reads::BankReads;
use common::{post, stack};
use std::time::Duration;
use tributary_consumer::redrive::{redrive_topic, ReadModelTarget};
use tributary_dynamodb::EventStore;
use tributary_kafka::KafkaConfig;
use tributary_projections::ProjectionStore;
use tributary_testkit::{dynamo, read_topic};
use tributary_tests::projection::assert_projections_match_the_store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_account_is_redriven_from_the_store_after_the_fix() {
    let stack = stack().await;
    let (http, base, d) = (reqwest::Client::new(), stack.base_url(), dynamo());
    let opened = post(
        &http,
        &format!("{base}/accounts"),
        &[],
        Some(r#"{"currency":"EUR"}"#),
    )
    .await;
    let id = opened.body["account_id"].as_str().unwrap().to_owned();
    let deposit = |amount: u64| {
        let (http, url) = (http.clone(), format!("{base}/accounts/{id}/deposits"));
        async move {
            let reply = post(&http, &url, &[], Some(&format!(r#"{{"amount":{amount}}}"#))).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        }
    };
    deposit(100).await;
    let summary = http
        .get(format!("{base}/accounts/{id}?min_version=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(summary.status(), 200);

    // A read-model item goes bad (a bug, a manual edit): the account's next events can never apply to it.
    let summary_key = [
        ("pk", AttributeValue::S(format!("account#{id}"))),
        ("sk", AttributeValue::S("summary".into())),
    ];
    let mut corrupt = d
        .client()
        .put_item()
        .table_name(&stack.projections_table)
        .item("version", AttributeValue::N("2".into()))
        .item("data", AttributeValue::S("{ not a summary".into()));
    for (name, value) in summary_key.clone() {
        corrupt = corrupt.item(name, value);
    }
    corrupt.send().await.unwrap();
    deposit(250).await;
    deposit(50).await;

    // They are dead-lettered — both copies of both events (the command path's and the relay's) — and the other
    // projections go on.
    let letters = read_topic(
        &stack.kafka_bootstrap,
        &stack.dead_letter_topic,
        Duration::from_secs(30),
        |r| r.len() >= 4,
    )
    .await;
    assert_eq!(letters.len(), 4, "{letters:?}");
    let consumer = letters[0].value["consumer"].as_str().unwrap().to_owned();
    assert!(consumer.ends_with("-account-summary"), "{consumer}");
    assert!(letters[0].value["error"]
        .as_str()
        .unwrap()
        .contains("corrupt"));
    let statement = http
        .get(format!("{base}/accounts/{id}/statement?min_version=4"))
        .send()
        .await
        .unwrap();
    assert_eq!(statement.status(), 200, "the statement is not held up");

    // The operator fixes the cause (removes the bad item) and re-drives the summary's dead letters.
    let mut delete = d
        .client()
        .delete_item()
        .table_name(&stack.projections_table);
    for (name, value) in summary_key {
        delete = delete.key(name, value);
    }
    delete.send().await.unwrap();
    let projections = ProjectionStore::new(d.client(), &stack.projections_table);
    assert_eq!(
        BankReads::new(projections.clone())
            .summary(&id)
            .await
            .unwrap(),
        None,
        "nothing repairs the summary by itself"
    );
    let kafka = KafkaConfig {
        dead_letter_topic: stack.dead_letter_topic.clone(),
        ..KafkaConfig::plaintext(&stack.kafka_bootstrap, &stack.events_topic, "unused")
    };
    let store = EventStore::new(d.client(), &stack.events_table);
    let no_aws = aws_types::SdkConfig::builder().build();
    // The read model as `redrive account-summary` picks it.
    let summary = tributary_projections::find(&bank_service::read_models(), "account-summary")
        .expect("the bank keeps account summaries");
    let target = ReadModelTarget {
        model: summary.as_ref(),
        projections: &projections,
        events: &store,
    };
    let report = redrive_topic(&kafka, &no_aws, &target, &consumer, |_| {})
        .await
        .unwrap();
    assert!(report.ours >= 1, "{report:?}");
    assert!(
        report.streams.contains(&format!("account-{id}")),
        "{report:?}"
    );
    assert_projections_match_the_store(&projections, &store, std::slice::from_ref(&id)).await;

    // A second run finds nothing new to re-drive.
    let again = redrive_topic(&kafka, &no_aws, &target, &consumer, |_| {})
        .await
        .unwrap();
    assert_eq!(again.ours, 0, "{again:?}");
}
