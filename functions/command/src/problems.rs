//! How command outcomes that are not successes become problem responses.

use axum::http::StatusCode;
use bank_account::{Account, AccountRejection};
use tributary_aggregate::CommandError;
use tributary_core::Decider;
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

/// The problem for a business-rule rejection: its type is the domain's rejection code (also the rejection event's
/// reason), its status and title are the HTTP edge's choice.
pub fn for_rejection(rejection: &AccountRejection) -> Problem {
    let (status, title) = match rejection {
        AccountRejection::NotOpened => (StatusCode::NOT_FOUND, "Account not found"),
        AccountRejection::AlreadyOpened => (StatusCode::CONFLICT, "Account already exists"),
        AccountRejection::Closed => (StatusCode::UNPROCESSABLE_ENTITY, "Account closed"),
        AccountRejection::InsufficientFunds { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Insufficient funds")
        }
        AccountRejection::BalanceNotZero { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Balance not zero")
        }
        AccountRejection::BalanceLimitExceeded { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Balance limit exceeded")
        }
        AccountRejection::CurrencyMismatch { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Currency mismatch")
        }
    };
    let problem = Problem::new(
        status,
        Account::rejection_code(rejection),
        title,
        rejection.to_string(),
    );
    match rejection {
        AccountRejection::InsufficientFunds { balance, requested }
        | AccountRejection::BalanceLimitExceeded { balance, requested } => problem
            .with("balance", *balance)
            .with("requested", *requested),
        AccountRejection::BalanceNotZero { balance } => problem.with("balance", *balance),
        AccountRejection::CurrencyMismatch { account, requested } => problem
            .with("currency", account.code())
            .with("requested_currency", requested.code()),
        AccountRejection::NotOpened
        | AccountRejection::AlreadyOpened
        | AccountRejection::Closed => problem,
    }
}
