//! Typed event-store errors, the same whichever store answers (a store maps its own failures onto them).

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
    /// A multi-event append collided with another transaction on the same items: nothing was written. Reload and
    /// try again, like a lost race.
    #[error("stream {0}: the transaction collided with another one; nothing was written")]
    TransactionConflict(String),
    /// A live receipt already holds this command's idempotency key (written by an earlier attempt of the same
    /// request, or by another request under the same key): nothing was written. Read the receipt for the answer.
    #[error("a live receipt {id} already holds this idempotency key; nothing was written")]
    ReceiptTaken { id: String },
    /// An event (with its metadata) is larger than the store keeps in one place.
    #[error("event {version} of stream {stream_id} is about {bytes} bytes; the store holds at most {limit}")]
    ItemTooLarge {
        stream_id: String,
        version: u64,
        bytes: usize,
        limit: usize,
    },
    /// More events in one append than the store writes atomically.
    #[error("{count} events in one append; one atomic write holds at most {limit}")]
    TooManyEvents { count: usize, limit: usize },
    /// Throttling, a lost connection, a timeout, or a server error after the client's own retries: the operation
    /// may be retried later. For appends the outcome is unknown (retry with the same idempotency key to find out).
    #[error("the event store is unavailable or throttling: {0}")]
    Transient(String),
    /// A stored item that cannot be read back as an event.
    #[error("stream {stream_id}: item at version {version} is malformed: {reason}")]
    Corrupt {
        stream_id: String,
        version: String,
        reason: String,
    },
    /// Anything else the store refused (missing table, access denied, invalid request).
    #[error("the event store refused the request: {0}")]
    Rejected(String),
}

impl EventStoreError {
    /// Whether waiting and trying again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}
