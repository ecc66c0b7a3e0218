//! Routes and handlers of the query API.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use bank_account::values::{AccountStream, TransferStream};
use bank_account::views::{AccountSummaries, AccountSummary, StatementLine, Transfers};
use bank_account::{Account, AccountId};
use bank_service::reads::BankReads;
use std::sync::Arc;
use std::time::Duration;
use tributary_aggregate::{CommandHandler, RetryPolicy, SnapshotPolicy};
use tributary_http::cursor::Cursors;
use tributary_http::reads::{
    invalid_cursor, invalid_parameter, unavailable, wait_for, with_etag, AuditTrail, Listing,
    Params,
};
use tributary_http::{Caller, IdPath, Problem, Route};
use tributary_projections::{state_as_of, Page, ProjectionStore};
use tributary_store::{AuditEvent, EventStore};

/// Everything the handlers need, built once per container.
#[derive(Clone)]
pub struct QueryService {
    projections: BankReads,
    /// The event store: the audit trail, and views as of a past version.
    events: Arc<dyn EventStore>,
    /// Accounts as their commands load them: a past version is folded from the nearest snapshot at or below it.
    accounts: CommandHandler<Account>,
    cursors: Cursors,
    /// How long a `min_version` read may wait.
    pub wait: Duration,
}

impl QueryService {
    pub fn new(
        projections: ProjectionStore,
        events: Arc<dyn EventStore>,
        cursor_secret: &[u8],
    ) -> Self {
        Self::over(tributary_http::shell::ReadSide {
            projections,
            events,
            cursors: Cursors::new(cursor_secret),
            snapshots: SnapshotPolicy::default(),
        })
    }

    /// A service over what the kit's query shell reads (`tributary_http::shell::serve_reads`).
    pub fn over(side: tributary_http::shell::ReadSide) -> Self {
        Self {
            projections: BankReads::new(side.projections),
            accounts: CommandHandler::new(side.events.clone(), RetryPolicy::default())
                .with_snapshots(side.snapshots),
            events: side.events,
            cursors: side.cursors,
            wait: Duration::from_secs(1),
        }
    }

    /// Sign and check cursors with `cursors` (a secret that rotates) instead of the fixed secret given to `new`.
    pub fn with_cursors(mut self, cursors: Cursors) -> Self {
        self.cursors = cursors;
        self
    }

    /// Read accounts' snapshots as `snapshots` says they are written (the command function's `SNAPSHOT_EVERY`: a
    /// read of the past fetches that many items a page).
    pub fn with_snapshots(mut self, snapshots: SnapshotPolicy) -> Self {
        self.accounts = self.accounts.with_snapshots(snapshots);
        self
    }
}

/// The query routes, with problem answers for unknown routes and methods.
pub fn router(service: QueryService) -> Router {
    tributary_http::with_problem_fallbacks(routes(service))
}

/// The query routes alone (to merge with others), their answers' personal data opened
/// ([`tributary_http::personal`]).
pub fn routes(service: QueryService) -> Router {
    let events = service.events.clone();
    tributary_http::personal::revealing(
        tributary_http::router_from(route_table()).with_state(service),
        events,
    )
}

/// Every read route of the bank (the application serves the API's documents beside them).
pub fn route_table() -> Vec<Route<QueryService>> {
    vec![
        Route::new("GET", "/accounts/{account_id}", get(account)),
        Route::new("GET", "/accounts/{account_id}/statement", get(statement)),
        Route::new("GET", "/accounts/{account_id}/events", get(account_events)),
        Route::new("GET", "/accounts", get(my_accounts)),
        Route::new("GET", "/transfers/{transfer_id}", get(transfer)),
        Route::new(
            "GET",
            "/accounts/{account_id}/standing-orders",
            get(standing_orders),
        ),
    ]
}

