//! How command outcomes that are not successes become problem responses.

use axum::http::StatusCode;
use bank_account::AccountRejection;
use tributary_aggregate::CommandError;
use tributary_dynamodb::EventStoreError;
use tributary_http::Problem;

/// The problem for a command that was not applied.
pub fn for_command_error(error: CommandError<AccountRejection>) -> Problem {
    match error {
        CommandError::Rejected { rejection, .. } => for_rejection(&rejection),
        // Someone else's account: exactly what a missing one answers.
        CommandError::AccessDenied => for_rejection(&AccountRejection::NotOpened),
        CommandError::PreconditionFailed { expected, actual } => Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "version-mismatch",
            "Version mismatch",
            format!("If-Match expected version {expected}, but the account is at version {actual}"),
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
            format!("the account kept changing while the command ran ({attempts} attempts); retry"),
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

/// The problem for a business-rule rejection (its slug is also the rejection event's reason).
pub fn for_rejection(rejection: &AccountRejection) -> Problem {
    let detail = rejection.to_string();
    match rejection {
        AccountRejection::NotOpened => Problem::new(
            StatusCode::NOT_FOUND,
            "account-not-found",
            "Account not found",
            detail,
        ),
        AccountRejection::AlreadyOpened => Problem::new(
            StatusCode::CONFLICT,
            "account-already-exists",
            "Account already exists",
            detail,
        ),
        AccountRejection::Closed => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "account-closed",
            "Account closed",
            detail,
        ),
        AccountRejection::InsufficientFunds { balance, requested } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient-funds",
            "Insufficient funds",
            detail,
        )
        .with("balance", *balance)
        .with("requested", *requested),
        AccountRejection::BalanceNotZero { balance } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "balance-not-zero",
            "Balance not zero",
            detail,
        )
        .with("balance", *balance),
        AccountRejection::BalanceLimitExceeded { balance, requested } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "balance-limit-exceeded",
            "Balance limit exceeded",
            detail,
        )
        .with("balance", *balance)
        .with("requested", *requested),
        AccountRejection::CurrencyMismatch { account, requested } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "currency-mismatch",
            "Currency mismatch",
            detail,
        )
        .with("currency", account.code())
        .with("requested_currency", requested.code()),
    }
}
