//! Routes and handlers of the command API.
//!
//! | route | body | success |
//! |---|---|---|
//! | `POST /accounts` | `{"currency"}` | 201 `{"account_id","version"}` + `Location` |
//! | `POST /accounts/{id}/deposits` | `{"amount"}` | 200 `{"account_id","version"}` |
//! | `POST /accounts/{id}/withdrawals` | `{"amount"}` | 200 |
//! | `POST /accounts/{id}/close` | none or `{}` | 200 |
//!
//! Every success carries `ETag: "<version>"`, usable as `If-Match` on the next command. An account belongs to the
//! caller who opened it; anyone else is told it does not exist (404 `account-not-found`), and nothing is published.

use crate::headers::{self, IDEMPOTENT_REPLAYED};
use crate::problems::for_command_error;
use crate::service::CommandService;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bank_account::{AccountCommand, AccountId, Amount, Currency, Principal};
use bank_api::AccountPath;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use tributary_aggregate::{CommandContext, CommandOutcome, CommandRequest, Idempotency};
use tributary_core::fingerprint;
use tributary_http::{Caller, JsonBody, Problem, Route};
use uuid::Uuid;

/// The command routes, with problem answers for unknown routes and methods.
pub fn router(service: CommandService) -> Router {
    tributary_http::with_problem_fallbacks(routes(service))
}

/// The command routes alone (to merge with others).
pub fn routes(service: CommandService) -> Router {
    tributary_http::router_from(route_table()).with_state(service)
}

/// Every route of the command API.
pub fn route_table() -> Vec<Route<CommandService>> {
    vec![
        Route::new("POST", "/accounts", post(open_account)),
        Route::new("POST", "/accounts/{account_id}/deposits", post(deposit)),
        Route::new("POST", "/accounts/{account_id}/withdrawals", post(withdraw)),
        Route::new("POST", "/accounts/{account_id}/close", post(close_account)),
    ]
}

/// Body of `POST /accounts`. The owner is the caller, never a field of the body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAccountRequest {
    pub currency: Currency,
}

/// Body of a deposit or withdrawal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountRequest {
    pub amount: Amount,
}

/// Body of a close (empty, or `{}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {}

/// The success response of every command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommandAccepted {
    pub account_id: String,
    pub version: u64,
}

/// What a request asked for, in canonical form: its idempotency fingerprint is computed from this, and a
/// rejection event carries it as the command.
#[derive(Serialize)]
#[serde(tag = "operation", rename_all = "snake_case")]
pub(crate) enum RequestDescription<'a> {
    Open {
        /// Not part of the request: derived from the idempotency key, or random.
        #[serde(skip)]
        account_id: AccountId,
        /// The caller, who will own the account.
        #[serde(skip)]
        owner: Principal,
        body: &'a OpenAccountRequest,
    },
    Deposit {
        account_id: AccountId,
        /// The caller, recorded on the event as the depositor.
        #[serde(skip)]
        by: Principal,
        body: &'a AmountRequest,
    },
    Withdraw {
        account_id: AccountId,
        body: &'a AmountRequest,
    },
    Close {
        account_id: AccountId,
    },
}

impl RequestDescription<'_> {
    fn account_id(&self) -> AccountId {
        match self {
            Self::Open { account_id, .. }
            | Self::Deposit { account_id, .. }
            | Self::Withdraw { account_id, .. }
            | Self::Close { account_id } => *account_id,
        }
    }

    fn command(&self) -> AccountCommand {
        match self {
            Self::Open { body, owner, .. } => AccountCommand::Open {
                owner: owner.clone(),
                currency: body.currency,
            },
            Self::Deposit { body, by, .. } => AccountCommand::Deposit {
                amount: body.amount,
                by: by.clone(),
            },
            Self::Withdraw { body, .. } => AccountCommand::Withdraw {
                amount: body.amount,
            },
            Self::Close { .. } => AccountCommand::Close,
        }
    }
}

