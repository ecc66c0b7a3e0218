//! The read edge every read model's routes run on: query parameters (validated; unknown ones refused), read-your-
//! writes (`min_version`: wait for the projection, then 503 with `Retry-After`), views with their `ETag`, listings
//! in pages with signed cursors, and the audit trail of a stream from the event store.
//!
//! A domain's query routes decide who may read what and which view answers; everything here is the same for every
//! domain.

use crate::commands::etag;
use crate::cursor::{Cursors, Position};
use crate::Problem;
use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;
use tributary_core::MAX_SAFE_INTEGER;
use tributary_store::{AuditEvent, EventStore, Order};

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: i32 = 20;
pub const MAX_LIMIT: i32 = 100;
/// First pause between reads while waiting for `min_version`; it doubles up to [`LONGEST_POLL`], so a wait of
/// a second costs about eight reads, not a hundred.
const FIRST_POLL: Duration = Duration::from_millis(10);
const LONGEST_POLL: Duration = Duration::from_millis(250);

/// Query parameters (all optional, all validated; unknown ones are refused). Each route refuses the ones that do
/// not apply to it ([`Params::refuse`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Read-your-writes: answer once the view has applied this version of its stream.
    pub min_version: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    /// Listings by owner: whose (operators only; default: the caller's).
    pub owner: Option<String>,
    /// The audit trail: `newest` (the default) or `oldest` first.
    pub order: Option<String>,
    /// A view as it was after this version, folded from the event store.
    pub as_of_version: Option<String>,
}

impl Params {
    /// The parameters of a request; malformed ones (or unknown names) are a 400.
    pub fn of(params: Result<Query<Params>, QueryRejection>) -> Result<Self, Problem> {
        params
            .map(|Query(p)| p)
            .map_err(|e| invalid_parameter(e.body_text()))
    }

    pub fn min_version(&self) -> Result<Option<u64>, Problem> {
        version_parameter("min_version", self.min_version.as_deref())
    }

    pub fn as_of_version(&self) -> Result<Option<u64>, Problem> {
        version_parameter("as_of_version", self.as_of_version.as_deref())
    }

    pub fn order(&self) -> Result<Order, Problem> {
        match self.order.as_deref() {
            None | Some("newest") => Ok(Order::NewestFirst),
            Some("oldest") => Ok(Order::OldestFirst),
            Some(_) => Err(invalid_parameter("order must be newest or oldest")),
        }
    }

    /// Refuse the parameters in `names` (they belong to another route).
    pub fn refuse(&self, names: &[&str]) -> Result<(), Problem> {
        let given = |name: &str| match name {
            "owner" => self.owner.is_some(),
            "order" => self.order.is_some(),
            "as_of_version" => self.as_of_version.is_some(),
            "min_version" => self.min_version.is_some(),
            "limit" => self.limit.is_some(),
            "cursor" => self.cursor.is_some(),
            _ => false,
        };
        match names.iter().find(|name| given(name)) {
            Some(name) => Err(invalid_parameter(format!(
                "{name} does not apply to this route"
            ))),
            None => Ok(()),
        }
    }

    pub fn limit(&self) -> Result<i32, Problem> {
        match self.limit.as_deref() {
            None => Ok(DEFAULT_LIMIT),
            Some(raw) => raw
                .parse::<i32>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| invalid_parameter(format!("limit must be from 1 to {MAX_LIMIT}"))),
        }
    }
}

/// 400 `invalid-parameter`.
pub fn invalid_parameter(detail: impl Into<String>) -> Problem {
    Problem::bad_request("invalid-parameter", "Invalid parameter", detail)
}

