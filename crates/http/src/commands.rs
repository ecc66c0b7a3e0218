//! The command edge every aggregate's routes run on: a validated command goes through its handler (commit, then
//! publish) with the request's headers (`Idempotency-Key`, `If-Match`, `X-Correlation-Id`, `traceparent`) as its
//! context; the outcome is counted, traced, and answered as JSON with `ETag`, `Location` and `Idempotent-Replayed`,
//! a refusal as the problem the domain's rejection code names.
//!
//! A domain supplies, per aggregate, [`Problems`] (how its rejections read over HTTP) and, per route, the command
//! a request becomes; everything else here is the same for every domain.

use crate::headers::{self, IDEMPOTENT_REPLAYED};
use crate::outcomes::{note, Outcome};
use crate::{Caller, Problem};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use std::sync::Arc;
use tracing::Instrument;
use tributary_aggregate::{
    CommandContext, CommandError, CommandHandler, CommandOutcome, CommandRequest, Idempotency,
    KeyRetention, PublishFaults, PublishingHandler, RetryPolicy, SnapshotPolicy,
};
use tributary_core::{fingerprint, Decider, Id, IdKind, Principal};
use tributary_kafka::LazyPublisher;
use tributary_runtime::spans;
use tributary_store::{EventStore, EventStoreError};
use uuid::Uuid;

/// What the HTTP edge answers for one aggregate's (`D`'s) refusals, implemented by a type of the domain's API crate
/// (`pub struct AccountProblems;`). The problem's type is the domain's rejection code (also the rejection event's
/// reason); its status, title and extension members are the edge's choice.
pub trait Problems<D: Decider> {
    /// The aggregate in messages ("account").
    fn noun(&self) -> &'static str;
    /// The problem for a business-rule rejection.
    fn rejected(&self, rejection: &D::Rejection) -> Problem;
    /// What a caller who may not command the aggregate is told: that it does not exist.
    fn not_found(&self) -> Problem;
}

/// The problem for a command that was not applied.
pub fn for_command_error<D: Decider>(
    problems: &impl Problems<D>,
    error: CommandError<D::Rejection>,
) -> Problem {
    let noun = problems.noun();
    match error {
        CommandError::Rejected { rejection, .. } => problems.rejected(&rejection),
        // Only orders kept for ever remember rejections; no HTTP request is one. Answered all the same.
        CommandError::RejectedEarlier { code, .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected",
            "Rejected",
            format!("this request was refused before: {code}"),
        )
        .with("reason", code),
        // Someone else's aggregate: exactly what a missing one answers.
        CommandError::AccessDenied => problems.not_found(),
        CommandError::PreconditionFailed { expected, actual } => Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "version-mismatch",
            "Version mismatch",
            format!("If-Match expected version {expected}, but the {noun} is at version {actual}"),
        )
        .with("expected_version", expected)
        .with("actual_version", actual),
        CommandError::IdempotencyKeyReused => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "this Idempotency-Key was already used for a different request; use a new key for a new request",
        ),
        CommandError::Conflict { attempts } => Problem::new(
            StatusCode::CONFLICT,
            "concurrent-modification",
            "Concurrent modification",
            format!("the {noun} kept changing while the command ran ({attempts} attempts); retry"),
        )
        .retry_after(1),
        CommandError::Store(EventStoreError::Transient(cause)) => {
            tracing::warn!(%cause, "event store unavailable");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "Service unavailable",
                "the event store is busy or did not answer in time; the command may or may not have been applied: \
                 retry with the same Idempotency-Key to find out without applying it twice",
            )
            .retry_after(1)
        }
        CommandError::Store(error) => {
            tracing::error!(%error, "event store failure");
            Problem::internal()
        }
    }
}

/// The caller as a principal a domain records (an owner, a depositor); 401 if it cannot be one.
pub fn principal(caller: &Caller) -> Result<Principal, Problem> {
    Principal::parse(&caller.principal).map_err(|e| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Unauthenticated",
            e.to_string(),
        )
    })
}

