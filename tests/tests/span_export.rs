//! Spans exported to an OpenTelemetry collector (OTLP/HTTP, protobuf) from the local stack, received by a collector
//! endpoint served here and decoded with the OpenTelemetry protocol's own message types. One transfer requested
//! with a `traceparent` is one trace on the sender's side: the command's span under the request's span, the relay's
//! publishes and every consumer's handling under the command's span, the process manager's reactions under it, and
//! everything the reactions' commands on the sender's own account caused under them — and no span's parent is
//! missing (a span id that nobody exported would break the tree in any trace viewer). The credit, a command on
//! another principal's account, is a trace of its own whose root is linked to the reaction that ordered it.
//!
//! One test per binary: span export is set up once per process.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post as route_post;
use axum::Router;
use common::{client_as, post, test_config};
use devstack::Devstack;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tributary_core::TraceParent;

/// A span as the collector received it: ids in hex, as a trace context writes them.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    kind: i32,
    /// (trace id, span id) of each linked span.
    links: Vec<(String, String)>,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

/// `POST /v1/traces`: an OTLP/HTTP export request, decoded; anything else is a 400, as a collector answers.
async fn receive(State(inbox): State<Inbox>, body: Bytes) -> axum::http::StatusCode {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return axum::http::StatusCode::BAD_REQUEST;
    };
    let mut inbox = inbox.lock().unwrap();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| a.value.as_ref())
            .map(|v| format!("{:?}", v.value))
            .unwrap_or_default();
        for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
            inbox.push(Received {
                service: service.clone(),
                trace_id: hex::encode(&span.trace_id),
                span_id: hex::encode(&span.span_id),
                parent_span_id: hex::encode(&span.parent_span_id),
                name: span.name,
                kind: span.kind,
                links: span
                    .links
                    .iter()
                    .map(|l| (hex::encode(&l.trace_id), hex::encode(&l.span_id)))
                    .collect(),
            });
        }
    }
    axum::http::StatusCode::OK
}

/// A collector's OTLP/HTTP endpoint on a free port: its base URL and what it has received.
async fn collector() -> (String, Inbox) {
    let inbox = Inbox::default();
    let app = Router::new()
        .route("/v1/traces", route_post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, inbox)
}

