//! `GET /<things>/{id}` for any read model whose checkpoint is the view itself (a summary, a task): the view of one
//! entity with read-your-writes (`min_version`), shown only to whom the domain says may read it — anyone else is
//! told it does not exist, at once. Whether a `min_version` read may wait is decided before any wait, on the view as
//! it will be at that version: the view read now with the events it has not applied yet folded onto it from the
//! event store (as many as the projection lags, at most up to `min_version`), so a stranger learns nothing from how
//! long the answer takes, and a reader who became one in those events (an assignee) is not refused.

use crate::reads::{unavailable, wait_for, with_etag, Params};
use crate::{Caller, Problem};
use axum::response::Response;
use std::sync::Arc;
use std::time::Duration;
use tributary_core::Projection;
use tributary_projections::ProjectionStore;
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
        // The version of the read model this code folds (a route serving several versions names each).
        let store = self.projections.at(projection.name(), projection.version());
        let read = || async {
            let state: Option<P::State> = store.get(&key).await.map_err(unavailable)?;
            Ok((state.as_ref().map_or(0, view.version), state))
        };
        let first = read().await?;
        match min_version {
            Some(wanted) if first.0 < wanted => {
                let then = self
                    .folded_onto(projection, entity, stream, &first, wanted)
                    .await?;
                if !then.is_some_and(|state| (view.may_read)(&state, caller)) {
                    return Err((view.not_found)());
                }
            }
            _ => {}
        }
        let state = wait_for(self.wait, min_version, first, read).await?;
        let state = state
            .filter(|state| (view.may_read)(state, caller))
            .ok_or_else(view.not_found)?;
        Ok(with_etag(&state, (view.version)(&state)))
    }
}

impl Views {
    /// The view `current` (at `version`) with the stream's events after it, up to `wanted`, folded onto it.
    async fn folded_onto<P: Projection>(
        &self,
        projection: &P,
        entity: &str,
        stream: &str,
        (version, current): &(u64, Option<P::State>),
        wanted: u64,
    ) -> Result<Option<P::State>, Problem> {
        let stored = self
            .events
            .load_between(stream, *version, Some(wanted))
            .await
            .map_err(unavailable)?;
        let mut state = current.clone();
        let mut rows = Vec::new();
        for event in &stored {
            let recorded = event.decode::<P::Event>().map_err(unavailable)?;
            state = projection.step(entity, state, &recorded, &mut rows);
            rows.clear();
        }
        Ok(state)
    }
}

/// A domain's rules for showing its view: its version, who may read it, and what anyone else is told.
pub struct ViewRules<V> {
    pub version: fn(&V) -> u64,
    pub may_read: fn(&V, &Caller) -> bool,
    pub not_found: fn() -> Problem,
}
