//! The query side of the bank-account API: reads projections; errors as problem+json.
//!
//! | route | answer |
//! |---|---|
//! | `GET /accounts/{id}?min_version=N` | the summary, `ETag: "<version>"` |
//! | `GET /accounts/{id}/statement?limit=&cursor=&min_version=` | lines newest first, `next_cursor` |
//! | `GET /owners/{owner}/accounts?limit=&cursor=` | the owner's accounts by id, `next_cursor` |
//!
//! `min_version` gives read-your-writes: the read waits (up to [`QueryService::wait`], about 1 s) until the
//! projection has applied that version; if it has not by then, the answer is 503 with `Retry-After`.

mod routes;

pub use routes::{route_table, router, routes, QueryService};
pub use tributary_http::reads::{Listing, Params};