/// `POST /accounts`: open an account. With an `Idempotency-Key`, the account id is derived from the caller and
/// the key, so a retried request addresses (and finds) the same account.
pub async fn open_account(
    State(service): State<CommandService>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<OpenAccountRequest>,
) -> Result<Response, Problem> {
    let account_id = match headers::idempotency_key(&headers)? {
        Some(key) => AccountId::derived_from(&format!("{}\n{}", caller.principal, key)),
        None => AccountId::random(),
    };
    let request = RequestDescription::Open {
        account_id,
        owner: principal(&caller)?,
        body: &body,
    };
    execute(&service, &request, caller, &headers, StatusCode::CREATED).await
}

/// The caller as a principal the domain records (an owner, a depositor).
fn principal(caller: &Caller) -> Result<Principal, Problem> {
    Principal::parse(&caller.principal).map_err(|e| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Unauthenticated",
            e.to_string(),
        )
    })
}

/// `POST /accounts/{id}/deposits`.
pub async fn deposit(
    State(service): State<CommandService>,
    AccountPath(account_id): AccountPath,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<AmountRequest>,
) -> Result<Response, Problem> {
    let request = RequestDescription::Deposit {
        account_id,
        by: principal(&caller)?,
        body: &body,
    };
    execute(&service, &request, caller, &headers, StatusCode::OK).await
}

/// `POST /accounts/{id}/withdrawals`.
pub async fn withdraw(
    State(service): State<CommandService>,
    AccountPath(account_id): AccountPath,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<AmountRequest>,
) -> Result<Response, Problem> {
    let request = RequestDescription::Withdraw {
        account_id,
        body: &body,
    };
    execute(&service, &request, caller, &headers, StatusCode::OK).await
}

/// `POST /accounts/{id}/close`.
pub async fn close_account(
    State(service): State<CommandService>,
    AccountPath(account_id): AccountPath,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(CloseRequest {}): JsonBody<CloseRequest>,
) -> Result<Response, Problem> {
    let request = RequestDescription::Close { account_id };
    execute(&service, &request, caller, &headers, StatusCode::OK).await
}

/// Run a validated command and shape the response.
async fn execute(
    service: &CommandService,
    description: &RequestDescription<'_>,
    caller: Caller,
    headers: &HeaderMap,
    success: StatusCode,
) -> Result<Response, Problem> {
    let account_id = description.account_id();
    let command_id = Uuid::new_v4();
    let correlation_id =
        headers::correlation_id(headers)?.unwrap_or_else(|| command_id.to_string());
    let request = CommandRequest {
        stream_id: account_id.stream_id(),
        command: description.command(),
        expected_version: headers::if_match(headers)?,
        idempotency: headers::idempotency_key(headers)?.map(|key| Idempotency {
            key,
            fingerprint: fingerprint(description),
        }),
        context: CommandContext {
            command_id,
            causation_id: command_id.to_string(),
            correlation_id,
            actor: caller.principal,
            now: chrono::Utc::now(),
            traceparent: Some(headers::trace_context(headers).to_string()),
        },
    };
    let span = tracing::info_span!("command", %command_id, account = %account_id, correlation = %request.context.correlation_id);
    let outcome = service
        .handle(&request, description)
        .instrument(span)
        .await
        .map_err(for_command_error)?;
    let replayed = matches!(outcome, CommandOutcome::Replayed { .. });
    let body = CommandAccepted {
        account_id: account_id.to_string(),
        version: outcome.version(),
    };
    let mut response = (success, Json(&body)).into_response();
    let h = response.headers_mut();
    h.insert(header::ETAG, etag(body.version));
    if success == StatusCode::CREATED {
        let location = format!("/accounts/{account_id}");
        h.insert(
            header::LOCATION,
            HeaderValue::from_str(&location).expect("ids are ASCII"),
        );
    }
    if replayed {
        h.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header")
}
