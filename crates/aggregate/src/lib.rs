//! Runs commands against event-sourced aggregates: the application loop around a pure [`Decider`].
//!
//! For each command: load the stream (one consistent read), fold it, check that the caller may command the
//! aggregate, recognise a retried request by its idempotency key, check the caller's expected version, decide,
//! append (one conditional write). When another writer wins the
//! race, reload and decide again (bounded in attempts and time, with jittered backoff): `decide` is pure, so
//! retrying is safe.
//!
//! A write can succeed even though its caller never hears so: the response is lost and the SDK retries the request,
//! which then meets the write it made itself; or every attempt times out after the first one landed. So whenever an
//! append did not clearly succeed, the next attempt first looks for the command's own events (its `command_id`) in
//! the reloaded stream and, when they are there, reports the commit instead of deciding again. Every attempt
//! appends right after the head it read, so two attempts of one command can never both land.

use chrono::{DateTime, Utc};
use std::marker::PhantomData;
use std::time::Duration;
use tributary_core::{Decider, EventMetadata, IdempotencyKey};
use tributary_dynamodb::{EventStore, EventStoreError, NewEvent, StoredEvent};
use uuid::Uuid;

/// Who sent a command, when, and as part of what conversation. Supplied by the shell (HTTP edge).
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub command_id: Uuid,
    pub correlation_id: String,
    pub causation_id: String,
    pub actor: String,
    pub now: DateTime<Utc>,
    /// W3C `traceparent` of this command, recorded on its events.
    pub traceparent: Option<String>,
}

/// A retried request is recognised by its key; the fingerprint tells a true retry from a reused key.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: IdempotencyKey,
    pub fingerprint: String,
}

/// A command addressed to one stream, with its optional preconditions.
#[derive(Debug, Clone)]
pub struct CommandRequest<C> {
    pub stream_id: String,
    pub command: C,
    /// `If-Match`: run only if the stream is exactly at this version.
    pub expected_version: Option<u64>,
    pub idempotency: Option<Idempotency>,
    pub context: CommandContext,
}

/// What running a command did.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandOutcome {
    /// New events were appended; the stream is now at `version`.
    Committed {
        version: u64,
        events: Vec<StoredEvent>,
    },
    /// The same request was already handled (same idempotency key and fingerprint): nothing appended.
    /// `version` is the stream version that request produced.
    Replayed { version: u64 },
}

impl CommandOutcome {
    /// The stream version the caller should see in the response.
    pub fn version(&self) -> u64 {
        match self {
            Self::Committed { version, .. } | Self::Replayed { version } => *version,
        }
    }
}

/// Why a command was not applied.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<R: std::error::Error + 'static> {
    /// The caller may not command this aggregate ([`Decider::may_command`]); tell them it does not exist.
    #[error("the caller may not command this aggregate")]
    AccessDenied,
    /// The aggregate refused it (a business rule). `version` is the stream version it was decided at.
    #[error("rejected: {rejection}")]
    Rejected { rejection: R, version: u64 },
    /// `If-Match` named another version than the stream's.
    #[error("expected version {expected}, but the stream is at version {actual}")]
    PreconditionFailed { expected: u64, actual: u64 },
    /// The idempotency key was already used for a different request.
    #[error("the idempotency key was already used for a different request")]
    IdempotencyKeyReused,
    /// Other writers kept winning the race for the stream.
    #[error("the stream kept changing; gave up after {attempts} attempts")]
    Conflict { attempts: u32 },
    /// The event store failed.
    #[error(transparent)]
    Store(EventStoreError),
}

/// How often, and how patiently, to retry after losing a race for a stream (or an append whose outcome is
/// unknown).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time, up to `max_delay`, with full jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No new attempt starts after this much time since the command began (the function's timeout must leave
    /// room for one more attempt and the publish after it).
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(100),
            budget: Duration::from_secs(3),
        }
    }
}

impl RetryPolicy {
    fn delay_before(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        ceiling.mul_f64(rand::random::<f64>())
    }
}

/// Runs commands of decider `D` against an event store.
pub struct CommandHandler<D> {
    store: EventStore,
    retry: RetryPolicy,
    decider: PhantomData<fn() -> D>,
}

impl<D> Clone for CommandHandler<D> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            retry: self.retry,
            decider: PhantomData,
        }
    }
}

