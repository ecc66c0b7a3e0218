//! Personal data as people read it: every JSON answer of a read route passes through [`revealing`], which opens
//! the sealed personal values in it with the event store's vault (`tributary_store::personal`) and shows each as its
//! text — or `null` once its subject was forgotten (or when no vault is configured). Rows, events and Kafka records
//! keep only ciphertext; this is the one place plaintext is made, per answer, never stored.

use crate::problem::Problem;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;
use tributary_store::personal::{may_hold_personal, open_all, reveal};
use tributary_store::EventStore;

/// The largest answer read to be opened (the kit's read answers are far smaller; a larger one is answered 503).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// `router` with its JSON answers' personal values opened by `events`' vault.
pub fn revealing(router: Router, events: Arc<dyn EventStore>) -> Router {
    router.layer(axum::middleware::from_fn_with_state(events, reveal_answer))
}

async fn reveal_answer(
    State(events): State<Arc<dyn EventStore>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ANSWER_BYTES).await else {
        return Problem::unavailable().into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    if !may_hold_personal(&text) {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let mut values = [value];
    if let Err(error) = open_all(events.vault(), &mut values).await {
        tracing::error!(%error, "personal data could not be opened");
        return Problem::unavailable().into_response();
    }
    let [mut value] = values;
    reveal(&mut value);
    parts.headers.remove(header::CONTENT_LENGTH);
    // An answer with someone's personal data is never kept by a cache: it may be erased tomorrow.
    parts.headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    Response::from_parts(parts, Body::from(value.to_string()))
}
