//! A command costs the same on day one and in year ten: loads read back only to the newest snapshot, against a real
//! DynamoDB API. Bounded reads at 50,000 events (counted), decisions equal to a full fold over random histories and
//! snapshot intervals, the idempotency window on both sides of its boundary, and snapshots of an old state shape
//! ignored.

mod support;

use proptest::prelude::*;
use support::{request_to, Never, Recorded, Tally};
use tributary_aggregate::{
    CommandError, CommandHandler, CommandOutcome, CommandRequest, RetryPolicy, SnapshotPolicy,
};
use tributary_core::Decider;
use tributary_dynamodb::tables::{self, TableSpec};
use tributary_dynamodb::{snapshot_of, EventStore, NewEvent};
use tributary_testkit::{dynamo, event_metadata, seed_history};
use uuid::Uuid;

/// The same events, a new state shape: the state is now ten per event. A snapshot of `Tally`'s shape must not be
/// read as one of these.
struct TallyByTens;

impl Decider for TallyByTens {
    type State = u64;
    type Command = u64;
    type Event = Recorded;
    type Rejection = Never;
    const STATE_SHAPE: u32 = 2;

    fn initial() -> u64 {
        0
    }
    fn evolve(state: u64, _: &Recorded) -> u64 {
        state + 10
    }
    fn decide(state: &u64, count: &u64) -> Result<Vec<Recorded>, Never> {
        Ok((1..=*count).map(|i| Recorded { n: state + i }).collect())
    }
}

fn request(stream: &str, count: u64, key: Option<&str>) -> CommandRequest<u64> {
    request_to(stream, count, "alice", key)
}

/// An events table of this binary's own, without a DynamoDB stream: nothing here reads one, and dynoxide 3.2.0
/// scans every stream record so far on each write to a table with a stream (`next_stream_sequence_number`), which
/// makes writing a 50,000-event history take minutes instead of seconds.
const TABLE: &str = "bounded-loads-events";

async fn table() -> &'static str {
    TableSpec {
        stream_view: None,
        ..tables::EVENTS
    }
    .ensure(&dynamo().client(), TABLE)
    .await
    .unwrap();
    TABLE
}

async fn handler<D: Decider>(every: u64, window: usize) -> CommandHandler<D> {
    CommandHandler::new(
        EventStore::new(dynamo().client(), table().await),
        RetryPolicy::default(),
    )
    .with_snapshots(SnapshotPolicy { every, window })
}

async fn store() -> EventStore {
    EventStore::new(dynamo().client(), table().await)
}

/// The `n` of every event of `stream`, in order.
async fn ns(stream: &str) -> Vec<u64> {
    store()
        .await
        .load(stream)
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode::<Recorded>().unwrap().event.n)
        .collect()
}

fn stream() -> String {
    format!("tally-{}", Uuid::new_v4())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifty_thousand_event_stream_is_commanded_with_one_bounded_read() {
    const LENGTH: u64 = 50_000;
    let stream = stream();
    // History written straight to the table (no snapshots: as if from before they existed).
    let d = dynamo();
    let history =
        (1..LENGTH).map(|n| NewEvent::from_domain(&Recorded { n }, event_metadata("alice")));
    seed_history(&d.client(), table().await, &stream, 1, history)
        .await
        .unwrap();
    let store = store().await;
    let every = SnapshotPolicy::default().every;
    // The first command folds the whole history once, and stores a snapshot with its event.
    handler::<Tally>(every, 128)
        .await
        .handle(&request(&stream, 1, None))
        .await
        .unwrap();
    let tail = store.load_tail(&stream, every as i32 + 1).await.unwrap();
    assert_eq!(tail.snapshot.as_ref().map(|(v, _)| *v), Some(LENGTH));

    // From now on: one consistent Query (of at most every + 1 items) and one conditional PutItem per command.
    let d = dynamo();
    let (client, calls) = d.counted_client();
    let counted = CommandHandler::<Tally>::new(
        EventStore::new(client, table().await),
        RetryPolicy::default(),
    );
    for _ in 0..3 {
        calls.clear();
        let outcome = counted.handle(&request(&stream, 1, None)).await.unwrap();
        assert!(matches!(outcome, CommandOutcome::Committed { .. }));
        assert_eq!(calls.operations(), ["Query", "PutItem"]);
        let read = calls.items_queried();
        assert!(
            read.len() == 1 && read[0] as u64 <= every + 1,
            "items read by the command's Query: {read:?} (at most {})",
            every + 1
        );
    }
    // Decided on the right state: the events count on from 50,000 (no full fold behind them).
    let last: Vec<u64> = store
        .load_after(&stream, LENGTH - 1)
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode::<Recorded>().unwrap().event.n)
        .collect();
    assert_eq!(last, [LENGTH, LENGTH + 1, LENGTH + 2, LENGTH + 3]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Whatever the snapshot interval and the mix of single- and multi-event commands, every command decides on the
    /// state a full fold gives: the events count 1, 2, 3, ... without a gap or a repeat.
    #[test]
    fn bounded_loads_decide_like_a_full_fold(
        every in 1u64..8,
        window in 1usize..6,
        commands in prop::collection::vec(1u64..4, 1..24),
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let stream = stream();
            let handler = handler::<Tally>(every, window).await;
            for count in &commands {
                handler.handle(&request(&stream, *count, None)).await.unwrap();
            }
            let total: u64 = commands.iter().sum();
            assert_eq!(ns(&stream).await, (1..=total).collect::<Vec<_>>());
        });
    }
}

