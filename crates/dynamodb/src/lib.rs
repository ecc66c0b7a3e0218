//! Event store on DynamoDB: [`DynamoDbEventStore`], the [`tributary_store::EventStore`] the functions deploy with.
//!
//! One item per event: partition key `stream_id`, sort key `version` (1, 2, 3, ... contiguous per stream).
//! * A single-event append is one `PutItem` with `attribute_not_exists(version)`: exactly one write, no transaction.
//! * A multi-event append is one `TransactWriteItems` with the same condition on every item (atomic, up to 100).
//! * A full load is a strongly consistent `Query` that follows `LastEvaluatedKey`, so streams above 1 MB load whole.
//! * Every so often an event's item also carries a `Snapshot` (the aggregate's state after it, and its recent
//!   commands); a command's load reads backwards to the newest one (`EventStore::load_tail`): a bounded read.
//! * A command with an idempotency key leaves a `Receipt` (the key, remembered for a period or for ever) in the
//!   same transaction.
//!
//! The personal-data vault keeps its subjects' wrapped keys in a table of its own ([`DynamoDbSubjectKeys`]).
//!
//! Table definitions live in [`tables`] and are the single source of truth for devstack, tests and `template.yaml`.

mod errors;
mod item;
pub mod local;
mod receipt;
mod store;
mod subject_keys;
pub mod tables;

pub use item::{approximate_size, from_item, snapshot_of, to_item, with_snapshot, MAX_ITEM_BYTES};
pub use receipt::{is_receipt, EXPIRES_AT};
pub use store::DynamoDbEventStore;
pub use subject_keys::DynamoDbSubjectKeys;