impl<D: Decider> CommandHandler<D> {
    pub fn new(store: EventStore, retry: RetryPolicy) -> Self {
        Self {
            store,
            retry,
            decider: PhantomData,
        }
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Run one command to completion: committed, replayed, or refused with a reason.
    pub async fn handle(
        &self,
        request: &CommandRequest<D::Command>,
    ) -> Result<CommandOutcome, CommandError<D::Rejection>> {
        let started = tokio::time::Instant::now();
        // Why the previous attempt did not commit: lost a race, or an append whose outcome is unknown.
        let mut last_failure: Option<EventStoreError> = None;
        for attempt in 1.. {
            if let Some(failure) = &last_failure {
                if attempt > self.retry.max_attempts || started.elapsed() >= self.retry.budget {
                    // Out of attempts or time: one last look for this command's own events (an SDK retry may have
                    // met its own write), then the answer.
                    if let Ok(history) = self.store.load(&request.stream_id).await {
                        if let Some(committed) = own_commit(&history, request.context.command_id) {
                            return Ok(committed);
                        }
                    }
                    return Err(match last_failure {
                        Some(EventStoreError::Transient(cause)) => {
                            CommandError::Store(EventStoreError::Transient(cause))
                        }
                        _ => CommandError::Conflict {
                            attempts: attempt - 1,
                        },
                    });
                }
                tracing::debug!(stream = %request.stream_id, attempt, %failure, "retrying the command");
                tokio::time::sleep(self.retry.delay_before(attempt)).await;
            }
            let history = self
                .store
                .load(&request.stream_id)
                .await
                .map_err(CommandError::Store)?;
            let version = history.last().map_or(0, |e| e.version);

            if last_failure.is_some() {
                if let Some(committed) = own_commit(&history, request.context.command_id) {
                    tracing::info!(stream = %request.stream_id, version = committed.version(), "an earlier attempt of this command committed");
                    return Ok(committed);
                }
            }
            let mut state = D::initial();
            for stored in &history {
                state = D::evolve(
                    state,
                    &stored
                        .decode::<D::Event>()
                        .map_err(CommandError::Store)?
                        .event,
                );
            }
            // Before anything that could tell a stranger about the aggregate (a replay, its version).
            if !D::may_command(&state, &request.context.actor) {
                return Err(CommandError::AccessDenied);
            }
            if let Some(idempotency) = &request.idempotency {
                if let Some(replayed) =
                    previous_outcome(&history, &request.context.actor, idempotency)?
                {
                    return Ok(replayed);
                }
            }
            if let Some(expected) = request.expected_version {
                if expected != version {
                    return Err(CommandError::PreconditionFailed {
                        expected,
                        actual: version,
                    });
                }
            }

            let events = D::decide(&state, &request.command)
                .map_err(|rejection| CommandError::Rejected { rejection, version })?;
            let new_events: Vec<NewEvent> = events
                .iter()
                .map(|event| NewEvent::from_domain(event, metadata(request)))
                .collect();

            match self
                .store
                .append(&request.stream_id, version, &new_events)
                .await
            {
                Ok(new_version) => {
                    let events = (version + 1..)
                        .zip(new_events)
                        .map(|(v, e)| StoredEvent::committed(&request.stream_id, v, e))
                        .collect();
                    return Ok(CommandOutcome::Committed {
                        version: new_version,
                        events,
                    });
                }
                // Another writer won, or a transaction collided: nothing of ours was written by this call (though
                // an SDK retry inside it may have met our own earlier write).
                Err(
                    e @ (EventStoreError::WrongExpectedVersion { .. }
                    | EventStoreError::TransactionConflict(_)),
                ) => last_failure = Some(e),
                // Throttled after the SDK's retries, timed out, or no answer: the append may or may not have landed.
                Err(e @ EventStoreError::Transient(_)) => {
                    tracing::warn!(stream = %request.stream_id, attempt, error = %e, "append outcome unknown; checking the stream");
                    last_failure = Some(e);
                }
                Err(e) => return Err(CommandError::Store(e)),
            }
        }
        unreachable!("the attempts loop only ends by returning")
    }
}

/// The events this very command appended (an earlier attempt whose success was not reported), as its outcome.
fn own_commit(history: &[StoredEvent], command_id: Uuid) -> Option<CommandOutcome> {
    let events: Vec<StoredEvent> = history
        .iter()
        .filter(|e| e.metadata.command_id == command_id)
        .cloned()
        .collect();
    let version = events.last()?.version;
    Some(CommandOutcome::Committed { version, events })
}

/// If the stream holds events of a request with this caller's idempotency key, the outcome to return again (or the
/// error when the key was used for a different request). Keys are the caller's own: another caller's use of the same
/// key is another request.
fn previous_outcome<R: std::error::Error>(
    history: &[StoredEvent],
    actor: &str,
    idempotency: &Idempotency,
) -> Result<Option<CommandOutcome>, CommandError<R>> {
    let key = idempotency.key.as_str();
    let mut previous = history
        .iter()
        .filter(|e| e.metadata.actor == actor && e.metadata.idempotency_key.as_deref() == Some(key))
        .peekable();
    let Some(first) = previous.peek() else {
        return Ok(None);
    };
    if first.metadata.request_fingerprint.as_deref() != Some(idempotency.fingerprint.as_str()) {
        return Err(CommandError::IdempotencyKeyReused);
    }
    let version = previous.map(|e| e.version).max().unwrap_or_default();
    Ok(Some(CommandOutcome::Replayed { version }))
}

fn metadata<C>(request: &CommandRequest<C>) -> EventMetadata {
    let ctx = &request.context;
    EventMetadata {
        event_id: Uuid::new_v4(),
        command_id: ctx.command_id,
        correlation_id: ctx.correlation_id.clone(),
        causation_id: ctx.causation_id.clone(),
        occurred_at: ctx.now,
        actor: ctx.actor.clone(),
        idempotency_key: request
            .idempotency
            .as_ref()
            .map(|i| i.key.as_str().to_owned()),
        request_fingerprint: request.idempotency.as_ref().map(|i| i.fingerprint.clone()),
        traceparent: ctx.traceparent.clone(),
    }
}