#[tokio::test]
async fn retries_are_recognised_inside_the_window_and_not_outside() {
    let (every, window) = (4, 8);
    let handler = handler::<Tally>(every, window).await;
    let stream = stream();
    let original = request(&stream, 1, Some("pay-42"));
    handler.handle(&original).await.unwrap();
    let retry = || {
        let mut again = original.clone();
        again.context.command_id = Uuid::new_v4();
        again
    };
    // Inside: fewer than `window` commands since: recognised, whatever the snapshots.
    for _ in 0..window - 1 {
        handler.handle(&request(&stream, 1, None)).await.unwrap();
    }
    assert_eq!(
        handler.handle(&retry()).await.unwrap(),
        CommandOutcome::Replayed { version: 1 }
    );
    // Outside: `window + every` commands since: a new command.
    for _ in 0..(every as usize + 1) {
        handler.handle(&request(&stream, 1, None)).await.unwrap();
    }
    let outcome = handler.handle(&retry()).await.unwrap();
    assert!(
        matches!(outcome, CommandOutcome::Committed { .. }),
        "{outcome:?}"
    );
}

/// A durable key (a process manager's order) is recognised for ever: far outside the window, by its receipt; the
/// same key with another request is refused; two senders racing with it append once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_key_is_recognised_outside_the_window_and_applied_once_under_a_race() {
    let (every, window) = (4, 8);
    let handler = handler::<Tally>(every, window).await;
    let stream = stream();
    let durable = |count: u64| {
        let mut r = request(&stream, count, Some("order-7"));
        r.idempotency.as_mut().unwrap().durable = true;
        r
    };
    let original = durable(1);
    let first = handler.handle(&original).await.unwrap();
    assert_eq!(first.version(), 1);
    for _ in 0..3 * window {
        handler.handle(&request(&stream, 1, None)).await.unwrap();
    }
    let mut again = original.clone();
    again.context.command_id = Uuid::new_v4();
    assert_eq!(
        handler.handle(&again).await.unwrap(),
        CommandOutcome::Replayed { version: 1 },
        "recognised {} commands later",
        3 * window
    );
    assert!(matches!(
        handler.handle(&durable(2)).await,
        Err(CommandError::IdempotencyKeyReused)
    ));
    // The same key on another stream is another request under a used key, too.
    let mut elsewhere = original.clone();
    elsewhere.stream_id = self::stream();
    assert!(matches!(
        handler.handle(&elsewhere).await,
        Err(CommandError::IdempotencyKeyReused)
    ));
    assert_eq!(ns(&stream).await.len() as u64, 1 + 3 * window as u64);

    // Eight senders of one new durable command at once: one append, seven replays of it.
    let raced = self::stream();
    let mut order = request(&raced, 1, Some("order-8"));
    order.idempotency.as_mut().unwrap().durable = true;
    let senders = (0..8).map(|_| {
        let (handler, mut order) = (handler.clone(), order.clone());
        order.context.command_id = Uuid::new_v4();
        tokio::spawn(async move { handler.handle(&order).await.unwrap() })
    });
    let outcomes: Vec<CommandOutcome> = futures::future::join_all(senders)
        .await
        .into_iter()
        .map(|t| t.unwrap())
        .collect();
    assert_eq!(ns(&raced).await, [1]);
    assert!(outcomes.iter().all(|o| o.version() == 1), "{outcomes:?}");
    let committed = outcomes
        .iter()
        .filter(|o| matches!(o, CommandOutcome::Committed { .. }))
        .count();
    assert_eq!(committed, 1, "{outcomes:?}");
}

#[tokio::test]
async fn a_snapshot_of_an_old_state_shape_is_ignored_and_replaced() {
    let stream = stream();
    let old = handler::<Tally>(4, 8).await;
    for _ in 0..9 {
        old.handle(&request(&stream, 1, None)).await.unwrap();
    }
    let tail = store().await.load_tail(&stream, 100).await.unwrap();
    assert_eq!(
        tail.snapshot.as_ref().map(|(v, s)| (*v, s.shape)),
        Some((8, 1))
    );

    // The new shape folds all nine events (ten each), not the old snapshot's count of eight.
    let new = handler::<TallyByTens>(4, 8).await;
    new.handle(&request(&stream, 1, None)).await.unwrap();
    assert_eq!(*ns(&stream).await.last().unwrap(), 91);
    // ... and its write carried a snapshot of the new shape.
    let d = dynamo();
    let item = d
        .client()
        .get_item()
        .table_name(table().await)
        .key(
            "stream_id",
            aws_sdk_dynamodb::types::AttributeValue::S(stream.clone()),
        )
        .key(
            "version",
            aws_sdk_dynamodb::types::AttributeValue::N("10".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let snapshot = snapshot_of(item.item().unwrap()).expect("a fresh snapshot");
    assert_eq!((snapshot.shape, snapshot.state.as_str()), (2, "100"));
}
