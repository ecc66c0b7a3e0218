//! The Decider pattern: an aggregate is three pure functions over its own state, events and commands.

use crate::metadata::EventMetadata;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// An event as the infrastructure sees it: serialisable, named, versioned, and able to read its older shapes.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// Stable name of the event type (stored beside the payload, sent as a Kafka header).
    fn event_type(&self) -> &'static str;
    /// The payload schema version this build writes for events of `event_type`. Bump it when the payload changes
    /// shape, and teach [`DomainEvent::upcast`] the step from the previous version.
    fn current_schema_version(_event_type: &str) -> u32 {
        1
    }
    /// This event's schema version (as written now).
    fn schema_version(&self) -> u32 {
        Self::current_schema_version(self.event_type())
    }
    /// One upcasting step: turn a stored payload of `from.schema_version` into the next version's shape. Called
    /// once per version between the stored one and the current one, by every reader (see [`crate::upcast`]).
    /// Default: no older shapes exist.
    fn upcast(from: StoredShape<'_>, _payload: Value) -> Result<Value, String> {
        Err(format!(
            "{} v{} has no upcaster",
            from.event_type, from.schema_version
        ))
    }
}

/// A pure aggregate: no I/O, no clock, no randomness. Everything it needs arrives in the command.
pub trait Decider {
    /// The aggregate's state, rebuilt by folding its events. Serialisable: every so often an event item carries
    /// the state after it (a snapshot), so that loading an aggregate reads a bounded number of items.
    type State: Clone + Send + Sync + Serialize + DeserializeOwned;
    /// Version of the state's serialised shape. Bump it when `State` changes shape: snapshots of another shape are
    /// ignored (the aggregate is folded from its events, and the next write stores a fresh snapshot).
    const STATE_SHAPE: u32 = 1;
    /// What callers ask for.
    type Command;
    /// What happened.
    type Event: DomainEvent;
    /// Why a command was refused (a business rule, not a technical failure).
    type Rejection: std::error::Error + Send + Sync + 'static;

    /// The state before any event.
    fn initial() -> Self::State;
    /// Whether `actor` (the authenticated caller) may send `command` to an aggregate in `state`. The command loop
    /// asks before anything else, and answers a refused actor as if the aggregate did not exist. Default: anyone.
    fn may_command(_state: &Self::State, _actor: &str, _command: &Self::Command) -> bool {
        true
    }
    /// A stable, machine-readable code for `rejection` (kebab-case, such as `insufficient-funds`): the reason of the
    /// rejection event published for it, and what the HTTP edge maps to a problem type.
    fn rejection_code(_rejection: &Self::Rejection) -> &'static str {
        "rejected"
    }
    /// Apply one event. Must be total: every event that `decide` can emit applies to the state it was decided on.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;
    /// Decide which events a command produces in a state, or why it is refused.
    fn decide(
        state: &Self::State,
        command: &Self::Command,
    ) -> Result<Vec<Self::Event>, Self::Rejection>;
}

/// Fold events into a state, starting from [`Decider::initial`].
pub fn fold<'a, D: Decider>(events: impl IntoIterator<Item = &'a D::Event>) -> D::State
where
    D::Event: 'a,
{
    events.into_iter().fold(D::initial(), D::evolve)
}
/// What an upcaster knows about the payload it is given, besides the payload itself.
#[derive(Debug, Clone, Copy)]
pub struct StoredShape<'a> {
    /// The event type's name as stored.
    pub event_type: &'a str,
    /// The schema version of the payload given (the step goes to this version + 1).
    pub schema_version: u32,
    /// The stored event's metadata (who, when, which command): a derived default may come from it.
    pub metadata: &'a EventMetadata,
}
