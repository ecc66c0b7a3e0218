//! Standing orders end to end, on the clock the local stack fast-forwards: 100 standing orders over 12 months,
//! the scheduler crashed mid-sweep and restarted twice. Every month pays each order exactly once — applied, or
//! refused on the statement when the balance cannot cover it — and no money is made or lost. Plus the owner's
//! controls (pause, resume, cancel) and who may use them.

mod common;

use chrono::{DateTime, Duration as Span, Months, Utc};
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const ORDERS: usize = 100;
const SINKS: usize = 10;
const OWNERS: usize = 10;
const MONTHS: u32 = 12;

/// One standing order of the test and what its month-by-month history must be.
struct Order {
    owner: usize,
    source: String,
    sink: usize,
    amount: u64,
    deposit: u64,
    /// Occurrences the deposit covers (the rest are refused for insufficient funds).
    covered: u32,
}

/// Poll `check` (which says how many of `total` are done) until all are; fail only when none moved for
/// [`EVENTUALLY`] (a loaded machine works through a long queue slowly; a queue that stops moving is a failure).
async fn until_all<F, Fut>(what: &str, total: usize, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (usize, String)>,
{
    let (mut best, mut moved) = (0, tokio::time::Instant::now());
    loop {
        let (done, sample) = check().await;
        if done >= total {
            return;
        }
        if done > best {
            (best, moved) = (done, tokio::time::Instant::now());
        }
        assert!(
            moved.elapsed() < EVENTUALLY,
            "{what}: {done} of {total}, and nothing moved for {EVENTUALLY:?}; e.g. {sample}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The account's statement lines (all of them: fewer than a page).
async fn statement(client: &reqwest::Client, base: &str, account: &str) -> Vec<Value> {
    let reply = get(
        client,
        &format!("{base}/accounts/{account}/statement?limit=100"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

fn count(lines: &[Value], kind: &str) -> u32 {
    lines.iter().filter(|l| l["kind"] == kind).count() as u32
}

async fn balance(client: &reqwest::Client, base: &str, account: &str) -> u64 {
    let reply = get_fresh(client, &format!("{base}/accounts/{account}")).await;
    reply.body["balance"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_of_standing_orders_pays_each_occurrence_once_through_scheduler_crashes() {
    let mut config = test_config().await;
    config.scheduler_tick = Duration::from_millis(200);
    let mut stack = devstack::Devstack::start(config).await.unwrap();
    let base = stack.base_url();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let owners: Vec<reqwest::Client> = (0..OWNERS)
        .map(|i| client_as(&format!("so-owner-{i}-{run}")))
        .collect();
    let payee = client_as(&format!("so-payee-{run}"));
    let mut sinks = Vec::new();
    for _ in 0..SINKS {
        sinks.push(open_account(&payee, &base, "EUR").await);
    }
    // The first occurrence an hour from now, then monthly.
    let starting: DateTime<Utc> = (stack.clock.now() + Span::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
        .parse()
        .unwrap();
    let mut orders = Vec::new();
    for i in 0..ORDERS {
        let owner = i % OWNERS;
        let source = open_account(&owners[owner], &base, "EUR").await;
        let amount = 100 + i as u64;
        // One in five covers only some months (0 to 6 of them); the rest all twelve, with money to spare.
        let covered = if i % 5 == 0 {
            (i / 5 % 7) as u32
        } else {
            MONTHS
        };
        let deposit = amount * u64::from(covered) + if covered < MONTHS { 37 } else { 1_000 };
        if deposit > 0 {
            money(&owners[owner], &base, &source, "deposits", deposit).await;
        }
        let sink = i % SINKS;
        let body = json!({
            "to": sinks[sink],
            "amount": amount,
            "schedule": {"starting": starting, "every": "month"},
        });
        let created = post(
            &owners[owner],
            &format!("{base}/accounts/{source}/standing-orders"),
            &[("idempotency-key", &format!("so-{i}"))],
            Some(&body.to_string()),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.body);
        orders.push(Order {
            owner,
            source,
            sink,
            amount,
            deposit,
            covered,
        });
    }

    let occurrences_seen = |month: u32| {
        let orders = &orders;
        let owners = &owners;
        let base = &base;
        move || async move {
            let replies = futures::future::join_all(orders.iter().map(|o| async move {
                get(
                    &owners[o.owner],
                    &format!("{base}/accounts/{}/standing-orders", o.source),
                )
                .await
            }))
            .await;
            let done = replies
                .iter()
                .filter(|r| r.body["items"][0]["occurrences"].as_u64() == Some(u64::from(month)))
                .count();
            let sample = replies
                .iter()
                .find(|r| r.body["items"][0]["occurrences"].as_u64() != Some(u64::from(month)))
                .map_or(String::new(), |r| r.body.to_string());
            (done, sample)
        }
    };
    for month in 0..MONTHS {
        let due = starting.checked_add_months(Months::new(month)).unwrap();
        stack.clock.advance_to(due + Span::minutes(1));
        if month == 4 || month == 8 {
            // Crash the scheduler mid-sweep (somewhere among the month's hundred occurrences), then start it again.
            tokio::time::sleep(Duration::from_millis(rand::random_range(200..1_200))).await;
            stack.restart_scheduler();
        }
        until_all(
            &format!(
                "month {}: every standing order's occurrence sent",
                month + 1
            ),
            ORDERS,
            occurrences_seen(month + 1),
        )
        .await;
    }

    // Every occurrence's transfer has run: each source's statement has one line per month.
    until_all("every occurrence on its statement", ORDERS, || async {
        let mut done = 0;
        let mut sample = String::new();
        for o in &orders {
            let lines = statement(&owners[o.owner], &base, &o.source).await;
            let paid = count(&lines, "transfer-out") + count(&lines, "standing-order-refused");
            if paid == MONTHS {
                done += 1;
            } else if sample.is_empty() {
                sample = format!("{}: {paid} lines", o.source);
            }
        }
        (done, sample)
    })
    .await;

    let mut into_sinks: BTreeMap<usize, u64> = BTreeMap::new();
    for o in &orders {
        let lines = statement(&owners[o.owner], &base, &o.source).await;
        let applied = o.covered.min(MONTHS);
        assert_eq!(
            count(&lines, "transfer-out"),
            applied,
            "{}: {lines:?}",
            o.source
        );
        assert_eq!(
            count(&lines, "standing-order-refused"),
            MONTHS - applied,
            "{}",
            o.source
        );
        assert_eq!(
            balance(&owners[o.owner], &base, &o.source).await,
            o.deposit - o.amount * u64::from(applied)
        );
        *into_sinks.entry(o.sink).or_default() += o.amount * u64::from(applied);
        let listed = get(
            &owners[o.owner],
            &format!("{base}/accounts/{}/standing-orders", o.source),
        )
        .await;
        let view = &listed.body["items"][0];
        assert_eq!(view["status"], "active");
        assert_eq!(view["occurrences"], u64::from(MONTHS));
        assert_eq!(
            view["refused"], 0,
            "refusals are the debit's, on the statement"
        );
        let next: DateTime<Utc> = view["next_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            next,
            starting.checked_add_months(Months::new(MONTHS)).unwrap()
        );
    }
    // Money is conserved: what left the sources is what reached the sinks.
    for (sink, expected) in into_sinks {
        eventually(
            &payee,
            &format!("{base}/accounts/{}", sinks[sink]),
            "the payee's account holds what the orders paid",
            |r| r.body["balance"].as_u64() == Some(expected),
        )
        .await;
    }
    stack.stop().await;
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

    let created = post(
        &ann,
        &format!("{base}/accounts/{source}/standing-orders"),
        &[],
        Some(&body),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["schedule_id"].as_str().unwrap().to_owned();
    assert_eq!(created.header("location"), format!("/standing-orders/{id}"));
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
    tokio::time::sleep(Duration::from_secs(2)).await;
    let lines = statement(&ann, &base, &source).await;
    assert_eq!(count(&lines, "transfer-out"), 0, "{lines:?}");
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
                .is_some_and(|l| count(l, "transfer-out") == 1)
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
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        count(&statement(&ann, &base, &source).await, "transfer-out"),
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
