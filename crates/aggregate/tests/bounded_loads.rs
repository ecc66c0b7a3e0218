//! A command costs the same on day one and in year ten: loads read back only to the newest snapshot, against a real
//! DynamoDB API. Bounded reads at 50,000 events (counted), decisions equal to a full fold over random histories and
//! snapshot intervals, the idempotency window on both sides of its boundary, and snapshots of an old state shape
//! ignored.

mod support;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use support::{request_to, Never, Recorded, Tally};
use tributary_aggregate::{
    CommandError, CommandHandler, CommandOutcome, CommandRequest, KeyRetention, RetryPolicy,
    SnapshotPolicy,
};
use tributary_core::Decider;
use tributary_core::DomainEvent;
use tributary_dynamodb::tables::{self, TableSpec};
use tributary_dynamodb::{snapshot_of, DynamoDbEventStore};
use tributary_store::{EventStore, NewEvent};
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
        DynamoDbEventStore::shared(dynamo().client(), table().await),
        RetryPolicy::default(),
    )
    .with_snapshots(SnapshotPolicy { every, window })
}

async fn store() -> std::sync::Arc<dyn EventStore> {
    DynamoDbEventStore::shared(dynamo().client(), table().await)
}

/// The `n` of every event of `stream`, in order.
async fn ns(stream: &str) -> Vec<u64> {
    support::counts_in(&*store().await, stream).await
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
        DynamoDbEventStore::shared(client, table().await),
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

/// Counts like [`Tally`], but refuses to go past [`CAPPED_AT`]: a retry that is decided again after the cap is
/// reached would be refused — unless it is recognised as the retry it is.
struct Capped;

const CAPPED_AT: u64 = 60;

#[derive(Debug, thiserror::Error)]
#[error("over the cap")]
struct OverTheCap;

impl Decider for Capped {
    type State = u64;
    type Command = u64;
    type Event = Recorded;
    type Rejection = OverTheCap;

    fn initial() -> u64 {
        0
    }
    fn evolve(state: u64, _: &Recorded) -> u64 {
        state + 1
    }
    fn decide(state: &u64, count: &u64) -> Result<Vec<Recorded>, OverTheCap> {
        if state + count > CAPPED_AT {
            return Err(OverTheCap);
        }
        Ok((1..=*count).map(|i| Recorded { n: state + i }).collect())
    }
}

/// A caller's key is remembered for its period however many commands others append meanwhile (a stranger who can
/// append to the stream cannot flush it, as a count-based window alone let them): the retry is a replay — also when
/// deciding it again would now be refused, or its `If-Match` names a version long gone. After the period it is a new
/// command (unless it is still among the aggregate's recent commands). Inside that window a replay reads no receipt.
#[tokio::test]
async fn a_callers_key_is_remembered_for_its_period_whatever_others_append() {
    let (every, window) = (4, 8);
    let handler = handler::<Capped>(every, window).await;
    let stream = stream();
    let mut original = request_to(&stream, 1, "owner", Some("pay-42"));
    original.expected_version = Some(0);
    let first = handler.handle(&original).await.unwrap();
    assert!(matches!(
        first,
        CommandOutcome::Committed { version: 1, .. }
    ));
    let retry = |after: chrono::TimeDelta| {
        let mut again = original.clone();
        again.context.command_id = Uuid::new_v4();
        again.context.now = original.context.now + after;
        again
    };
    // Inside the window: recognised from the snapshot's recent commands alone (no receipt read).
    let d = dynamo();
    let (client, calls) = d.counted_client();
    let counted = CommandHandler::<Capped>::new(
        DynamoDbEventStore::shared(client, table().await),
        RetryPolicy::default(),
    )
    .with_snapshots(SnapshotPolicy { every, window });
    assert_eq!(
        counted
            .handle(&retry(chrono::TimeDelta::minutes(1)))
            .await
            .unwrap(),
        CommandOutcome::Replayed { version: 1 }
    );
    assert_eq!(calls.count("GetItem"), 0, "{:?}", calls.operations());
    // A stranger appends until the cap: far more than the window.
    for _ in 0..CAPPED_AT - 1 {
        handler
            .handle(&request_to(&stream, 1, "stranger", None))
            .await
            .unwrap();
    }
    // The owner's retry, 23 hours later: a replay (deciding it again would be refused, and its If-Match is stale).
    assert_eq!(
        handler
            .handle(&retry(chrono::TimeDelta::hours(23)))
            .await
            .unwrap(),
        CommandOutcome::Replayed { version: 1 }
    );
    // The same key with another request is refused, also by the receipt.
    let mut other = retry(chrono::TimeDelta::hours(23));
    other.idempotency.as_mut().unwrap().fingerprint = "another request".into();
    assert!(matches!(
        handler.handle(&other).await,
        Err(CommandError::IdempotencyKeyReused)
    ));
    assert_eq!(ns(&stream).await.len() as u64, CAPPED_AT);

    // After the period, the key is forgotten: the same request is decided again (and refused: over the cap)...
    let late = retry(KeyRetention::DEFAULT_PERIOD + chrono::TimeDelta::seconds(1));
    let mut late = late;
    late.expected_version = None;
    assert!(matches!(
        handler.handle(&late).await,
        Err(CommandError::Rejected { .. })
    ));
    // ...and on a stream with room (and past the window of recent commands, which recognises a key however old it
    // is), applied anew, its receipt taking the expired one's place.
    let beyond_the_window = window + every as usize + 1;
    let roomy = self::stream();
    let mut early = request_to(&roomy, 1, "owner", Some("pay-43"));
    handler.handle(&early).await.unwrap();
    for _ in 0..beyond_the_window {
        handler
            .handle(&request_to(&roomy, 1, "stranger", None))
            .await
            .unwrap();
    }
    early.context.command_id = Uuid::new_v4();
    early.context.now += KeyRetention::DEFAULT_PERIOD;
    let again = handler.handle(&early).await.unwrap();
    assert!(
        matches!(again, CommandOutcome::Committed { version, .. } if version == 2 + beyond_the_window as u64),
        "{again:?}"
    );
    early.context.command_id = Uuid::new_v4();
    for _ in 0..beyond_the_window {
        handler
            .handle(&request_to(&roomy, 1, "stranger", None))
            .await
            .unwrap();
    }
    assert_eq!(
        handler.handle(&early).await.unwrap(),
        CommandOutcome::Replayed {
            version: 2 + beyond_the_window as u64
        },
        "the new receipt holds the key for a new period"
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
        r.idempotency.as_mut().unwrap().retention = KeyRetention::Forever;
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
    order.idempotency.as_mut().unwrap().retention = KeyRetention::Forever;
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

/// A gate: orders pass only while it is open; anyone may open or close it.
struct Gate;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum GateEvent {
    Opened,
    Closed,
    Passed,
}

impl DomainEvent for GateEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Opened => "Opened",
            Self::Closed => "Closed",
            Self::Passed => "Passed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum GateCommand {
    Open,
    Close,
    Pass,
}

#[derive(Debug, thiserror::Error)]
#[error("the gate is closed")]
struct GateClosed;

impl Decider for Gate {
    type State = bool;
    type Command = GateCommand;
    type Event = GateEvent;
    type Rejection = GateClosed;

    fn initial() -> bool {
        false
    }
    fn rejection_code(_: &GateClosed) -> &'static str {
        "gate-closed"
    }
    fn evolve(open: bool, event: &GateEvent) -> bool {
        match event {
            GateEvent::Opened => true,
            GateEvent::Closed => false,
            GateEvent::Passed => open,
        }
    }
    fn decide(open: &bool, command: &GateCommand) -> Result<Vec<GateEvent>, GateClosed> {
        Ok(vec![match command {
            GateCommand::Open => GateEvent::Opened,
            GateCommand::Close => GateEvent::Closed,
            GateCommand::Pass if *open => GateEvent::Passed,
            GateCommand::Pass => return Err(GateClosed),
        }])
    }
}

fn gate_request(
    stream: &str,
    command: GateCommand,
    key: Option<&str>,
) -> CommandRequest<GateCommand> {
    let mut request = request_to(stream, 1, "process", key);
    if let Some(idempotency) = request.idempotency.as_mut() {
        idempotency.retention = KeyRetention::Forever;
        idempotency.fingerprint = tributary_core::fingerprint(&command);
    }
    CommandRequest {
        stream_id: request.stream_id,
        command,
        expected_version: None,
        idempotency: request.idempotency,
        context: request.context,
    }
}

/// An order kept for ever gets the same answer every time, even when the aggregate changed in between: a refusal is
/// remembered by its receipt (and nothing is written on the stream), so the order is refused again after the gate
/// opened. Eight workers sending one order while the gate flips all get one answer: all accepted and exactly one
/// event, or all refused and none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_kept_for_ever_gets_the_same_answer_every_time() {
    let handler = handler::<Gate>(4, 8).await;
    let stream = stream();
    let order = gate_request(&stream, GateCommand::Pass, Some("order-1"));
    assert!(matches!(
        handler.handle(&order).await,
        Err(CommandError::Rejected { .. })
    ));
    handler
        .handle(&gate_request(&stream, GateCommand::Open, None))
        .await
        .unwrap();
    let mut again = order.clone();
    again.context.command_id = Uuid::new_v4();
    match handler.handle(&again).await {
        Err(CommandError::RejectedEarlier { code, version }) => {
            assert_eq!((code.as_str(), version), ("gate-closed", 0))
        }
        other => panic!("the refusal is remembered: {other:?}"),
    }
    let events = store().await.load(&stream).await.unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        ["Opened"],
        "a refusal writes nothing on the stream"
    );

    // Rounds 0-3: one worker answers first (accepted in even rounds, refused in odd ones), then seven more race the
    // flipping gate. Rounds 4-9: all eight race it from the start. Every round: one answer for all.
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..10 {
        let stream = self::stream();
        let key = format!("order-race-{round}");
        if round % 2 == 0 {
            handler
                .handle(&gate_request(&stream, GateCommand::Open, None))
                .await
                .unwrap();
        }
        let first = (round < 4).then(|| gate_request(&stream, GateCommand::Pass, Some(&key)));
        let first = match first {
            Some(order) => Some(handler.handle(&order).await.is_ok()),
            None => None,
        };
        let flipper = {
            let (handler, stream) = (handler.clone(), stream.clone());
            tokio::spawn(async move {
                for i in 0..6 {
                    let command = if (i + round) % 2 == 0 {
                        GateCommand::Close
                    } else {
                        GateCommand::Open
                    };
                    handler
                        .handle(&gate_request(&stream, command, None))
                        .await
                        .unwrap();
                }
            })
        };
        let workers = (0..if first.is_some() { 7 } else { 8 }).map(|_| {
            let handler = handler.clone();
            let order = gate_request(&stream, GateCommand::Pass, Some(&key));
            tokio::spawn(async move { handler.handle(&order).await })
        });
        let mut answers: Vec<bool> = futures::future::join_all(workers)
            .await
            .into_iter()
            .map(|answer| match answer.unwrap() {
                Ok(_) => true,
                Err(CommandError::Rejected { .. } | CommandError::RejectedEarlier { .. }) => false,
                Err(other) => panic!("{other:?}"),
            })
            .collect();
        flipper.await.unwrap();
        if let Some(first) = first {
            assert_eq!(
                first,
                round % 2 == 0,
                "round {round}: the first worker's answer"
            );
            answers.insert(0, first);
        }
        let passed = store()
            .await
            .load(&stream)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.event_type == "Passed")
            .count();
        if answers[0] {
            accepted += 1;
        } else {
            refused += 1;
        }
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "round {round}: one answer for every worker, got {answers:?}"
        );
        assert_eq!(passed, usize::from(answers[0]), "round {round}");
    }
    println!("{accepted} rounds accepted, {refused} refused");
}

