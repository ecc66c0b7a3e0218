//! W3C Trace Context: the `traceparent` carried from the HTTP request to the events and their Kafka headers.

use std::fmt;
use uuid::Uuid;

/// A `traceparent` value: version 00, trace id, parent (span) id, flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: String,
    span_id: String,
    flags: String,
}

impl TraceParent {
    /// Start a new sampled trace.
    pub fn new_root() -> Self {
        Self {
            trace_id: Uuid::new_v4().simple().to_string(),
            span_id: random_span_id(),
            flags: "01".into(),
        }
    }

    /// Parse a `traceparent` header (version 00 only); `None` when it is not valid.
    pub fn parse(raw: &str) -> Option<Self> {
        let parts: Vec<&str> = raw.trim().split('-').collect();
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        match parts.as_slice() {
            ["00", trace, span, flags]
                if hex(trace, 32)
                    && hex(span, 16)
                    && hex(flags, 2)
                    && trace.bytes().any(|b| b != b'0')
                    && span.bytes().any(|b| b != b'0') =>
            {
                Some(Self {
                    trace_id: (*trace).to_owned(),
                    span_id: (*span).to_owned(),
                    flags: (*flags).to_owned(),
                })
            }
            _ => None,
        }
    }

    /// A child in the same trace: same trace id and flags, a new span id.
    pub fn child(&self) -> Self {
        Self {
            span_id: random_span_id(),
            ..self.clone()
        }
    }

    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// The span this context names (the parent of whatever continues it).
    pub fn span_id(&self) -> &str {
        &self.span_id
    }

    /// Whether the trace is sampled (flag 01).
    pub fn sampled(&self) -> bool {
        u8::from_str_radix(&self.flags, 16).is_ok_and(|flags| flags & 1 == 1)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }
}

fn random_span_id() -> String {
    Uuid::new_v4().simple().to_string()[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_and_refuses_invalid() {
        let tp =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(tp.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.span_id(), "00f067aa0ba902b7");
        assert!(tp.sampled());
        assert!(
            !TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
                .unwrap()
                .sampled()
        );
        assert!(
            TraceParent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none()
        );
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_none()
        );
        assert!(
            TraceParent::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").is_none()
        );
        assert!(TraceParent::parse("garbage").is_none());
    }

    #[test]
    fn children_keep_the_trace_and_change_the_span() {
        let root = TraceParent::new_root();
        let child = root.child();
        assert_eq!(child.trace_id(), root.trace_id());
        assert_ne!(child.to_string(), root.to_string());
        assert_eq!(TraceParent::parse(&child.to_string()), Some(child));
    }
}
