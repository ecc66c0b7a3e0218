//! The OpenAPI document agrees with the running API: it is served, every route is documented, every documented
//! route exists, and real responses validate against the documented schemas.

mod common;

use common::{post, stack};
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn document() -> Value {
    app::openapi()
}

/// (METHOD, path) of every documented operation.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// Validate `body` against the schema the document gives for (`path`, `method`, `status`).
fn assert_matches_schema(doc: &Value, path: &str, method: &str, status: u16, body: &Value) {
    let errors = schema_errors(doc, path, method, status, body);
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: {errors:?}\nbody: {body}"
    );
}

/// Why `body` does not match the documented schema (empty: it matches).
fn schema_errors(doc: &Value, path: &str, method: &str, status: u16, body: &Value) -> Vec<String> {
    let operation = &doc["paths"][path][method.to_lowercase()];
    let mut response = &operation["responses"][status.to_string()];
    assert!(
        !response.is_null(),
        "{method} {path} does not document status {status} (body {body})"
    );
    if let Some(reference) = response["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/responses/");
        response = &doc["components"]["responses"][name];
    }
    let content = response["content"].as_object().expect("documented content");
    let (_, media) = content.iter().next().expect("one media type");
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [media["schema"]],
    });
    let validator = jsonschema::validator_for(&schema).expect("the documented schema compiles");
    validator.iter_errors(body).map(|e| e.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_and_matches_the_routers() {
    let stack = stack().await;
    let served: Value = reqwest::get(format!("{}/openapi.json", stack.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let doc = document();
    assert_eq!(served, doc);
    assert_eq!(doc["openapi"], "3.1.0");

    let routes: BTreeSet<(String, String)> = tributary_tests::served::command_routes()
        .into_iter()
        .chain(tributary_tests::served::read_routes())
        .map(|(method, path)| (method.to_owned(), path.to_owned()))
        .collect();
    assert_eq!(
        documented(&doc),
        routes,
        "every route documented, every documented route routed"
    );

    // Every documented operation reaches a handler (not the unknown-route or unknown-method fallback).
    let http = reqwest::Client::new();
    for (method, path) in documented(&doc) {
        let concrete = path.replace("{account_id}", &uuid::Uuid::new_v4().to_string());
        let request = http.request(
            method.parse().unwrap(),
            format!("{}{concrete}", stack.base_url()),
        );
        let request = if method == "POST" {
            request
                .header("content-type", "application/json")
                .body("{}")
        } else {
            request
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let slug = body["type"].as_str().unwrap_or_default();
        assert!(
            !slug.ends_with(":not-found") && !slug.ends_with(":method-not-allowed"),
            "{method} {path} is not routed ({status} {body})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_match_the_documented_schemas() {
    let stack = stack().await;
    let doc = document();
    let http = reqwest::Client::new();
    let base = stack.base_url();
    // The check can fail: a body that is not what the document says is refused.
    let wrong = json!({"account_id": 5, "version": 0, "extra": true});
    assert_eq!(
        schema_errors(&doc, "/accounts", "POST", 201, &wrong).len(),
        3
    );
    let mut checked = Vec::new();
    let mut check = |path: &str, method: &str, status: u16, body: Value| {
        assert_matches_schema(&doc, path, method, status, &body);
        checked.push(format!("{method} {path} {status}"));
    };

    let r = post(
        &http,
        &format!("{base}/accounts"),
        &[],
        Some(r#"{"currency":"EUR"}"#),
    )
    .await;
    let id = r.body["account_id"].as_str().unwrap().to_owned();
    check("/accounts", "POST", r.status, r.body);
    let r = post(
        &http,
        &format!("{base}/accounts"),
        &[],
        Some(r#"{"currency":"EURO"}"#),
    )
    .await;
    check("/accounts", "POST", r.status, r.body);
    let r = post(
        &http,
        &format!("{base}/accounts/{id}/deposits"),
        &[],
        Some(r#"{"amount":500}"#),
    )
    .await;
    check("/accounts/{account_id}/deposits", "POST", r.status, r.body);
    let r = post(
        &http,
        &format!("{base}/accounts/{id}/deposits"),
        &[("If-Match", "\"1\"")],
        Some(r#"{"amount":5}"#),
    )
    .await;
    check("/accounts/{account_id}/deposits", "POST", r.status, r.body);
    let r = post(
        &http,
        &format!("{base}/accounts/{id}/withdrawals"),
        &[],
        Some(r#"{"amount":100}"#),
    )
    .await;
    check(
        "/accounts/{account_id}/withdrawals",
        "POST",
        r.status,
        r.body,
    );
    let r = post(
        &http,
        &format!("{base}/accounts/{id}/withdrawals"),
        &[],
        Some(r#"{"amount":99999}"#),
    )
    .await;
    check(
        "/accounts/{account_id}/withdrawals",
        "POST",
        r.status,
        r.body,
    );
    let r = post(&http, &format!("{base}/accounts/{id}/close"), &[], None).await;
    check("/accounts/{account_id}/close", "POST", r.status, r.body);
    let r = post(
        &http,
        &format!("{base}/accounts/{}/close", uuid::Uuid::new_v4()),
        &[],
        None,
    )
    .await;
    check("/accounts/{account_id}/close", "POST", r.status, r.body);

    // As a client would: a 503 not-yet-visible is asked again after Retry-After.
    let get = |url: String| {
        let http = http.clone();
        async move {
            let reply = common::get_fresh(&http, &url).await;
            (reply.status, reply.body)
        }
    };
    let (status, body) = get(format!("{base}/accounts/{id}?min_version=3")).await;
    check("/accounts/{account_id}", "GET", status, body);
    let (status, body) = get(format!("{base}/accounts/{}", uuid::Uuid::new_v4())).await;
    check("/accounts/{account_id}", "GET", status, body);
    let (status, body) = get(format!(
        "{base}/accounts/{id}/statement?limit=1&min_version=3"
    ))
    .await;
    check("/accounts/{account_id}/statement", "GET", status, body);
    let (status, body) = get(format!("{base}/accounts/{id}/statement?cursor=forged")).await;
    check("/accounts/{account_id}/statement", "GET", status, body);
    // The audit trail and the account as of a version, from the event store: opened, deposited, withdrawn (the
    // close was refused: the balance is not zero).
    let (status, body) = get(format!("{base}/accounts/{id}/events?limit=2")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["version"], 3, "newest first: {body}");
    let next = body["next_cursor"].as_str().unwrap().to_owned();
    check("/accounts/{account_id}/events", "GET", status, body);
    let (status, body) = get(format!("{base}/accounts/{id}/events?limit=2&cursor={next}")).await;
    assert_eq!(
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["version"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1]
    );
    assert!(body["next_cursor"].is_null(), "{body}");
    check("/accounts/{account_id}/events", "GET", status, body);
    let (status, body) = get(format!(
        "{base}/accounts/{id}/events?order=oldest&limit=100"
    ))
    .await;
    assert_eq!(body["items"][0]["event_type"], "AccountOpened", "{body}");
    check("/accounts/{account_id}/events", "GET", status, body);
    let (status, body) = get(format!("{base}/accounts/{id}/events?order=sideways")).await;
    assert_eq!(status, 400);
    check("/accounts/{account_id}/events", "GET", status, body);
    let (status, body) = get(format!("{base}/accounts/{}/events", uuid::Uuid::new_v4())).await;
    assert_eq!(status, 404);
    check("/accounts/{account_id}/events", "GET", status, body);
    let (status, body) = get(format!("{base}/accounts/{id}?as_of_version=2")).await;
    assert_eq!(
        (body["version"].as_u64(), body["balance"].as_u64()),
        (Some(2), Some(500)),
        "{body}"
    );
    check("/accounts/{account_id}", "GET", status, body);
    let (status, body) = get(format!("{base}/accounts/{id}?as_of_version=99")).await;
    assert_eq!(
        (
            status,
            body["type"]
                .as_str()
                .unwrap()
                .ends_with("version-not-found")
        ),
        (404, true),
        "{body}"
    );
    check("/accounts/{account_id}", "GET", status, body);
    // min_version beside as_of_version is met by the event store (not the read model): the same answer.
    let (status, with_min) = get(format!(
        "{base}/accounts/{id}?as_of_version=2&min_version=99"
    ))
    .await;
    assert_eq!(status, 200, "{with_min}");
    let (_, without_min) = get(format!("{base}/accounts/{id}?as_of_version=2")).await;
    assert_eq!(with_min, without_min);
    check("/accounts/{account_id}", "GET", status, with_min);

    let (status, body) = get(format!("{base}/accounts?limit=5")).await;
    check("/accounts", "GET", status, body);
    let (status, body) = get(format!("{base}/accounts?owner=someone-else")).await;
    check("/accounts", "GET", status, body);
    let forged = http
        .get(format!("{base}/accounts"))
        .header("authorization", "Bearer not-a-token")
        .send()
        .await
        .unwrap();
    let status = forged.status().as_u16();
    check("/accounts", "GET", status, forged.json().await.unwrap());

    assert!(
        checked.iter().any(|c| c.ends_with(" 201")) && checked.iter().any(|c| c.ends_with(" 412"))
    );
    assert!(
        checked.iter().any(|c| c.ends_with(" 422")) && checked.iter().any(|c| c.ends_with(" 404"))
    );
    assert!(
        checked.iter().any(|c| c.ends_with(" 401")) && checked.iter().any(|c| c.ends_with(" 403"))
    );
}
