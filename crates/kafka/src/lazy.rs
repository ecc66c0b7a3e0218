//! A publisher that does not hold up a cold start: the brokers are discovered (MSK's `GetBootstrapBrokers`, a
//! control-plane call) in the background, retried until they answer. Until then there is no publisher, and callers
//! go on without one — the command path's publish is only a fast path (the relay publishes every committed event),
//! and a denormaliser needs Kafka only for dead letters.

use crate::config::KafkaConfig;
use crate::publisher::{PublishError, Publisher};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// First and longest pause between discovery attempts.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LONGEST_RETRY: Duration = Duration::from_secs(30);

/// A publisher that may not be connected yet. Cheap to clone (clones share the connection).
#[derive(Clone, Default)]
pub struct LazyPublisher {
    slot: Arc<OnceLock<Publisher>>,
}

impl LazyPublisher {
    /// A publisher that is connected already.
    pub fn ready(publisher: Publisher) -> Self {
        let slot = OnceLock::new();
        let _ = slot.set(publisher);
        Self {
            slot: Arc::new(slot),
        }
    }

    /// Connect in the background on the current tokio runtime: plaintext brokers at once, an MSK cluster once
    /// `GetBootstrapBrokers` answers (retried with backoff, each failure logged). Never blocks the caller.
    pub fn connect_in_background(config: KafkaConfig, aws: aws_types::SdkConfig) -> Self {
        let lazy = Self::default();
        let slot = lazy.slot.clone();
        tokio::spawn(async move {
            let mut pause = FIRST_RETRY;
            loop {
                match Publisher::connect(&config, &aws).await {
                    Ok(publisher) => {
                        let _ = slot.set(publisher);
                        tracing::info!("Kafka publisher connected");
                        return;
                    }
                    // A configuration that can never work is reported once, loudly; retrying cannot fix it.
                    Err(error @ (PublishError::MissingAws(_) | PublishError::Setup(_))) => {
                        tracing::error!(%error, "cannot create the Kafka publisher; publishing is off in this container");
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(%error, retry_in = ?pause, "Kafka brokers not discovered yet; going on without a publisher");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(LONGEST_RETRY);
                    }
                }
            }
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
}
