//! Typed event-store errors, and their classification from DynamoDB SDK errors.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// What can go wrong reading or writing a stream.
#[derive(Debug, thiserror::Error)]
pub enum EventStoreError {
    /// Another writer appended first (optimistic concurrency). Reload, decide again, retry.
    #[error("stream {stream_id}: expected version {expected}, but version {actual_at_least} already exists")]
    WrongExpectedVersion {
        stream_id: String,
        expected: u64,
        /// The version that was found occupied: the stream is at least this long.
        actual_at_least: u64,
    },
    /// A multi-event append collided with another transaction on the same items (`TransactionConflict`): nothing
    /// was written. Reload and try again, like a lost race.
    #[error("stream {0}: the transaction collided with another one; nothing was written")]
    TransactionConflict(String),
    /// A live receipt already holds this command's idempotency key (written by an earlier attempt of the same
    /// request, or by another request under the same key): nothing was written. Read the receipt for the answer.
    #[error("a live receipt {id} already holds this idempotency key; nothing was written")]
    ReceiptTaken { id: String },
    /// An event (with its metadata) does not fit in one DynamoDB item.
    #[error("event {version} of stream {stream_id} is about {bytes} bytes; DynamoDB items hold at most {limit}")]
    ItemTooLarge {
        stream_id: String,
        version: u64,
        bytes: usize,
        limit: usize,
    },
    /// More events in one append than one DynamoDB transaction holds.
    #[error("{count} events in one append; DynamoDB transactions hold at most {limit}")]
    TooManyEvents { count: usize, limit: usize },
    /// Throttling, a lost connection, a timeout, or a server error after the SDK's own retries: the operation may
    /// be retried later. For appends the outcome is unknown (retry with the same idempotency key to find out).
    #[error("DynamoDB is unavailable or throttling: {0}")]
    Transient(String),
    /// A stored item that cannot be read back as an event.
    #[error("stream {stream_id}: item at version {version} is malformed: {reason}")]
    Corrupt {
        stream_id: String,
        version: String,
        reason: String,
    },
    /// Anything else DynamoDB refused (missing table, access denied, invalid request).
    #[error("DynamoDB refused the request: {0}")]
    Rejected(String),
}

impl EventStoreError {
    /// Whether waiting and trying again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// Error codes that mean "slow down and retry".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Classify an error DynamoDB answered with, by its error code.
pub(crate) fn classify_service(inner: &impl ProvideErrorMetadata) -> EventStoreError {
    let code = inner.code().unwrap_or("Unknown");
    let text = format!("{code}: {}", inner.message().unwrap_or_default());
    if TRANSIENT_CODES.contains(&code) {
        EventStoreError::Transient(text)
    } else {
        EventStoreError::Rejected(text)
    }
}

/// Classify an SDK error that is not one of the operation's expected outcomes.
pub(crate) fn classify<E, R>(err: &SdkError<E, R>) -> EventStoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => classify_service(service.err()),
        SdkError::ConstructionFailure(_) => EventStoreError::Rejected(format!("{err:?}")),
        // Timeouts, dispatch failures and unparseable responses: the request may or may not have been applied.
        _ => EventStoreError::Transient(format!("{err}: {:?}", std::error::Error::source(err))),
    }
}
