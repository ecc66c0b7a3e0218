//! A publisher that does not hold up a cold start: the brokers are discovered (MSK's `GetBootstrapBrokers`, a
//! control-plane call) in the background, retried until they answer. Until then there is no publisher, and callers
//! go on without one — the command path's publish is only a fast path (the relay publishes every committed event),
//! and a denormaliser needs Kafka only for dead letters. Once connected, the publisher warms up
//! ([`Publisher::warm_up`]), so that the first record does not pay for reaching the brokers; a function's `main` may
//! wait a bounded time for that ([`LazyPublisher::settled`]) to do it during init.

use crate::config::KafkaConfig;
use crate::publisher::{PublishError, Publisher};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// First and longest pause between discovery attempts.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LONGEST_RETRY: Duration = Duration::from_secs(30);
/// How long the warm-up waits for each metadata answer (it saves at most ~0.5 s, and a blocking metadata call
/// cannot be cancelled: a runtime shutting down waits for it).
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(2);

/// A publisher that may not be connected yet. Cheap to clone (clones share the connection).
#[derive(Clone)]
pub struct LazyPublisher {
    slot: Arc<OnceLock<Publisher>>,
    /// Becomes true when the background work is over: connected and warmed up, or given up for good.
    settled: watch::Receiver<bool>,
}

impl Default for LazyPublisher {
    /// A publisher that never connects.
    fn default() -> Self {
        Self {
            slot: Arc::default(),
            settled: watch::channel(true).1,
        }
    }
}

impl LazyPublisher {
    /// A publisher that is connected already.
    pub fn ready(publisher: Publisher) -> Self {
        let slot = OnceLock::new();
        let _ = slot.set(publisher);
        Self {
            slot: Arc::new(slot),
            settled: watch::channel(true).1,
        }
    }

    /// Connect in the background on the current tokio runtime: plaintext brokers at once, an MSK cluster once
    /// `GetBootstrapBrokers` answers (retried with backoff, each failure logged); then warm up. Never blocks the
    /// caller.
    pub fn connect_in_background(config: KafkaConfig, aws: aws_types::SdkConfig) -> Self {
        let slot = Arc::new(OnceLock::new());
        let (settle, settled) = watch::channel(false);
        let lazy = Self {
            slot: slot.clone(),
            settled,
        };
        tokio::spawn(async move {
            let mut pauses = tributary_runtime::retry::pauses(FIRST_RETRY, LONGEST_RETRY);
            let publisher = loop {
                match Publisher::connect(&config, &aws).await {
                    Ok(publisher) => break publisher,
                    // A configuration that can never work is reported once, loudly; retrying cannot fix it.
                    Err(error @ (PublishError::MissingAws(_) | PublishError::Setup(_))) => {
                        tracing::error!(%error, "cannot create the Kafka publisher; publishing is off in this container");
                        settle.send_replace(true);
                        return;
                    }
                    Err(error) => {
                        let pause = pauses.next().unwrap_or(LONGEST_RETRY);
                        tracing::warn!(%error, retry_in = ?pause, "Kafka brokers not discovered yet; going on without a publisher");
                        tokio::time::sleep(pause).await;
                    }
                }
            };
            let _ = slot.set(publisher.clone());
            tracing::info!("Kafka publisher connected");
            let started = Instant::now();
            match publisher.warm_up(WARM_UP_TIMEOUT).await {
                Ok(()) => tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "Kafka brokers reached (connection, metadata, producer id)"
                ),
                Err(error) => tracing::warn!(
                    %error,
                    "Kafka warm-up failed; the first record will connect"
                ),
            }
            settle.send_replace(true);
        });
        lazy
    }

    /// The publisher, once connected.
    pub fn get(&self) -> Option<&Publisher> {
        self.slot.get()
    }

    /// The publisher, waiting up to `patience` for it to connect.
    pub async fn wait(&self, patience: Duration) -> Option<&Publisher> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(publisher) = self.slot.get() {
                return Some(publisher);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait up to `patience` for the background work to end (connected and warmed up, or given up); whether the
    /// publisher is connected then. For a function's init: the first request then finds the brokers reached.
    pub async fn settled(&self, patience: Duration) -> bool {
        let mut settled = self.settled.clone();
        let _ = tokio::time::timeout(patience, settled.wait_for(|done| *done)).await;
        self.get().is_some()
    }
}
