//! End to end over HTTP: the local stack's command API against a real DynamoDB API.

mod common;

use common::{client_as, post, stack};
use devstack::{Devstack, DevstackConfig, DynamoSource};
use serde_json::json;
use std::collections::HashMap;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_testkit::dynamo;

/// The README walkthrough, step by step (alice and bob as the README's bearer tokens name them).
#[tokio::test]
async fn the_readme_walkthrough() {
    let stack = stack().await;
    let http = client_as("alice");
    let base = stack.base_url();
    let opened = post(
        &http,
        &format!("{base}/accounts"),
        &[],
        Some(r#"{"currency":"EUR"}"#),
    )
    .await;
    assert_eq!(opened.status, 201);
    let id = opened.body["account_id"].as_str().unwrap().to_owned();
    assert_eq!(opened.header("location"), format!("/accounts/{id}"));
    let account = format!("{base}/accounts/{id}");

    let key = [("Idempotency-Key", "deposit-0001")];
    let deposit = post(
        &http,
        &format!("{account}/deposits"),
        &key,
        Some(r#"{"amount":1000}"#),
    )
    .await;
    assert_eq!(
        (deposit.status, deposit.body.clone()),
        (200, json!({"account_id": id, "version": 2}))
    );
    let withdrawal = post(
        &http,
        &format!("{account}/withdrawals"),
        &[],
        Some(r#"{"amount":250}"#),
    )
    .await;
    assert_eq!(
        (withdrawal.status, withdrawal.body["version"].clone()),
        (200, json!(3))
    );

    let overdraft = post(
        &http,
        &format!("{account}/withdrawals"),
        &[],
        Some(r#"{"amount":5000}"#),
    )
    .await;
    assert_eq!(overdraft.status, 422);
    assert_eq!(overdraft.header("content-type"), "application/problem+json");
    assert_eq!(
        overdraft.body["type"],
        "urn:tributary:problem:insufficient-funds"
    );
    assert_eq!(overdraft.body["balance"], 750);

    let replay = post(
        &http,
        &format!("{account}/deposits"),
        &key,
        Some(r#"{"amount":1000}"#),
    )
    .await;
    assert_eq!(
        (replay.status, replay.body.clone()),
        (200, deposit.body.clone())
    );
    let again = post(
        &http,
        &format!("{account}/withdrawals"),
        &[],
        Some(r#"{"amount":5000}"#),
    )
    .await;
    assert_eq!(
        again.body["balance"], 750,
        "the replay must not deposit again"
    );

    let bobs = post(
        &client_as("bob"),
        &format!("{account}/withdrawals"),
        &[],
        Some(r#"{"amount":1}"#),
    )
    .await;
    assert_eq!(
        (bobs.status, bobs.body["type"].clone()),
        (404, json!("urn:tributary:problem:account-not-found"))
    );

    let stale = post(
        &http,
        &format!("{account}/deposits"),
        &[("If-Match", "\"1\"")],
        Some(r#"{"amount":1}"#),
    )
    .await;
    assert_eq!(stale.status, 412);
    let malformed = post(
        &http,
        &format!("{account}/deposits"),
        &[],
        Some(r#"{"amount":"#),
    )
    .await;
    assert_eq!(
        (malformed.status, malformed.body["type"].clone()),
        (400, json!("urn:tributary:problem:malformed-json"))
    );
}

/// 16 clients deposit into one account at once. Conflicts are retried by the server (and, when it gives up with a
/// 409, by the client with the same Idempotency-Key): every deposit lands exactly once, versions are contiguous,
/// and no request fails with a 5xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_clients_deposit_exactly_once() {
    const CLIENTS: usize = 16;
    const DEPOSITS_EACH: usize = 8;
    let stack = stack().await;
    let http = reqwest::Client::new();
    let base = stack.base_url();
    let opened = post(
        &http,
        &format!("{base}/accounts"),
        &[],
        Some(r#"{"currency":"EUR"}"#),
    )
    .await;
    let id = opened.body["account_id"].as_str().unwrap().to_owned();
    let url = format!("{base}/accounts/{id}/deposits");

    let clients = (0..CLIENTS).map(|client| {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..DEPOSITS_EACH {
                let key = format!("client-{client}-deposit-{n}");
                let amount = 1 + client * 100 + n;
                loop {
                    let reply = post(
                        &http,
                        &url,
                        &[("Idempotency-Key", &key)],
                        Some(&format!(r#"{{"amount":{amount}}}"#)),
                    )
                    .await;
                    statuses.push(reply.status);
                    if reply.status != 409 {
                        assert_eq!(reply.status, 200, "{}", reply.body);
                        break;
                    }
                }
            }
            statuses
        })
    });
    let statuses: Vec<u16> = futures::future::join_all(clients)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "no 5xx: {statuses:?}"
    );
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    println!(
        "{CLIENTS} clients on one account: {conflicts} of {} requests answered 409 ({:.1}%)",
        statuses.len(),
        100.0 * conflicts as f64 / statuses.len() as f64
    );

    let d = dynamo();
    let events = DynamoDbEventStore::shared(d.client(), &d.events_table)
        .load(&format!("account-{id}"))
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.version == i as u64 + 1),
        "contiguous versions"
    );
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for e in events.iter().skip(1) {
        *per_key
            .entry(e.metadata.idempotency_key.clone().unwrap())
            .or_default() += 1;
    }
    assert_eq!(
        per_key.len(),
        CLIENTS * DEPOSITS_EACH,
        "every deposit landed"
    );
    assert!(per_key.values().all(|n| *n == 1), "no deposit landed twice");
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    println!(
        "{} requests, {} answered 409 after server-side retries",
        statuses.len(),
        conflicts
    );
}

/// The embedded DynamoDB can keep its data in a file: a restarted stack still knows the account.
#[tokio::test]
async fn devstack_keeps_data_in_a_file_across_restarts() {
    let dir = std::env::temp_dir().join(format!("tributary-devstack-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = DevstackConfig {
        dynamo: DynamoSource::Embedded {
            addr: "127.0.0.1:0".parse().unwrap(),
            file: Some(dir.join("data.db")),
        },
        ..common::test_config().await
    };
    let http = reqwest::Client::new();
    let stack = Devstack::start(config.clone()).await.unwrap();
    let opened = post(
        &http,
        &format!("{}/accounts", stack.base_url()),
        &[],
        Some(r#"{"currency":"USD"}"#),
    )
    .await;
    let id = opened.body["account_id"].as_str().unwrap().to_owned();
    drop(stack);

    let stack = Devstack::start(config).await.unwrap();
    let deposit = post(
        &http,
        &format!("{}/accounts/{id}/deposits", stack.base_url()),
        &[],
        Some(r#"{"amount":5}"#),
    )
    .await;
    assert_eq!(
        (deposit.status, deposit.body["version"].clone()),
        (200, json!(2))
    );
    drop(stack);
    let _ = std::fs::remove_dir_all(dir);
}
