//! `GET /<things>/{id}` for any read model whose checkpoint is the view itself (a summary, a task): the view of one
//! entity with read-your-writes (`min_version`), shown only to whom the domain says may read it — anyone else is
//! told it does not exist, at once: whether a `min_version` read may wait is decided from the stream's first event
//! before any wait, so a stranger learns nothing from how long the answer takes.

use crate::reads::{unavailable, wait_for, with_etag, Params};
use crate::{Caller, Problem};
use axum::response::Response;
use std::sync::Arc;
use std::time::Duration;
use tributary_core::Projection;
use tributary_projections::{state_as_of, ProjectionStore};
use tributary_store::EventStore;

/// Where views are read from, and how long a `min_version` read may wait (about a second).
#[derive(Clone)]
pub struct Views {
    pub projections: ProjectionStore,
    pub events: Arc<dyn EventStore>,
    pub wait: Duration,
}

impl Views {
    pub fn new(projections: ProjectionStore, events: Arc<dyn EventStore>) -> Self {
        Self {
            projections,
            events,
            wait: Duration::from_secs(1),
        }
    }

    /// The view of `stream`'s entity in `projection` (`version` says which event it has applied), as JSON with its
    /// version as the `ETag`; a `404` `not_found` when there is none or `may_read` refuses the caller. Takes
    /// `min_version` only: any other query parameter is refused.
    pub async fn one<P: Projection>(
        &self,
        projection: &P,
        stream: &str,
        params: Params,
        caller: &Caller,
        view: ViewRules<P::State>,
    ) -> Result<Response, Problem> {
        params.refuse(&["order", "as_of_version", "owner", "limit", "cursor"])?;
        let min_version = params.min_version()?;
        let entity = projection.entity(stream).ok_or_else(view.not_found)?;
        let key = projection.checkpoint_key(entity);
        let read = || async {
            let state: Option<P::State> = self.projections.get(&key).await.map_err(unavailable)?;
            Ok((state.as_ref().map_or(0, view.version), state))
        };
        let first = read().await?;
        if min_version.is_some() {
            let created = match &first.1 {
                Some(state) => Some(state.clone()),
                None => state_as_of(projection, &*self.events, stream, 1)
                    .await
                    .map_err(unavailable)?,
            };
            if !created.is_some_and(|state| (view.may_read)(&state, caller)) {
                return Err((view.not_found)());
            }
        }
        let state = wait_for(self.wait, min_version, first, read).await?;
        let state = state
            .filter(|state| (view.may_read)(state, caller))
            .ok_or_else(view.not_found)?;
        Ok(with_etag(&state, (view.version)(&state)))
    }
}

/// A domain's rules for showing its view: its version, who may read it, and what anyone else is told.
pub struct ViewRules<V> {
    pub version: fn(&V) -> u64,
    pub may_read: fn(&V, &Caller) -> bool,
    pub not_found: fn() -> Problem,
}
