//! Runs commands against event-sourced aggregates: the application loop around a pure [`Decider`].
//!
//! For each command: load the stream (one consistent read), fold it, check that the caller may command the
//! aggregate, recognise a retried request by its idempotency key, check the caller's expected version, decide,
//! append (one conditional write). When another writer wins the
//! race, reload and decide again (bounded in attempts and time, with jittered backoff): `decide` is pure, so
//! retrying is safe.
//!
//! Loads are bounded: every so often an event's item also carries a snapshot — the aggregate's state after it, and
//! its recent commands — and a load reads backwards only to the newest one ([`SnapshotPolicy`]). The recent
//! commands are the idempotency window (at least the last `window` commands) and let a command recognise its own
//! earlier attempt without reading the stream.
//!
//! A write can succeed even though its caller never hears so: the response is lost and the SDK retries the request,
//! which then meets the write it made itself; or every attempt times out after the first one landed. So whenever an
//! append did not clearly succeed, the next attempt first looks for the command's own events (its `command_id`) in
//! the reloaded stream and, when they are there, reports the commit instead of deciding again. Every attempt
//! appends right after the head it read, so two attempts of one command can never both land.
//!
//! [`PublishingHandler`] adds the fast path to Kafka: committed events published right after the commit, rejected
//! commands published as rejection events.

pub mod publishing;
mod recent;

pub use publishing::{PublishFaults, PublishingHandler};

use chrono::{DateTime, Utc};
use recent::RecentCommands;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use tributary_core::{Decider, EventMetadata, IdempotencyKey};
use tributary_store::{EventStore, EventStoreError, NewEvent, Receipt, Snapshot, StoredEvent};
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
///
/// Every command with a key leaves a [`Receipt`] in the same transaction as its events, so that it is recognised
/// for as long as [`KeyRetention`] says — however many commands of other principals reach the aggregate meanwhile
/// (a count-based window alone could be flushed by anyone who can append to the stream). The snapshot's window of
/// recent commands stays as the fast path: a repeat inside it costs no write.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: IdempotencyKey,
    pub fingerprint: String,
    pub retention: KeyRetention,
}

/// How long an idempotency key is remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRetention {
    /// A caller's key: remembered for this long after the command (its receipt then expires, and the table's TTL
    /// deletes it). A rejection is not remembered: the caller may fix the cause and retry with the same key.
    Period(chrono::TimeDelta),
    /// A process manager's order: remembered for ever, rejections included, so the same order always gets the same
    /// answer even when the aggregate's state changes between two deliveries.
    Forever,
}

impl KeyRetention {
    /// The default period for callers' keys: 24 hours.
    pub const DEFAULT_PERIOD: chrono::TimeDelta = chrono::TimeDelta::hours(24);

    /// `IDEMPOTENCY_KEY_HOURS`: how long callers' keys are remembered, 24 (the default) to 8,760 hours (a year);
    /// a clear error otherwise.
    pub fn from_env() -> Result<Self, tributary_runtime::ConfigError> {
        let hours = tributary_runtime::config::count_between(
            "IDEMPOTENCY_KEY_HOURS",
            Self::DEFAULT_PERIOD.num_hours() as u64,
            24,
            8_760,
        )?;
        Ok(Self::Period(chrono::TimeDelta::hours(hours as i64)))
    }

    fn expiry(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::Period(period) => Some(now + period),
            Self::Forever => None,
        }
    }
}

impl Default for KeyRetention {
    fn default() -> Self {
        Self::Period(Self::DEFAULT_PERIOD)
    }
}

impl Idempotency {
    /// The id of the receipt of `actor`'s command with this key.
    fn receipt_id(&self, actor: &str) -> String {
        tributary_core::fingerprint(&(actor, self.key.as_str()))
    }
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
    /// The aggregate refused this very request before, and its receipt remembers the refusal by its code
    /// ([`KeyRetention::Forever`]): the same answer, whatever the aggregate's state is now.
    #[error("rejected earlier: {code}")]
    RejectedEarlier { code: String, version: u64 },
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

/// How patiently to retry after losing a race for a stream (or an append whose outcome is unknown): for as long as
/// the budget lasts, sleeping a decorrelated-jitter backoff between attempts (each pause random between `base_delay`
/// and three times the previous one, at most `max_delay`), so that writers of one hot aggregate spread out.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No new attempt starts after this much time since the command began (the function's timeout must leave
    /// room for one more attempt and the publish after it).
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(100),
            budget: Duration::from_secs(3),
        }
    }
}

