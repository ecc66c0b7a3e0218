//! The event store against a real DynamoDB API (embedded dynoxide, or DynamoDB Local when
//! `AWS_ENDPOINT_URL_DYNAMODB` is set).

use chrono::Utc;
use tributary_core::EventMetadata;
use tributary_dynamodb::{EventStore, EventStoreError, NewEvent, MAX_EVENTS_PER_APPEND};
use tributary_testkit::dynamo;
use uuid::Uuid;

fn store() -> EventStore {
    let d = dynamo();
    EventStore::new(d.client(), &d.events_table)
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
async fn appends_and_loads_in_version_order_with_metadata() {
    let store = store();
    let s = stream();
    let first = event(1);
    assert_eq!(
        store
            .append(&s, 0, std::slice::from_ref(&first))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.append(&s, 1, &[event(2), event(3)]).await.unwrap(), 3);
    let loaded = store.load(&s).await.unwrap();
    assert_eq!(
        loaded.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(loaded[0].payload, first.payload);
    assert_eq!(loaded[0].metadata.event_id, first.metadata.event_id);
    assert_eq!(loaded[0].metadata.occurred_at, first.metadata.occurred_at);
    assert_eq!(store.load_after(&s, 2).await.unwrap().len(), 1);
    assert!(store.load(&stream()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_stale_writer_gets_a_typed_conflict_and_writes_nothing() {
    let store = store();
    let s = stream();
    store.append(&s, 0, &[event(1)]).await.unwrap();
    let err = store.append(&s, 0, &[event(9)]).await.unwrap_err();
    assert!(
        matches!(
            &err,
            EventStoreError::WrongExpectedVersion {
                expected: 0,
                actual_at_least: 1,
                ..
            }
        ),
        "{err:?}"
    );
    // A multi-event append that collides on its first item writes none of its items.
    let err = store
        .append(&s, 0, &[event(7), event(8), event(9)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, EventStoreError::WrongExpectedVersion { .. }),
        "{err:?}"
    );
    let loaded = store.load(&s).await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].payload, r#"{"n":1}"#);
}

#[tokio::test]
async fn one_append_holds_up_to_one_hundred_events_atomically() {
    let store = store();
    let s = stream();
    let hundred: Vec<_> = (0..MAX_EVENTS_PER_APPEND).map(event).collect();
    assert_eq!(store.append(&s, 0, &hundred).await.unwrap(), 100);
    let too_many: Vec<_> = (0..=MAX_EVENTS_PER_APPEND).map(event).collect();
    assert!(matches!(
        store.append(&s, 100, &too_many).await,
        Err(EventStoreError::TooManyEvents {
            count: 101,
            limit: 100
        })
    ));
    assert_eq!(store.load(&s).await.unwrap().len(), 100);
    // With a receipt (a keyed command), the receipt is the hundredth item: 99 events at most, said before sending.
    let receipt = tributary_dynamodb::Receipt {
        id: uuid::Uuid::new_v4().to_string(),
        stream_id: s.clone(),
        version: 200,
        fingerprint: "f".into(),
        written_at: chrono::Utc::now(),
        expires_at: None,
        rejection: None,
    };
    let hundred_more: Vec<_> = (0..MAX_EVENTS_PER_APPEND).map(event).collect();
    assert!(matches!(
        store
            .append_with_receipt(&s, 100, &hundred_more, None, Some(&receipt))
            .await,
        Err(EventStoreError::TooManyEvents {
            count: 100,
            limit: 99
        })
    ));
    assert_eq!(
        store
            .append_with_receipt(&s, 100, &hundred_more[..99], None, Some(&receipt))
            .await
            .unwrap(),
        199
    );
}

#[tokio::test]
async fn loads_streams_larger_than_one_query_page() {
    let d = dynamo();
    let (client, calls) = d.counted_client();
    let store = EventStore::new(client, &d.events_table);
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
    let store = EventStore::new(client, &d.events_table);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_share_a_version() {
    let store = store();
    let s = stream();
    let writers = (0..16).map(|i| {
        let (store, s) = (store.clone(), s.clone());
        tokio::spawn(async move {
            let mut won = 0;
            for _ in 0..5 {
                let version = store
                    .load(&s)
                    .await
                    .unwrap()
                    .last()
                    .map_or(0, |e| e.version);
                match store.append(&s, version, &[event(i)]).await {
                    Ok(_) => won += 1,
                    Err(EventStoreError::WrongExpectedVersion { .. }) => {}
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
            won
        })
    });
    let won: u64 = futures::future::join_all(writers)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .sum();
    let loaded = store.load(&s).await.unwrap();
    assert_eq!(loaded.len() as u64, won);
    assert!(loaded
        .iter()
        .enumerate()
        .all(|(i, e)| e.version == i as u64 + 1));
}