/// A stream version given as the query parameter `name`: a whole number from 1 to 2^53 - 1.
fn version_parameter(name: &str, raw: Option<&str>) -> Result<Option<u64>, Problem> {
    raw.map(|raw| {
        raw.parse::<u64>()
            .ok()
            .filter(|v| (1..=MAX_SAFE_INTEGER).contains(v))
            .ok_or_else(|| {
                invalid_parameter(format!(
                    "{name} must be a whole number from 1 to {MAX_SAFE_INTEGER}"
                ))
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

impl Cursors {
    /// Where the listing (`kind`, `scope`) goes on, from the request's cursor; a cursor this listing did not issue
    /// is a 400.
    pub fn after(
        &self,
        params: &Params,
        kind: &str,
        scope: &str,
    ) -> Result<Option<String>, Problem> {
        params
            .cursor
            .as_deref()
            .map(|cursor| {
                self.decode(cursor, kind, scope)
                    .map(|p| p.after)
                    .ok_or_else(invalid_cursor)
            })
            .transpose()
    }

    /// A page as answered: its `items`, and a signed cursor after the last one when `more` follow.
    pub fn listing<T>(
        &self,
        items: Vec<T>,
        more: bool,
        kind: &str,
        scope: &str,
        position_of: impl Fn(&T) -> String,
    ) -> Json<Listing<T>> {
        let next_cursor = items.last().filter(|_| more).map(|last| {
            self.encode(&Position {
                kind: kind.to_owned(),
                scope: scope.to_owned(),
                after: position_of(last),
            })
        });
        Json(Listing { items, next_cursor })
    }
}

/// 400 for a cursor that is not one this listing returned.
pub fn invalid_cursor() -> Problem {
    Problem::bad_request(
        "invalid-cursor",
        "Invalid cursor",
        "the cursor is not one this listing returned",
    )
}

/// A store that failed a read: logged, answered 503 (retry later).
pub fn unavailable(error: impl std::fmt::Display) -> Problem {
    tracing::error!(%error, "projection store failure");
    Problem::unavailable()
}

/// One read model's view as JSON, with its version as the `ETag`.
pub fn with_etag(view: &impl Serialize, version: u64) -> Response {
    let mut response = Json(view).into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    response
}

/// Read with `read` until its version reaches `min_version` (or at once without one); 503 `not-yet-visible` after
/// `wait`. `first` is the first read, already made (the route authorised the caller on it, so that a stranger gets
/// its answer at once, never a wait).
pub async fn wait_for<T, F, Fut>(
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
    let mut pauses = tributary_runtime::retry::pauses(FIRST_POLL, LONGEST_POLL);
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
                let pause = pauses.next().unwrap_or(LONGEST_POLL);
                tokio::time::sleep(pause.min(left)).await;
                (version, value) = read().await?;
            }
            _ => return Ok(value),
        }
    }
}

/// A request for a stream's audit trail (its events from the event store, newest or oldest first, in pages), its
/// parameters checked before anything is read: `GET /<things>/{id}/events?order=&limit=&cursor=`.
pub struct AuditTrail {
    order: Order,
    limit: i32,
    after: Option<u64>,
    /// What its cursors are bound to (the aggregate's id).
    scope: String,
}

impl AuditTrail {
    /// The request's order, page size and position (a cursor of this trail only); other listings' parameters are
    /// refused.
    pub fn of(params: &Params, cursors: &Cursors, scope: String) -> Result<Self, Problem> {
        params.refuse(&["owner", "min_version", "as_of_version"])?;
        let order = params.order()?;
        let limit = params.limit()?;
        let after = cursors
            .after(params, Self::kind(order), &scope)?
            .map(|after| after.parse::<u64>().map_err(|_| invalid_cursor()))
            .transpose()?;
        Ok(Self {
            order,
            limit,
            after,
            scope,
        })
    }

    fn kind(order: Order) -> &'static str {
        match order {
            Order::NewestFirst => "events-newest",
            Order::OldestFirst => "events-oldest",
        }
    }

    /// The page of `stream` asked for (read it only once the caller may see the stream).
    pub async fn page(
        &self,
        events: &dyn EventStore,
        stream: &str,
        cursors: &Cursors,
    ) -> Result<Json<Listing<AuditEvent>>, Problem> {
        let page = events
            .page(stream, self.order, self.after, self.limit)
            .await
            .map_err(unavailable)?;
        let items = page.events.into_iter().map(AuditEvent::from).collect();
        Ok(cursors.listing(
            items,
            page.more,
            Self::kind(self.order),
            &self.scope,
            |event| event.version.to_string(),
        ))
    }
}
