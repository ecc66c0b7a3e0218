//! DynamoDB SDK errors classified as the store's typed errors.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use tributary_store::EventStoreError;

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
