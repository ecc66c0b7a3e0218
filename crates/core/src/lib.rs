//! Event-sourcing building blocks with no I/O and no AWS types.
//!
//! * [`Decider`]: the functional core every aggregate implements (`initial`, `evolve`, `decide`).
//! * [`DomainEvent`]: what an event must tell the infrastructure about itself (type name, schema version).
//! * [`EventMetadata`] and [`RecordedEvent`]: what travels with every stored event.
//! * [`IdempotencyKey`] and [`fingerprint`]: recognising a retried command.
//! * [`TraceParent`]: W3C trace context carried from the request to the published events.
//! * [`given`]: given/when/then tests for a domain's deciders.
//! * [`upcast`]: reading the older shapes of an event as its current one.
//! * [`Projection`]: a read model as a pure fold (checkpoint and rows), stored by `tributary-projections`.
//! * [`contract`]: contracts from types: the shared values' JSON Schemas, a domain's events as AsyncAPI messages.
//! * [`personal`]: fields that are one person's data, stored encrypted and erasable ([`Personal`]).
//! * [`values`]: what every domain's edge needs: [`Principal`], aggregate ids ([`Id`]), [`WholeNumber`].

pub mod contract;
pub mod decider;
pub mod given;
pub mod idempotency;
pub mod metadata;
pub mod personal;
pub mod projection;
pub mod trace;
pub mod upcast;
pub mod values;

pub use decider::{fold, Decider, DomainEvent};
pub use idempotency::{fingerprint, IdempotencyKey, InvalidIdempotencyKey, RESERVED_KEY_PREFIX};
pub use metadata::{EventMetadata, RecordedEvent};
pub use personal::{Personal, PERSONAL_MARKER};
pub use projection::{ItemKey, Projection, Row};
pub use trace::TraceParent;
pub use upcast::{decode_event, decode_event_json, DecodeError, StoredShape};
pub use values::{
    Id, IdKind, InvalidId, InvalidPrincipal, Principal, WholeNumber, MAX_PRINCIPAL_LEN,
    MAX_SAFE_INTEGER,
};
