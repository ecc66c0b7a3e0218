//! RFC 9457 problem details: every error response is `application/problem+json` with a stable `type`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Prefix of every problem type; the slug after it is stable and documented.
pub const TYPE_PREFIX: &str = "urn:tributary:problem:";

/// Answer unknown routes (404) and methods (405) with problems. Apply once, after merging routers.
pub fn with_problem_fallbacks(router: axum::Router) -> axum::Router {
    router
        .fallback(|| async { Problem::no_route() })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
}

/// A problem response.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: StatusCode,
    /// Stable slug, e.g. `insufficient-funds` (the `type` member is [`TYPE_PREFIX`] + slug).
    /// Usually a literal; a kit type names its own (`invalid-account-id` for any aggregate's id path).
    pub slug: Cow<'static, str>,
    pub title: Cow<'static, str>,
    pub detail: String,
    /// Extra members (e.g. `balance`, `expected_version`), in order.
    pub extensions: Vec<(&'static str, Value)>,
    /// Seconds a client should wait before retrying (sets `Retry-After`).
    pub retry_after: Option<u32>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: impl Into<Cow<'static, str>>,
        title: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug: slug.into(),
            title: title.into(),
            detail: detail.into(),
            extensions: Vec::new(),
            retry_after: None,
        }
    }

    /// Add an extension member.
    pub fn with(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.extensions.push((name, value.into()));
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The full `type` URI.
    pub fn type_uri(&self) -> String {
        format!("{TYPE_PREFIX}{}", self.slug)
    }

    /// 400 for a request that is not what the API accepts.
    pub fn bad_request(
        slug: impl Into<Cow<'static, str>>,
        title: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(StatusCode::BAD_REQUEST, slug, title, detail)
    }

    /// 404 for a route that does not exist.
    pub fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            "no such resource",
        )
    }

    /// 405 for a known path with another method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this resource does not accept that method",
        )
    }

    /// 500 with no internal detail. Log the cause before returning this.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the request could not be completed; it is safe to retry with the same Idempotency-Key",
        )
    }

    /// 503 when a dependency is throttling or unreachable.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service-unavailable",
            "Service unavailable",
            "a dependency is busy or unreachable; retry later with the same Idempotency-Key",
        )
        .retry_after(1)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("type".into(), self.type_uri().into());
        body.insert("title".into(), self.title.as_ref().into());
        body.insert("status".into(), self.status.as_u16().into());
        body.insert("detail".into(), self.detail.clone().into());
        for (name, value) in &self.extensions {
            body.insert((*name).to_owned(), value.clone());
        }
        Value::Object(body)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_rfc_9457_members_and_extensions() {
        let p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient-funds",
            "Insufficient funds",
            "no",
        )
        .with("balance", 5);
        let body = p.body();
        assert_eq!(body["type"], "urn:tributary:problem:insufficient-funds");
        assert_eq!(body["status"], 422);
        assert_eq!(body["balance"], 5);
        let response = p.into_response();
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