/// The id of the aggregate a creating request makes: derived from the caller and their `Idempotency-Key` when
/// there is one (a retry addresses, and finds, the same aggregate), else random.
pub fn new_id<K: IdKind>(caller: &Caller, headers: &HeaderMap) -> Result<Id<K>, Problem> {
    Ok(Id::for_request(
        &caller.principal,
        headers::idempotency_key(headers)?.as_ref(),
    ))
}

/// Default name of the events table (matches the local stack; `template.yaml` sets the deployed name).
pub const DEFAULT_EVENTS_TABLE: &str = "tributary-events";

/// A command function's configuration, read once per container from the environment.
#[derive(Debug, Clone)]
pub struct CommandConfig {
    /// `EVENTS_TABLE`: the DynamoDB table holding the event streams.
    pub events_table: String,
    /// `COMMAND_ADDR`: where to listen when not in Lambda (default 127.0.0.1:3001).
    pub local_addr: std::net::SocketAddr,
    /// `SNAPSHOT_EVERY` (default 64): every this many events an event's item also carries the aggregate's state, so
    /// a command reads at most this many items. `IDEMPOTENCY_WINDOW` (default 128): the recent commands a snapshot
    /// carries — a retried request is recognised while fewer than this many commands were accepted on the
    /// aggregate since (README, "Bounded loads").
    pub snapshots: SnapshotPolicy,
    /// `IDEMPOTENCY_KEY_HOURS` (default 24, at least 24): how long a caller's `Idempotency-Key` is remembered,
    /// whatever else reaches the aggregate meanwhile (a receipt written with the command's events).
    pub key_retention: KeyRetention,
}

impl CommandConfig {
    pub fn from_env() -> Result<Self, tributary_runtime::ConfigError> {
        use tributary_runtime::config::{env_or, socket_addr};
        Ok(Self {
            events_table: env_or("EVENTS_TABLE", DEFAULT_EVENTS_TABLE),
            local_addr: socket_addr("COMMAND_ADDR", "127.0.0.1:3001")?,
            snapshots: SnapshotPolicy::from_env()?,
            key_retention: KeyRetention::from_env()?,
        })
    }
}

/// The command side of a service, for every aggregate of its domain: the event store, how commands retry and
/// snapshot, how long callers' keys are kept, and the publisher. Built once per container; a route asks it for the
/// handler of its aggregate ([`Commands::handler`]), so adding an aggregate adds nothing here.
#[derive(Clone)]
pub struct Commands {
    store: Arc<dyn EventStore>,
    retry: RetryPolicy,
    snapshots: SnapshotPolicy,
    key_retention: KeyRetention,
    publisher: Option<(LazyPublisher, PublishFaults)>,
    clock: Option<Clock>,
}

/// Where commands read the time (a command's `now`, a schedule's creation or pause): the wall clock, unless a local
/// stack moves its own forward.
pub type Clock = Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>;

