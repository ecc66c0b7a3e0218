//! Routes and handlers of the command API.
//!
//! | route | body | success |
//! |---|---|---|
//! | `POST /accounts` | `{"currency"}` | 201 `{"account_id","version"}` + `Location` |
//! | `POST /accounts/{id}/deposits` | `{"amount"}` | 200 `{"account_id","version"}` |
//! | `POST /accounts/{id}/withdrawals` | `{"amount"}` | 200 |
//! | `POST /accounts/{id}/close` | none or `{}` | 200 |
//! | `POST /transfers` | `{"from","to","amount"}` | 202 `{"transfer_id","version"}` + `Location` |
//! | `POST /transfers/{id}/release` | `{"to"}` (operators) | 202 `{"transfer_id","version"}` + `Location` |
//! | `POST /accounts/{id}/standing-orders` | `{"to","amount","schedule"}` | 201 `{"schedule_id","version"}` + `Location` |
//! | `POST /standing-orders/{id}/pause`, `/resume`, `/cancel` | none or `{}` | 200 `{"schedule_id","version"}` |
//!
//! Every success carries `ETag: "<version>"`, usable as `If-Match` on the next command. An account belongs to the
//! caller who opened it; anyone else is told it does not exist (404 `account-not-found`), and nothing is published.
//! A transfer is requested by the owner of its source account (in the source's currency); the transfer process
//! manager carries it out, and `GET /transfers/{id}` shows how it ended.

use crate::service::CommandService;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use bank_account::account::TRANSFER_PROCESS;
use bank_account::standing_order::{self, StandingOrder};
use bank_account::transfer::{self, Destination};
use bank_account::values::{AccountStream, TransferStream};
use bank_account::{
    AccountCommand, AccountId, AccountRejection, AccountState, Amount, Currency, HolderName,
    Principal, TransferCommand, TransferId, TransferRejection,
};
use bank_api::problems::{AccountProblems, TransferProblems};
use serde::{Deserialize, Serialize};
use tributary_http::commands::{new_id, principal, respond, Command};
use tributary_http::schedules::ScheduleProblems;
use tributary_http::{Caller, IdPath, JsonBody, Problem, Problems, Route};
use tributary_scheduler::{
    Cadence, CatchUp, ScheduleCommand, ScheduleId, ScheduleStream, Schedules, Spec,
};

/// The command routes, with problem answers for unknown routes and methods.
pub fn router(service: CommandService) -> Router {
    tributary_http::with_problem_fallbacks(routes(service))
}

/// The command routes alone (to merge with others).
pub fn routes(service: CommandService) -> Router {
    tributary_http::outcomes::count_outcomes(tributary_http::router_from(route_table()))
        .with_state(service)
}

/// Every route of the command API.
pub fn route_table() -> Vec<Route<CommandService>> {
    vec![
        Route::new("POST", "/accounts", post(open_account)),
        Route::new("POST", "/accounts/{account_id}/deposits", post(deposit)),
        Route::new("POST", "/accounts/{account_id}/withdrawals", post(withdraw)),
        Route::new("POST", "/accounts/{account_id}/close", post(close_account)),
        Route::new("POST", "/transfers", post(request_transfer)),
        Route::new(
            "POST",
            "/transfers/{transfer_id}/release",
            post(release_transfer),
        ),
        Route::new(
            "POST",
            "/accounts/{account_id}/standing-orders",
            post(create_standing_order),
        ),
        Route::new(
            "POST",
            "/standing-orders/{schedule_id}/pause",
            post(pause_standing_order),
        ),
        Route::new(
            "POST",
            "/standing-orders/{schedule_id}/resume",
            post(resume_standing_order),
        ),
        Route::new(
            "POST",
            "/standing-orders/{schedule_id}/cancel",
            post(cancel_standing_order),
        ),
    ]
}

/// Body of `POST /accounts`. The owner is the caller, never a field of the body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAccountRequest {
    pub currency: Currency,
    /// The holder's name (optional): the caller's personal data, stored sealed under their key. Not part of the
    /// request's idempotency fingerprint or of a rejection event (personal data is never published in the clear).
    #[serde(default, skip_serializing)]
    pub holder: Option<HolderName>,
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

/// Body of `POST /transfers`: move `amount` (minor units of the source's currency) from `from` to `to`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub from: AccountId,
    pub to: AccountId,
    pub amount: Amount,
}

/// Body of `POST /transfers/{id}/release`: pay a held transfer's money to the account `to` (operators only).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    pub to: AccountId,
}

