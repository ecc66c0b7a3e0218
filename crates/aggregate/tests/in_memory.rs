//! The command loop given/when/then against the in-memory event store: what a domain's own tests can check with no
//! server — a retried key is a replay, a reused key and a stale `If-Match` are refused, racing writers all land,
//! snapshots bound the read, and a key outlives any number of other callers' commands. (The same loop against a
//! real DynamoDB API, with its faults, is `command_loop.rs` and `bounded_loads.rs`.)

mod support;

use std::sync::Arc;
use support::{counts_in, request_to, Recorded, Tally};
use tributary_aggregate::{
    CommandError, CommandHandler, CommandOutcome, CommandRequest, RetryPolicy, SnapshotPolicy,
};
use tributary_core::EventMetadata;
use tributary_store::{EventStore, InMemoryEventStore, NewEvent};
use uuid::Uuid;

/// A handler on a fresh in-memory store, and the store.
fn handler(snapshots: SnapshotPolicy) -> (CommandHandler<Tally>, Arc<dyn EventStore>) {
    let store: Arc<dyn EventStore> = Arc::new(InMemoryEventStore::new());
    let handler =
        CommandHandler::new(store.clone(), RetryPolicy::default()).with_snapshots(snapshots);
    (handler, store)
}

/// Given: `stream` already holds `count` events (written as history, not through the loop).
async fn given(store: &dyn EventStore, stream: &str, count: u64) {
    let events: Vec<NewEvent> = (1..=count)
        .map(|n| {
            let metadata = EventMetadata {
                event_id: Uuid::new_v4(),
                command_id: Uuid::new_v4(),
                correlation_id: "history".into(),
                causation_id: "history".into(),
                occurred_at: chrono::Utc::now(),
                actor: "history".into(),
                idempotency_key: None,
                request_fingerprint: None,
                traceparent: None,
            };
            NewEvent::from_domain(&Recorded { n }, metadata)
        })
        .collect();
    store.append(stream, 0, &events).await.unwrap();
}

fn stream() -> String {
    format!("tally-{}", Uuid::new_v4())
}

#[tokio::test]
async fn a_command_is_decided_on_the_history_and_appended() {
    let (handler, store) = handler(SnapshotPolicy::default());
    let s = stream();
    given(&*store, &s, 2).await;
    let outcome = handler
        .handle(&request_to(&s, 3, "alice", None))
        .await
        .unwrap();
    assert!(
        matches!(outcome, CommandOutcome::Committed { version: 5, ref events } if events.len() == 3)
    );
    assert_eq!(counts_in(&*store, &s).await, vec![1, 2, 3, 4, 5]);
    assert_eq!(handler.state(&s).await.unwrap(), (5, 5));
}

#[tokio::test]
async fn a_retry_with_the_same_key_is_a_replay_and_another_request_under_it_is_refused() {
    let (handler, store) = handler(SnapshotPolicy::default());
    let s = stream();
    let first = request_to(&s, 2, "alice", Some("key-1"));
    assert_eq!(handler.handle(&first).await.unwrap().version(), 2);
    // The same request again (a retry after a lost response), even as a new command id.
    let mut retry = first.clone();
    retry.context.command_id = Uuid::new_v4();
    assert_eq!(
        handler.handle(&retry).await.unwrap(),
        CommandOutcome::Replayed { version: 2 }
    );
    // Another request under the same key.
    let other = request_to(&s, 1, "alice", Some("key-1"));
    assert!(matches!(
        handler.handle(&other).await,
        Err(CommandError::IdempotencyKeyReused)
    ));
    // Another caller's same key is their own.
    assert_eq!(
        handler
            .handle(&request_to(&s, 1, "bob", Some("key-1")))
            .await
            .unwrap()
            .version(),
        3
    );
    assert_eq!(counts_in(&*store, &s).await, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_stale_if_match_is_refused_and_writes_nothing() {
    let (handler, store) = handler(SnapshotPolicy::default());
    let s = stream();
    given(&*store, &s, 3).await;
    let stale = CommandRequest {
        expected_version: Some(2),
        ..request_to(&s, 1, "alice", None)
    };
    assert!(matches!(
        handler.handle(&stale).await,
        Err(CommandError::PreconditionFailed {
            expected: 2,
            actual: 3
        })
    ));
    let current = CommandRequest {
        expected_version: Some(3),
        ..request_to(&s, 1, "alice", None)
    };
    assert_eq!(handler.handle(&current).await.unwrap().version(), 4);
    assert_eq!(counts_in(&*store, &s).await, vec![1, 2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_all_land_once_each() {
    let (handler, store) = handler(SnapshotPolicy::default());
    let s = stream();
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let (handler, s) = (handler.clone(), s.clone());
            tokio::spawn(async move {
                let request = request_to(&s, 1, &format!("writer-{i}"), Some("k"));
                handler.handle(&request).await.unwrap()
            })
        })
        .collect();
    for writer in writers {
        assert!(matches!(
            writer.await.unwrap(),
            CommandOutcome::Committed { .. }
        ));
    }
    // Each lost race was decided again on the new state: the counts are 1..=16, no gap, no repeat.
    assert_eq!(counts_in(&*store, &s).await, (1..=16).collect::<Vec<_>>());
}

#[tokio::test]
async fn snapshots_bound_what_a_command_reads() {
    let every = 5;
    let (handler, store) = handler(SnapshotPolicy { every, window: 8 });
    let s = stream();
    for _ in 0..23 {
        handler
            .handle(&request_to(&s, 1, "alice", None))
            .await
            .unwrap();
    }
    let tail = store.load_tail(&s, every as i32 + 1).await.unwrap();
    let (snapshot_version, _) = tail.snapshot.expect("a snapshot was written");
    assert_eq!(snapshot_version, 20);
    assert!(
        tail.items_read as u64 <= every + 1,
        "read {} items",
        tail.items_read
    );
    // The state from the snapshot is the state a full fold gives.
    assert_eq!(handler.state(&s).await.unwrap(), (23, 23));
    assert_eq!(counts_in(&*store, &s).await, (1..=23).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_key_outlives_any_number_of_other_callers_commands() {
    let (handler, store) = handler(SnapshotPolicy {
        every: 4,
        window: 3,
    });
    let s = stream();
    let mine = request_to(&s, 1, "owner", Some("withdraw-1"));
    handler.handle(&mine).await.unwrap();
    // Far more commands of others than the window of recent commands holds.
    for i in 0..20 {
        handler
            .handle(&request_to(&s, 1, &format!("stranger-{i}"), None))
            .await
            .unwrap();
    }
    assert_eq!(
        handler.handle(&mine).await.unwrap(),
        CommandOutcome::Replayed { version: 1 }
    );
    assert_eq!(counts_in(&*store, &s).await.len(), 21);
}