impl Commands {
    /// Commands over `store`, with the default conflict-retry, snapshot and key-retention policies and no publisher.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            retry: RetryPolicy::default(),
            snapshots: SnapshotPolicy::default(),
            key_retention: KeyRetention::default(),
            publisher: None,
            clock: None,
        }
    }

    /// Read the time from `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The time now, on the commands' clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock
            .as_ref()
            .map_or_else(chrono::Utc::now, |clock| clock())
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Store snapshots and remember recent commands as `snapshots` says.
    pub fn with_snapshots(mut self, snapshots: SnapshotPolicy) -> Self {
        self.snapshots = snapshots;
        self
    }

    /// Remember callers' idempotency keys for `retention` (instead of the default 24 hours).
    pub fn with_key_retention(mut self, retention: KeyRetention) -> Self {
        self.key_retention = retention;
        self
    }

    /// Publish committed events and rejections with `publisher` (once it is connected).
    pub fn with_publisher(mut self, publisher: LazyPublisher, faults: PublishFaults) -> Self {
        self.publisher = Some((publisher, faults));
        self
    }

    /// The handler of aggregate `D`'s commands (commit, then publish). Cheap: it shares the store and publisher.
    pub fn handler<D: Decider>(&self) -> PublishingHandler<D>
    where
        D::Command: Sync,
    {
        let handler = PublishingHandler::new(
            CommandHandler::new(self.store.clone(), self.retry).with_snapshots(self.snapshots),
        );
        match &self.publisher {
            Some((publisher, faults)) => handler.with_publisher(publisher.clone(), *faults),
            None => handler,
        }
    }

    /// Aggregate `D`'s handler that commits without publishing (the relay publishes what it appends): for what a
    /// route writes besides the request's own command (a deadline it sets).
    pub fn committing<D: Decider>(&self) -> CommandHandler<D> {
        CommandHandler::new(self.store.clone(), self.retry).with_snapshots(self.snapshots)
    }

    /// Run a validated command of aggregate `D` through its handler (commit, then publish) with the request's
    /// headers as its context; a failure as its problem (`problems`).
    pub async fn run<D: Decider, R: Serialize + Sync>(
        &self,
        problems: &impl Problems<D>,
        command: Command<'_, D, R>,
        caller: Caller,
        headers: &HeaderMap,
    ) -> Result<CommandOutcome, Problem>
    where
        D::Command: Sync,
    {
        let handler = self.handler::<D>();
        let retention = self.key_retention;
        let command_id = Uuid::new_v4();
        let started = std::time::SystemTime::now();
        let request_trace = headers::request_trace(headers)?;
        let trace = headers::trace_context(request_trace.as_ref());
        let correlation_id =
            headers::correlation_id(headers)?.unwrap_or_else(|| command_id.to_string());
        let description = command.request;
        let request = CommandRequest {
            stream_id: command.stream_id,
            command: command.command,
            expected_version: headers::if_match(headers)?,
            idempotency: headers::idempotency_key(headers)?.map(|key| Idempotency {
                key,
                fingerprint: fingerprint(description),
                retention,
            }),
            context: CommandContext {
                command_id,
                causation_id: command_id.to_string(),
                correlation_id,
                actor: caller.principal,
                now: self.now(),
                traceparent: Some(trace.to_string()),
            },
        };
        let span = tracing::info_span!(
            "command",
            %command_id,
            stream = %request.stream_id,
            correlation = %request.context.correlation_id,
            trace_id = %trace.trace_id(),
        );
        let result = async {
            let result = handler.handle(&request, description).await;
            match &result {
                Ok(outcome) => tracing::info!(
                    version = outcome.version(),
                    replayed = matches!(outcome, CommandOutcome::Replayed { .. }),
                    "command handled"
                ),
                Err(error) => tracing::info!(%error, "command not applied"),
            }
            result
        }
        .instrument(span)
        .await;
        let outcome = match &result {
            Ok(CommandOutcome::Committed { .. }) => Some(Outcome::Committed),
            Ok(CommandOutcome::Replayed { .. }) => Some(Outcome::Replayed),
            Err(CommandError::Rejected { rejection, .. }) => {
                Some(Outcome::Rejected(D::rejection_code(rejection).to_owned()))
            }
            Err(CommandError::Conflict { .. }) => Some(Outcome::Conflict),
            Err(_) => None,
        };
        if spans::enabled() {
            export_span(&request, &outcome, &result, trace, request_trace, started).await;
        }
        if let Some(outcome) = outcome {
            note(outcome);
        }
        result.map_err(|error| for_command_error(problems, error))
    }

    /// Aggregate `D`'s state in `stream_id` now, as a command would read it (another aggregate a command looks at).
    pub async fn state<D: Decider>(
        &self,
        problems: &impl Problems<D>,
        stream_id: &str,
    ) -> Result<D::State, Problem> {
        let (state, _) = CommandHandler::<D>::new(self.store.clone(), self.retry)
            .with_snapshots(self.snapshots)
            .state(stream_id)
            .await
            .map_err(|e| for_command_error(problems, CommandError::Store(e)))?;
        Ok(state)
    }

    /// Whether the publisher is connected (false when there is none, or MSK discovery has not answered yet).
    pub fn publisher_connected(&self) -> bool {
        self.publisher
            .as_ref()
            .is_some_and(|(publisher, _)| publisher.get().is_some())
    }

    /// Wait up to `patience` for the publisher to connect and reach the brokers; whether it is connected then.
    pub async fn publisher_settled(&self, patience: std::time::Duration) -> bool {
        match &self.publisher {
            Some((publisher, _)) => publisher.settled(patience).await,
            None => false,
        }
    }
}