/// The response to `POST /transfers`: the transfer's id and its stream version (1: requested).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TransferAccepted {
    pub transfer_id: String,
    pub version: u64,
}

/// The success response of every account command.
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
                holder: body.holder.clone(),
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
    let account_id = new_id::<AccountStream>(&caller, &headers)?;
    let request = RequestDescription::Open {
        account_id,
        owner: principal(&caller)?,
        body: &body,
    };
    execute(&service, &request, caller, &headers, StatusCode::CREATED).await
}

/// `POST /accounts/{id}/deposits`.
pub async fn deposit(
    State(service): State<CommandService>,
    IdPath(account_id): IdPath<AccountStream>,
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
    IdPath(account_id): IdPath<AccountStream>,
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
    IdPath(account_id): IdPath<AccountStream>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(CloseRequest {}): JsonBody<CloseRequest>,
) -> Result<Response, Problem> {
    let request = RequestDescription::Close { account_id };
    execute(&service, &request, caller, &headers, StatusCode::OK).await
}

/// Run a validated account command and shape the response.
async fn execute(
    service: &CommandService,
    description: &RequestDescription<'_>,
    caller: Caller,
    headers: &HeaderMap,
    success: StatusCode,
) -> Result<Response, Problem> {
    let account_id = description.account_id();
    let command = Command {
        stream_id: account_id.stream_id(),
        command: description.command(),
        request: description,
    };
    let outcome = service
        .commands
        .run(&AccountProblems, command, caller, headers)
        .await?;
    let body = CommandAccepted {
        account_id: account_id.to_string(),
        version: outcome.version(),
    };
    let location = (success == StatusCode::CREATED).then(|| format!("/accounts/{account_id}"));
    Ok(respond(success, &body, body.version, location, &outcome))
}

/// What a transfer request asks for, in canonical form (its idempotency fingerprint; a rejection event's body).
#[derive(Serialize)]
#[serde(tag = "operation", rename_all = "snake_case")]
enum TransferDescription<'a> {
    RequestTransfer {
        transfer_id: TransferId,
        body: &'a TransferRequest,
    },
    ReleaseTransfer {
        transfer_id: TransferId,
        body: &'a ReleaseRequest,
    },
}

/// `POST /transfers`: request a transfer from an account of the caller's. With an `Idempotency-Key`, the transfer
/// id is derived from the caller and the key, so a retried request addresses (and finds) the same transfer.
pub async fn request_transfer(
    State(service): State<CommandService>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<TransferRequest>,
) -> Result<Response, Problem> {
    let requester = principal(&caller)?;
    let source = account_state(&service, body.from).await?;
    // What the destination is now: the transfer refuses one that was never opened (it could be opened between two
    // deliveries of the credit and answer it differently), is closed, or holds another currency — each as stable
    // as the answer must be. Decided by the transfer, after a retry of this request is recognised.
    let destination = account_state(&service, body.to).await?;
    // The source must be the caller's (anyone else is told it does not exist); the transfer is in its currency.
    // Its holder goes with the transfer to the destination's statement: sealed, as the source's events hold it.
    let command = TransferCommand::request(
        body.from,
        body.to,
        body.amount,
        &requester,
        &source,
        &destination,
        None,
    )
    .ok_or_else(|| AccountProblems.not_found())?;
    let transfer_id = new_id::<TransferStream>(&caller, &headers)?;
    let description = TransferDescription::RequestTransfer {
        transfer_id,
        body: &body,
    };
    let requested_at = service.commands.now();
    let answer = run_transfer(
        &service,
        transfer_id,
        command,
        &description,
        caller,
        &headers,
    )
    .await?;
    // Its deadline, set now so that it stands even if the transfer process never gets to it (the process sets the
    // same one when it first reacts: whoever is first, once).
    let deadline = requested_at + chrono::Duration::seconds(transfer::DEADLINE_SECONDS);
    if let Err(error) = tributary_scheduler::set_deadline(
        &service.commands.committing::<Schedules>(),
        &transfer_id.stream_id(),
        transfer::DEADLINE_KIND,
        TRANSFER_PROCESS,
        deadline,
        service.commands.now(),
    )
    .await
    {
        tracing::warn!(%error, %transfer_id, "the transfer's deadline was not set; the transfer process sets it");
    }
    Ok(answer)
}

