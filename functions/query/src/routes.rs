//! Routes and handlers of the query API.

use crate::cursor::{Cursors, Position};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bank_account::views::{AccountSummaries, AccountSummary, StatementLine, Transfers};
use bank_account::{Account, AccountId};
use bank_api::{AccountPath, TransferPath};
use bank_service::reads::BankReads;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tributary_aggregate::{CommandHandler, RetryPolicy, SnapshotPolicy};
use tributary_http::{Caller, Problem, Route};
use tributary_projections::{state_as_of, Page, ProjectionStore};
use tributary_store::{AuditEvent, EventStore, Order};

/// The largest `min_version` (2^53 - 1: exact in every JSON client, and more events than any stream will hold).
const MAX_MIN_VERSION: u64 = 9_007_199_254_740_991;
/// Default and largest page sizes.
const DEFAULT_LIMIT: i32 = 20;
const MAX_LIMIT: i32 = 100;
/// First pause between reads while waiting for `min_version`; it doubles up to [`LONGEST_POLL`], so a wait of
/// a second costs about eight reads, not a hundred.
const FIRST_POLL: Duration = Duration::from_millis(10);
const LONGEST_POLL: Duration = Duration::from_millis(250);

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
        Self {
            projections: BankReads::new(projections),
            accounts: CommandHandler::new(events.clone(), RetryPolicy::default()),
            events,
            cursors: Cursors::new(cursor_secret),
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

impl QueryService {
    /// Where the listing (`kind`, `scope`) goes on, from the request's cursor; a cursor this listing did not issue
    /// is a 400.
    fn cursor_after(
        &self,
        params: &Params,
        kind: &str,
        scope: &str,
    ) -> Result<Option<String>, Problem> {
        params
            .cursor
            .as_deref()
            .map(|cursor| {
                self.cursors
                    .decode(cursor, kind, scope)
                    .map(|p| p.after)
                    .ok_or_else(invalid_cursor)
            })
            .transpose()
    }

    /// A page as answered: its items, and a signed cursor after the last one when more follow.
    fn listing<T>(
        &self,
        page: Page<T>,
        kind: &str,
        scope: &str,
        position_of: impl Fn(&T) -> String,
    ) -> Json<Listing<T>> {
        let next_cursor = page
            .items
            .last()
            .filter(|_| page.next.is_some())
            .map(|last| {
                self.cursors.encode(&Position {
                    kind: kind.to_owned(),
                    scope: scope.to_owned(),
                    after: position_of(last),
                })
            });
        Json(Listing {
            items: page.items,
            next_cursor,
        })
    }
}

/// The query routes, with problem answers for unknown routes and methods.
pub fn router(service: QueryService) -> Router {
    tributary_http::with_problem_fallbacks(routes(service))
}

/// The query routes alone (to merge with others).
pub fn routes(service: QueryService) -> Router {
    tributary_http::router_from(route_table()).with_state(service)
}

/// Every route of the query API (the OpenAPI document of the whole HTTP API is served here too).
pub fn route_table() -> Vec<Route<QueryService>> {
    vec![
        Route::new("GET", "/accounts/{account_id}", get(account)),
        Route::new("GET", "/accounts/{account_id}/statement", get(statement)),
        Route::new("GET", "/accounts/{account_id}/events", get(account_events)),
        Route::new("GET", "/accounts", get(my_accounts)),
        Route::new("GET", "/transfers/{transfer_id}", get(transfer)),
        Route::new("GET", "/openapi.json", get(openapi)),
        Route::new("GET", "/asyncapi.json", get(asyncapi)),
    ]
}

/// `GET /asyncapi.json`: the AsyncAPI 3 document of the Kafka topics (events, rejections, dead letters).
pub async fn asyncapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        bank_api::ASYNCAPI,
    )
        .into_response()
}

/// `GET /openapi.json`: the OpenAPI 3.1 document of the command and query API.
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        bank_api::OPENAPI,
    )
        .into_response()
}

/// Query parameters (all optional, all validated; unknown ones are refused).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub min_version: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    /// `GET /accounts` only: whose accounts (operators only; default: the caller's).
    pub owner: Option<String>,
    /// `GET /accounts/{id}/events` only: `newest` (the default) or `oldest` first.
    pub order: Option<String>,
    /// `GET /accounts/{id}` only: the account as it was after this version, folded from the event store.
    pub as_of_version: Option<String>,
}

impl Params {
    fn min_version(&self) -> Result<Option<u64>, Problem> {
        version_parameter("min_version", self.min_version.as_deref())
    }