/// `GET /accounts/{id}`: the account summary (its owner's, or an operator's; anyone else gets 404).
pub async fn account(
    State(service): State<QueryService>,
    IdPath(id): IdPath<AccountStream>,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let params = Params::of(params)?;
    no_owner_parameter(&params)?;
    params.refuse(&["order"])?;
    if let Some(version) = params.as_of_version()? {
        // Read from the event store, where every write lands first: any min_version is met by construction.
        params.min_version()?;
        return account_as_of(&service, id, &caller, version).await;
    }
    let min_version = params.min_version()?;
    let stream = id.stream_id();
    let id = id.to_string();
    let read = || async {
        let summary = service
            .projections
            .summary(&id)
            .await
            .map_err(unavailable)?;
        Ok((summary.as_ref().map_or(0, |s| s.version), summary))
    };
    let first = read().await?;
    if min_version.is_some() {
        // Who asks, on the first read (the view's owner, or the store's for an account not projected yet): a
        // stranger gets the same 404 at once, never a wait or a version.
        let owner = match &first.1 {
            Some(summary) => Some(summary.owner.clone()),
            None => account_owner(&service, &stream).await?,
        };
        if !owner.is_some_and(|owner| caller.may_read(&owner)) {
            return Err(not_found());
        }
    }
    let summary = wait_for(service.wait, min_version, first, read).await?;
    let summary: AccountSummary = summary
        .filter(|s| caller.may_read(&s.owner))
        .ok_or_else(not_found)?;
    Ok(with_etag(&summary, summary.version))
}

/// `GET /accounts/{id}?as_of_version=N`: the account summary as it was after its event N, from the event store (a
/// past version never changes: cacheable for good). Its owner's or an operator's; anyone else gets 404, the same as
/// for an account that does not exist.
async fn account_as_of(
    service: &QueryService,
    id: AccountId,
    caller: &Caller,
    version: u64,
) -> Result<Response, Problem> {
    let stream = id.stream_id();
    // One bounded read, whatever the version asked (from the nearest snapshot at or below it: at most the snapshot
    // interval + 1 items): who owns the account, and its state then — or at its head, for a version not reached yet.
    let (state, event) = service
        .accounts
        .state_at(&stream, version)
        .await
        .map_err(unavailable)?
        .ok_or_else(not_found)?;
    let summary = AccountSummary::of_account(
        &id.to_string(),
        &state,
        event.version,
        &event.metadata.occurred_at.to_rfc3339(),
    )
    .filter(|summary| caller.may_read(&summary.owner))
    .ok_or_else(not_found)?;
    if event.version < version {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            "version-not-found",
            "Version not found",
            format!(
                "the account is at version {}, not yet at {version}",
                event.version
            ),
        )
        .with("as_of_version", version)
        .with("current_version", event.version));
    }
    let mut response = with_etag(&summary, summary.version);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    Ok(response)
}

/// Who opened the account in `stream` (its first event), if it was opened.
async fn account_owner(service: &QueryService, stream: &str) -> Result<Option<String>, Problem> {
    Ok(state_as_of(&AccountSummaries, &*service.events, stream, 1)
        .await
        .map_err(unavailable)?
        .map(|opened| opened.owner))
}