impl RetryPolicy {
    /// The pause after `previous` (zero before the first retry).
    fn next_delay(&self, previous: Duration) -> Duration {
        let low = self.base_delay.as_secs_f64();
        let high = (previous.as_secs_f64() * 3.0).max(low);
        let pick = low + (high - low) * rand::random::<f64>();
        Duration::from_secs_f64(pick).min(self.max_delay)
    }
}

/// How often an aggregate's state is stored beside its events, and how many recent commands travel with it.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotPolicy {
    /// An event whose version is a multiple of this carries a snapshot: a load reads at most this many items
    /// (plus the events of one multi-event command).
    pub every: u64,
    /// The idempotency window: a load knows at least the last `window` commands accepted on the aggregate.
    pub window: usize,
}

impl SnapshotPolicy {
    /// `SNAPSHOT_EVERY` (default 64) and `IDEMPOTENCY_WINDOW` (default 128), each a whole number up to 1,000 (a clear
    /// error otherwise). Every function that commands an aggregate must read the same settings: the snapshots one
    /// writes carry the window the next load knows.
    pub fn from_env() -> Result<Self, tributary_runtime::ConfigError> {
        use tributary_runtime::config::count;
        let default = Self::default();
        // Bounds keep a snapshot item far below DynamoDB's 400 KB (about 130 bytes per remembered command) and a
        // load's read to a few pages at most.
        Ok(Self {
            every: count("SNAPSHOT_EVERY", default.every, 1_000)?,
            window: count("IDEMPOTENCY_WINDOW", default.window as u64, 1_000)? as usize,
        })
    }
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self {
            every: 64,
            window: 128,
        }
    }
}

/// Runs commands of decider `D` against an event store.
pub struct CommandHandler<D> {
    store: Arc<dyn EventStore>,
    retry: RetryPolicy,
    snapshots: SnapshotPolicy,
    decider: PhantomData<fn() -> D>,
}

impl<D> Clone for CommandHandler<D> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            retry: self.retry,
            snapshots: self.snapshots,
            decider: PhantomData,
        }
    }
}

/// An aggregate as a command sees it: its state, version and recent commands, and the events it read.
struct Loaded<S> {
    state: S,
    version: u64,
    recent: RecentCommands,
    /// The events read after the snapshot (their command ids, for a command's own earlier attempt).
    events: Vec<StoredEvent>,
    /// The next append should carry a snapshot (none was usable, and the stream is long).
    needs_snapshot: bool,
    /// The newest event read (the one at `version`).
    newest: Option<StoredEvent>,
    /// The idempotency window the snapshot it started from was written with, if it says.
    window: Option<u32>,
}

impl<D: Decider> CommandHandler<D> {
    pub fn new(store: Arc<dyn EventStore>, retry: RetryPolicy) -> Self {
        Self {
            store,
            retry,
            snapshots: SnapshotPolicy::default(),
            decider: PhantomData,
        }
    }