    fn as_of_version(&self) -> Result<Option<u64>, Problem> {
        version_parameter("as_of_version", self.as_of_version.as_deref())
    }

    fn order(&self) -> Result<Order, Problem> {
        match self.order.as_deref() {
            None | Some("newest") => Ok(Order::NewestFirst),
            Some("oldest") => Ok(Order::OldestFirst),
            Some(_) => Err(Problem::bad_request(
                "invalid-parameter",
                "Invalid parameter",
                "order must be newest or oldest",
            )),
        }
    }

    /// Refuse the parameters in `names` (they belong to another route).
    fn refuse(&self, names: &[&str]) -> Result<(), Problem> {
        let given = |name: &str| match name {
            "owner" => self.owner.is_some(),
            "order" => self.order.is_some(),
            "as_of_version" => self.as_of_version.is_some(),
            "min_version" => self.min_version.is_some(),
            _ => false,
        };
        match names.iter().find(|name| given(name)) {
            Some(name) => Err(Problem::bad_request(
                "invalid-parameter",
                "Invalid parameter",
                format!("{name} does not apply to this route"),
            )),
            None => Ok(()),
        }
    }

    fn limit(&self) -> Result<i32, Problem> {
        match self.limit.as_deref() {
            None => Ok(DEFAULT_LIMIT),
            Some(raw) => raw
                .parse::<i32>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| {
                    Problem::bad_request(
                        "invalid-parameter",
                        "Invalid parameter",
                        format!("limit must be from 1 to {MAX_LIMIT}"),
                    )
                }),
        }
    }
}

/// A stream version given as the query parameter `name`: a whole number from 1 to [`MAX_MIN_VERSION`].
fn version_parameter(name: &str, raw: Option<&str>) -> Result<Option<u64>, Problem> {
    raw.map(|raw| {
        raw.parse::<u64>()
            .ok()
            .filter(|v| (1..=MAX_MIN_VERSION).contains(v))
            .ok_or_else(|| {
                Problem::bad_request(
                    "invalid-parameter",
                    "Invalid parameter",
                    format!("{name} must be a whole number from 1 to {MAX_MIN_VERSION}"),
                )
            })
    })
    .transpose()
}

/// A listing page as returned to clients.
#[derive(Debug, Serialize, Deserialize)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `GET /accounts/{id}`: the account summary (its owner's, or an operator's; anyone else gets 404).
pub async fn account(
    State(service): State<QueryService>,
    AccountPath(id): AccountPath,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let params = query_params(params)?;
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
        let summary = service.projections.summary(&id).await.map_err(internal)?;
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
        .map_err(internal)?
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
        .map_err(internal)?
        .map(|opened| opened.owner))
}

