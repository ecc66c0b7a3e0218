//! How the bank's refusals read over HTTP: the problem (status, title, extension members) for each rejection of
//! an account or a transfer. Its type is the domain's rejection code.

use axum::http::StatusCode;
use bank_account::{Account, AccountRejection, Transfer, TransferRejection};
use tributary_core::Decider;
use tributary_http::{Problem, Problems};

/// The problems of account commands.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountProblems;

/// The problems of transfer commands.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransferProblems;

impl Problems<Account> for AccountProblems {
    fn noun(&self) -> &'static str {
        "account"
    }
    fn rejected(&self, rejection: &AccountRejection) -> Problem {
        for_rejection(rejection)
    }
    fn not_found(&self) -> Problem {
        for_rejection(&AccountRejection::NotOpened)
    }
}

impl Problems<Transfer> for TransferProblems {
    fn noun(&self) -> &'static str {
        "transfer"
    }
    fn rejected(&self, rejection: &TransferRejection) -> Problem {
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
    fn not_found(&self) -> Problem {
        self.rejected(&TransferRejection::NotRequested)
    }
}

/// The problem for a business-rule rejection: its type is the domain's rejection code (also the rejection event's
/// reason), its status and title are the HTTP edge's choice.
fn for_rejection(rejection: &AccountRejection) -> Problem {
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
