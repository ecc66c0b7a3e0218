//! Fuzzing the HTTP edge of both APIs (the routers the functions serve, against a real DynamoDB API): random
//! methods, paths and ids, query strings and cursors, headers (`Idempotency-Key`, `If-Match`, `X-Correlation-Id`,
//! bearer tokens, content types, duplicates), and bodies (JSON of every shape, truncated, binary, oversized).
//! Invariants, for every request:
//! * no panic, and no 5xx (DynamoDB is healthy; only `not-yet-visible` may answer 503);
//! * every 4xx is `application/problem+json` with a `urn:tributary:problem:` type and the status in the body;
//! * nothing is written for a refused request;
//! * what is written is written under the account the request addressed (or the one it opened), never elsewhere.
//!
//! Property-based (proptest): `PROPTEST_CASES` sets the number of cases; SECURITY.md records the long runs.

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use proptest::prelude::*;
use query_function::QueryService;
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;
use tower::ServiceExt;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_http::{with_operators, OperatorRule};
use tributary_projections::ProjectionStore;
use tributary_testkit::{bearer, bearer_with, dynamo, CallLog, RequestLog};

/// The API under test, its call logs, and an account owned by `fuzz-owner`.
struct Edge {
    runtime: tokio::runtime::Runtime,
    api: axum::Router,
    calls: CallLog,
    puts: RequestLog,
    transactions: RequestLog,
    account: String,
}

const OWNER: &str = "fuzz-owner";

fn edge() -> &'static Edge {
    static EDGE: OnceLock<Edge> = OnceLock::new();
    EDGE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let d = dynamo();
        let (calls, puts, transactions) = (
            CallLog::default(),
            RequestLog::new("PutItem"),
            RequestLog::new("TransactWriteItems"),
        );
        let client = aws_sdk_dynamodb::Client::from_conf(
            d.config()
                .interceptor(calls.clone())
                .interceptor(puts.clone())
                .interceptor(transactions.clone())
                .build(),
        );
        let mut queries = QueryService::new(
            ProjectionStore::new(client.clone(), &d.projections_table),
            DynamoDbEventStore::shared(client.clone(), &d.events_table),
            b"fuzz-secret",
        );
        // No denormaliser feeds these projections: min_version waits are cut short.
        queries.wait = Duration::from_millis(20);
        let commands = command_function::CommandService::new(client, &d.events_table);
        let api = with_operators(
            tributary_http::with_problem_fallbacks(
                command_function::routes(commands).merge(query_function::routes(queries)),
            ),
            OperatorRule::local_default(),
        );
        let account = runtime.block_on(async {
            let response = api
                .clone()
                .oneshot(
                    Request::post("/accounts")
                        .header("content-type", "application/json")
                        .header("authorization", bearer(OWNER))
                        .body(Body::from(r#"{"currency":"EUR"}"#))
                        .unwrap(),
                )
                .await
                .unwrap();
            let body: Value =
                serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
                    .unwrap();
            body["account_id"].as_str().unwrap().to_owned()
        });
        Edge {
            runtime,
            api,
            calls,
            puts,
            transactions,
            account,
        }
    })
}

/// A random request, as parts.
#[derive(Debug, Clone)]
struct Fuzzed {
    method: String,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just(String::from("{account}")),
        1 => any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()),
        1 => any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string().to_uppercase()),
        1 => "[ -~]{0,40}",
        1 => "(%[0-9A-Fa-f]{2}){1,8}",
        1 => Just("a".repeat(5000)),
    ]
}

fn query_string() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        "[0-9]{1,22}",
        "-?[0-9]{1,3}",
        "[ -~]{0,30}",
        "[A-Za-z0-9_-]{10,60}\\.[A-Za-z0-9_-]{10,43}",
        Just(String::new()),
    ];
    let pair = (
        prop::sample::select(vec![
            "min_version",
            "limit",
            "cursor",
            "owner",
            "order",
            "as_of_version",
            "colour",
            "",
        ]),
        value,
    );
    prop::collection::vec(pair, 0..3).prop_map(|pairs| {
        if pairs.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        format!("?{}", parts.join("&"))
    })
}