/// `GET /accounts/{id}/events`: the account's events from the event store, newest (default) or oldest first, in
/// pages (its owner's, or an operator's; anyone else gets 404). Kafka is not a database: history is the store's.
pub async fn account_events(
    State(service): State<QueryService>,
    AccountPath(id): AccountPath,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Listing<AuditEvent>>, Problem> {
    let params = query_params(params)?;
    params.refuse(&["owner", "min_version", "as_of_version"])?;
    let order = params.order()?;
    let limit = params.limit()?;
    let stream = id.stream_id();
    let scope = match order {
        Order::NewestFirst => "events-newest",
        Order::OldestFirst => "events-oldest",
    };
    let scope_id = id.to_string();
    let after = service
        .cursor_after(&params, scope, &scope_id)?
        .map(|after| after.parse::<u64>().map_err(|_| invalid_cursor()))
        .transpose()?;
    match account_owner(&service, &stream).await? {
        Some(owner) if caller.may_read(&owner) => {}
        _ => return Err(not_found()),
    }
    let page = service
        .events
        .page(&stream, order, after, limit)
        .await
        .map_err(internal)?;
    let page = Page {
        next: if page.more {
            page.events.last().map(|e| e.version.to_string())
        } else {
            None
        },
        items: page.events.into_iter().map(AuditEvent::from).collect(),
    };
    Ok(service.listing(page, scope, &scope_id, |event| event.version.to_string()))
}

/// `GET /accounts/{id}/statement`: lines newest first (its owner's, or an operator's; anyone else gets 404).
pub async fn statement(
    State(service): State<QueryService>,
    AccountPath(id): AccountPath,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Listing<StatementLine>>, Problem> {
    let params = query_params(params)?;
    no_owner_parameter(&params)?;
    params.refuse(&["order", "as_of_version"])?;
    let stream = id.stream_id();
    let id = id.to_string();
    let limit = params.limit()?;
    let before = service
        .cursor_after(&params, "statement", &id)?
        .map(|after| after.parse::<u64>().map_err(|_| invalid_cursor()))
        .transpose()?;
    let min_version = params.min_version()?;
    let read = || async {
        let checkpoint = service
            .projections
            .statement_checkpoint(&id)
            .await
            .map_err(internal)?;
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
    let page: Page<StatementLine> = service
        .projections
        .statement_page(&id, limit, before)
        .await
        .map_err(internal)?;
    Ok(service.listing(page, "statement", &id, |line| line.version.to_string()))
}

/// `GET /accounts`: the caller's accounts, by account id; an operator may name another owner (`?owner=`).
pub async fn my_accounts(
    State(service): State<QueryService>,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Listing<AccountSummary>>, Problem> {
    let params = query_params(params)?;
    params.refuse(&["order", "as_of_version"])?;
    if params.min_version.is_some() {
        return Err(Problem::bad_request(
            "invalid-parameter",
            "Invalid parameter",
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
    let after = service.cursor_after(&params, "owner", &owner)?;
    let page = service
        .projections
        .owner_page(&owner, limit, after.as_deref())
        .await
        .map_err(internal)?;
    Ok(service.listing(page, "owner", &owner, |account| account.account_id.clone()))
}

/// `GET /transfers/{id}`: a transfer's state (its requester's, or an operator's; anyone else gets 404).
pub async fn transfer(
    State(service): State<QueryService>,
    TransferPath(id): TransferPath,
    caller: Caller,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let params = query_params(params)?;
    no_owner_parameter(&params)?;
    params.refuse(&["order", "as_of_version"])?;
    let min_version = params.min_version()?;
    let stream = id.stream_id();
    let id = id.to_string();
    let read = || async {
        let view = service.projections.transfer(&id).await.map_err(internal)?;
        Ok((view.as_ref().map_or(0, |v| v.version), view))
    };
    let first = read().await?;
    if min_version.is_some() {
        // Who asks, before any wait (see `account`): the requester the view or the transfer's request names.
        let requester = match &first.1 {
            Some(view) => Some(view.requested_by.clone()),
            None => state_as_of(&Transfers, &*service.events, &stream, 1)
                .await
                .map_err(internal)?
                .and_then(|state| state.terms().map(|t| t.requested_by.as_str().to_owned())),
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

/// One read model's view as JSON, with its version as the `ETag`.
fn with_etag(view: &impl Serialize, version: u64) -> Response {
    let mut response = Json(view).into_response();
    response.headers_mut().insert(
        header::ETAG,
        HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header"),
    );
    response
}

/// `owner` is a listing parameter only.
fn no_owner_parameter(params: &Params) -> Result<(), Problem> {
    match params.owner {
        Some(_) => Err(Problem::bad_request(
            "invalid-parameter",
            "Invalid parameter",
            "owner applies to the account listing (GET /accounts) only",
        )),
        None => Ok(()),
    }
}

/// Read with `read` until its version reaches `min_version` (or at once without one); 503 after `wait`. `first`
/// is the first read, already made (the caller authorised on it).
async fn wait_for<T, F, Fut>(
    wait: Duration,
    min_version: Option<u64>,
    first: (u64, T),
    read: F,
) -> Result<T, Problem>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(u64, T), Problem>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = FIRST_POLL;
    let (mut version, mut value) = first;
    loop {
        match min_version {
            Some(wanted) if version < wanted => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not-yet-visible",
                        "Not yet visible",
                        format!("the read model is at version {version}, not yet at {wanted}; retry shortly"),
                    )
                    .with("min_version", wanted)
                    .with("current_version", version)
                    .retry_after(1));
                }
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(LONGEST_POLL);
                (version, value) = read().await?;
            }
            _ => return Ok(value),
        }
    }
}

fn query_params(
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Params, Problem> {
    params
        .map(|Query(p)| p)
        .map_err(|e| Problem::bad_request("invalid-parameter", "Invalid parameter", e.body_text()))
}

fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "account-not-found",
        "Account not found",
        "the account does not exist",
    )
}

fn invalid_cursor() -> Problem {
    Problem::bad_request(
        "invalid-cursor",
        "Invalid cursor",
        "the cursor is not one this listing returned",
    )
}

fn internal(error: impl std::fmt::Display) -> Problem {
    tracing::error!(%error, "projection store failure");
    Problem::unavailable()
}
