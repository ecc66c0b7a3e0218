//! Hung DynamoDB calls: a proxy in front of a real DynamoDB API holds requests far longer than the function may
//! take. The command function must answer with a clear 503 before its Lambda timeout (10 s), and a write that lands
//! late must be recognised when the client retries with its idempotency key — applied once.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use command_function::{router, CommandService};
use http_body_util::BodyExt;
use std::time::{Duration, Instant};
use tower::ServiceExt;
use tributary_dynamodb::local::local_config;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_runtime::config::SdkPolicy;
use tributary_store::EventStore;
use tributary_testkit::{dynamo, ChaosProxy, Faults};

/// The function's timeout in `template.yaml`.
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(10);
/// Longer than any call may take.
const STALL: Duration = Duration::from_secs(12);

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: serde_json::Value,
}

async fn post(app: &axum::Router, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut request = Request::post(path).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_event_store_gets_a_503_in_time_and_a_late_write_is_applied_once() {
    let d = dynamo();
    let proxy = ChaosProxy::start(&d.endpoint, 5).await;
    // The DynamoDB client exactly as the command function configures it.
    let policy = SdkPolicy::REQUEST_PATH;
    let client = aws_sdk_dynamodb::Client::from_conf(
        local_config(&proxy.url)
            .timeout_config(policy.timeout_config())
            .retry_config(policy.retry_config())
            .build(),
    );
    let app = router(CommandService::new(client, &d.events_table));
    let opened = post(&app, "/accounts", &[], r#"{"currency":"EUR"}"#).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let id = opened.body["account_id"].as_str().unwrap().to_owned();
    let deposit = format!("/accounts/{id}/deposits");

    // Reads hang: a 503 in time, nothing written.
    proxy.set(Faults {
        stall: 1.0,
        stall_for: STALL,
        operations: vec!["Query"],
        ..Faults::none()
    });
    let started = Instant::now();
    let reply = post(&app, &deposit, &[], r#"{"amount":100}"#).await;
    assert!(
        started.elapsed() < LAMBDA_TIMEOUT,
        "answered in {:?}",
        started.elapsed()
    );
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(reply.headers["content-type"], "application/problem+json");
    assert_eq!(reply.headers["retry-after"], "1");

    // Writes hang, and land late (after the client was told the outcome is unknown). A keyed command writes its
    // events and its receipt in one transaction.
    proxy.set(Faults {
        stall: 1.0,
        stall_for: STALL,
        operations: vec!["PutItem", "TransactWriteItems"],
        ..Faults::none()
    });
    let key = [("idempotency-key", "stalled-deposit-1")];
    let started = Instant::now();
    let reply = post(&app, &deposit, &key, r#"{"amount":250}"#).await;
    assert!(
        started.elapsed() < LAMBDA_TIMEOUT,
        "answered in {:?}",
        started.elapsed()
    );
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert!(reply.body["detail"]
        .as_str()
        .unwrap()
        .contains("may or may not have been applied"));
    proxy.set(Faults::none());

    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
    let stream = format!("account-{id}");
    let deadline = Instant::now() + STALL + Duration::from_secs(20);
    while store.load(&stream).await.unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the stalled write landed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every stalled attempt targeted the same position: one landed, the others were refused.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let events = store.load(&stream).await.unwrap();
    assert_eq!(events.len(), 2, "the deposit was appended once");

    // The client retries with its key and learns the outcome.
    let retried = post(&app, &deposit, &key, r#"{"amount":250}"#).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    assert_eq!(retried.body["version"], 2);
    assert_eq!(store.load(&stream).await.unwrap().len(), 2);
}
