//! A transfer's deadline, end to end on the local stack's clock: a transfer held up (the transfer process, which
//! credits the destination, stalled) passes its deadline and is marked overdue — and still completes, exactly once,
//! when the process is back; a transfer that completed in time is left as it is when its deadline fires.

mod common;

use chrono::Duration as Span;
use common::*;
use std::time::Duration;
use tributary_projections::ProjectionStore;

/// The transfer's deadline schedule as the due index shows it, once it has fired (occurrence finished).
async fn deadline_fired(transfer_id: &str) -> serde_json::Value {
    let d = tributary_testkit::dynamo();
    let projections = ProjectionStore::new(d.client(), &d.projections_table);
    let stream = format!("transfer-{transfer_id}");
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    loop {
        let page = tributary_scheduler::listed(&projections, &stream, None, 10)
            .await
            .unwrap();
        if let Some(view) = page.items.first().filter(|v| v.finished == 1) {
            return serde_json::to_value(view).unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deadline of {stream} did not fire: {:?}",
            page.items
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// One test, one stack: a second stack in this binary would run its own transfer process over the same events table
// (its relay publishes every stream to its topic) and carry out the transfer this one holds up.
async fn a_held_up_transfer_is_overdue_then_completes_once_and_a_deadline_after_completion_changes_nothing(
) {
    let mut config = test_config().await;
    config.scheduler_tick = Duration::from_millis(200);
    let mut stack = devstack::Devstack::start(config).await.unwrap();
    let base = stack.base_url();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (ann, bob) = (
        client_as(&format!("ann-{run}")),
        client_as(&format!("bob-{run}")),
    );
    let from = open_account(&ann, &base, "EUR").await;
    money(&ann, &base, &from, "deposits", 1_000).await;
    let to = open_account(&bob, &base, "EUR").await;

    // The transfer process stalls: the transfer is requested, and nothing carries it out.
    stack.pause_transfer_process().await;
    let body = format!(r#"{{"from":"{from}","to":"{to}","amount":300}}"#);
    let requested = post(&ann, &format!("{base}/transfers"), &[], Some(&body)).await;
    assert_eq!(requested.status, 202, "{}", requested.body);
    let id = requested.body["transfer_id"].as_str().unwrap().to_owned();
    // Before the deadline nothing happens, however often the scheduler sweeps.
    stack.clock.advance(Span::minutes(4));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pending = get(&ann, &format!("{base}/transfers/{id}")).await;
    assert_eq!(pending.body["status"], "pending", "{}", pending.body);
    assert!(pending.body.get("overdue").is_none(), "{}", pending.body);
    // Past it: overdue (and still pending: nothing is compensated).
    stack.clock.advance(Span::minutes(2));
    let overdue = eventually(
        &ann,
        &format!("{base}/transfers/{id}"),
        "the transfer is marked overdue",
        |r| r.body["overdue"] == true,
    )
    .await;
    assert_eq!(overdue.body["status"], "pending", "{}", overdue.body);
    deadline_fired(&id).await;

    // The process is back: the transfer completes, once, and stays marked overdue.
    stack.resume_transfer_process().await;
    let done = settled_transfer(&ann, &base, &id).await;
    assert_eq!(
        (&done["status"], &done["overdue"]),
        (&"completed".into(), &true.into()),
        "{done}"
    );
    let balance = |client: reqwest::Client, account: String| {
        let base = base.clone();
        async move {
            get_fresh(&client, &format!("{base}/accounts/{account}"))
                .await
                .body["balance"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(balance(ann.clone(), from.clone()).await, 700);
    eventually(
        &bob,
        &format!("{base}/accounts/{to}"),
        "the credit arrives",
        |r| r.body["balance"] == 300,
    )
    .await;

    // A transfer that completes in time: its deadline fires later and changes nothing.
    let body = format!(r#"{{"from":"{from}","to":"{to}","amount":300}}"#);
    let requested = post(&ann, &format!("{base}/transfers"), &[], Some(&body)).await;
    assert_eq!(requested.status, 202, "{}", requested.body);
    let id = requested.body["transfer_id"].as_str().unwrap().to_owned();
    let done = settled_transfer(&ann, &base, &id).await;
    assert_eq!(done["status"], "completed", "{done}");

    stack.clock.advance(Span::minutes(6));
    let fired = deadline_fired(&id).await;
    assert_eq!(fired["last"][1]["outcome"], "applied", "{fired}");
    // Ended, it has left the due index (its row deleted with the event that ended it): sweeps no longer read it.
    let d = tributary_testkit::dynamo();
    let projections = ProjectionStore::new(d.client(), &d.projections_table);
    let schedule = fired["schedule_id"].as_str().unwrap().to_owned();
    let row: Option<serde_json::Value> = projections
        .of(&tributary_scheduler::ScheduleViews)
        .get(&tributary_scheduler::index::due_key(&schedule))
        .await
        .unwrap();
    assert_eq!(row, None, "{schedule} is still in the due index");
    // Nothing was appended to the transfer: its view is as it was when it completed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = get_fresh(&ann, &format!("{base}/transfers/{id}")).await;
    assert_eq!(after.body["version"], done["version"], "{}", after.body);
    assert!(after.body.get("overdue").is_none(), "{}", after.body);
    stack.stop().await;
}
