//! The operator CLI (`tributary`: `crates/ops` over the application, `examples/app`) against the local stack, driven with real command lines: `lag` sees
//! consumers that are behind (none running) and consumers that caught up, `dead-letters list | show | replay` finds
//! and re-drives the letters a poison record caused and then lists them as replayed, `rebuild` recomputes a read
//! model, `stream` prints an aggregate's events as the store holds them. Human output is checked for its key lines;
//! `--json` output is parsed and checked exactly.

mod common;

use app::operations::Operated;
use clap::Parser;
use common::{client_as, post, test_config};
use devstack::Devstack;
use serde_json::Value;
use std::time::Duration;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_ops::{run, Cli};
use tributary_testkit::{dynamo, produce_raw, read_topic};

/// Run `tributary <args>` against `stack`; its stdout, or the error.
async fn tributary(stack: &Devstack, prefix: &str, args: &[&str]) -> anyhow::Result<String> {
    common::tributary_cli(stack, prefix, args).await
}

async fn json(stack: &Devstack, prefix: &str, args: &[&str]) -> Value {
    let mut with_json = vec!["--json"];
    with_json.extend_from_slice(args);
    let out = tributary(stack, prefix, &with_json)
        .await
        .unwrap_or_else(|e| panic!("tributary {args:?}: {e:#}"));
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("tributary {args:?} printed JSON: {e}\n{out}"))
}