fn urlencode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn path() -> impl Strategy<Value = String> {
    let kind = prop::sample::select(vec![
        "/accounts",
        "/accounts",
        "/accounts/{id}/deposits",
        "/accounts/{id}/deposits",
        "/accounts/{id}/deposits",
        "/accounts/{id}/withdrawals",
        "/accounts/{id}/withdrawals",
        "/accounts/{id}/close",
        "/accounts/{id}",
        "/accounts/{id}/statement",
        "/accounts/{id}/events",
        "/openapi.json",
        "/asyncapi.json",
        "/{id}",
        "/accounts/{id}/{id}",
    ]);
    let query = prop_oneof![3 => Just(String::new()), 1 => query_string()];
    (kind, id(), query)
        .prop_map(|(kind, id, query)| format!("{}{query}", kind.replace("{id}", &id)))
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ -~]{0,40}".prop_map(String::into_bytes),
        Just(b"\"1\"".to_vec()),
        Just(b"*".to_vec()),
        "\"[0-9]{1,25}\"".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..20),
        Just("k".repeat(300).into_bytes()),
    ]
}

fn authorization() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => Just(bearer(OWNER).into_bytes()),
        1 => Just(bearer("someone-else").into_bytes()),
        1 => Just(bearer_with(json!({"sub": "ops", "scope": "tributary/operator"})).into_bytes()),
        1 => Just(bearer_with(json!({"no": "sub"})).into_bytes()),
        1 => "Bearer [ -~]{0,60}".prop_map(String::into_bytes),
        1 => header_value(),
    ]
}

/// A value valid for `valid` half of the time, anything the strategy makes otherwise.
fn mostly(valid: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![valid.prop_map(String::into_bytes), header_value()]
}