/// A command of one aggregate, as a route has validated it.
pub struct Command<'a, D: Decider, R: Serialize> {
    /// The aggregate's stream.
    pub stream_id: String,
    pub command: D::Command,
    /// What the request asked for, in canonical form: the idempotency fingerprint is computed from it, and a
    /// rejection event carries it.
    pub request: &'a R,
}

/// The command's span, exported when span export is on.
async fn export_span<C, R: std::error::Error + 'static>(
    request: &CommandRequest<C>,
    outcome: &Option<Outcome>,
    result: &Result<CommandOutcome, CommandError<R>>,
    trace: tributary_core::TraceParent,
    parent: Option<tributary_core::TraceParent>,
    started: std::time::SystemTime,
) {
    let mut attributes = vec![
        ("tributary.stream", request.stream_id.clone()),
        (
            "tributary.command_id",
            request.context.command_id.to_string(),
        ),
        (
            "tributary.correlation_id",
            request.context.correlation_id.clone(),
        ),
    ];
    let label = match outcome {
        Some(Outcome::Committed) => "committed",
        Some(Outcome::Replayed) => "replayed",
        Some(Outcome::Rejected(reason)) => {
            attributes.push(("tributary.rejection", reason.clone()));
            "rejected"
        }
        Some(Outcome::Conflict) => "conflict",
        None => "failed",
    };
    attributes.push(("tributary.outcome", label.to_owned()));
    if let Ok(done) = result {
        attributes.push(("tributary.version", done.version().to_string()));
    }
    spans::export(spans::Span {
        name: format!("command {}", stream_category(&request.stream_id)),
        context: trace,
        parent,
        kind: spans::Kind::Server,
        start: started,
        end: std::time::SystemTime::now(),
        attributes,
        // A refusal is the domain's answer, not a failure of the request.
        error: match (outcome, result) {
            (None, Err(error)) => Some(error.to_string()),
            _ => None,
        },
        links: Vec::new(),
    })
    .await;
}

/// The kind of aggregate a stream id names (`account` of `account-<id>`).
fn stream_category(stream_id: &str) -> &str {
    stream_id
        .split_once('-')
        .map_or(stream_id, |(category, _)| category)
}

/// A success response: `body` with its `ETag` (the aggregate's `version`), a `Location` for what was created, and
/// whether it was a replay.
pub fn respond(
    status: StatusCode,
    body: &impl Serialize,
    version: u64,
    location: Option<String>,
    outcome: &CommandOutcome,
) -> Response {
    let mut response = (status, Json(body)).into_response();
    let h = response.headers_mut();
    h.insert(header::ETAG, etag(version));
    if let Some(location) = location {
        h.insert(
            header::LOCATION,
            HeaderValue::from_str(&location).expect("ids are ASCII"),
        );
    }
    if matches!(outcome, CommandOutcome::Replayed { .. }) {
        h.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

/// The `ETag` of an aggregate or view at `version`: `"<version>"`, usable as `If-Match`.
pub fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header")
}
