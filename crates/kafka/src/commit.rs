//! Committing consumer offsets from async code without stalling it. librdkafka's synchronous commit waits with
//! no limit for the group coordinator's answer, and a broker that accepts connections but does not answer (a
//! paused process, a stalled network path) holds it there; called on a runtime worker it takes the worker with it,
//! and with every worker inside a commit nothing else on the runtime runs — not the HTTP APIs, not the timers.
//! Here the commit runs on the blocking pool and the caller waits a bounded time: a commit that has not answered
//! by then is reported as such (the records may be delivered again, which consumers must tolerate anyway) and
//! finishes, or fails, in the background.

use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::TopicPartitionList;
use std::sync::Arc;
use std::time::Duration;

/// Why offsets may not have been committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("the commit failed: {0}")]
    Kafka(#[from] KafkaError),
    #[error("no answer to the commit within {0:?}; it may still land")]
    NoAnswer(Duration),
}

/// Commit `offsets` synchronously on the blocking pool; wait at most `wait` for the answer.
pub async fn commit_offsets<T, C>(
    consumer: Arc<T>,
    offsets: TopicPartitionList,
    wait: Duration,
) -> Result<(), CommitError>
where
    T: Consumer<C> + Send + Sync + 'static,
    C: ConsumerContext + 'static,
{
    let commit = tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync));
    match tokio::time::timeout(wait, commit).await {
        Ok(Ok(result)) => Ok(result?),
        Ok(Err(join)) => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(CommitError::NoAnswer(wait)),
    }
}
