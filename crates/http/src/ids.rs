//! Aggregate ids in paths: `{account_id}`, `{order_id}`, … for any [`IdKind`], validated so that no caller can
//! address another key space (a malformed id is a 400 problem, never a lookup).

use crate::Problem;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use std::collections::HashMap;
use tributary_core::{Id, IdKind};

/// The `{<noun>_id}` path segment of an aggregate of kind `K` (`{account_id}` for accounts): a canonical UUID.
/// Anything else is a 400 `invalid-<noun>-id`.
pub struct IdPath<K: IdKind>(pub Id<K>);

impl<K: IdKind> IdPath<K> {
    /// The path parameter's name (`account_id`), as route templates spell it.
    pub fn parameter() -> String {
        format!("{}_id", K::NOUN)
    }
}

impl<S: Send + Sync, K: IdKind> FromRequestParts<S> for IdPath<K> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let invalid = |detail: String| {
            Problem::bad_request(
                format!("invalid-{}-id", K::NOUN),
                format!("Invalid {} id", K::NOUN),
                detail,
            )
        };
        let name = Self::parameter();
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| invalid(e.body_text()))?;
        let raw = params
            .get(&name)
            .ok_or_else(|| invalid(format!("missing path parameter {name}")))?;
        Id::parse(raw).map(Self).map_err(|e| invalid(e.to_string()))
    }
}
