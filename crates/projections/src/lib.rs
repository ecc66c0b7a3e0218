//! Read models on DynamoDB, for any domain.
//!
//! A domain declares each read model as a pure fold ([`tributary_core::Projection`]: which streams, where the
//! checkpoint lives, what one event does). This crate does the rest, once for all of them:
//! * [`apply`]: bring one entity's projection up to date with the event store — duplicates skipped, gaps filled
//!   from the store, one guarded write per batch (checkpoint and rows in one transaction), started over when
//!   another writer moved it;
//! * [`state_as_of`]: an entity's view as of a version, folded on demand from the event store (nothing written);
//! * [`rebuild`]: recompute a projection from the event store alone, resumably, beside the live denormaliser;
//! * [`ProjectionStore`]: the table — guarded writes, consistent reads, pages — and one version of a read model
//!   in it;
//! * [`versions`]: a read model's versions side by side — which is served, built, retired.
//!
//! [`ReadModel`] is a projection with its event type erased, so a denormaliser, a CLI or a local stack can hold any
//! domain's read models in one list.

mod apply;
mod as_of;
mod model;
pub mod rebuild;
mod store;
pub mod versions;

pub use apply::{apply, Applied, ProjectionError};
pub use as_of::state_as_of;
pub use model::{find, label, names, ReadModel, ReadModels, Step};
pub use rebuild::{
    rebuild, rebuild_stream, rebuild_streams, RebuildOptions, RebuildOutcome, RebuildProgress,
};
pub use store::{Consistency, Direction, Guard, Page, ProjectionStore, StoreError, TAG_ATTRIBUTE};
