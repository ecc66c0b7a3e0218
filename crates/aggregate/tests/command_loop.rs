//! The command loop under the faults DynamoDB really produces, against a real DynamoDB API (embedded dynoxide, or
//! DynamoDB Local when `AWS_ENDPOINT_URL_DYNAMODB` is set).
//!
//! Fault model: a write reaches DynamoDB and is applied, but its response is lost (a dropped connection, a 500 from
//! the front end); the SDK retries the request, and the retry meets the write it made itself. Also: two callers
//! who happen to send the same idempotency key.

mod support;

use support::{request_to, Tally};
use tributary_aggregate::{
    CommandError, CommandHandler, CommandOutcome, CommandRequest, RetryPolicy,
};
use tributary_dynamodb::DynamoDbEventStore;
use tributary_store::EventStore;
use tributary_testkit::{client_at, dynamo, ChaosProxy, Faults, LoseResponses};
use uuid::Uuid;

fn request(count: u64, actor: &str, key: Option<&str>) -> CommandRequest<u64> {
    request_to(&format!("tally-{}", Uuid::new_v4()), count, actor, key)
}

/// A handler whose client loses the responses of the first `lose` calls of `operation`.
fn handler_losing(operation: &'static str, lose: usize) -> (CommandHandler<Tally>, LoseResponses) {
    let d = dynamo();
    let faults = LoseResponses::new(operation, lose);
    let store = DynamoDbEventStore::shared(d.client_with(faults.clone()), &d.events_table);
    (CommandHandler::new(store, RetryPolicy::default()), faults)
}

async fn stream_of(stream: &str) -> Vec<(u64, Uuid)> {
    let d = dynamo();
    DynamoDbEventStore::shared(d.client(), &d.events_table)
        .load(stream)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.version, e.metadata.command_id))
        .collect()
}

/// Run `count`-event commands whose first append response is lost; each must be appended exactly once and
/// answered as committed at the version it produced.
async fn a_lost_append_response_appends_once(count: u64, key: Option<&str>) {
    // A keyed command appends its receipt in the same transaction.
    let operation = if count == 1 && key.is_none() {
        "PutItem"
    } else {
        "TransactWriteItems"
    };
    let (handler, faults) = handler_losing(operation, 1);
    let request = request(count, "alice", key);
    let outcome = handler.handle(&request).await.unwrap();
    assert_eq!(faults.lost(), 1, "the fault was injected");
    let stream = stream_of(&request.stream_id).await;
    let expected: Vec<(u64, Uuid)> = (1..=count)
        .map(|v| (v, request.context.command_id))
        .collect();
    assert_eq!(stream, expected, "appended exactly once");
    match outcome {
        CommandOutcome::Committed { version, events } => {
            assert_eq!(version, count);
            assert_eq!(
                events.len() as u64,
                count,
                "the committed events, for publishing"
            );
        }
        other => panic!("expected a commit, got {other:?}"),
    }
}

#[tokio::test]
async fn a_lost_put_item_response_appends_the_command_once_without_a_key() {
    a_lost_append_response_appends_once(1, None).await;
}

#[tokio::test]
async fn a_lost_put_item_response_appends_the_command_once_with_a_key() {
    a_lost_append_response_appends_once(1, Some("key-1")).await;
}

#[tokio::test]
async fn a_lost_transaction_response_appends_the_command_once_without_a_key() {
    a_lost_append_response_appends_once(3, None).await;
}

#[tokio::test]
async fn a_lost_transaction_response_appends_the_command_once_with_a_key() {
    a_lost_append_response_appends_once(3, Some("key-3")).await;
}

/// Every attempt the SDK makes loses its response, so the append ends in an error whose outcome is unknown; the
/// loop reads the stream, finds its own events, and reports the commit instead of a 503 that a client without an
/// idempotency key could only answer by sending the command again.
#[tokio::test]
async fn an_append_whose_every_response_is_lost_is_found_and_reported_committed() {
    let (handler, faults) = handler_losing("PutItem", 3);
    let request = request(1, "alice", None);
    let outcome = handler.handle(&request).await.unwrap();
    assert_eq!(
        faults.lost(),
        3,
        "the SDK retried twice and every answer was lost"
    );
    assert_eq!(outcome.version(), 1);
    assert!(matches!(outcome, CommandOutcome::Committed { .. }));
    assert_eq!(
        stream_of(&request.stream_id).await,
        [(1, request.context.command_id)]
    );
}

