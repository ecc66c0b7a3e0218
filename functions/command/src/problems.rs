//! How command outcomes that are not successes become problem responses, for each aggregate of the API.

use axum::http::StatusCode;
use bank_account::{Account, AccountRejection, Transfer, TransferRejection};
use tributary_aggregate::CommandError;
use tributary_core::Decider;
use tributary_http::Problem;
use tributary_store::EventStoreError;

/// What the HTTP edge answers for an aggregate's refusals.
pub trait Problems: Decider {
    /// The aggregate in messages ("account").
    const NOUN: &'static str;
    /// The problem for a business-rule rejection.
    fn rejected(rejection: &Self::Rejection) -> Problem;
    /// What a caller who may not command the aggregate is told: that it does not exist.
    fn not_found() -> Problem;
}

impl Problems for Account {
    const NOUN: &'static str = "account";
    fn rejected(rejection: &AccountRejection) -> Problem {
        for_rejection(rejection)
    }
    fn not_found() -> Problem {
        for_rejection(&AccountRejection::NotOpened)
    }
}

impl Problems for Transfer {
    const NOUN: &'static str = "transfer";
    fn rejected(rejection: &TransferRejection) -> Problem {
        let (status, title) = match rejection {
            TransferRejection::SameAccount => (StatusCode::UNPROCESSABLE_ENTITY, "Same account"),
            TransferRejection::AlreadyRequested => {
                (StatusCode::CONFLICT, "Transfer already exists")
            }
            TransferRejection::NotRequested => (StatusCode::NOT_FOUND, "Transfer not found"),
            TransferRejection::OutOfOrder => (StatusCode::CONFLICT, "Out of order"),
            TransferRejection::DestinationNotFound => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Destination not found")
            }
            TransferRejection::DestinationClosed => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Destination closed")
            }
            TransferRejection::CurrencyMismatch { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Currency mismatch")
            }
            TransferRejection::NotHeld => (StatusCode::CONFLICT, "Transfer not held"),
        };
        let problem = Problem::new(
            status,
            Transfer::rejection_code(rejection),
            title,
            rejection.to_string(),
        );
        match rejection {
            TransferRejection::CurrencyMismatch {
                currency,
                destination,
            } => problem
                .with("currency", currency.code())
                .with("destination_currency", destination.code()),
            _ => problem,
        }
    }
    fn not_found() -> Problem {
        Self::rejected(&TransferRejection::NotRequested)
    }
}

/// The problem for a command that was not applied.
pub fn for_command_error<D: Problems>(error: CommandError<D::Rejection>) -> Problem {
    let noun = D::NOUN;
    match error {
        CommandError::Rejected { rejection, .. } => D::rejected(&rejection),
        // Only orders kept for ever remember rejections; no HTTP request is one. Answered all the same.
        CommandError::RejectedEarlier { code, .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected",
            "Rejected",
            format!("this request was refused before: {code}"),
        )
        .with("reason", code),
        // Someone else's aggregate: exactly what a missing one answers.
        CommandError::AccessDenied => D::not_found(),
        CommandError::PreconditionFailed { expected, actual } => Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "version-mismatch",
            "Version mismatch",
            format!("If-Match expected version {expected}, but the {noun} is at version {actual}"),
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
            format!("the {noun} kept changing while the command ran ({attempts} attempts); retry"),
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