/// `POST /transfers/{id}/release`: an operator orders a held transfer's money (its refund was refused) paid to an
/// account (open, in the transfer's currency); the transfer process carries it out. Anyone else: 403, before anything
/// is read.
pub async fn release_transfer(
    State(service): State<CommandService>,
    IdPath(transfer_id): IdPath<TransferStream>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ReleaseRequest>,
) -> Result<Response, Problem> {
    if !caller.operator {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            "only operators may release a held transfer's money",
        ));
    }
    let operator = principal(&caller)?;
    let destination = account_state(&service, body.to).await?;
    let command = TransferCommand::Release {
        to: body.to,
        destination: Destination::of(&destination),
        ordered_by: operator,
    };
    let description = TransferDescription::ReleaseTransfer {
        transfer_id,
        body: &body,
    };
    run_transfer(
        &service,
        transfer_id,
        command,
        &description,
        caller,
        &headers,
    )
    .await
}

/// An account's state now, as a command would read it (a transfer's source or destination).
async fn account_state(
    service: &CommandService,
    account: AccountId,
) -> Result<AccountState, Problem> {
    service
        .commands
        .state(&AccountProblems, &account.stream_id())
        .await
}

/// Run a command of transfer `transfer_id` and answer 202 with its id, version and `Location`.
async fn run_transfer(
    service: &CommandService,
    transfer_id: TransferId,
    command: TransferCommand,
    description: &TransferDescription<'_>,
    caller: Caller,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let command = Command {
        stream_id: transfer_id.stream_id(),
        command,
        request: description,
    };
    let outcome = service
        .commands
        .run(&TransferProblems, command, caller, headers)
        .await?;
    let accepted = TransferAccepted {
        transfer_id: transfer_id.to_string(),
        version: outcome.version(),
    };
    Ok(respond(
        StatusCode::ACCEPTED,
        &accepted,
        accepted.version,
        Some(format!("/transfers/{transfer_id}")),
        &outcome,
    ))
}

/// Body of `POST /accounts/{id}/standing-orders`: pay `amount` (minor units of the account's currency) to `to` on
/// `schedule` (`{"starting", "every": "hour|day|week|month", "interval", "until"}`; without `every`, once).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandingOrderRequest {
    pub to: AccountId,
    pub amount: Amount,
    pub schedule: Cadence,
}

/// The success response of every standing-order command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScheduleAccepted {
    pub schedule_id: String,
    pub version: u64,
}

/// What a standing-order request asks for, in canonical form (its idempotency fingerprint; a rejection's body).
#[derive(Serialize)]
#[serde(tag = "operation", rename_all = "snake_case")]
// The variants' names are the operations a rejection event names (`pause_standing_order`).
#[allow(clippy::enum_variant_names)]
enum StandingOrderDescription<'a> {
    CreateStandingOrder {
        account_id: AccountId,
        body: &'a StandingOrderRequest,
    },
    PauseStandingOrder {
        schedule_id: ScheduleId,
    },
    ResumeStandingOrder {
        schedule_id: ScheduleId,
    },
    CancelStandingOrder {
        schedule_id: ScheduleId,
    },
}

/// What the bank's schedules are called in problems.
const STANDING_ORDERS: ScheduleProblems = ScheduleProblems {
    noun: "standing order",
};

/// `POST /accounts/{id}/standing-orders`: the owner of an open account orders a transfer from it on a schedule. Each
/// occurrence is a transfer requested as the owner (refused like any transfer when the money is short, with the
/// refusal on the statement). The first occurrence is the first at or after now. With an `Idempotency-Key`, the
/// schedule id is derived from the caller and the key.
pub async fn create_standing_order(
    State(service): State<CommandService>,
    IdPath(account_id): IdPath<AccountStream>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(body): JsonBody<StandingOrderRequest>,
) -> Result<Response, Problem> {
    let owner = principal(&caller)?;
    match account_state(&service, account_id).await? {
        AccountState::Open { owner: o, .. } if o == owner => {}
        AccountState::Closed { owner: o, .. } if o == owner => {
            return Err(AccountProblems.rejected(&AccountRejection::Closed))
        }
        _ => return Err(AccountProblems.not_found()),
    }
    if body.to == account_id {
        return Err(TransferProblems.rejected(&TransferRejection::SameAccount));
    }
    if body
        .schedule
        .first_at_or_after(service.commands.now())
        .is_none()
    {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "schedule-never-occurs",
            "Schedule never occurs",
            "the schedule has no occurrence from now on (it ends before it starts, or before now)",
        ));
    }
    let schedule_id = new_id::<ScheduleStream>(&caller, &headers)?;
    let order = StandingOrder {
        from: account_id,
        to: body.to,
        amount: body.amount,
    };
    let spec = Spec {
        kind: standing_order::KIND.to_owned(),
        group: account_id.stream_id(),
        owner: owner.as_str().to_owned(),
        command: serde_json::to_value(&order).expect("a standing order serialises"),
        cadence: body.schedule.clone(),
        // A standing order pays every occurrence it missed (the scheduler was down): each once.
        catch_up: CatchUp::Every,
    };
    let description = StandingOrderDescription::CreateStandingOrder {
        account_id,
        body: &body,
    };
    let command = ScheduleCommand::Create {
        spec,
        now: service.commands.now(),
    };
    run_schedule(
        &service,
        schedule_id,
        command,
        &description,
        caller,
        &headers,
        StatusCode::CREATED,
        Some(account_id),
    )
    .await
}

