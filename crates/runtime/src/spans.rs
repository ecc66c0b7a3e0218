//! Spans exported to an OpenTelemetry collector over OTLP/HTTP (protobuf), where one is configured:
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the whole URL) or `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` is
//! appended), as every OpenTelemetry SDK reads them; on Lambda, typically a collector extension such as the ADOT
//! layer's on `http://localhost:4318`. `OTEL_EXPORTER_OTLP_HEADERS` adds headers (an API key), `OTEL_SERVICE_NAME`
//! names the service (else the function's name). Without an endpoint nothing is kept and nothing is sent: the trace
//! ids are in the JSON logs either way.
//!
//! A span's ids are the W3C trace context the events carry, not a tracer's own: the command's span has the span id
//! written on its events (`traceparent`), so the relay's, the denormalisers' and the process manager's spans, whose
//! parent is that id, hang under it in one trace, and the request's own `traceparent` is the command span's parent.
//!
//! Spans are sent at the end of each invocation ([`flush`]): Lambda freezes the process once it has answered, so a
//! background exporter would hold them until the next invocation, or lose them. A send is bounded by
//! [`SEND_TIMEOUT`]; a collector that is down costs a warning in the log, never a failed invocation.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter, SpanLinks};
use opentelemetry_sdk::Resource;
use std::borrow::Cow;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use tributary_core::TraceParent;

/// How long one export may take before its spans are given up (the invocation waits for it).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Where spans go, when they go anywhere.
static EXPORT: OnceLock<Export> = OnceLock::new();

struct Export {
    exporter: opentelemetry_otlp::SpanExporter,
    pending: Mutex<Vec<SpanData>>,
}

/// What a span is, as OpenTelemetry names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Answering a request (the command API).
    Server,
    /// Putting records on a topic (the relay).
    Producer,
    /// Handling records from a topic (a denormaliser, the process manager).
    Consumer,
    /// Work inside a function (a process manager's command).
    Internal,
}

/// One finished span: its own context (trace id and span id), its parent's span id, and what happened.
#[derive(Debug, Clone)]
pub struct Span {
    pub context: TraceParent,
    pub parent: Option<TraceParent>,
    pub name: String,
    pub kind: Kind,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, String)>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Spans of other traces this one follows from (work for another principal, started by this trace's work).
    pub links: Vec<TraceParent>,
}

/// The span export configuration was not usable.
#[derive(Debug, thiserror::Error)]
#[error("span export: {0}")]
pub struct SpanExportError(String);

/// Set up span export from the process environment (see the module documentation); `Ok(false)` when no endpoint is
/// configured. A second call keeps the first setup.
pub fn init_from_env() -> Result<bool, SpanExportError> {
    init(|name| std::env::var(name).ok())
}

/// Set up span export from `lookup` (a variable's value by name): `Ok(false)` when no endpoint is configured.
pub fn init(lookup: impl Fn(&str) -> Option<String>) -> Result<bool, SpanExportError> {
    let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let endpoint = match (
        set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        set("OTEL_EXPORTER_OTLP_ENDPOINT"),
    ) {
        (Some(traces), _) => traces,
        (None, Some(base)) => format!("{}/v1/traces", base.trim_end_matches('/')),
        (None, None) => return Ok(false),
    };
    if EXPORT.get().is_some() {
        return Ok(true);
    }
    let uri: http::Uri = endpoint.parse().map_err(|e| {
        SpanExportError(format!(
            "{endpoint:?} is not a URL ({e}); set OTEL_EXPORTER_OTLP_ENDPOINT to e.g. http://localhost:4318"
        ))
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(SpanExportError(format!(
            "{endpoint:?} is not an http:// or https:// URL with a host (OTLP/HTTP; gRPC is not supported)"
        )));
    }
    let service = set("OTEL_SERVICE_NAME")
        .or_else(|| set("AWS_LAMBDA_FUNCTION_NAME"))
        .unwrap_or_else(|| "tributary".to_owned());
    let tls = crate::http_client::system_tls_connector()
        .map_err(|e| SpanExportError(format!("cannot set up TLS for {endpoint}: {e}")))?;
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint.clone())
        .with_timeout(SEND_TIMEOUT)
        .with_http_client(OtlpHttpClient {
            // With a timer, idle connections to the collector are closed (without one, never).
            client: Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .build(tls),
        })
        .build()
        .map_err(|e| SpanExportError(format!("cannot export to {endpoint}: {e}")))?;
    exporter.set_resource(&Resource::builder_empty().with_service_name(service).build());
    let _ = EXPORT.set(Export {
        exporter,
        pending: Mutex::new(Vec::new()),
    });
    Ok(true)
}

