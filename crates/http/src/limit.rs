//! Per-principal rate limits at the edge: every caller has a budget of its own (GCRA: a steady rate and a burst),
//! checked before a handler reads or writes anything, so that one caller — a self-registered user, a runaway
//! script — cannot take the API from the others: past its budget it gets `429 rate-limited` with `Retry-After`, at
//! the cost of no store call at all.
//!
//! The budget is kept in the function's memory, per container: in Lambda a caller whose requests spread over N warm
//! containers of one function gets up to N times its budget, so the function's reserved concurrency (the template's
//! `ReserveConcurrency`: command 20, query 50) bounds what one caller can reach, and API Gateway's stage throttle
//! bounds everyone together (SECURITY.md). A caller that is not authenticated is not counted here: its request is
//! refused (401) by the handler without a store call either.

use crate::caller::Caller;
use crate::problem::Problem;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tributary_runtime::ConfigError;

/// A clock that moves only when told to (tests of a rate limit, so none depends on how fast the machine is).
pub use governor::clock::FakeRelativeClock as FakeClock;

/// Checks between two sweeps of callers that have been quiet for a while (their state is dropped).
const SWEEP_EVERY: u64 = 4096;

/// A per-principal budget: `per_second` requests a second on average, up to `burst` at once.
#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<dyn Budget>,
    per_second: u32,
    checks: Arc<AtomicU64>,
}

/// A keyed rate limiter over any clock (the monotonic one; a fake one in tests).
trait Budget: Send + Sync {
    /// `Err(wait)`: `key` is over its budget; it may try again after `wait`.
    fn check(&self, key: &str) -> Result<(), Duration>;
    /// Forget keys whose budget is full again.
    fn sweep(&self);
}

impl<C> Budget for RateLimiter<String, DashMapStateStore<String>, C, NoOpMiddleware<C::Instant>>
where
    C: Clock + Send + Sync,
{
    fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock().now()))
    }

    fn sweep(&self) {
        self.retain_recent();
    }
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("per_second", &self.per_second)
            .finish_non_exhaustive()
    }
}

impl RateLimit {
    /// `per_second` requests a second per principal, up to `burst` at once.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self::with_clock(per_second, burst, MonotonicClock)
    }

    /// [`RateLimit::new`] on `clock` (tests pass a fake clock, so no test depends on how fast the machine is).
    pub fn with_clock<C>(per_second: NonZeroU32, burst: NonZeroU32, clock: C) -> Self
    where
        C: Clock + Send + Sync + 'static,
    {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self {
            limiter: Arc::new(RateLimiter::dashmap_with_clock(quota, clock)),
            per_second: per_second.get(),
            checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The deployed functions' default rate, per principal and second.
    pub const DEFAULT_PER_SECOND: u64 = 20;

    /// `RATE_LIMIT_PER_SECOND` (default [`RateLimit::DEFAULT_PER_SECOND`]; 0 turns the limit off) and
    /// `RATE_LIMIT_BURST` (default twice the rate), whole numbers up to 100,000; a clear error otherwise.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_env_or(Self::DEFAULT_PER_SECOND)
    }

    /// [`RateLimit::from_env`] with another default rate (the local stack's is 0: off unless asked for).
    pub fn from_env_or(default_per_second: u64) -> Result<Option<Self>, ConfigError> {
        use tributary_runtime::config::count_between;
        let per_second = count_between("RATE_LIMIT_PER_SECOND", default_per_second, 0, 100_000)?;
        let Some(per_second) = NonZeroU32::new(per_second as u32) else {
            return Ok(None);
        };
        let burst = count_between(
            "RATE_LIMIT_BURST",
            u64::from(per_second.get()) * 2,
            1,
            100_000,
        )?;
        let burst = NonZeroU32::new(burst as u32).expect("at least 1");
        Ok(Some(Self::new(per_second, burst)))
    }

    /// Count one request of `principal`: `Err(wait)` when it is over its budget.
    fn admit(&self, principal: &str) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.sweep();
        }
        self.limiter.check(principal)
    }
}

/// Give every route of `router` the per-principal budget `limit` (none: no limit).
pub fn with_rate_limit(router: Router, limit: Option<RateLimit>) -> Router {
    match limit {
        Some(limit) => router.layer(axum::middleware::from_fn_with_state(limit, admit)),
        None => router,
    }
}

/// The middleware: who is calling, and whether they are within their budget — before the handler runs.
async fn admit(State(limit): State<RateLimit>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    // Unauthenticated requests go on to the handler, which refuses them (401) before reading anything.
    if let Ok(caller) = Caller::from_request_parts(&mut parts, &()).await {
        if let Err(wait) = limit.admit(&caller.principal) {
            tributary_runtime::metrics::count("RateLimited", 1, &[]);
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u32;
            return Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!(
                    "this caller sent more than its {} requests a second; retry after {seconds} s",
                    limit.per_second
                ),
            )
            .retry_after(seconds)
            .into_response();
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use governor::clock::FakeRelativeClock;
    use std::sync::atomic::AtomicUsize;
    use tower::ServiceExt;

    fn bearer(sub: &str) -> String {
        use base64::Engine;
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "Bearer {}.{}.{}",
            b64(br#"{"alg":"none"}"#),
            b64(format!(r#"{{"sub":"{sub}"}}"#).as_bytes()),
            b64(b"unsigned")
        )
    }

    /// One caller past its budget is refused before the handler runs (the handler is where the store is read);
    /// another caller is not affected; the budget comes back with time (a fake clock: nothing here is timed).
    #[tokio::test]
    async fn each_caller_has_a_budget_of_its_own_checked_before_the_handler() {
        let clock = FakeRelativeClock::default();
        let limit = RateLimit::with_clock(
            NonZeroU32::new(2).unwrap(),
            NonZeroU32::new(5).unwrap(),
            clock.clone(),
        );
        let handled = Arc::new(AtomicUsize::new(0));
        let counter = handled.clone();
        let app = with_rate_limit(
            Router::new().route(
                "/",
                get(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async { "ok" }
                }),
            ),
            Some(limit),
        );
        let call = |caller: &str| {
            let request = Request::get("/")
                .header("authorization", bearer(caller))
                .body(Body::empty())
                .unwrap();
            let app = app.clone();
            async move { app.oneshot(request).await.unwrap() }
        };
        let mut statuses = Vec::new();
        for _ in 0..50 {
            statuses.push(call("flooder").await.status());
        }
        let admitted = statuses.iter().filter(|s| s.is_success()).count();
        assert_eq!(admitted, 5, "the burst, then nothing until time passes");
        assert_eq!(
            handled.load(Ordering::SeqCst),
            5,
            "refused before the handler"
        );
        let refused = call("flooder").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()["retry-after"], "1");
        assert_eq!(
            refused.headers()["content-type"],
            "application/problem+json"
        );
        // Another caller has its whole budget.
        for _ in 0..5 {
            assert_eq!(call("neighbour").await.status(), StatusCode::OK);
        }
        // Half a second later the flooder may send one more (two a second).
        clock.advance(Duration::from_millis(500));
        assert_eq!(call("flooder").await.status(), StatusCode::OK);
        assert_eq!(
            call("flooder").await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        // Locally, a request without a token is the caller `anonymous`, with a budget of its own.
        let anonymous = app
            .clone()
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(anonymous.status(), StatusCode::OK);
    }
}
