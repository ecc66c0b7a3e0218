//! Standing orders end to end, on the clock the local stack fast-forwards: 100 standing orders over 12 months,
//! the scheduler crashed mid-sweep and restarted twice. Every month pays each order exactly once — applied, or
//! refused on the statement when the balance cannot cover it — and no money is made or lost. One stack in this
//! binary: another's scheduler would sweep the same due index on a clock of its own.

mod common;

use chrono::{DateTime, Duration as Span, Months, Utc};
use common::*;
use serde_json::json;
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

/// Wait until a sweep at or after `due` finds nothing to do in the due index (every order's occurrence of that
/// time sent, and the index caught up). Progress is what the due index still owes at `due` (a sweep of a hundred
/// occurrences takes a while on a loaded machine, and reports only at its end): fail only when that has not moved
/// for [`EVENTUALLY`].
async fn swept(stack: &devstack::Devstack, due: DateTime<Utc>, what: &str) {
    let d = tributary_testkit::dynamo();
    let projections = tributary_projections::ProjectionStore::new(d.client(), &d.projections_table);
    let mut sweeps = stack.sweeps();
    let (mut least, mut moved) = (usize::MAX, tokio::time::Instant::now());
    loop {
        if let Some((at, report)) = sweeps.borrow_and_update().clone() {
            if at >= due && report.candidates == 0 {
                return;
            }
        }
        let owed = tributary_scheduler::due(&projections, due)
            .await
            .unwrap()
            .len();
        if owed < least {
            (least, moved) = (owed, tokio::time::Instant::now());
        }
        assert!(
            moved.elapsed() < EVENTUALLY,
            "{what}: {owed} schedules still owe an occurrence, none sent for {EVENTUALLY:?}; the last sweep: {:?}",
            *sweeps.borrow()
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), sweeps.changed()).await;
    }
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

    for month in 0..MONTHS {
        let due = starting.checked_add_months(Months::new(month)).unwrap();
        stack.clock.advance_to(due + Span::minutes(1));
        if month == 4 || month == 8 {
            // Crash the scheduler mid-sweep (somewhere among the month's hundred occurrences), then start it again.
            tokio::time::sleep(Duration::from_millis(rand::random_range(200..1_200))).await;
            stack.restart_scheduler();
        }
        swept(&stack, due, &format!("month {}", month + 1)).await;
    }

    // Every occurrence's transfer has run: each source's statement has one line per month.
    until_all("every occurrence on its statement", ORDERS, || async {
        let mut done = 0;
        let mut sample = String::new();
        for o in &orders {
            let lines = statement_lines(&owners[o.owner], &base, &o.source).await;
            let paid =
                count_kind(&lines, "transfer-out") + count_kind(&lines, "standing-order-refused");
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
        let lines = statement_lines(&owners[o.owner], &base, &o.source).await;
        let applied = o.covered.min(MONTHS);
        assert_eq!(
            count_kind(&lines, "transfer-out"),
            applied,
            "{}: {lines:?}",
            o.source
        );
        assert_eq!(
            count_kind(&lines, "standing-order-refused"),
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