/// Whether spans are exported (so a caller can skip building them).
pub fn enabled() -> bool {
    EXPORT.get().is_some()
}

/// Keep `span` for the next [`flush`] (nothing, when no collector is configured).
pub fn record(span: Span) {
    if let Some(export) = EXPORT.get() {
        let data = span_data(span);
        export
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(data);
    }
}

/// Send the spans kept so far; a failure is logged, never returned.
pub async fn flush() {
    let Some(export) = EXPORT.get() else {
        return;
    };
    let batch = std::mem::take(&mut *export.pending.lock().unwrap_or_else(|e| e.into_inner()));
    if batch.is_empty() {
        return;
    }
    let spans = batch.len();
    match tokio::time::timeout(SEND_TIMEOUT, export.exporter.export(batch)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(spans, %error, "spans not exported"),
        Err(_) => tracing::warn!(
            spans,
            "spans not exported: the collector did not answer within 2 s"
        ),
    }
}

/// [`record`] then [`flush`]: for a function whose invocation makes one span.
pub async fn export(span: Span) {
    record(span);
    flush().await;
}

/// The OpenTelemetry span context of a W3C trace context.
fn span_context(context: &TraceParent, remote: bool) -> SpanContext {
    let trace_id = TraceId::from_hex(context.trace_id()).unwrap_or(TraceId::INVALID);
    let span_id = SpanId::from_hex(context.span_id()).unwrap_or(SpanId::INVALID);
    let flags = if context.sampled() {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    SpanContext::new(trace_id, span_id, flags, remote, TraceState::default())
}

fn span_data(span: Span) -> SpanData {
    let parent = span
        .parent
        .as_ref()
        .and_then(|p| SpanId::from_hex(p.span_id()).ok());
    SpanData {
        span_context: span_context(&span.context, false),
        parent_span_id: parent.unwrap_or(SpanId::INVALID),
        parent_span_is_remote: parent.is_some(),
        span_kind: match span.kind {
            Kind::Server => SpanKind::Server,
            Kind::Producer => SpanKind::Producer,
            Kind::Consumer => SpanKind::Consumer,
            Kind::Internal => SpanKind::Internal,
        },
        name: Cow::Owned(span.name),
        start_time: span.start,
        end_time: span.end.max(span.start),
        attributes: span
            .attributes
            .into_iter()
            .map(|(key, value)| KeyValue::new(key, value))
            .collect(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: {
            let mut links = SpanLinks::default();
            links.links = span
                .links
                .iter()
                .map(|link| Link::with_context(span_context(link, true)))
                .collect();
            links
        },
        status: span.error.map_or(Status::Unset, Status::error),
        instrumentation_scope: InstrumentationScope::builder("tributary").build(),
    }
}

/// The exporter's HTTP client: hyper over the process's OpenSSL connector (the AWS SDK's), HTTP/1.1.
#[derive(Debug)]
struct OtlpHttpClient {
    client: Client<crate::http_client::TlsConnector, Full<Bytes>>,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpHttpClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let response = self.client.request(request.map(Full::new)).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(http::Response::from_parts(parts, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_endpoint_means_no_export_and_a_bad_one_is_a_clear_error() {
        assert!(!init(|_| None).unwrap());
        assert!(!init(|name| (name == "OTEL_SERVICE_NAME").then(|| "x".into())).unwrap());
        let error = init(|name| {
            (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "localhost:4317 grpc".into())
        })
        .unwrap_err();
        assert!(
            error.to_string().contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
            "{error}"
        );
        let error = init(|name| {
            (name == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").then(|| "ftp://collector".into())
        })
        .unwrap_err();
        assert!(error.to_string().contains("http://"), "{error}");
        assert!(!enabled());
    }

    #[test]
    fn a_span_keeps_the_ids_of_its_trace_context() {
        let parent =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let context = parent.child();
        let data = span_data(Span {
            context: context.clone(),
            parent: Some(parent),
            name: "command".into(),
            kind: Kind::Server,
            start: SystemTime::UNIX_EPOCH,
            end: SystemTime::UNIX_EPOCH + Duration::from_millis(3),
            attributes: vec![("tributary.stream", "account-1".into())],
            error: Some("conflict".into()),
            links: vec![TraceParent::new_root()],
        });
        assert_eq!(
            data.span_context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(data.span_context.span_id().to_string(), context.span_id());
        assert_eq!(data.parent_span_id.to_string(), "00f067aa0ba902b7");
        assert!(data.span_context.is_sampled());
        assert_eq!(data.span_kind, SpanKind::Server);
        assert_eq!(data.status, Status::error("conflict"));
        assert_eq!(data.links.len(), 1);
        assert_ne!(
            data.links[0].span_context.trace_id(),
            data.span_context.trace_id()
        );
    }
}