/// `GET /accounts/{id}/events`: the account's events from the event store, newest (default) or oldest first, in
/// pages (its owner's, or an operator's; anyone else gets 404). Kafka is not a database: history is the store's.
pub async fn account_events(
    State(service): State<QueryService>,
    IdPath(id): IdPath<AccountStream>,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Listing<AuditEvent>>, Problem> {
    let params = Params::of(params)?;
    let trail = AuditTrail::of(&params, &service.cursors, id.to_string())?;
    let stream = id.stream_id();
    match account_owner(&service, &stream).await? {
        Some(owner) if caller.may_read(&owner) => {}
        _ => return Err(not_found()),
    }
    trail
        .page(&*service.events, &stream, &service.cursors)
        .await
}

/// `GET /accounts/{id}/statement`: lines newest first (its owner's, or an operator's; anyone else gets 404).
pub async fn statement(
    State(service): State<QueryService>,
    IdPath(id): IdPath<AccountStream>,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Listing<StatementLine>>, Problem> {
    let params = Params::of(params)?;
    no_owner_parameter(&params)?;
    params.refuse(&["order", "as_of_version"])?;
    let stream = id.stream_id();
    let id = id.to_string();
    let limit = params.limit()?;
    let before = service
        .cursors
        .after(&params, "statement", &id)?
        .map(|after| after.parse::<u64>().map_err(|_| invalid_cursor()))
        .transpose()?;
    let min_version = params.min_version()?;
    // The version served now, for every read of this request.
    let statements = service.projections.statement().await.map_err(unavailable)?;
    let read = || async {
        let checkpoint = statements.checkpoint(&id).await.map_err(unavailable)?;
        Ok((checkpoint.version, checkpoint))
    };
    let first = read().await?;
    if min_version.is_some() {
        // Who asks, before any wait (see `account`).
        let owner = match first.1.version {
            0 => account_owner(&service, &stream).await?,
            _ => Some(first.1.owner.clone()),
        };
        if !owner.is_some_and(|owner| caller.may_read(&owner)) {
            return Err(not_found());
        }
    }
    let checkpoint = wait_for(service.wait, min_version, first, read).await?;
    // The checkpoint names the owner from the account's opening on: no checkpoint, no statement to show.
    if checkpoint.version == 0 || !caller.may_read(&checkpoint.owner) {
        return Err(not_found());
    }
    let page: Page<StatementLine> = statements
        .page(&id, limit, before)
        .await
        .map_err(unavailable)?;
    Ok(service
        .cursors
        .listing(page.items, page.next.is_some(), "statement", &id, |line| {
            line.version.to_string()
        }))
}

/// `GET /accounts`: the caller's accounts, by account id; an operator may name another owner (`?owner=`).
pub async fn my_accounts(
    State(service): State<QueryService>,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Listing<AccountSummary>>, Problem> {
    let params = Params::of(params)?;
    params.refuse(&["order", "as_of_version"])?;
    if params.min_version.is_some() {
        return Err(invalid_parameter(
            "min_version applies to one account, not to a listing",
        ));
    }
    let owner = match params.owner.as_deref() {
        None => caller.principal.clone(),
        Some(owner) if caller.may_read(owner) => owner.to_owned(),
        Some(_) => {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                "only operators may list another principal's accounts",
            ))
        }
    };
    let limit = params.limit()?;
    let after = service.cursors.after(&params, "owner", &owner)?;
    let page = service
        .projections
        .owner_page(&owner, limit, after.as_deref())
        .await
        .map_err(unavailable)?;
    Ok(service.cursors.listing(
        page.items,
        page.next.is_some(),
        "owner",
        &owner,
        |account| account.account_id.clone(),
    ))
}

/// `GET /transfers/{id}`: a transfer's state (its requester's, or an operator's; anyone else gets 404).
pub async fn transfer(
    State(service): State<QueryService>,
    IdPath(id): IdPath<TransferStream>,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let params = Params::of(params)?;
    no_owner_parameter(&params)?;
    params.refuse(&["order", "as_of_version"])?;
    let min_version = params.min_version()?;
    let stream = id.stream_id();
    let id = id.to_string();
    let read = || async {
        let view = service
            .projections
            .transfer(&id)
            .await
            .map_err(unavailable)?;
        Ok((view.as_ref().map_or(0, |v| v.version), view))
    };
    let first = read().await?;
    if min_version.is_some() {
        // Who asks, before any wait (see `account`): the requester the view or the transfer's request names.
        let requester = match &first.1 {
            Some(view) => Some(view.requested_by.clone()),
            None => state_as_of(&Transfers, &*service.events, &stream, 1)
                .await
                .map_err(unavailable)?
                .and_then(|state| {
                    state
                        .state
                        .terms()
                        .map(|t| t.requested_by.as_str().to_owned())
                }),
        };
        if !requester.is_some_and(|requester| caller.may_read(&requester)) {
            return Err(transfer_not_found());
        }
    }
    let view = wait_for(service.wait, min_version, first, read).await?;
    let view = view
        .filter(|v| caller.may_read(&v.requested_by))
        .ok_or_else(transfer_not_found)?;
    Ok(with_etag(&view, view.version))
}

fn transfer_not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "transfer-not-found",
        "Transfer not found",
        "no such transfer (or it is not yours)",
    )
}