/// A writer configured with a smaller idempotency window than the deployment's (an operator's shell re-driving a
/// process, with `IDEMPOTENCY_WINDOW` unset or smaller) keeps the window the aggregate's snapshots were written
/// with: before, its snapshot carried only its own few recent commands, and the deployment's loads lost the rest.
#[tokio::test]
async fn a_writer_with_a_smaller_window_keeps_the_deployments() {
    let (every, deployed, shell) = (4, 16, 2);
    let stream = stream();
    let stack = handler::<Tally>(every, deployed).await;
    for _ in 0..20 {
        stack.handle(&request(&stream, 1, None)).await.unwrap();
    }
    let operator = handler::<Tally>(every, shell).await;
    for _ in 0..every {
        operator.handle(&request(&stream, 1, None)).await.unwrap();
    }
    let tail = store().await.load_tail(&stream, 100).await.unwrap();
    let (version, snapshot) = tail
        .snapshot
        .expect("the operator's commands wrote a snapshot");
    assert_eq!(version, 24);
    let recent: Vec<serde_json::Value> = serde_json::from_str(&snapshot.recent).unwrap();
    assert_eq!(
        (recent.len(), snapshot.window),
        (deployed, Some(deployed as u32)),
        "the snapshot keeps the deployment's window"
    );
}
