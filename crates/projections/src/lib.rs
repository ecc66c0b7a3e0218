//! Read models on DynamoDB.
//!
//! Three projections, each fed by its own Kafka consumer group so each can lag, fail and be rebuilt alone:
//! * [`Projection::Summary`]: one item per account (owner, currency, balance, status, version);
//! * [`Projection::Statement`]: one item per money movement plus a checkpoint (version, running balance);
//! * [`Projection::Owners`]: one item per account under its owner's partition, for listing.
//!
//! Every write is version-guarded: a projection stores the last version it applied per account; duplicates are
//! skipped, several events of one account collapse into one write, and a gap (the next event is not the one
//! expected) is filled by reading the missing events from the event store ([`apply`]).

mod apply;
pub mod rebuild;
mod store;

pub use apply::{apply, Applied, ProjectionError};
pub use rebuild::{rebuild, rebuild_account, RebuildOptions, RebuildOutcome, RebuildProgress};
pub use store::{Page, ProjectionStore};

/// The projections this service maintains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Projection {
    Summary,
    Statement,
    Owners,
}

impl Projection {
    pub const ALL: [Projection; 3] = [
        Projection::Summary,
        Projection::Statement,
        Projection::Owners,
    ];

    /// Stable name: the consumer group suffix, the CLI argument, the `PROJECTION` setting.
    pub fn name(self) -> &'static str {
        match self {
            Self::Summary => "account-summary",
            Self::Statement => "statement",
            Self::Owners => "accounts-by-owner",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The account id inside an account stream id (`account-<uuid>`), if it is one.
pub fn account_id(stream_id: &str) -> Option<&str> {
    bank_account::AccountId::of_stream(stream_id)
}
