//! What the DynamoDB event store does beyond the contract every store passes (`contract.rs`): how many requests
//! it sends, DynamoDB's pages and item size. Against a real DynamoDB API (embedded dynoxide, or DynamoDB Local when
//! `AWS_ENDPOINT_URL_DYNAMODB` is set).

use chrono::Utc;
use tributary_core::EventMetadata;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_store::{EventStore, EventStoreError, NewEvent};
use tributary_testkit::dynamo;
use uuid::Uuid;

fn store() -> DynamoDbEventStore {
    let d = dynamo();
    DynamoDbEventStore::new(d.client(), &d.events_table)
}

fn stream() -> String {
    format!("test-{}", Uuid::new_v4())
}

fn event(n: usize) -> NewEvent {
    event_with_payload(format!(r#"{{"n":{n}}}"#))
}

fn event_with_payload(payload: String) -> NewEvent {
    NewEvent {
        event_type: "Tested".into(),
        schema_version: 1,
        payload,
        metadata: EventMetadata {
            event_id: Uuid::new_v4(),
            command_id: Uuid::new_v4(),
            correlation_id: "correlation".into(),
            causation_id: "cause".into(),
            occurred_at: Utc::now(),
            actor: "test".into(),
            idempotency_key: None,
            request_fingerprint: None,
            traceparent: None,
        },
    }
}

#[tokio::test]
async fn loads_streams_larger_than_one_query_page() {
    let d = dynamo();
    let (client, calls) = d.counted_client();
    let store = DynamoDbEventStore::new(client, &d.events_table);
    let s = stream();
    // 30 events of ~100 KB: about 3 MB, three times DynamoDB's 1 MB page.
    let big =
        |n: usize| event_with_payload(format!(r#"{{"n":{n},"pad":"{}"}}"#, "x".repeat(100_000)));
    for batch in 0..3 {
        let events: Vec<_> = (0..10).map(|i| big(batch * 10 + i)).collect();
        store
            .append(&s, (batch * 10) as u64, &events)
            .await
            .unwrap();
    }
    calls.clear();
    let loaded = store.load(&s).await.unwrap();
    assert_eq!(loaded.len(), 30);
    assert!(loaded
        .iter()
        .enumerate()
        .all(|(i, e)| e.version == i as u64 + 1));
    assert!(
        calls.count("Query") >= 3,
        "expected several pages, saw {:?}",
        calls.operations()
    );
}

#[tokio::test]
async fn a_single_event_append_is_one_conditional_put() {
    let d = dynamo();
    let (client, calls) = d.counted_client();
    let store = DynamoDbEventStore::new(client, &d.events_table);
    let s = stream();
    store.append(&s, 0, &[event(1)]).await.unwrap();
    assert_eq!(calls.operations(), vec!["PutItem"]);
    calls.clear();
    store.load(&s).await.unwrap();
    assert_eq!(calls.operations(), vec!["Query"]);
}

#[tokio::test]
async fn oversized_events_are_refused_with_a_typed_error() {
    let store = store();
    let s = stream();
    let err = store
        .append(
            &s,
            0,
            &[event_with_payload(format!(
                r#""{}""#,
                "x".repeat(401 * 1024)
            ))],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, EventStoreError::ItemTooLarge { version: 1, .. }),
        "{err:?}"
    );
    assert!(store.load(&s).await.unwrap().is_empty());
}
