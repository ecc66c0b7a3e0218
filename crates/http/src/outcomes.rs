//! Commands counted by outcome: the `Commands` metric (dimension `Outcome`: committed, replayed, rejected,
//! conflict, client_error, server_error) and `CommandRejections` (dimension `Reason`: the domain's rejection code),
//! one count per request through [`count_outcomes`].
//!
//! A handler that knows what happened says so with [`note`] (it runs in the request's task); any other answer is
//! counted by its status class, so a body that never parsed, an unauthenticated caller or a store outage is counted
//! too.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use std::cell::RefCell;
use tributary_runtime::metrics::{self, Point};

/// What a command came to, as far as the handler knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// New events were appended.
    Committed,
    /// A retry of a command already applied: its earlier answer again.
    Replayed,
    /// The domain refused it, for this reason (its rejection code).
    Rejected(String),
    /// The stream kept changing while it ran (optimistic concurrency gave up).
    Conflict,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Committed => "committed",
            Outcome::Replayed => "replayed",
            Outcome::Rejected(_) => "rejected",
            Outcome::Conflict => "conflict",
        }
    }
}

tokio::task_local! {
    static NOTED: RefCell<Option<Outcome>>;
}

/// Say what the current request's command came to (nothing happens outside [`count_outcomes`]).
pub fn note(outcome: Outcome) {
    let _ = NOTED.try_with(|noted| *noted.borrow_mut() = Some(outcome));
}

/// Count every request of `router` by outcome.
pub fn count_outcomes<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(axum::middleware::from_fn(counted))
}

async fn counted(request: Request, next: Next) -> Response {
    let (response, noted) = NOTED
        .scope(RefCell::new(None), async {
            let response = next.run(request).await;
            (response, NOTED.with(|noted| noted.borrow_mut().take()))
        })
        .await;
    let status = response.status();
    let label = match &noted {
        Some(outcome) => outcome.label(),
        None if status.is_server_error() => "server_error",
        None if status.is_client_error() => "client_error",
        None => "committed",
    };
    metrics::record(&[Point::count("Commands", 1)], &[("Outcome", label)]);
    if let Some(Outcome::Rejected(reason)) = &noted {
        metrics::record(
            &[Point::count("CommandRejections", 1)],
            &[("Reason", reason)],
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::post;
    use serde_json::Value;
    use tower::ServiceExt;

    async fn outcomes_of(router: Router, paths: &[&str]) -> Vec<String> {
        let capture = metrics::Capture::start();
        for path in paths {
            let request = Request::post(*path).body(Body::empty()).unwrap();
            router.clone().oneshot(request).await.unwrap();
        }
        capture
            .lines()
            .iter()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            // Other tests of this process write metrics too (a rate limit's refusals, say).
            .filter(|doc| doc.get("Commands").is_some() || doc.get("CommandRejections").is_some())
            .map(|doc| {
                if doc.get("Commands").is_some() {
                    doc["Outcome"].as_str().unwrap().to_owned()
                } else {
                    format!("rejection:{}", doc["Reason"].as_str().unwrap())
                }
            })
            .collect()
    }

    #[tokio::test]
    async fn noted_outcomes_and_status_classes_are_counted() {
        let router = count_outcomes(
            Router::new()
                .route(
                    "/ok",
                    post(|| async {
                        note(Outcome::Committed);
                        StatusCode::OK
                    }),
                )
                .route(
                    "/refused",
                    post(|| async {
                        note(Outcome::Rejected("insufficient-funds".into()));
                        StatusCode::UNPROCESSABLE_ENTITY
                    }),
                )
                .route("/down", post(|| async { StatusCode::SERVICE_UNAVAILABLE }))
                .route("/bad", post(|| async { StatusCode::BAD_REQUEST })),
        );
        assert_eq!(
            outcomes_of(router, &["/ok", "/refused", "/down", "/bad"]).await,
            [
                "committed",
                "rejected",
                "rejection:insufficient-funds",
                "server_error",
                "client_error"
            ]
        );
    }
}
