//! A JSON request body extractor whose every failure is a problem: 415 wrong media type, 413 too large,
//! 400 malformed JSON (syntax first, whatever the type), a body that is not a JSON object, invalid or unknown fields,
//! or a body that ended before its `Content-Length`.

use crate::problem::Problem;
use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

/// Largest request body accepted (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A parsed JSON body: always a JSON object (serde would read a struct from an array of its fields in order —
/// `["<from>","<to>",1]` as a transfer — which no client means). An empty body parses as `{}` (so a command without
/// fields needs no body, and a command with required fields reports the missing one).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Problem> {
        let too_large = || {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Request body too large",
                format!("the request body must be at most {MAX_BODY_BYTES} bytes"),
            )
        };
        let declared_len = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared_len.is_some_and(|len| len > MAX_BODY_BYTES) {
            return Err(too_large());
        }
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("(not text)").to_owned());
        let bytes = axum::body::to_bytes(Body::new(request.into_body()), MAX_BODY_BYTES)
            .await
            .map_err(|e| {
                if is_over_limit(&e) {
                    too_large()
                } else {
                    Problem::bad_request(
                        "incomplete-body",
                        "Incomplete body",
                        "the request body could not be read to its end (shorter than its Content-Length?)",
                    )
                }
            })?;
        if bytes.is_empty() {
            return parse(b"{}").map(JsonBody);
        }
        match content_type.as_deref() {
            Some(ct) if is_json(ct) => parse(&bytes).map(JsonBody),
            other => Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                format!(
                    "send the body as application/json (got {})",
                    other.unwrap_or("no Content-Type")
                ),
            )),
        }
    }
}

/// Whether reading a body failed because it is longer than the limit (as opposed to a body that broke off).
fn is_over_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// `application/json`, optionally with parameters such as `charset=utf-8`.
fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Syntax first (so that truncated JSON is `malformed-json` whatever the type would have said about what came before),
/// then the type.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|e| Problem::bad_request("malformed-json", "Malformed JSON", e.to_string()))?;
    // Valid JSON whose first character (after whitespace) opens an object is an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Problem::bad_request(
            "invalid-request",
            "Invalid request",
            "the request body must be a JSON object",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        Category::Data => Problem::bad_request("invalid-request", "Invalid request", e.to_string()),
        Category::Syntax | Category::Eof | Category::Io => {
            Problem::bad_request("malformed-json", "Malformed JSON", e.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Deposit {
        amount: u64,
    }

    async fn extract(content_type: Option<&str>, body: &str) -> Result<Deposit, Problem> {
        let mut builder = Request::builder().method("POST").uri("/");
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        let request = builder.body(Body::from(body.to_owned())).unwrap();
        JsonBody::<Deposit>::from_request(request, &())
            .await
            .map(|b| b.0)
    }

    #[tokio::test]
    async fn classifies_every_failure() {
        let json = Some("application/json; charset=utf-8");
        assert!(extract(json, r#"{"amount":5}"#).await.is_ok());
        assert_eq!(extract(json, "{").await.unwrap_err().slug, "malformed-json");
        assert_eq!(
            extract(json, r#"{"amount":-1}"#).await.unwrap_err().slug,
            "invalid-request"
        );
        assert_eq!(
            extract(json, r#"{"amount":1,"x":2}"#)
                .await
                .unwrap_err()
                .slug,
            "invalid-request"
        );
        assert_eq!(extract(json, "").await.unwrap_err().slug, "invalid-request");
        assert_eq!(
            extract(Some("text/plain"), "{}").await.unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            extract(None, "{}").await.unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let big = format!(r#"{{"amount":1,"pad":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert_eq!(
            extract(json, &big).await.unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        // A struct is not read from an array of its fields, nor from any other non-object.
        for not_an_object in ["[5]", "5", "\"x\"", "null", " [ ] "] {
            let problem = extract(json, not_an_object).await.unwrap_err();
            assert_eq!(
                (problem.slug.as_ref(), problem.detail.as_str()),
                ("invalid-request", "the request body must be a JSON object"),
                "{not_an_object}"
            );
        }
        // Truncated after an unknown field: the syntax is what is wrong.
        assert_eq!(
            extract(json, r#"{"memo":"#).await.unwrap_err().slug,
            "malformed-json"
        );
    }

    #[tokio::test]
    async fn a_body_that_breaks_off_is_incomplete_not_too_large() {
        use futures::stream;
        let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = vec![
            Ok(axum::body::Bytes::from_static(b"{\"amount\":")),
            Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the client closed the connection before its Content-Length",
            )),
        ];
        let request = Request::builder()
            .method("POST")
            .uri("/")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, "100")
            .body(Body::from_stream(stream::iter(chunks)))
            .unwrap();
        let problem = JsonBody::<Deposit>::from_request(request, &())
            .await
            .unwrap_err();
        assert_eq!(
            (problem.status, problem.slug.as_ref()),
            (StatusCode::BAD_REQUEST, "incomplete-body")
        );
    }
}
