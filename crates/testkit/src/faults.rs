//! Faults injected inside the AWS SDK client, for tests that need one fault at one exact moment.
//!
//! * [`LoseResponses`]: DynamoDB applies the request, then the response is lost (the client sees a 500
//!   `InternalServerError` instead) — what a dropped connection or a load balancer error after the write looks like.
//!   The SDK retries the request, exactly as it would in production.
//! * [`AfterCall`]: run a side effect right after the n-th call of an operation returned, to put another writer at
//!   the worst moment of a read-modify-write.

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The operation name of the call an interceptor sees (`"PutItem"`, `"Query"`, ...).
fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map_or_else(|| "unknown".to_owned(), |m| m.name().to_owned())
}

/// A response DynamoDB could have sent after applying a request whose answer never arrived.
fn lost_response() -> HttpResponse {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected fault: the request was applied, its response was lost"}"#;
    let mut response = HttpResponse::new(
        StatusCode::try_from(500).expect("500 is a status code"),
        SdkBody::from(body),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

/// Lose the responses of the next `count` calls of `operation` after DynamoDB has applied them. Clones share the
/// counters.
#[derive(Debug, Clone)]
pub struct LoseResponses {
    operation: &'static str,
    remaining: Arc<AtomicUsize>,
    lost: Arc<AtomicUsize>,
}

impl LoseResponses {
    pub fn new(operation: &'static str, count: usize) -> Self {
        Self {
            operation,
            remaining: Arc::new(AtomicUsize::new(count)),
            lost: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// How many responses were lost so far.
    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }

    /// Lose the responses of the next `count` calls.
    pub fn arm(&self, count: usize) {
        self.remaining.store(count, Ordering::SeqCst);
    }
}

impl Intercept for LoseResponses {
    fn name(&self) -> &'static str {
        "LoseResponses"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if operation(cfg) != self.operation {
            return Ok(());
        }
        let armed = self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if armed {
            *context.response_mut() = lost_response();
            self.lost.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

type SideEffect = Box<dyn Fn() + Send + Sync>;

/// Run `effect` (synchronously, before the caller sees the result) after the `nth` call (1-based) of `operation`
/// completed — counting only requests whose body contains `body_contains`, when set. Clones share the counter.
#[derive(Clone)]
pub struct AfterCall {
    operation: &'static str,
    body_contains: Option<String>,
    nth: usize,
    seen: Arc<AtomicUsize>,
    effect: Arc<Mutex<SideEffect>>,
}

impl std::fmt::Debug for AfterCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfterCall")
            .field("operation", &self.operation)
            .field("nth", &self.nth)
            .finish_non_exhaustive()
    }
}

impl AfterCall {
    pub fn new(
        operation: &'static str,
        nth: usize,
        effect: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        Self {
            operation,
            body_contains: None,
            nth,
            seen: Arc::new(AtomicUsize::new(0)),
            effect: Arc::new(Mutex::new(Box::new(effect))),
        }
    }

    /// Count only requests whose JSON body contains `text` (a key, a table name).
    pub fn matching(mut self, text: impl Into<String>) -> Self {
        self.body_contains = Some(text.into());
        self
    }

    /// Whether the side effect ran.
    pub fn fired(&self) -> bool {
        self.seen.load(Ordering::SeqCst) >= self.nth
    }
}

/// Marks a call as the one after which [`AfterCall`] runs its side effect (decided before transmit, while the
/// request body is still there).
#[derive(Debug, Clone)]
struct RunAfterThisCall;

impl Storable for RunAfterThisCall {
    type Storer = StoreReplace<Self>;
}

impl Intercept for AfterCall {
    fn name(&self) -> &'static str {
        "AfterCall"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let matches = self.body_contains.as_deref().is_none_or(|text| {
            context
                .request()
                .body()
                .bytes()
                .is_some_and(|body| String::from_utf8_lossy(body).contains(text))
        });
        if matches
            && operation(cfg) == self.operation
            && self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.nth
        {
            cfg.interceptor_state().store_put(RunAfterThisCall);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<RunAfterThisCall>().is_some() {
            (self.effect.lock().expect("side effect lock"))();
        }
        Ok(())
    }
}

/// Captures the JSON body of every request of one operation (to check what a client asked DynamoDB for).
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    operation: &'static str,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl RequestLog {
    pub fn new(operation: &'static str) -> Self {
        Self {
            operation,
            bodies: Arc::default(),
        }
    }

    /// The request bodies seen so far.
    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().expect("request log lock").clone()
    }

    /// Forget what was recorded (a long run clears between cases, so the log does not grow without bound).
    pub fn clear(&self) {
        self.bodies.lock().expect("request log lock").clear();
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if operation(cfg) == self.operation {
            let body = context
                .request()
                .body()
                .bytes()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(serde_json::Value::Null);
            self.bodies.lock().expect("request log lock").push(body);
        }
        Ok(())
    }
}

/// Run `future` to completion on a thread of its own (its own runtime), blocking the caller: how an interceptor's
/// synchronous hook performs another client's I/O at an exact moment.
pub fn run_on_own_thread<F>(future: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the side effect")
            .block_on(future)
    })
    .join()
    .expect("the side effect did not panic")
}