fn headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let header = prop_oneof![
        (
            Just("idempotency-key".to_owned()),
            mostly("[a-z0-9-]{1,24}")
        ),
        (Just("if-match".to_owned()), mostly("\\*|\"[0-9]{1,3}\"")),
        (
            Just("x-correlation-id".to_owned()),
            mostly("[a-z0-9-]{1,24}")
        ),
        (
            Just("traceparent".to_owned()),
            mostly("00-[0-9a-f]{32}-[0-9a-f]{16}-01")
        ),
        (Just("authorization".to_owned()), authorization()),
        (
            Just("content-type".to_owned()),
            prop::sample::select(vec![
                "application/json".as_bytes().to_vec(),
                b"application/json; charset=utf-8".to_vec(),
                b"text/plain".to_vec(),
                b"APPLICATION/JSON".to_vec(),
            ])
        ),
    ];
    (
        prop::collection::vec(header, 0..3),
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.75),
    )
        .prop_map(|(mut headers, json, owner)| {
            if json {
                headers.insert(0, ("content-type".into(), b"application/json".to_vec()));
            }
            if owner {
                headers.insert(0, ("authorization".into(), bearer(OWNER).into_bytes()));
            }
            headers
        })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (1u64..2_000_000).prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,20}".prop_map(Value::from),
        prop::sample::select(vec!["EUR", "USD", "XYZ", "eur", ""]).prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec!["amount", "currency", "owner", "memo", "x"])
                    .prop_map(str::to_owned),
                inner,
                0..3
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => json_value().prop_map(|v| v.to_string().into_bytes()),
        4 => (1u64..5_000).prop_map(|a| format!(r#"{{"amount":{a}}}"#).into_bytes()),
        2 => Just(br#"{"currency":"EUR"}"#.to_vec()),
        1 => json_value().prop_map(|v| {
            let text = v.to_string();
            text.as_bytes()[..text.len() / 2].to_vec()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => Just(Vec::new()),
        1 => Just(format!(r#"{{"amount":1,"pad":"{}"}}"#, "x".repeat(70_000)).into_bytes()),
    ]
}

fn request() -> impl Strategy<Value = Fuzzed> {
    let method = prop_oneof![
        12 => Just("POST".to_owned()),
        5 => Just("GET".to_owned()),
        1 => prop::sample::select(vec!["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]).prop_map(str::to_owned),
    ];
    (method, path(), headers(), body()).prop_map(|(method, path, headers, body)| Fuzzed {
        method,
        path,
        headers,
        body,
    })
}

/// The stream ids written by the requests a log recorded.
fn written_streams(log: &RequestLog) -> Vec<String> {
    log.bodies()
        .iter()
        .flat_map(|body| {
            let mut streams = Vec::new();
            if let Some(s) = body["Item"]["stream_id"]["S"].as_str() {
                streams.push(s.to_owned());
            }
            for item in body["TransactItems"].as_array().into_iter().flatten() {
                if let Some(s) = item["Put"]["Item"]["stream_id"]["S"].as_str() {
                    streams.push(s.to_owned());
                }
            }
            // A keyed command's receipt is written beside its events, in a partition of its own.
            streams.retain(|s| !s.starts_with("receipt#"));
            streams
        })
        .collect()
}

/// `fuzzed` as a request with `method`, or `None` when the HTTP layer cannot represent it.
fn build(fuzzed: &Fuzzed, method: &str, path: &str) -> Option<Request<Body>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path.parse::<axum::http::Uri>().ok()?);
    for (name, value) in &fuzzed.headers {
        builder = builder.header(
            name.as_str(),
            axum::http::HeaderValue::from_bytes(value).ok()?,
        );
    }
    builder.body(Body::from(fuzzed.body.clone())).ok()
}

/// Status, content type and body of `api`'s answer to `request`.
async fn send(
    api: &axum::Router,
    request: Request<Body>,
) -> (axum::http::StatusCode, String, axum::body::Bytes) {
    let response = api.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

proptest! {
    #[test]
    fn fuzz_http_edge(fuzzed in request()) {
        let edge = edge();
        let path = fuzzed.path.replace("{account}", &edge.account);
        // A request the HTTP layer itself cannot represent (an invalid URI or header) never reaches the routes.
        let Some(request) = build(&fuzzed, fuzzed.method.as_str(), &path) else { return Ok(()); };
        let writes = |calls: &CallLog| calls.count("PutItem") + calls.count("TransactWriteItems");
        // Each case starts with empty logs: a million cases would otherwise copy an ever longer log per case.
        edge.calls.clear();
        edge.puts.clear();
        edge.transactions.clear();

        let (status, content_type, body) = edge.runtime.block_on(send(&edge.api, request));
        // A HEAD answer has no body to name its problem: ask the same as GET (the query side writes nothing).
        let named_by = if fuzzed.method == "HEAD" && status.is_server_error() {
            let get = build(&fuzzed, "GET", &path).expect("the HEAD request was built");
            edge.runtime.block_on(send(&edge.api, get)).2
        } else {
            body.clone()
        };
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Ok(log) = std::env::var("FUZZ_HTTP_LOG") {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
            writeln!(f, "{} {} {}", status.as_u16(), fuzzed.method, json["type"].as_str().unwrap_or("-")).unwrap();
        }
        let slug = json["type"].as_str().unwrap_or_default();
        let named: Value = serde_json::from_slice(&named_by).unwrap_or(Value::Null);

        prop_assert!(
            !status.is_server_error() || named["type"] == "urn:tributary:problem:not-yet-visible",
            "{} {} -> {} {}", fuzzed.method, path, status, String::from_utf8_lossy(&body)
        );
        // HEAD answers carry no body by definition.
        if status.is_client_error() && fuzzed.method != "HEAD" {
            prop_assert_eq!(content_type.as_str(), "application/problem+json", "{} {}", fuzzed.method, path);
            prop_assert!(slug.starts_with("urn:tributary:problem:"), "{}", json);
            prop_assert_eq!(json["status"].as_u64(), Some(u64::from(status.as_u16())));
            prop_assert_eq!(writes(&edge.calls), 0, "a refused request wrote: {} {}", fuzzed.method, path);
        }
        // Whatever was written, was written under the account addressed (or opened).
        let mut written = written_streams(&edge.puts);
        written.extend(written_streams(&edge.transactions));
        if !written.is_empty() {
            prop_assert!(status.is_success(), "{status}: wrote {written:?}");
            let account = json["account_id"].as_str().unwrap_or_default();
            for stream in written {
                prop_assert_eq!(&stream, &format!("account-{account}"));
                prop_assert!(path.contains(account) || path.starts_with("/accounts?") || path == "/accounts");
            }
        }
    }
}