/// `owner` is a listing parameter only.
fn no_owner_parameter(params: &Params) -> Result<(), Problem> {
    match params.owner {
        Some(_) => Err(invalid_parameter(
            "owner applies to the account listing (GET /accounts) only",
        )),
        None => Ok(()),
    }
}

fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "account-not-found",
        "Account not found",
        "the account does not exist",
    )
}

/// A standing order as its owner sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StandingOrderView {
    pub schedule_id: String,
    /// Where each occurrence pays, and how much (minor units of the account's currency).
    pub to: String,
    pub amount: u64,
    pub schedule: tributary_scheduler::Cadence,
    /// `active`, `paused`, `cancelled` or `ended`.
    pub status: tributary_scheduler::Status,
    /// When the next occurrence falls (none: no more).
    pub next_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Occurrences sent, and how many of them were refused before a transfer was made.
    pub occurrences: u64,
    pub refused: u64,
    /// The last occurrence sent: when it fell, and `applied` or why it was refused.
    pub last_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_outcome: Option<String>,
    /// The schedule's version the view is at.
    pub version: u64,
}

impl StandingOrderView {
    fn of(view: tributary_scheduler::ScheduleView) -> Option<Self> {
        let order: bank_account::standing_order::StandingOrder =
            serde_json::from_value(view.spec.command).ok()?;
        Some(Self {
            schedule_id: view.schedule_id,
            to: order.to.to_string(),
            amount: order.amount.minor_units(),
            schedule: view.spec.cadence,
            status: view.status,
            next_at: view.next.map(|due| due.at),
            occurrences: view.finished,
            refused: view.refused,
            last_at: view.last.as_ref().map(|(due, _)| due.at),
            last_outcome: view.last.map(|(_, outcome)| match outcome {
                tributary_scheduler::Outcome::Applied => "applied".to_owned(),
                tributary_scheduler::Outcome::Refused { code } => code,
            }),
            version: view.version,
        })
    }
}

/// `GET /accounts/{id}/standing-orders`: the account's standing orders, by id (its owner's, or an operator's;
/// anyone else gets 404). Each occurrence's transfer is on the statement; one the balance could not cover too.
pub async fn standing_orders(
    State(service): State<QueryService>,
    IdPath(id): IdPath<AccountStream>,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Listing<StandingOrderView>>, Problem> {
    let params = Params::of(params)?;
    no_owner_parameter(&params)?;
    params.refuse(&["order", "as_of_version"])?;
    if params.min_version.is_some() {
        return Err(invalid_parameter(
            "min_version applies to one account, not to a listing",
        ));
    }
    let stream = id.stream_id();
    match account_owner(&service, &stream).await? {
        Some(owner) if caller.may_read(&owner) => {}
        _ => return Err(not_found()),
    }
    let id = id.to_string();
    let limit = params.limit()?;
    let after = service.cursors.after(&params, "standing-orders", &id)?;
    let page = tributary_scheduler::listed(
        service.projections.store(),
        &stream,
        after.as_deref(),
        limit,
    )
    .await
    .map_err(unavailable)?;
    let items = page
        .items
        .into_iter()
        .filter_map(StandingOrderView::of)
        .collect();
    Ok(service.cursors.listing(
        items,
        page.next.is_some(),
        "standing-orders",
        &id,
        |order: &StandingOrderView| order.schedule_id.clone(),
    ))
}