/// Span ids whose parent is not among the spans of the trace (other than `root_parent`, the caller's own span).
fn orphans<'a>(spans: &'a [Received], root_parent: &str) -> Vec<&'a Received> {
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    spans
        .iter()
        .filter(|s| {
            !s.parent_span_id.is_empty()
                && s.parent_span_id != root_parent
                && !ids.contains(s.parent_span_id.as_str())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_transfer_is_one_trace_of_exported_spans_with_no_missing_parent() {
    let (endpoint, inbox) = collector().await;
    let configured = tributary_runtime::spans::init(|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
        "OTEL_SERVICE_NAME" => Some("tributary-span-test".into()),
        _ => None,
    })
    .expect("a usable configuration");
    assert!(configured && tributary_runtime::spans::enabled());
    let config = test_config().await;
    let prefix = config.mapping.group_prefix.clone();
    let group = |name: &str| devstack::kafka_mapping::group_id(&prefix, name);
    let consumers: Vec<String> = [
        "account-summary",
        "statement",
        "accounts-by-owner",
        "transfers",
        "transfer-process",
    ]
    .iter()
    .map(|name| format!("process {}", group(name)))
    .collect();
    let stack = Devstack::start(config).await.expect("devstack starts");
    let base = stack.base_url();
    let (alice, bob) = (client_as("alice"), client_as("bob"));
    let mut accounts = Vec::new();
    for caller in [&alice, &bob] {
        let opened = post(
            caller,
            &format!("{base}/accounts"),
            &[],
            Some(r#"{"currency":"EUR"}"#),
        )
        .await;
        assert_eq!(opened.status, 201, "{:?}", opened.body);
        accounts.push(opened.body["account_id"].as_str().unwrap().to_owned());
    }
    let deposited = post(
        &alice,
        &format!("{base}/accounts/{}/deposits", accounts[0]),
        &[],
        Some(r#"{"amount":5000}"#),
    )
    .await;
    assert_eq!(deposited.status, 200, "{:?}", deposited.body);

    // The traced request: the caller's own span is the parent of the command's.
    let request = TraceParent::new_root();
    let requested = post(
        &alice,
        &format!("{base}/transfers"),
        &[("traceparent", &request.to_string())],
        Some(&format!(
            r#"{{"from":"{}","to":"{}","amount":1200}}"#,
            accounts[0], accounts[1]
        )),
    )
    .await;
    assert_eq!(requested.status, 202, "{:?}", requested.body);

    // Wait for the whole trace: the command, the relay, every consumer (the account read models see the accounts'
    // events the process's commands appended), and every parent present.
    let mut trace: Vec<Received> = Vec::new();
    let mut complete = false;
    let deadline = tokio::time::Instant::now() + tributary_testkit::EVENTUALLY;
    while tokio::time::Instant::now() < deadline {
        trace = inbox
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.trace_id == request.trace_id())
            .cloned()
            .collect();
        let names: BTreeSet<&str> = trace.iter().map(|s| s.name.as_str()).collect();
        complete = names.contains("command transfer")
            && names.contains("relay publish")
            && consumers.iter().all(|c| names.contains(c.as_str()))
            && orphans(&trace, request.span_id()).is_empty();
        if complete {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let by_name: BTreeMap<&str, usize> = trace.iter().fold(BTreeMap::new(), |mut m, s| {
        *m.entry(s.name.as_str()).or_default() += 1;
        m
    });
    assert!(
        complete,
        "not one whole trace after {:?}: spans by name {by_name:#?}, missing parents {:#?}",
        tributary_testkit::EVENTUALLY,
        orphans(&trace, request.span_id())
    );

    // The command's span is the request's child, a server span; the relay's are producers, the consumers'
    // consumers; every span names the service.
    let command: Vec<&Received> = trace
        .iter()
        .filter(|s| s.name == "command transfer")
        .collect();
    assert_eq!(command.len(), 1, "{command:#?}");
    assert_eq!(command[0].parent_span_id, request.span_id());
    assert_eq!(command[0].kind, SpanKind::Server as i32);
    assert!(trace
        .iter()
        .filter(|s| s.name == "relay publish")
        .all(|s| s.kind == SpanKind::Producer as i32));
    assert!(trace
        .iter()
        .filter(|s| s.name.starts_with("process "))
        .all(|s| s.kind == SpanKind::Consumer as i32));
    assert!(
        trace
            .iter()
            .all(|s| s.service.contains("tributary-span-test")),
        "{trace:#?}"
    );
    // The transfer's read model handled the command's events directly under the command's span.
    let transfers = format!("process {}", group("transfers"));
    assert!(
        trace
            .iter()
            .any(|s| s.name == transfers && s.parent_span_id == command[0].span_id),
        "{trace:#?}"
    );
    // The credit is a trace of its own: its root, the order, links to the reaction that sent it; the destination's
    // events are handled under it, and none of its spans is an orphan.
    let mut credit: Vec<Received> = Vec::new();
    let deadline = tokio::time::Instant::now() + tributary_testkit::EVENTUALLY;
    while tokio::time::Instant::now() < deadline {
        let all = inbox.lock().unwrap().clone();
        if let Some(order) = all.iter().find(|s| s.name == "order credit") {
            credit = all
                .iter()
                .filter(|s| s.trace_id == order.trace_id)
                .cloned()
                .collect();
            let names: BTreeSet<&str> = credit.iter().map(|s| s.name.as_str()).collect();
            if names.contains("relay publish")
                && names.contains(format!("process {}", group("account-summary")).as_str())
                && orphans(&credit, "").is_empty()
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let order = credit
        .iter()
        .find(|s| s.name == "order credit")
        .unwrap_or_else(|| panic!("no order span: {credit:#?}"));
    assert_ne!(order.trace_id, request.trace_id());
    assert!(
        order.parent_span_id.is_empty(),
        "the order is its trace's root"
    );
    let reaction = format!("process {}", group("transfer-process"));
    assert!(
        order
            .links
            .iter()
            .any(|(trace_id, span_id)| trace_id == request.trace_id()
                && trace
                    .iter()
                    .any(|s| s.span_id == *span_id && s.name == reaction)),
        "the order links to the reaction that sent it: {order:#?}"
    );
    assert!(orphans(&credit, "").is_empty(), "{credit:#?}");

    // Spans of other requests are other traces.
    let others = inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.trace_id != request.trace_id() && s.name.starts_with("command "))
        .count();
    assert_eq!(others, 3, "the two openings and the deposit");
    stack.stop().await;
}