/// Idempotency keys belong to the caller who sent them: caller B reusing caller A's key (same body, same stream)
/// is a new command, not a replay of A's.
#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_caller() {
    let d = dynamo();
    let handler: CommandHandler<Tally> = CommandHandler::new(
        DynamoDbEventStore::shared(d.client(), &d.events_table),
        RetryPolicy::default(),
    );
    let from_a = request(1, "alice", Some("shared-key"));
    let mut from_b = request(1, "bob", Some("shared-key"));
    from_b.stream_id = from_a.stream_id.clone();

    assert_eq!(handler.handle(&from_a).await.unwrap().version(), 1);
    let b = handler.handle(&from_b).await.unwrap();
    assert!(
        matches!(b, CommandOutcome::Committed { version: 2, .. }),
        "bob's command is his own: {b:?}"
    );
    // Each caller's retry is recognised as a retry of their own command.
    let mut retry_a = from_a.clone();
    retry_a.context.command_id = Uuid::new_v4();
    assert_eq!(
        handler.handle(&retry_a).await.unwrap(),
        CommandOutcome::Replayed { version: 1 }
    );
    let mut retry_b = from_b.clone();
    retry_b.context.command_id = Uuid::new_v4();
    assert_eq!(
        handler.handle(&retry_b).await.unwrap(),
        CommandOutcome::Replayed { version: 2 }
    );
    // Bob reusing his key for a different request is refused; Alice's use of the same key does not matter.
    let mut reused = request(2, "bob", Some("shared-key"));
    reused.stream_id = from_a.stream_id.clone();
    assert!(matches!(
        handler.handle(&reused).await,
        Err(CommandError::IdempotencyKeyReused)
    ));
    assert_eq!(stream_of(&from_a.stream_id).await.len(), 2);
}

/// DynamoDB cancels a multi-event append with `TransactionConflict` when another transaction touches the same
/// items (DynamoDB Local never does: the fault is injected by a proxy in front of it). Nothing was written, so the
/// loop retries, like a lost race, instead of answering 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_conflict_is_retried() {
    let d = dynamo();
    let proxy = ChaosProxy::start(&d.endpoint, 11).await;
    proxy.set(Faults {
        transaction_conflicts: 1.0,
        limit: Some(2),
        ..Faults::none()
    });
    let client = client_at(&proxy.url);
    let handler: CommandHandler<Tally> = CommandHandler::new(
        DynamoDbEventStore::shared(client, &d.events_table),
        RetryPolicy::default(),
    );
    let request = request(3, "alice", None);
    let outcome = handler.handle(&request).await.unwrap();
    assert_eq!(proxy.counts().transaction_conflicts, 2);
    assert_eq!(outcome.version(), 3);
    assert_eq!(stream_of(&request.stream_id).await.len(), 3);
}

/// The retry budget runs out right after an append whose response was lost (the SDK's retry met the command's own
/// write): the answer is still the commit, not a 409 that would make a keyless client send it again.
#[tokio::test]
async fn a_lost_response_at_the_end_of_the_budget_is_still_found() {
    let d = dynamo();
    let faults = LoseResponses::new("PutItem", 1);
    let handler: CommandHandler<Tally> = CommandHandler::new(
        DynamoDbEventStore::shared(d.client_with(faults.clone()), &d.events_table),
        RetryPolicy {
            budget: std::time::Duration::ZERO,
            ..RetryPolicy::default()
        },
    );
    let request = request(1, "alice", None);
    let outcome = handler.handle(&request).await.unwrap();
    assert_eq!(faults.lost(), 1);
    assert!(matches!(
        outcome,
        CommandOutcome::Committed { version: 1, .. }
    ));
    assert_eq!(stream_of(&request.stream_id).await.len(), 1);
}
