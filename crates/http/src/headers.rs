//! The command headers every aggregate's routes read: `Idempotency-Key`, `If-Match`, `X-Correlation-Id`, `traceparent`.

use crate::Problem;
use axum::http::HeaderMap;
use tributary_core::{IdempotencyKey, TraceParent};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const CORRELATION_ID: &str = "x-correlation-id";
/// Set on a response that repeats an earlier one for the same `Idempotency-Key`.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// The value of a header that may appear at most once; two of them is a 400 (`slug`), not a silent choice.
fn single<'a>(
    headers: &'a HeaderMap,
    name: impl axum::http::header::AsHeaderName + Copy,
    slug: &'static str,
    title: &'static str,
) -> Result<Option<&'a axum::http::HeaderValue>, Problem> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Problem::bad_request(
            slug,
            title,
            format!(
                "send at most one {title} header",
                title = title.trim_start_matches("Invalid ")
            ),
        ));
    }
    Ok(first)
}

/// The optional `Idempotency-Key` (1-255 printable ASCII).
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, Problem> {
    let Some(raw) = single(
        headers,
        IDEMPOTENCY_KEY,
        "invalid-idempotency-key",
        "Invalid Idempotency-Key",
    )?
    else {
        return Ok(None);
    };
    raw.to_str()
        .ok()
        .and_then(|s| IdempotencyKey::parse(s).ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid-idempotency-key",
                "Invalid Idempotency-Key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters, not starting with \"system:\" (reserved)",
            )
        })
}

/// The optional `If-Match: "<version>"` (an ETag from an earlier response). `*` means "any version".
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(raw) = single(
        headers,
        &axum::http::header::IF_MATCH,
        "invalid-if-match",
        "Invalid If-Match",
    )?
    else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|v| v.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid-if-match",
                "Invalid If-Match",
                "If-Match must be a version ETag such as \"3\" (with the quotes)",
            )
        })
}

/// The optional `X-Correlation-Id` (1-128 printable ASCII); `None` means "start a new conversation".
pub fn correlation_id(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(raw) = single(
        headers,
        CORRELATION_ID,
        "invalid-correlation-id",
        "Invalid X-Correlation-Id",
    )?
    else {
        return Ok(None);
    };
    match raw.to_str() {
        Ok(s)
            if !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| (0x21..=0x7e).contains(&b)) =>
        {
            Ok(Some(s.to_owned()))
        }
        _ => Err(Problem::bad_request(
            "invalid-correlation-id",
            "Invalid X-Correlation-Id",
            "X-Correlation-Id must be 1 to 128 visible ASCII characters",
        )),
    }
}

/// The request's own `traceparent`, when it has a valid one (per W3C Trace Context, an invalid one is ignored). Two
/// of them is a 400, as for every single-valued header: which trace a command joins is never a silent choice.
pub fn request_trace(headers: &HeaderMap) -> Result<Option<TraceParent>, Problem> {
    Ok(single(
        headers,
        "traceparent",
        "invalid-traceparent",
        "Invalid traceparent",
    )?
    .and_then(|v| v.to_str().ok())
    .and_then(TraceParent::parse))
}

/// The command's trace context: a child of the request's trace context when it has one, otherwise a new trace.
pub fn trace_context(request: Option<&TraceParent>) -> TraceParent {
    request.map_or_else(TraceParent::new_root, TraceParent::child)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        h
    }

    #[test]
    fn if_match_takes_quoted_versions_only() {
        assert_eq!(if_match(&headers("if-match", "\"3\"")).unwrap(), Some(3));
        assert_eq!(if_match(&headers("if-match", "*")).unwrap(), None);
        assert!(if_match(&headers("if-match", "3")).is_err());
        assert!(if_match(&headers("if-match", "\"x\"")).is_err());
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn single_valued_headers_refuse_a_second_value() {
        let mut h = headers(IDEMPOTENCY_KEY, "a");
        h.append(IDEMPOTENCY_KEY, "b".parse().unwrap());
        assert_eq!(
            idempotency_key(&h).unwrap_err().slug,
            "invalid-idempotency-key"
        );
        let mut h = headers("if-match", "\"1\"");
        h.append("if-match", "\"2\"".parse().unwrap());
        assert_eq!(if_match(&h).unwrap_err().slug, "invalid-if-match");
        let mut h = headers(CORRELATION_ID, "c");
        h.append(CORRELATION_ID, "d".parse().unwrap());
        assert!(correlation_id(&h).is_err());
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut h = headers("traceparent", trace);
        assert!(request_trace(&h).unwrap().is_some());
        h.append(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                .parse()
                .unwrap(),
        );
        assert_eq!(request_trace(&h).unwrap_err().slug, "invalid-traceparent");
        // An invalid one alone is ignored (W3C Trace Context): the command starts a trace of its own.
        assert!(request_trace(&headers("traceparent", "garbage"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn idempotency_keys_are_validated() {
        assert!(idempotency_key(&headers(IDEMPOTENCY_KEY, "abc"))
            .unwrap()
            .is_some());
        assert!(idempotency_key(&headers(IDEMPOTENCY_KEY, "")).is_err());
        assert!(idempotency_key(&HeaderMap::new()).unwrap().is_none());
    }

    #[test]
    fn correlation_ids_are_validated() {
        assert_eq!(
            correlation_id(&headers(CORRELATION_ID, "c-1"))
                .unwrap()
                .as_deref(),
            Some("c-1")
        );
        assert!(correlation_id(&headers(CORRELATION_ID, "has space")).is_err());
    }
}
