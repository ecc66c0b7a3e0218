//! Event store on DynamoDB.
//!
//! One item per event: partition key `stream_id`, sort key `version` (1, 2, 3, ... contiguous per stream).
//! * A single-event append is one `PutItem` with `attribute_not_exists(version)`: exactly one write, no transaction.
//! * A multi-event append is one `TransactWriteItems` with the same condition on every item (atomic, up to 100).
//! * A load is a strongly consistent `Query` that follows `LastEvaluatedKey`, so streams above 1 MB load whole.
//!
//! Table definitions live in [`tables`] and are the single source of truth for devstack, tests and `template.yaml`.

mod errors;
mod item;
pub mod local;
mod store;
pub mod tables;

pub use errors::EventStoreError;
pub use item::{from_item, NewEvent, StoredEvent, MAX_ITEM_BYTES};
pub use store::{EventStore, StreamCursor, MAX_EVENTS_PER_APPEND};