/// `POST /standing-orders/{id}/pause`: no occurrence starts until it is resumed; those that fall due meanwhile
/// are skipped. An occurrence already under way finishes.
pub async fn pause_standing_order(
    State(service): State<CommandService>,
    IdPath(schedule_id): IdPath<ScheduleStream>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(CloseRequest {}): JsonBody<CloseRequest>,
) -> Result<Response, Problem> {
    control(&service, schedule_id, Control::Pause, caller, &headers).await
}

/// `POST /standing-orders/{id}/resume`: occurrences start again from the first at or after now (and any that fell
/// due before the pause and were not sent yet).
pub async fn resume_standing_order(
    State(service): State<CommandService>,
    IdPath(schedule_id): IdPath<ScheduleStream>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(CloseRequest {}): JsonBody<CloseRequest>,
) -> Result<Response, Problem> {
    control(&service, schedule_id, Control::Resume, caller, &headers).await
}

/// `POST /standing-orders/{id}/cancel`: no further occurrence starts; one under way finishes.
pub async fn cancel_standing_order(
    State(service): State<CommandService>,
    IdPath(schedule_id): IdPath<ScheduleStream>,
    caller: Caller,
    headers: HeaderMap,
    JsonBody(CloseRequest {}): JsonBody<CloseRequest>,
) -> Result<Response, Problem> {
    control(&service, schedule_id, Control::Cancel, caller, &headers).await
}

/// What an owner does to a standing order.
#[derive(Debug, Clone, Copy)]
enum Control {
    Pause,
    Resume,
    Cancel,
}

/// Pause, resume or cancel schedule `schedule_id`, now (on the commands' clock).
async fn control(
    service: &CommandService,
    schedule_id: ScheduleId,
    control: Control,
    caller: Caller,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let now = service.commands.now();
    let (description, command) = match control {
        Control::Pause => (
            StandingOrderDescription::PauseStandingOrder { schedule_id },
            ScheduleCommand::Pause { now },
        ),
        Control::Resume => (
            StandingOrderDescription::ResumeStandingOrder { schedule_id },
            ScheduleCommand::Resume { now },
        ),
        Control::Cancel => (
            StandingOrderDescription::CancelStandingOrder { schedule_id },
            ScheduleCommand::Cancel { now },
        ),
    };
    run_schedule(
        service,
        schedule_id,
        command,
        &description,
        caller,
        headers,
        StatusCode::OK,
        None,
    )
    .await
}

/// Run a command of schedule `schedule_id` and answer `success` with its id and version; `created_for`: the
/// account it was created for (`Location`: the account's standing orders, where it is listed).
#[allow(clippy::too_many_arguments)]
async fn run_schedule(
    service: &CommandService,
    schedule_id: ScheduleId,
    command: ScheduleCommand,
    description: &StandingOrderDescription<'_>,
    caller: Caller,
    headers: &HeaderMap,
    success: StatusCode,
    created_for: Option<AccountId>,
) -> Result<Response, Problem> {
    let command = Command {
        stream_id: schedule_id.stream_id(),
        command,
        request: description,
    };
    let outcome = service
        .commands
        .run(&STANDING_ORDERS, command, caller, headers)
        .await?;
    let accepted = ScheduleAccepted {
        schedule_id: schedule_id.to_string(),
        version: outcome.version(),
    };
    let location = created_for.map(|account| format!("/accounts/{account}/standing-orders"));
    Ok(respond(
        success,
        &accepted,
        accepted.version,
        location,
        &outcome,
    ))
}