/// Open an account as `owner` and deposit into it; its id.
async fn account_with_deposit(base: &str, owner: &str) -> String {
    let http = client_as(owner);
    let opened = post(
        &http,
        &format!("{base}/accounts"),
        &[],
        Some(r#"{"currency":"EUR"}"#),
    )
    .await;
    let id = opened.body["account_id"].as_str().unwrap().to_owned();
    let deposited = post(
        &http,
        &format!("{base}/accounts/{id}/deposits"),
        &[],
        Some(r#"{"amount":700}"#),
    )
    .await;
    assert_eq!(deposited.status, 200, "{}", deposited.body);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_shows_how_far_consumers_that_do_not_run_are_behind() {
    // No consumers run: every group is behind by every record on the topic. No relay either: the tests of this
    // binary share the events table, and a relay publishes every stream of it; the command path publishes only its
    // own events (two: opened, deposited).
    let config = test_config().await;
    let prefix = config.mapping.group_prefix.clone();
    let stack = Devstack::start(devstack::DevstackConfig {
        denormalisers: false,
        relay: false,
        ..config
    })
    .await
    .unwrap();
    account_with_deposit(&stack.base_url(), "alice").await;
    let published = read_topic(
        &stack.kafka_bootstrap,
        &stack.events_topic,
        tributary_testkit::EVENTUALLY,
        |r| r.len() >= 2,
    )
    .await;
    assert_eq!(published.len(), 2);

    let lags = json(&stack, &prefix, &["lag", "--consumer", "statement"]).await;
    let lags = lags.as_array().unwrap();
    assert_eq!(lags.len(), devstack::TOPIC_PARTITIONS as usize, "{lags:#?}");
    let behind: i64 = lags.iter().map(|l| l["behind"].as_i64().unwrap()).sum();
    assert_eq!(behind, 2, "{lags:#?}");
    for lag in lags {
        assert_eq!(lag["consumer_group"], format!("{prefix}-statement"));
        assert!(
            lag["committed"].is_null(),
            "the group never committed: {lag}"
        );
        let age = &lag["oldest_unapplied_age_ms"];
        if lag["behind"].as_i64().unwrap() > 0 {
            assert!((0..60_000).contains(&age.as_i64().unwrap()), "{lag}");
        } else {
            assert!(age.is_null(), "{lag}");
        }
    }
    let human = tributary(&stack, &prefix, &["lag", "--consumer", "statement"])
        .await
        .unwrap();
    assert!(
        human.contains(&format!("{prefix}-statement: 2 records behind")),
        "{human}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_shown_and_replayed_lag_drains_and_streams_are_rebuilt_and_read() {
    let config = test_config().await;
    let prefix = config.mapping.group_prefix.clone();
    let stack = Devstack::start(config).await.unwrap();
    let base = stack.base_url();
    let account = account_with_deposit(&base, "alice").await;
    let stream = format!("account-{account}");

    // A poison record, on the account's key: every consumer dead-letters it (a letter per read model of the
    // application, and the transfer process's).
    let consumers = app::read_models().len() + 1;
    produce_raw(
        &stack.kafka_bootstrap,
        &stack.events_topic,
        &stream,
        "{ not an envelope",
    )
    .await;
    read_topic(
        &stack.kafka_bootstrap,
        &stack.dead_letter_topic,
        tributary_testkit::EVENTUALLY,
        move |r| r.len() >= consumers,
    )
    .await;

    let listed = json(&stack, &prefix, &["dead-letters", "list"]).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), consumers, "{listed:#?}");
    let statement = json(
        &stack,
        &prefix,
        &["dead-letters", "list", "--consumer", "statement"],
    )
    .await;
    let statement = statement.as_array().unwrap();
    assert_eq!(statement.len(), 1);
    let letter = &statement[0]["letter"];
    assert_eq!(letter["consumer"], format!("{prefix}-statement"));
    let id = letter["id"].as_str().unwrap();
    assert!(
        listed.iter().all(|l| l["replayed"] == false),
        "no replay has run yet: {listed:#?}"
    );
    let human = tributary(&stack, &prefix, &["dead-letters", "list"])
        .await
        .unwrap();
    assert!(
        human.contains(id)
            && human.contains(&format!(
                "{consumers} letters, {consumers} not replayed yet;"
            )),
        "{human}"
    );

    let shown = json(&stack, &prefix, &["dead-letters", "show", id]).await;
    assert_eq!(shown["id"], id);
    assert_eq!(shown["decoded"]["key"], stream.as_str());
    assert_eq!(shown["decoded"]["value"], "{ not an envelope");
    let missing = tributary(&stack, &prefix, &["dead-letters", "show", "no-such-letter"]).await;
    assert!(missing
        .unwrap_err()
        .to_string()
        .contains("no dead letter with id"));

    // Replay: the statement of the stream the letter names is recomputed from the store; a second replay finds
    // nothing new.
    let replayed = json(&stack, &prefix, &["dead-letters", "replay", "statement"]).await;
    assert_eq!(replayed["ours"], 1, "{replayed}");
    assert_eq!(replayed["streams"], serde_json::json!([stream]));
    let again = json(&stack, &prefix, &["dead-letters", "replay", "statement"]).await;
    assert_eq!(
        (again["read"].as_u64(), again["ours"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    // The listing says which letters a replay has dealt with: the statement's, and no other consumer's.
    let listed = json(&stack, &prefix, &["dead-letters", "list"]).await;
    let replayed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["replayed"] == true)
        .map(|l| l["letter"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(replayed, [id], "{listed:#?}");
    let pending = json(&stack, &prefix, &["dead-letters", "list", "--pending"]).await;
    assert_eq!(
        pending.as_array().unwrap().len(),
        consumers - 1,
        "{pending:#?}"
    );
    assert_eq!(
        json(&stack, &prefix, &["dead-letters", "show", id]).await["replayed"],
        true
    );

    // The running consumers catch up: every group, every partition, nothing behind (it commits after a batch).
    let mut lags = Value::Null;
    let deadline = tokio::time::Instant::now() + tributary_testkit::EVENTUALLY;
    while tokio::time::Instant::now() < deadline {
        lags = json(&stack, &prefix, &["lag"]).await;
        if lags.as_array().unwrap().iter().all(|l| l["behind"] == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lags = lags.as_array().unwrap();
    assert_eq!(
        lags.len(),
        consumers * devstack::TOPIC_PARTITIONS as usize,
        "{lags:#?}"
    );
    assert!(
        lags.iter()
            .all(|l| l["behind"] == 0 && l["oldest_unapplied_age_ms"].is_null()),
        "{lags:#?}"
    );
    let human = tributary(&stack, &prefix, &["lag"]).await.unwrap();
    assert!(
        human.contains(&format!("{prefix}-transfer-process: up to date")),
        "{human}"
    );

    // Rebuild, and a stream's events as the store holds them.
    let rebuilt = json(
        &stack,
        &prefix,
        &["rebuild", "account-summary", "--restart"],
    )
    .await;
    assert_eq!(rebuilt["completed"], true, "{rebuilt}");
    assert!(rebuilt["streams"].as_u64().unwrap() >= 1);
    let events = json(&stack, &prefix, &["stream", &account]).await;
    assert_eq!(events["stream"], stream.as_str());
    let stored = DynamoDbEventStore::shared(dynamo().client(), &dynamo().events_table)
        .load(&stream)
        .await
        .unwrap();
    let listed: Vec<(u64, String)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["version"].as_u64().unwrap(),
                e["event_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = stored
        .iter()
        .map(|e| (e.version, e.event_type.clone()))
        .collect();
    assert_eq!(listed, expected);
    let human = tributary(&stack, &prefix, &["stream", &stream])
        .await
        .unwrap();
    assert!(human.starts_with(&format!("{stream}: 2 events")), "{human}");
    // Mistakes are clear errors.
    let wrong = tributary(&stack, &prefix, &["rebuild", "no-such-model"])
        .await
        .unwrap_err();
    assert!(wrong.to_string().contains("expected one of"), "{wrong}");
    let nothing = tributary(
        &stack,
        &prefix,
        &["stream", "account-00000000-0000-4000-8000-000000000000"],
    )
    .await;
    assert!(nothing.unwrap_err().to_string().contains("no events in"));
    stack.stop().await;
}

/// `rebuild` goes past a stream it cannot rebuild, names it with why, and exits non-zero; `--skip` leaves it out,
/// `--stream` retries it alone. On tables of its own (a full rebuild scans every stream of its events table).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_names_the_streams_it_cannot_rebuild() {
    use bank_account::{AccountEvent, Amount, Currency, Principal};
    use tributary_dynamodb::tables;
    use tributary_store::NewEvent;
    let d = dynamo();
    let suffix = uuid::Uuid::new_v4().simple();
    let (events, projections) = (
        format!("cli-rebuild-events-{suffix}"),
        format!("cli-rebuild-projections-{suffix}"),
    );
    tables::TableSpec {
        stream_view: None,
        ..tables::EVENTS
    }
    .ensure(&d.client(), &events)
    .await
    .unwrap();
    tables::PROJECTIONS
        .ensure(&d.client(), &projections)
        .await
        .unwrap();
    let ann = Principal::parse("ann").unwrap();
    let deposit = AccountEvent::MoneyDeposited {
        amount: Amount::new(5).unwrap(),
        deposited_by: ann.clone(),
    };
    let (good, bad) = (
        format!("account-{}", uuid::Uuid::new_v4()),
        format!("account-{}", uuid::Uuid::new_v4()),
    );
    for (stream, history) in [
        (
            &good,
            vec![
                AccountEvent::AccountOpened {
                    owner: ann.clone(),
                    currency: Currency::parse("EUR").unwrap(),
                    holder: None,
                },
                deposit.clone(),
            ],
        ),
        // Never opened: the summary's fold refuses it.
        (&bad, vec![deposit.clone()]),
    ] {
        let history = history
            .iter()
            .map(|e| NewEvent::from_domain(e, tributary_testkit::event_metadata("ann")));
        tributary_testkit::seed_history(&d.client(), &events, stream, 1, history)
            .await
            .unwrap();
    }
    let cli = |args: &[&str]| {
        let mut argv = vec![
            "tributary".to_owned(),
            format!("--dynamodb-endpoint={}", d.endpoint),
            format!("--events-table={events}"),
            format!("--projections-table={projections}"),
        ];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        Cli::try_parse_from(argv).unwrap()
    };
    let mut out = Vec::new();
    let failed = run(&Operated, cli(&["rebuild", "account-summary"]), &mut out).await;
    let printed = String::from_utf8(out).unwrap();
    assert!(
        failed
            .unwrap_err()
            .to_string()
            .contains("1 stream(s) could not be rebuilt"),
        "{printed}"
    );
    assert!(printed.contains("rebuilt 1 streams"), "{printed}");
    assert!(printed.contains(&format!("failed: {bad}")), "{printed}");

    let mut out = Vec::new();
    run(
        &Operated,
        cli(&[
            "--json",
            "rebuild",
            "account-summary",
            "--restart",
            "--skip",
            &bad,
        ]),
        &mut out,
    )
    .await
    .unwrap();
    let skipped: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        (&skipped["streams"], &skipped["skipped"], &skipped["failed"]),
        (&Value::from(1), &Value::from(1), &serde_json::json!({}))
    );

    let mut out = Vec::new();
    let alone = run(
        &Operated,
        cli(&["rebuild", "account-summary", "--stream", &bad]),
        &mut out,
    )
    .await;
    assert!(alone.is_err(), "{}", String::from_utf8_lossy(&out));
    let mut out = Vec::new();
    run(
        &Operated,
        cli(&["rebuild", "account-summary", "--stream", &good]),
        &mut out,
    )
    .await
    .unwrap();
}
