//! The event store's seam: what a store keeps and what it promises, with no AWS types.
//!
//! * [`NewEvent`], [`StoredEvent`], [`Snapshot`], [`Receipt`]: an event before and after it is stored, the state an
//!   event's position may carry, and what a command with an idempotency key leaves behind.
//! * [`EventStore`]: the operations the command loop, the read side and the operators' tools use — appends with
//!   optimistic concurrency (all or nothing, a receipt in the same write), consistent loads, a stream's tail back to
//!   its newest snapshot, audit pages and a scan of every stream.
//! * [`chain`], [`sealing`], [`verify`]: tamper evidence — every event hashed and chained to the one before it,
//!   signed checkpoints every so many events, and the walk that says what was modified, deleted, inserted or
//!   reordered.
//! * [`personal`]: personal values sealed under their subject's key before an event is stored ([`personal::Vault`]),
//!   opened where people read them, erased by forgetting the subject.
//! * [`InMemoryEventStore`]: the same promises in one process, for a domain's tests (no server).
//! * `contract` (feature `contract`): the tests every store passes — the in-memory one here, the DynamoDB one in
//!   `tributary-dynamodb` — generated into a store's test suite by [`contract_tests!`].
//!
//! Stores are shared as `Arc<dyn EventStore>`: the choice of store is wiring, never a type parameter.

mod audit;
pub mod chain;
mod error;
mod event;
mod memory;
pub mod personal;
mod receipt;
pub mod sealing;
mod store;
pub mod verify;

#[cfg(feature = "contract")]
pub mod contract;

pub use audit::AuditEvent;
pub use error::EventStoreError;
pub use event::{NewEvent, Snapshot, StoredEvent};
pub use memory::InMemoryEventStore;
pub use receipt::Receipt;
pub use store::{EventPage, EventStore, Order, StreamCursor, Tail, MAX_EVENTS_PER_APPEND};