    /// Use `snapshots` instead of the default snapshot policy.
    pub fn with_snapshots(mut self, snapshots: SnapshotPolicy) -> Self {
        self.snapshots = snapshots;
        self
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The aggregate's current state and version (0: no events), read as a command would read it (a bounded read:
    /// the newest snapshot and the events after it). For a process manager that decides what to send next.
    pub async fn state(&self, stream_id: &str) -> Result<(D::State, u64), EventStoreError> {
        let loaded = self.load(stream_id).await?;
        Ok((loaded.state, loaded.version))
    }

    /// The aggregate as it was right after its event `version` — or after its newest event, when the stream is not
    /// that long yet: its state then, and that event (whose version says which it is); `None` for an empty stream.
    /// Read backwards from `version` to the newest snapshot at or below it: at most the snapshot interval + 1 items
    /// (plus one multi-event command's events), however long the stream and whatever the version asked — unless that
    /// snapshot is of another state shape (the stream is then folded up to `version`). For reads of the past (an
    /// audit as of a version); nothing is written.
    pub async fn state_at(
        &self,
        stream_id: &str,
        version: u64,
    ) -> Result<Option<(D::State, StoredEvent)>, EventStoreError> {
        let loaded = self.load_up_to(stream_id, Some(version)).await?;
        Ok(loaded.newest.map(|event| (loaded.state, event)))
    }

    /// The aggregate's current state, from the newest snapshot and the events after it (a bounded read); from all
    /// its events when there is no usable snapshot.
    async fn load(&self, stream_id: &str) -> Result<Loaded<D::State>, EventStoreError> {
        self.load_up_to(stream_id, None).await
    }

    /// [`load`](Self::load) as the stream was after its event `up_to` (`None`: now).
    async fn load_up_to(
        &self,
        stream_id: &str,
        up_to: Option<u64>,
    ) -> Result<Loaded<D::State>, EventStoreError> {
        let page = i32::try_from(self.snapshots.every + 1).unwrap_or(i32::MAX);
        let tail = self.store.load_tail_up_to(stream_id, up_to, page).await?;
        let window = tail
            .snapshot
            .as_ref()
            .and_then(|(_, snapshot)| snapshot.window);
        let usable = tail.snapshot.as_ref().and_then(|(version, snapshot)| {
            if snapshot.shape != D::STATE_SHAPE {
                return None;
            }
            let state = serde_json::from_str::<D::State>(&snapshot.state).ok()?;
            let recent = RecentCommands::from_json(&snapshot.recent).ok()?;
            Some((*version, state, recent))
        });
        let (mut state, mut version, mut recent, events, needs_snapshot) = match usable {
            Some((version, state, recent)) => (state, version, recent, tail.events, false),
            None if tail.snapshot.is_none() => {
                // No snapshot yet: what was read is the whole stream.
                let long = tail.events.len() as u64 > self.snapshots.every;
                (
                    D::initial(),
                    0,
                    RecentCommands::default(),
                    tail.events,
                    long,
                )
            }
            None => {
                // A snapshot of another state shape (or unreadable): fold everything, store a fresh one next.
                tracing::info!(stream = %stream_id, "snapshot of another state shape; folding the whole stream");
                let all = self.store.load_between(stream_id, 0, up_to).await?;
                (D::initial(), 0, RecentCommands::default(), all, true)
            }
        };
        for stored in &events {
            state = D::evolve(state, &stored.decode::<D::Event>()?.event);
            version = stored.version;
        }
        recent.record(&events);
        Ok(Loaded {
            state,
            version,
            recent,
            events,
            needs_snapshot,
            newest: tail.newest,
            window,
        })
    }

    /// Run one command to completion: committed, replayed, or refused with a reason.
    pub async fn handle(
        &self,
        request: &CommandRequest<D::Command>,
    ) -> Result<CommandOutcome, CommandError<D::Rejection>> {
        let started = tokio::time::Instant::now();
        let command_id = request.context.command_id;
        // Why the previous attempt did not commit: lost a race, a receipt held the key, or an append whose outcome
        // is unknown.
        let mut last_failure: Option<EventStoreError> = None;
        let mut pause = Duration::ZERO;
        let mut attempts = 0u32;
        loop {
            if let Some(failure) = &last_failure {
                if started.elapsed() >= self.retry.budget {
                    // Out of time: one last look for this command's own events (an SDK retry may have met its own
                    // write), then the answer.
                    if let Ok(loaded) = self.load(&request.stream_id).await {
                        if let Some(committed) = own_commit(&loaded, command_id) {
                            return Ok(committed);
                        }
                    }
                    return Err(match last_failure {
                        Some(EventStoreError::Transient(cause)) => {
                            CommandError::Store(EventStoreError::Transient(cause))
                        }
                        _ => CommandError::Conflict { attempts },
                    });
                }
                if !matches!(failure, EventStoreError::ReceiptTaken { .. }) {
                    pause = self.retry.next_delay(pause);
                    tributary_runtime::metrics::count("AppendRetries", 1, &[]);
                    tracing::debug!(stream = %request.stream_id, attempts, %failure, ?pause, "retrying the command");
                    tokio::time::sleep(pause).await;
                }
            }
            attempts += 1;
            let loaded = self
                .load(&request.stream_id)
                .await
                .map_err(CommandError::Store)?;
            if last_failure.is_some() {
                if let Some(committed) = own_commit(&loaded, command_id) {
                    tracing::info!(stream = %request.stream_id, version = committed.version(), "an earlier attempt of this command committed");
                    return Ok(committed);
                }
            }
            // Before anything that could tell a stranger about the aggregate (a replay, its version).
            if !D::may_command(&loaded.state, &request.context.actor, &request.command) {
                return Err(CommandError::AccessDenied);
            }
            if let Some(idempotency) = &request.idempotency {
                if let Some(seen) = loaded
                    .recent
                    .with_key(&request.context.actor, idempotency.key.as_str())
                {
                    if !RecentCommands::same_request(&seen, &idempotency.fingerprint) {
                        return Err(CommandError::IdempotencyKeyReused);
                    }
                    return Ok(CommandOutcome::Replayed {
                        version: seen.version,
                    });
                }
                if matches!(last_failure, Some(EventStoreError::ReceiptTaken { .. })) {
                    // Another attempt holds the key: its receipt is the answer (unless it expired meanwhile).
                    if let Some(answer) = self.earlier_answer(request).await? {
                        return answer;
                    }
                }
            }
            let version = loaded.version;
            if let Some(expected) = request.expected_version {
                if expected != version {
                    // A retry of a request that moved the stream past the version it expected is a replay.
                    if let Some(answer) = self.earlier_answer(request).await? {
                        return answer;
                    }
                    return Err(CommandError::PreconditionFailed {
                        expected,
                        actual: version,
                    });
                }
            }

            let events = match D::decide(&loaded.state, &request.command) {
                Ok(events) => events,
                Err(rejection) => return self.rejected(request, rejection, version).await,
            };
            let new_events: Vec<NewEvent> = events
                .iter()
                .map(|event| NewEvent::from_domain(event, metadata(request)))
                .collect();
            // Personal values sealed before the chain is computed: what is stored, hashed and published is ciphertext.
            let new_events = tributary_store::sealing::seal_events(self.store.vault(), &new_events)
                .await
                .map_err(CommandError::Store)?;
            // Chained to the head it read, as the store chains them (no extra read to find the head's hash).
            let previous = loaded.newest.clone();
            let committed = StoredEvent::chained(
                &request.stream_id,
                version + 1,
                new_events.iter().cloned(),
                previous.as_ref().and_then(StoredEvent::chain),
            );
            let snapshot = self.snapshot_after(loaded, &events, &committed);
            let receipt = request.idempotency.as_ref().map(|i| {
                receipt(
                    request,
                    i,
                    version + new_events.len() as u64,
                    None::<String>,
                )
            });

            match self
                .store
                .append_with_receipt(
                    &request.stream_id,
                    version,
                    previous.as_ref(),
                    &new_events,
                    snapshot.as_ref(),
                    receipt.as_ref(),
                )
                .await
            {
                Ok(new_version) => {
                    return Ok(CommandOutcome::Committed {
                        version: new_version,
                        events: committed,
                    });
                }
                // Another writer won, or a transaction collided: nothing of ours was written by this call (though an
                // SDK retry inside it may have met our own earlier write).
                Err(
                    e @ (EventStoreError::WrongExpectedVersion { .. }
                    | EventStoreError::TransactionConflict(_)),
                ) => {
                    tributary_runtime::metrics::count("AppendConflicts", 1, &[]);
                    last_failure = Some(e)
                }
                // A live receipt holds the key: an earlier attempt of this request (or another request under the same
                // key) was handled. Look again: the next round reads the receipt for the answer.
                Err(e @ EventStoreError::ReceiptTaken { .. }) => last_failure = Some(e),
                // Throttled after the SDK's retries, timed out, or no answer: the append may or may not have landed.
                Err(e @ EventStoreError::Transient(_)) => {
                    tracing::warn!(stream = %request.stream_id, attempts, error = %e, "append outcome unknown; checking the stream");
                    last_failure = Some(e);
                }
                Err(e) => return Err(CommandError::Store(e)),
            }
        }
    }

    /// The answer a live receipt gives `request` (its key was used before): a replay, the rejection it remembers,
    /// or a reused key. `None` when no live receipt holds the key.
    async fn earlier_answer(
        &self,
        request: &CommandRequest<D::Command>,
    ) -> Result<
        Option<Result<CommandOutcome, CommandError<D::Rejection>>>,
        CommandError<D::Rejection>,
    > {
        let Some(idempotency) = &request.idempotency else {
            return Ok(None);
        };
        let id = idempotency.receipt_id(&request.context.actor);
        let Some(receipt) = self.store.receipt(&id).await.map_err(CommandError::Store)? else {
            return Ok(None);
        };
        if !receipt.is_live(request.context.now) {
            return Ok(None);
        }
        if receipt.stream_id != request.stream_id || receipt.fingerprint != idempotency.fingerprint
        {
            return Ok(Some(Err(CommandError::IdempotencyKeyReused)));
        }
        Ok(Some(match receipt.rejection {
            Some(code) => Err(CommandError::RejectedEarlier {
                code,
                version: receipt.version,
            }),
            None => Ok(CommandOutcome::Replayed {
                version: receipt.version,
            }),
        }))
    }

    /// Answer a rejection decided at `version`: a request whose key was used before gets the earlier answer; an
    /// order whose key is kept for ever has its rejection remembered (unless another attempt's answer got there
    /// first, which is then the answer).
    async fn rejected(
        &self,
        request: &CommandRequest<D::Command>,
        rejection: D::Rejection,
        version: u64,
    ) -> Result<CommandOutcome, CommandError<D::Rejection>> {
        let Some(idempotency) = &request.idempotency else {
            return Err(CommandError::Rejected { rejection, version });
        };
        if idempotency.retention != KeyRetention::Forever {
            return match self.earlier_answer(request).await? {
                Some(answer) => answer,
                None => Err(CommandError::Rejected { rejection, version }),
            };
        }
        let code = D::rejection_code(&rejection);
        match self
            .store
            .remember(&receipt(request, idempotency, version, Some(code)))
            .await
        {
            Ok(()) => Err(CommandError::Rejected { rejection, version }),
            Err(EventStoreError::ReceiptTaken { .. }) => {
                match self.earlier_answer(request).await? {
                    Some(answer) => answer,
                    // Gone between the two calls (it cannot expire: this key is kept for ever): refused as decided.
                    None => Err(CommandError::Rejected { rejection, version }),
                }
            }
            Err(e) => Err(CommandError::Store(e)),
        }
    }

    /// The snapshot the append of `committed` carries, if it reaches a multiple of the snapshot interval (or the
    /// aggregate has no usable snapshot yet and a long stream): the state after the new events, and the recent
    /// commands including this one.
    fn snapshot_after(
        &self,
        loaded: Loaded<D::State>,
        events: &[D::Event],
        committed: &[StoredEvent],
    ) -> Option<Snapshot> {
        let every = self.snapshots.every.max(1);
        let due = loaded.needs_snapshot || committed.iter().any(|e| e.version % every == 0);
        if !due || committed.is_empty() {
            return None;
        }
        // Never fewer recent commands than the last snapshot kept: a writer configured with a smaller window (an
        // operator's shell re-driving a process) must not shrink the one the deployment's loads rely on.
        let window = loaded.window.map_or(self.snapshots.window, |w| {
            self.snapshots.window.max(w as usize)
        });
        // The state as the store holds it: folded from the events as stored (their personal values sealed), never
        // from the decision's plain ones — a snapshot is written as it is, and read back by every later command.
        let stored: Vec<D::Event>;
        let events = if committed
            .iter()
            .any(|e| tributary_store::personal::may_hold_personal(&e.payload))
        {
            stored = committed
                .iter()
                .map(|e| e.decode::<D::Event>().map(|recorded| recorded.event))
                .collect::<Result<_, _>>()
                .ok()?;
            &stored[..]
        } else {
            events
        };
        let state = events.iter().fold(loaded.state, D::evolve);
        let mut recent = loaded.recent;
        recent.record(committed);
        Some(Snapshot {
            shape: D::STATE_SHAPE,
            state: serde_json::to_string(&state).expect("aggregate states serialise"),
            recent: recent.to_json(window),
            window: u32::try_from(window).ok(),
        })
    }
}

/// This very command's outcome, if an earlier attempt of it committed (its response was lost, or it timed out
/// after landing): the version it reached, and its events if they were read.
fn own_commit<S>(loaded: &Loaded<S>, command_id: Uuid) -> Option<CommandOutcome> {
    let version = loaded.recent.version_of(command_id)?;
    let events = loaded
        .events
        .iter()
        .filter(|e| e.metadata.command_id == command_id)
        .cloned()
        .collect();
    Some(CommandOutcome::Committed { version, events })
}

/// The receipt `request` leaves under its key: the version it reached (or was decided at), and the rejection it
/// remembers, if any.
fn receipt<C>(
    request: &CommandRequest<C>,
    idempotency: &Idempotency,
    version: u64,
    rejection: Option<impl Into<String>>,
) -> Receipt {
    Receipt {
        id: idempotency.receipt_id(&request.context.actor),
        stream_id: request.stream_id.clone(),
        version,
        fingerprint: idempotency.fingerprint.clone(),
        written_at: request.context.now,
        expires_at: idempotency.retention.expiry(request.context.now),
        rejection: rejection.map(Into::into),
    }
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
