//! Dead letters end to end on the local stack: a record that can never apply (here, because a read-model item is
//! corrupt) becomes a dead letter instead of blocking its partition; after the fix, the documented re-drive
//! (`tributary dead-letters replay`, `tributary_consumer::redrive`) brings the projection to what the store says.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use bank_service::reads::BankReads;
use common::{post, stack};
use tributary_consumer::redrive::{redrive_topic, ReadModelTarget, Selection};
use tributary_dynamodb::DynamoDbEventStore;
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
    let summary = common::get_fresh(&http, &format!("{base}/accounts/{id}?min_version=2")).await;
    assert_eq!(summary.status, 200, "{summary:?}");

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
        tributary_testkit::EVENTUALLY,
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
    let statement = common::get_fresh(
        &http,
        &format!("{base}/accounts/{id}/statement?min_version=4"),
    )
    .await;
    assert_eq!(
        statement.status, 200,
        "the statement is not held up: {statement:?}"
    );

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
    let store = DynamoDbEventStore::shared(d.client(), &stack.events_table);
    let no_aws = aws_types::SdkConfig::builder().build();
    // The read model as `redrive account-summary` picks it.
    let summary = tributary_projections::find(&bank_service::read_models(), "account-summary")
        .expect("the bank keeps account summaries");
    let target = ReadModelTarget {
        model: summary.as_ref(),
        projections: &projections,
        events: &store,
    };
    let report = redrive_topic(
        &kafka,
        &no_aws,
        &target,
        &consumer,
        &Selection::all(),
        |_| {},
    )
    .await
    .unwrap();
    assert!(report.ours >= 1, "{report:?}");
    assert!(
        report.streams.contains(&format!("account-{id}")),
        "{report:?}"
    );
    assert_projections_match_the_store(&projections, &store, std::slice::from_ref(&id)).await;

    // A second run finds nothing new to re-drive.
    let again = redrive_topic(
        &kafka,
        &no_aws,
        &target,
        &consumer,
        &Selection::all(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(again.ours, 0, "{again:?}");
}

/// A consumer that fails on the streams in `broken` (an incurable letter) and records what it re-drove.
struct Flaky {
    broken: std::sync::Mutex<std::collections::BTreeSet<String>>,
    redriven: std::sync::Mutex<Vec<String>>,
}

impl tributary_consumer::redrive::Target for Flaky {
    fn reads(&self, _stream: &str) -> bool {
        true
    }

    async fn redrive(&self, stream: &str) -> Result<(), tributary_consumer::redrive::RedriveError> {
        if self.broken.lock().unwrap().contains(stream) {
            return Err(tributary_consumer::redrive::RedriveError::Process(
                "still broken".into(),
            ));
        }
        self.redriven.lock().unwrap().push(stream.to_owned());
        Ok(())
    }
}

/// One incurable letter does not block the others: before, `dead-letters replay` stopped at the first stream that
/// still failed and committed nothing, so every later run failed at the same place and no later letter was ever
/// re-driven. Now every stream is re-driven, the one that failed is reported with why and its letters are published
/// again (they wait for the next run), and the position is committed past the rest. `--skip` leaves a stream out
/// (its letters wait too); `--stream` retries one alone and commits nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incurable_letter_does_not_block_the_others() {
    use base64::Engine;
    let k = tributary_testkit::kafka();
    let kafka = KafkaConfig {
        dead_letter_topic: k.topic("dead-letters", 3).await,
        ..KafkaConfig::plaintext(&k.bootstrap, "unused", "unused")
    };
    let no_aws = aws_types::SdkConfig::builder().build();
    let group = format!("flaky-{}", uuid::Uuid::new_v4().simple());
    let letter = |stream: &str, offset: i64| {
        tributary_kafka::DeadLetter::kafka_record(
            &group,
            "events",
            0,
            offset,
            Some(base64::engine::general_purpose::STANDARD.encode(stream)),
            None,
            "could not apply".to_owned(),
        )
    };
    let streams = ["account-a", "account-b", "account-c", "account-d"].map(str::to_owned);
    let letters: Vec<_> = streams.iter().zip(0..).map(|(s, o)| letter(s, o)).collect();
    tributary_kafka::Publisher::connect(&kafka, &no_aws)
        .await
        .unwrap()
        .publish_dead_letters(&letters)
        .await
        .unwrap();
    let flaky = Flaky {
        broken: std::sync::Mutex::new(["account-b".to_owned()].into()),
        redriven: Default::default(),
    };
    let skip_d = Selection {
        skip: ["account-d".to_owned()].into(),
        ..Selection::all()
    };
    let report = redrive_topic(&kafka, &no_aws, &flaky, &group, &skip_d, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            report.streams.len(),
            report.failed.len(),
            report.skipped.len()
        ),
        (2, 1, 1),
        "{report:?}"
    );
    assert!(
        report.failed["account-b"].contains("still broken"),
        "{report:?}"
    );
    assert_eq!(*flaky.redriven.lock().unwrap(), ["account-a", "account-c"]);

    // A targeted retry of the broken stream, still broken: reported, nothing committed, nothing published.
    let only_b = Selection {
        only: Some(["account-b".to_owned()].into()),
        ..Selection::all()
    };
    let retried = redrive_topic(&kafka, &no_aws, &flaky, &group, &only_b, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (retried.streams.len(), retried.failed.len()),
        (0, 1),
        "{retried:?}"
    );

    // Fixed: the next full run re-drives exactly the letters that waited (b's, published again; d's, left out).
    flaky.broken.lock().unwrap().clear();
    let fixed = redrive_topic(&kafka, &no_aws, &flaky, &group, &Selection::all(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (fixed.ours, fixed.failed.len()),
        (2, 0),
        "only the waiting letters are read again: {fixed:?}"
    );
    assert_eq!(
        fixed.streams,
        ["account-b".to_owned(), "account-d".to_owned()].into()
    );
    let done = redrive_topic(&kafka, &no_aws, &flaky, &group, &Selection::all(), |_| {})
        .await
        .unwrap();
    assert_eq!(done.ours, 0, "{done:?}");
}
