//! A fault-injecting HTTP proxy in front of a real DynamoDB API (dynoxide or DynamoDB Local).
//!
//! Point any client (a whole devstack) at [`ChaosProxy::url`] and set the [`Faults`] it should suffer, at any time:
//! * **lost responses**: a write is forwarded and applied, then answered with a 500 `InternalServerError`, so the
//!   SDK retries a request that already succeeded;
//! * **stalls**: a request is held before it is forwarded, so the client's attempt timeout fires; the request is
//!   still delivered later (a late write, as a slow network delivers it);
//! * **throttling**: a request is refused with `ThrottlingException` without reaching the server;
//! * **transaction conflicts**: a `TransactWriteItems` is cancelled with `TransactionConflict` reasons.
//!
//! Only DynamoDB operations are touched (DynamoDB Streams calls pass through unless listed). Decisions come from a
//! seeded generator, so a run can be repeated.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Write operations whose responses can be lost.
const WRITES: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "TransactWriteItems",
    "BatchWriteItem",
];

/// What the proxy does to requests. Rates are probabilities per request (0 = never).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Writes applied, then answered with a 500.
    pub lose_write_responses: f64,
    /// Requests held for `stall_for` before being forwarded.
    pub stall: f64,
    pub stall_for: Duration,
    /// Requests refused with `ThrottlingException` (not forwarded).
    pub throttle: f64,
    /// `TransactWriteItems` refused with `TransactionConflict` (not forwarded).
    pub transaction_conflicts: f64,
    /// Restrict the faults to these operations (`"PutItem"`, `"Query"`, ...); empty: every DynamoDB operation.
    pub operations: Vec<&'static str>,
    /// Restrict the faults to requests naming one of these tables; empty: every table.
    pub tables: Vec<String>,
    /// Inject at most this many faults in all (then pass everything through); `None`: no limit.
    pub limit: Option<u64>,
}

impl Faults {
    /// No faults: a transparent proxy.
    pub fn none() -> Self {
        Self::default()
    }

    /// The operation of a request these faults apply to (`None`: leave the request alone).
    fn applies_to(&self, target: &str, body: &[u8]) -> Option<String> {
        let operation = target.strip_prefix("DynamoDB_20120810.")?;
        let body = String::from_utf8_lossy(body);
        let table_matches = self.tables.is_empty()
            || self
                .tables
                .iter()
                .any(|table| body.contains(&format!("\"{table}\"")));
        ((self.operations.is_empty() || self.operations.contains(&operation)) && table_matches)
            .then(|| operation.to_owned())
    }
}

/// How many requests suffered each fault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChaosCounts {
    pub forwarded: u64,
    pub lost_responses: u64,
    pub stalled: u64,
    pub throttled: u64,
    pub transaction_conflicts: u64,
}

#[derive(Default)]
struct Counters {
    /// Faults of every kind, against `Faults::limit`.
    injected: AtomicU64,
    forwarded: AtomicU64,
    lost_responses: AtomicU64,
    stalled: AtomicU64,
    throttled: AtomicU64,
    transaction_conflicts: AtomicU64,
}

struct Shared {
    /// Stalls per operation.
    stalled_by_operation: Mutex<std::collections::HashMap<String, u64>>,
    upstream: String,
    http: reqwest::Client,
    faults: Mutex<Faults>,
    rng: Mutex<StdRng>,
    counts: Counters,
}

impl Shared {
    /// Whether a fault with probability `rate` strikes this request (within the faults' limit).
    fn roll(&self, rate: f64, limit: Option<u64>) -> bool {
        let strikes = rate > 0.0 && self.rng.lock().expect("rng lock").random::<f64>() < rate;
        strikes
            && limit.is_none_or(|limit| {
                self.counts
                    .injected
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                        (n < limit).then_some(n + 1)
                    })
                    .is_ok()
            })
    }
}

