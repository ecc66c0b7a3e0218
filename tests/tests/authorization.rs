//! Accounts belong to someone, over HTTP on the local stack (callers named by bearer tokens, as the local API
//! reads them): callers A and B each see and command only their own accounts — another's answers 404
//! `account-not-found`, appends nothing and publishes nothing; B reusing A's idempotency key is B's own request; an
//! operator reads both; listings are per caller. Runs on the embedded servers and on DynamoDB Local + tansu.

mod common;

use axum::body::Body;
use common::{client_as, post, stack};
use http_body_util::BodyExt;
use serde_json::Value;
use std::time::Duration;
use tower::ServiceExt;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_testkit::{bearer_with, dynamo, read_topic};

/// GET `url` as a client would: a `503 not-yet-visible` is asked again after `Retry-After` (up to
/// `common::EVENTUALLY`).
async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let reply = common::get_fresh(http, url).await;
    (reply.status, reply.body)
}

fn slug(body: &Value) -> &str {
    body["type"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("urn:tributary:problem:")
}

/// The account ids `http`'s caller sees in `GET /accounts` (waiting until `expect` are all there).
async fn listed(http: &reqwest::Client, base: &str, expect: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..100 {
        let (status, page) = get(http, &format!("{base}/accounts?limit=100")).await;
        assert_eq!(status, 200, "{page}");
        ids = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["account_id"].as_str().unwrap().to_owned())
            .collect();
        if expect.iter().all(|e| ids.iter().any(|i| i == e)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_see_and_command_only_their_own_accounts() {
    let stack = stack().await;
    let base = stack.base_url();
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let (a, b) = (format!("alice-{unique}"), format!("bob-{unique}"));
    let (alice, bob) = (client_as(&a), client_as(&b));
    let operator = {
        let mut headers = reqwest::header::HeaderMap::new();
        let token = bearer_with(serde_json::json!({"sub": "ops-1", "scope": "tributary/operator"}));
        headers.insert("authorization", token.parse().unwrap());
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap()
    };
    let open = |http: &reqwest::Client| {
        let (http, url) = (http.clone(), format!("{base}/accounts"));
        async move {
            let reply = post(&http, &url, &[], Some(r#"{"currency":"EUR"}"#)).await;
            assert_eq!(reply.status, 201, "{}", reply.body);
            reply.body["account_id"].as_str().unwrap().to_owned()
        }
    };
    let (account_a, account_b) = (open(&alice).await, open(&bob).await);
    let deposit = post(
        &alice,
        &format!("{base}/accounts/{account_a}/deposits"),
        &[("idempotency-key", "shared-key")],
        Some(r#"{"amount":500}"#),
    )
    .await;
    assert_eq!(deposit.status, 200, "{}", deposit.body);
    let store = DynamoDbEventStore::shared(dynamo().client(), &stack.events_table);
    let stream_a = format!("account-{account_a}");
    let before = store.load(&stream_a).await.unwrap();

    // Bob cannot command Alice's account: 404 as if it did not exist, nothing appended.
    for (path, body) in [
        ("deposits", Some(r#"{"amount":100}"#)),
        ("withdrawals", Some(r#"{"amount":100}"#)),
        ("close", None),
    ] {
        for key in [None, Some("shared-key")] {
            let headers: Vec<(&str, &str)> =
                key.map(|k| ("idempotency-key", k)).into_iter().collect();
            let reply = post(
                &bob,
                &format!("{base}/accounts/{account_a}/{path}"),
                &headers,
                body,
            )
            .await;
            assert_eq!(
                (reply.status, slug(&reply.body)),
                (404, "account-not-found"),
                "bob {path} with key {key:?}: {}",
                reply.body
            );
        }
    }
    // Nor read it.
    for url in [
        format!("{base}/accounts/{account_a}"),
        format!("{base}/accounts/{account_a}/statement"),
        format!("{base}/accounts/{account_a}?min_version=2"),
        format!("{base}/accounts/{account_a}/events"),
        format!("{base}/accounts/{account_a}/events?order=oldest"),
        format!("{base}/accounts/{account_a}?as_of_version=1"),
        format!("{base}/accounts/{account_a}?as_of_version=99"),
    ] {
        let (status, body) = get(&bob, &url).await;
        assert_eq!(
            (status, slug(&body)),
            (404, "account-not-found"),
            "{url}: {body}"
        );
    }
    // The answer is the same as for an account that does not exist.
    let (status, body) = get(&bob, &format!("{base}/accounts/{}", uuid::Uuid::new_v4())).await;
    assert_eq!((status, slug(&body)), (404, "account-not-found"));
    assert_eq!(
        store.load(&stream_a).await.unwrap(),
        before,
        "nothing appended to alice's account"
    );

    // Bob's use of the key Alice used is Bob's own request, on his account.
    let bobs = post(
        &bob,
        &format!("{base}/accounts/{account_b}/deposits"),
        &[("idempotency-key", "shared-key")],
        Some(r#"{"amount":500}"#),
    )
    .await;
    assert_eq!(
        (bobs.status, bobs.body["version"].clone()),
        (200, Value::from(2))
    );
    assert!(
        bobs.headers.get("idempotent-replayed").is_none(),
        "not a replay of alice's"
    );

    // Each caller reads their own; the operator reads both.
    for (http, account, version) in [(&alice, &account_a, 2), (&bob, &account_b, 2)] {
        let (status, summary) = get(
            http,
            &format!("{base}/accounts/{account}?min_version={version}"),
        )
        .await;
        assert_eq!(
            (status, summary["balance"].clone()),
            (200, Value::from(500)),
            "{summary}"
        );
    }
    for account in [&account_a, &account_b] {
        let (status, summary) = get(
            &operator,
            &format!("{base}/accounts/{account}?min_version=2"),
        )
        .await;
        assert_eq!(status, 200, "the operator reads {account}: {summary}");
        let (status, statement) = get(
            &operator,
            &format!("{base}/accounts/{account}/statement?min_version=2"),
        )
        .await;
        assert_eq!(status, 200, "{statement}");
        let (status, events) = get(&operator, &format!("{base}/accounts/{account}/events")).await;
        assert_eq!(
            (status, events["items"].as_array().map(Vec::len)),
            (200, Some(2)),
            "the operator reads the audit trail: {events}"
        );
    }
    // The owner reads the audit trail and the account as of a version.
    let (status, events) = get(
        &alice,
        &format!("{base}/accounts/{account_a}/events?order=oldest"),
    )
    .await;
    assert_eq!(status, 200, "{events}");
    let types: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["AccountOpened", "MoneyDeposited"]);
    let (status, opened) = get(
        &alice,
        &format!("{base}/accounts/{account_a}?as_of_version=1"),
    )
    .await;
    assert_eq!(
        (status, opened["balance"].clone()),
        (200, Value::from(0)),
        "{opened}"
    );

    // Listings are per caller; an operator may list anyone's; nobody else may.
    let alices = listed(&alice, &base, &[&account_a]).await;
    assert_eq!(alices, std::slice::from_ref(&account_a));
    let bobs_accounts = listed(&bob, &base, &[&account_b]).await;
    assert_eq!(bobs_accounts, std::slice::from_ref(&account_b));
    let (status, page) = get(&operator, &format!("{base}/accounts?owner={a}")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["items"][0]["account_id"],
        Value::from(account_a.clone())
    );
    let (status, body) = get(&bob, &format!("{base}/accounts?owner={a}")).await;
    assert_eq!((status, slug(&body)), (403, "forbidden"));

    // Nothing was published for Bob's attempts: no rejection names alice's account (a rejection of his own
    // commands would), and her events on the topic are her two.
    let rejections = read_topic(
        &stack.kafka_bootstrap,
        &stack.rejections_topic,
        Duration::from_secs(3),
        |_| false,
    )
    .await;
    assert!(
        rejections.iter().all(|r| r.key != stream_a),
        "no rejection published for bob's attempts: {rejections:?}"
    );
    let events = read_topic(
        &stack.kafka_bootstrap,
        &stack.events_topic,
        Duration::from_secs(10),
        {
            let stream_a = stream_a.clone();
            move |r| r.iter().filter(|r| r.key == stream_a).count() >= 4
        },
    )
    .await;
    let versions: std::collections::BTreeSet<u64> = events
        .iter()
        .filter(|r| r.key == stream_a)
        .map(|r| r.value["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2].into(), "alice's events only");
    stack.stop().await;
}

/// In Lambda only API Gateway's authorizer context names the caller: a bearer token the request carries itself is
/// ignored, however it is forged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_lambda_a_forged_authorization_header_is_ignored() {
    let d = dynamo();
    let app = command_function::router(command_function::CommandService::new(
        d.client(),
        &d.events_table,
    ));
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": "POST /accounts",
        "rawPath": "/accounts",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "authorization": bearer_with(serde_json::json!({"sub": "mallory", "scope": "tributary/operator"})),
        },
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": "POST", "path": "/accounts", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "test"},
            "requestId": "forged", "routeKey": "POST /accounts", "stage": "$default",
            "time": "27/Nov/2026:10:00:00 +0000", "timeEpoch": 1795860000000i64,
            "authorizer": {"jwt": {"claims": {"sub": "alice-from-cognito"}, "scopes": null}}
        },
        "isBase64Encoded": false,
        "body": "{\"currency\":\"EUR\"}"
    });
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = app.oneshot(request.map(Body::new)).await.unwrap();
    assert_eq!(response.status(), 201);
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let stream = format!("account-{}", body["account_id"].as_str().unwrap());
    let events = DynamoDbEventStore::shared(d.client(), &d.events_table)
        .load(&stream)
        .await
        .unwrap();
    assert_eq!(events[0].metadata.actor, "alice-from-cognito");
    assert!(
        events[0].payload.contains("alice-from-cognito"),
        "the owner is the authorizer's sub"
    );
}
