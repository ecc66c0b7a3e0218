//! A standing order's controls, end to end: only its owner may create, pause, resume or cancel it; paused, nothing
//! is paid however much time passes, and the days in between are skipped on resume; cancelled, nothing more. The
//! operator CLI lists what is owed. One stack in this binary: another's scheduler would sweep the same due index on a
//! clock of its own.

mod common;

use chrono::Duration as Span;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// Wait until a sweep at `t` or later has finished.
async fn sweep_at_or_after(stack: &devstack::Devstack, t: chrono::DateTime<chrono::Utc>) {
    let mut sweeps = stack.sweeps();
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    while sweeps
        .borrow_and_update()
        .as_ref()
        .is_none_or(|(at, _)| *at < t)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no sweep at {t} or later"
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), sweeps.changed()).await;
    }
}

/// Occurrences schedule `id` has started, as its stream in the event store holds them.
async fn started(id: &str) -> usize {
    use tributary_store::EventStore;
    let d = tributary_testkit::dynamo();
    tributary_dynamodb::DynamoDbEventStore::new(d.client(), &d.events_table)
        .load(&format!("schedule-{id}"))
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type == "OccurrenceStarted")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_pauses_resumes_and_cancels_and_no_one_else_may() {
    let mut config = test_config().await;
    config.scheduler_tick = Duration::from_millis(200);
    let stack = devstack::Devstack::start(config).await.unwrap();
    let base = stack.base_url();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (ann, eve) = (
        client_as(&format!("ann-{run}")),
        client_as(&format!("eve-{run}")),
    );
    let source = open_account(&ann, &base, "EUR").await;
    money(&ann, &base, &source, "deposits", 10_000).await;
    let to = open_account(&eve, &base, "EUR").await;
    let starting = (stack.clock.now() + Span::hours(1)).to_rfc3339();
    let body = json!({"to": to, "amount": 100, "schedule": {"starting": starting, "every": "day"}})
        .to_string();
    // A stranger cannot order payments from Ann's account: it does not exist for her.
    let stolen = post(
        &eve,
        &format!("{base}/accounts/{source}/standing-orders"),
        &[],
        Some(&body),
    )
    .await;
    assert_eq!(stolen.status, 404, "{}", stolen.body);
    // Nor to the account itself; nor on a schedule that is not one.
    let to_itself =
        json!({"to": source, "amount": 100, "schedule": {"starting": starting}}).to_string();
    let reply = post(
        &ann,
        &format!("{base}/accounts/{source}/standing-orders"),
        &[],
        Some(&to_itself),
    )
    .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    let bad = json!({"to": to, "amount": 100, "schedule": {"starting": starting, "every": "day", "interval": 0}}).to_string();
    let reply = post(
        &ann,
        &format!("{base}/accounts/{source}/standing-orders"),
        &[],
        Some(&bad),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    // Once, an hour ago: it would never occur.
    let past = (stack.clock.now() - Span::hours(1)).to_rfc3339();
    let never = json!({"to": to, "amount": 100, "schedule": {"starting": past}}).to_string();
    let reply = post(
        &ann,
        &format!("{base}/accounts/{source}/standing-orders"),
        &[],
        Some(&never),
    )
    .await;
    assert_eq!(
        (reply.status, reply.body["type"].as_str()),
        (422, Some("urn:tributary:problem:schedule-never-occurs")),
        "{}",
        reply.body
    );

    let created = post(
        &ann,
        &format!("{base}/accounts/{source}/standing-orders"),
        &[],
        Some(&body),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["schedule_id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.header("location"),
        format!("/accounts/{source}/standing-orders")
    );
    // The operator CLI lists it as owed two hours on (the due index is eventually consistent), and not now.
    let due_at = (stack.clock.now() + Span::hours(2)).to_rfc3339();
    let listed_by_cli = |at: Option<String>| {
        let stack = &stack;
        async move {
            let mut args = vec!["--json", "schedules"];
            let at_arg = at.map(|at| format!("--at={at}"));
            args.extend(at_arg.as_deref());
            let out = tributary_cli(stack, "cli", &args).await.unwrap();
            serde_json::from_str::<Vec<Value>>(&out).unwrap()
        }
    };
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    loop {
        let rows = listed_by_cli(Some(due_at.clone())).await;
        if let Some(row) = rows.iter().find(|r| r["schedule_id"] == id.as_str()) {
            assert_eq!(
                (&row["kind"], &row["in_flight"]),
                (&json!("standing-order"), &json!(false))
            );
            assert!(row["waited_seconds"].as_i64().unwrap() > 3000, "{row}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not listed: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!listed_by_cli(None)
        .await
        .iter()
        .any(|r| r["schedule_id"] == id.as_str()));
    // Eve may neither see nor touch it.
    for action in ["pause", "resume", "cancel"] {
        let reply = post(
            &eve,
            &format!("{base}/standing-orders/{id}/{action}"),
            &[],
            None,
        )
        .await;
        assert_eq!(reply.status, 404, "{action}: {}", reply.body);
    }
    let listed = get(&eve, &format!("{base}/accounts/{source}/standing-orders")).await;
    assert_eq!(listed.status, 404);
    // Paused, nothing is paid however much time passes; resumed, the days in between are skipped.
    let paused = post(
        &ann,
        &format!("{base}/standing-orders/{id}/pause"),
        &[],
        None,
    )
    .await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    let again = post(
        &ann,
        &format!("{base}/standing-orders/{id}/pause"),
        &[],
        None,
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(
        again.body["type"],
        "urn:tributary:problem:schedule-not-active"
    );
    stack.clock.advance(Span::days(3));
    // A whole sweep after the three days has run, and the schedule started nothing (its own stream, as stored).
    sweep_at_or_after(&stack, stack.clock.now()).await;
    assert_eq!(started(&id).await, 0);
    let lines = statement_lines(&ann, &base, &source).await;
    assert_eq!(count_kind(&lines, "transfer-out"), 0, "{lines:?}");
    let resumed = post(
        &ann,
        &format!("{base}/standing-orders/{id}/resume"),
        &[],
        None,
    )
    .await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    // The three days paused are skipped; the next day pays once.
    stack.clock.advance(Span::days(1));
    eventually(
        &ann,
        &format!("{base}/accounts/{source}/statement"),
        "the first day after the resume pays",
        |r| {
            r.body["items"]
                .as_array()
                .is_some_and(|l| count_kind(l, "transfer-out") == 1)
        },
    )
    .await;
    let cancelled = post(
        &ann,
        &format!("{base}/standing-orders/{id}/cancel"),
        &[],
        None,
    )
    .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    stack.clock.advance(Span::days(3));
    let listed = eventually(
        &ann,
        &format!("{base}/accounts/{source}/standing-orders"),
        "the cancel is listed",
        |r| r.body["items"][0]["status"] == "cancelled",
    )
    .await;
    assert_eq!(listed.body["items"][0]["occurrences"], 1, "{}", listed.body);
    sweep_at_or_after(&stack, stack.clock.now()).await;
    assert_eq!(started(&id).await, 1);
    assert_eq!(
        count_kind(&statement_lines(&ann, &base, &source).await, "transfer-out"),
        1
    );
    let again = post(
        &ann,
        &format!("{base}/standing-orders/{id}/resume"),
        &[],
        None,
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.body);
    stack.stop().await;
}