/// The running proxy. Dropping it stops it.
pub struct ChaosProxy {
    /// Where clients connect (`http://127.0.0.1:PORT`).
    pub url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChaosProxy {
    /// Start a proxy to `upstream` (a DynamoDB API base URL) on a loopback port, with no faults, decisions seeded by
    /// `seed`. Runs on the caller's tokio runtime.
    pub async fn start(upstream: &str, seed: u64) -> Self {
        let shared = Arc::new(Shared {
            stalled_by_operation: Mutex::default(),
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            faults: Mutex::new(Faults::none()),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            counts: Counters::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the chaos proxy");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let router = Router::new().fallback(proxy).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, shared, task }
    }

    /// Change the faults (takes effect for the next request; the limit counts from here).
    pub fn set(&self, faults: Faults) {
        *self.shared.faults.lock().expect("faults lock") = faults;
        self.shared.counts.injected.store(0, Ordering::SeqCst);
    }

    /// How many requests of `operation` (`"PutItem"`, ...) were stalled so far.
    pub fn stalled(&self, operation: &str) -> u64 {
        self.shared
            .stalled_by_operation
            .lock()
            .expect("stall counts lock")
            .get(operation)
            .copied()
            .unwrap_or_default()
    }

    /// Counts so far.
    pub fn counts(&self) -> ChaosCounts {
        let c = &self.shared.counts;
        ChaosCounts {
            forwarded: c.forwarded.load(Ordering::SeqCst),
            lost_responses: c.lost_responses.load(Ordering::SeqCst),
            stalled: c.stalled.load(Ordering::SeqCst),
            throttled: c.throttled.load(Ordering::SeqCst),
            transaction_conflicts: c.transaction_conflicts.load(Ordering::SeqCst),
        }
    }
}

fn dynamodb_error(status: u16, kind: &str, message: &str, extra: serde_json::Value) -> Response {
    let mut body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let mut response = (
        StatusCode::from_u16(status).expect("valid status"),
        body.to_string(),
    )
        .into_response();
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}

async fn proxy(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let faults = shared.faults.lock().expect("faults lock").clone();
    let operation = faults.applies_to(&target, &body);
    let mut stall = None;
    let mut lose = false;
    if let Some(operation) = &operation {
        if shared.roll(faults.throttle, faults.limit) {
            shared.counts.throttled.fetch_add(1, Ordering::SeqCst);
            return dynamodb_error(
                400,
                "ThrottlingException",
                "injected fault: rate of requests exceeds the allowed throughput",
                serde_json::Value::Null,
            );
        }
        if operation == "TransactWriteItems"
            && shared.roll(faults.transaction_conflicts, faults.limit)
        {
            shared
                .counts
                .transaction_conflicts
                .fetch_add(1, Ordering::SeqCst);
            let items = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
                .unwrap_or(1);
            let reasons: Vec<_> = (0..items)
                .map(|_| serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}))
                .collect();
            return dynamodb_error(
                400,
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
                serde_json::json!({ "CancellationReasons": reasons }),
            );
        }
        if shared.roll(faults.stall, faults.limit) {
            shared.counts.stalled.fetch_add(1, Ordering::SeqCst);
            *shared
                .stalled_by_operation
                .lock()
                .expect("stall counts lock")
                .entry(operation.clone())
                .or_default() += 1;
            stall = Some(faults.stall_for);
        }
        lose = WRITES.contains(&operation.as_str())
            && shared.roll(faults.lose_write_responses, faults.limit);
    }
    // Forwarded on a task of its own: a client that gives up does not cancel the request (it lands late).
    let forwarding = tokio::spawn(forward(
        shared.clone(),
        parts.uri.to_string(),
        parts.headers,
        body,
        stall,
    ));
    let response = match forwarding.await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return (StatusCode::BAD_GATEWAY, e).into_response(),
        Err(_) => return (StatusCode::BAD_GATEWAY, "forwarding panicked").into_response(),
    };
    if lose {
        shared.counts.lost_responses.fetch_add(1, Ordering::SeqCst);
        return dynamodb_error(
            500,
            "InternalServerError",
            "injected fault: the request was applied, its response was lost",
            serde_json::Value::Null,
        );
    }
    response
}

async fn forward(
    shared: Arc<Shared>,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    stall: Option<Duration>,
) -> Result<Response, String> {
    if let Some(stall) = stall {
        tokio::time::sleep(stall).await;
    }
    let mut request = shared.http.post(format!("{}{path}", shared.upstream));
    for (name, value) in &headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            request = request.header(name, value);
        }
    }
    let upstream = request
        .body(body)
        .send()
        .await
        .map_err(|e| format!("upstream: {e}"))?;
    shared.counts.forwarded.fetch_add(1, Ordering::SeqCst);
    let status = upstream.status();
    let mut response_headers = HeaderMap::new();
    for (name, value) in upstream.headers() {
        if !matches!(
            name.as_str(),
            "content-length" | "connection" | "transfer-encoding"
        ) {
            response_headers.insert(name.clone(), value.clone());
        }
    }
    let bytes = upstream
        .bytes()
        .await
        .map_err(|e| format!("upstream body: {e}"))?;
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    Ok(response)
}
