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
    /// The runtime shut down before the commit ran (a consumer stopping): nothing committed, the records come again.
    #[error("the commit was cancelled: the runtime is shutting down")]
    Cancelled,
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
        Ok(joined) => answer(joined),
        Err(_) => Err(CommitError::NoAnswer(wait)),
    }
}

/// What the commit task's end means: its result; a panic in it goes on as a panic; a task cancelled because the
/// runtime is shutting down is an error like any other (a loaded test run's stopping stack had panicked here with
/// "`JoinError` reason is not a panic").
fn answer(
    joined: Result<Result<(), KafkaError>, tokio::task::JoinError>,
) -> Result<(), CommitError> {
    match joined {
        Ok(result) => Ok(result?),
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(CommitError::Cancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A commit task cancelled by a runtime shutting down is reported, not turned into a panic (on the commit before
    /// this function, the same match called `JoinError::into_panic` on it, which panics).
    #[tokio::test]
    async fn a_cancelled_commit_is_an_error_not_a_panic() {
        let task = tokio::spawn(std::future::pending::<Result<(), KafkaError>>());
        task.abort();
        let cancelled = task.await.expect_err("aborted");
        assert!(cancelled.is_cancelled());
        assert!(matches!(
            answer(Err(cancelled)),
            Err(CommitError::Cancelled)
        ));
    }

    #[tokio::test]
    async fn a_panic_in_the_commit_goes_on_as_a_panic() {
        let task = tokio::spawn(async { panic!("in the commit") });
        let panicked: tokio::task::JoinError = task.await.expect_err("panicked");
        let unwound =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| answer(Err(panicked))));
        assert!(unwound.is_err());
    }
}
