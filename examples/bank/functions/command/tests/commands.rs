//! The command API's handlers through its router, against a real DynamoDB API (embedded dynoxide, or DynamoDB
//! Local when `AWS_ENDPOINT_URL_DYNAMODB` is set).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use command_function::{router, CommandService};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_store::EventStore;
use tributary_testkit::{dynamo, CallLog};

struct Api {
    router: Router,
    calls: CallLog,
    store: std::sync::Arc<dyn EventStore>,
}

fn api() -> Api {
    let d = dynamo();
    let (client, calls) = d.counted_client();
    Api {
        router: router(CommandService::new(client, &d.events_table)),
        calls,
        store: DynamoDbEventStore::shared(d.client(), &d.events_table),
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

impl Api {
    async fn send(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut request = Request::builder().method("POST").uri(path);
        if !body.is_empty() && !headers.iter().any(|(name, _)| *name == "content-type") {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn open(&self) -> String {
        let reply = self.send("/accounts", &[], r#"{"currency":"EUR"}"#).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["account_id"].as_str().unwrap().to_owned()
    }

    async fn balance_events(&self, id: &str) -> Vec<(u64, String)> {
        self.store
            .load(&format!("account-{id}"))
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.version, e.event_type))
            .collect()
    }
}

fn problem_type(reply: &Reply) -> &str {
    assert_eq!(reply.headers["content-type"], "application/problem+json");
    reply.body["type"]
        .as_str()
        .unwrap()
        .trim_start_matches("urn:tributary:problem:")
}

#[tokio::test]
async fn the_account_lifecycle() {
    let api = api();
    let reply = api.send("/accounts", &[], r#"{"currency":"EUR"}"#).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let id = reply.body["account_id"].as_str().unwrap().to_owned();
    assert_eq!(reply.body["version"], 1);
    assert_eq!(
        reply.headers["location"],
        format!("/accounts/{id}").as_str()
    );
    assert_eq!(reply.headers["etag"], "\"1\"");

    let reply = api
        .send(
            &format!("/accounts/{id}/deposits"),
            &[],
            r#"{"amount":1000}"#,
        )
        .await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (StatusCode::OK, json!({"account_id": id, "version": 2}))
    );
    let reply = api
        .send(
            &format!("/accounts/{id}/withdrawals"),
            &[],
            r#"{"amount":1000}"#,
        )
        .await;
    assert_eq!(reply.body["version"], 3);
    let reply = api.send(&format!("/accounts/{id}/close"), &[], "").await;
    assert_eq!(
        (reply.status, reply.body["version"].clone()),
        (StatusCode::OK, json!(4))
    );
    let reply = api
        .send(&format!("/accounts/{id}/deposits"), &[], r#"{"amount":1}"#)
        .await;
    assert_eq!(
        (reply.status, problem_type(&reply)),
        (StatusCode::UNPROCESSABLE_ENTITY, "account-closed")
    );
    let types: Vec<_> = api
        .balance_events(&id)
        .await
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        types,
        [
            "AccountOpened",
            "MoneyDeposited",
            "MoneyWithdrawn",
            "AccountClosed"
        ]
    );
}

#[tokio::test]
async fn business_rules_answer_422_and_append_nothing() {
    let api = api();
    let id = api.open().await;
    api.send(
        &format!("/accounts/{id}/deposits"),
        &[],
        r#"{"amount":100}"#,
    )
    .await;
    let reply = api
        .send(
            &format!("/accounts/{id}/withdrawals"),
            &[],
            r#"{"amount":5000}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_type(&reply), "insufficient-funds");
    assert_eq!(
        (
            reply.body["balance"].clone(),
            reply.body["requested"].clone()
        ),
        (json!(100), json!(5000))
    );
    let reply = api.send(&format!("/accounts/{id}/close"), &[], "{}").await;
    assert_eq!(problem_type(&reply), "balance-not-zero");
    assert_eq!(api.balance_events(&id).await.len(), 2);
}

#[tokio::test]
async fn bad_input_gets_the_right_4xx_problem() {
    let api = api();
    let id = api.open().await;
    let deposit = format!("/accounts/{id}/deposits");
    let cases: Vec<(Reply, StatusCode, &str)> = vec![
        (
            api.send(&deposit, &[], r#"{"amount":"#).await,
            StatusCode::BAD_REQUEST,
            "malformed-json",
        ),
        (
            api.send(&deposit, &[], r#"{"amount":0}"#).await,
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            api.send(&deposit, &[], r#"{"amount":-5}"#).await,
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            api.send(&deposit, &[], r#"{"amount":1.5}"#).await,
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            api.send(&deposit, &[], r#"{"amount":1000000000001}"#).await,
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            api.send(&deposit, &[], r#"{"amount":1,"memo":"x"}"#).await,
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            api.send(&deposit, &[], "").await,
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            api.send("/accounts", &[], r#"{"currency":"XYZ"}"#).await,
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            // The owner is the caller, never a field of the body.
            api.send("/accounts", &[], r#"{"owner":"mallory","currency":"EUR"}"#)
                .await,
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            api.send("/accounts/ACCOUNT/deposits", &[], r#"{"amount":1}"#)
                .await,
            StatusCode::BAD_REQUEST,
            "invalid-account-id",
        ),
        (
            api.send(&deposit, &[("idempotency-key", "")], r#"{"amount":1}"#)
                .await,
            StatusCode::BAD_REQUEST,
            "invalid-idempotency-key",
        ),
        (
            api.send(&deposit, &[("if-match", "1")], r#"{"amount":1}"#)
                .await,
            StatusCode::BAD_REQUEST,
            "invalid-if-match",
        ),
        (
            api.send(&deposit, &[("content-type", "text/plain")], "amount=1")
                .await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            api.send(
                &deposit,
                &[],
                &format!(r#"{{"amount":1,"pad":"{}"}}"#, "x".repeat(70_000)),
            )
            .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
        ),
        (
            api.send("/nowhere", &[], "").await,
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            api.send(
                &format!("/accounts/{}/deposits", uuid::Uuid::new_v4()),
                &[],
                r#"{"amount":1}"#,
            )
            .await,
            StatusCode::NOT_FOUND,
            "account-not-found",
        ),
    ];
    for (i, (reply, status, slug)) in cases.iter().enumerate() {
        assert_eq!(
            (reply.status, problem_type(reply)),
            (*status, *slug),
            "case {i}: {}",
            reply.body
        );
        assert!(
            reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "case {i}"
        );
    }
    // None of it reached the stream.
    assert_eq!(api.balance_events(&id).await.len(), 1);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_original_response_and_appends_nothing() {
    let api = api();
    let id = api.open().await;
    let deposit = format!("/accounts/{id}/deposits");
    let key = [("idempotency-key", "deposit-1")];
    let first = api.send(&deposit, &key, r#"{"amount":1000}"#).await;
    assert_eq!(first.status, StatusCode::OK);
    api.send(&deposit, &[], r#"{"amount":5}"#).await;
    // Same key, same request (whitespace differs): the original response, not a new event.
    let again = api.send(&deposit, &key, r#"{ "amount" : 1000 }"#).await;
    assert_eq!(
        (again.status, again.body.clone()),
        (StatusCode::OK, first.body.clone())
    );
    assert_eq!(again.headers["idempotent-replayed"], "true");
    // Same key, different request: refused.
    let reused = api.send(&deposit, &key, r#"{"amount":999}"#).await;
    assert_eq!(
        (reused.status, problem_type(&reused)),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused")
    );
    assert_eq!(api.balance_events(&id).await.len(), 3);
}

#[tokio::test]
async fn a_retried_open_returns_the_same_account() {
    let api = api();
    let key = [(
        "idempotency-key",
        &*format!("open-{}", uuid::Uuid::new_v4()),
    )];
    let body = r#"{"currency":"GBP"}"#;
    let first = api.send("/accounts", &key, body).await;
    let again = api.send("/accounts", &key, body).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(
        (again.status, again.body.clone()),
        (StatusCode::CREATED, first.body.clone())
    );
    assert_eq!(again.headers["location"], first.headers["location"]);
    let other = api.send("/accounts", &key, r#"{"currency":"EUR"}"#).await;
    assert_eq!(problem_type(&other), "idempotency-key-reused");
    let id = first.body["account_id"].as_str().unwrap();
    assert_eq!(api.balance_events(id).await.len(), 1);
}

#[tokio::test]
async fn if_match_makes_a_command_conditional() {
    let api = api();
    let id = api.open().await;
    let deposit = format!("/accounts/{id}/deposits");
    let ok = api
        .send(&deposit, &[("if-match", "\"1\"")], r#"{"amount":10}"#)
        .await;
    assert_eq!(
        (ok.status, ok.headers["etag"].to_str().unwrap()),
        (StatusCode::OK, "\"2\"")
    );
    let stale = api
        .send(&deposit, &[("if-match", "\"1\"")], r#"{"amount":10}"#)
        .await;
    assert_eq!(
        (stale.status, problem_type(&stale)),
        (StatusCode::PRECONDITION_FAILED, "version-mismatch")
    );
    assert_eq!(
        (
            stale.body["expected_version"].clone(),
            stale.body["actual_version"].clone()
        ),
        (json!(1), json!(2))
    );
}

/// Without a key: one consistent Query and one conditional PutItem. With a key: the same Query, and the events with
/// the key's receipt in one transaction (so the key is remembered for its period whatever others append).
#[tokio::test]
async fn a_single_event_command_costs_one_query_and_one_conditional_put() {
    let api = api();
    let id = api.open().await;
    api.calls.clear();
    api.send(&format!("/accounts/{id}/deposits"), &[], r#"{"amount":10}"#)
        .await;
    assert_eq!(api.calls.operations(), ["Query", "PutItem"]);
    api.calls.clear();
    let reply = api
        .send(
            &format!("/accounts/{id}/withdrawals"),
            &[("idempotency-key", "w-1")],
            r#"{"amount":5}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(api.calls.operations(), ["Query", "TransactWriteItems"]);
    // A replay inside the window of recent commands costs the read only.
    api.calls.clear();
    api.send(
        &format!("/accounts/{id}/withdrawals"),
        &[("idempotency-key", "w-1")],
        r#"{"amount":5}"#,
    )
    .await;
    assert_eq!(api.calls.operations(), ["Query"]);
}
