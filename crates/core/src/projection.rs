//! Read models as pure folds. A [`Projection`] says which streams it reads, where each entity's checkpoint lives,
//! and what one event does to it: the checkpoint's new state and the rows it writes. Storing, version-guarding,
//! catching up from the event store, dead-lettering, paging and rebuilding are the infrastructure's, written once
//! (`tributary-projections`); a domain's read models have no I/O and are tested like its deciders.

use crate::decider::DomainEvent;
use crate::metadata::RecordedEvent;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// Where an item of the projections table lives: partition key and sort key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemKey {
    pub pk: String,
    pub sk: String,
}

impl ItemKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// An item a projection writes beside its checkpoint, in the same transaction. A later row with the same key
/// replaces an earlier one, so a row can be a log line (one key per event) or a view kept current (one key,
/// rewritten by every event). A row whose data is `null` ([`Row::deleted`]) removes the item.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: ItemKey,
    pub data: Value,
}

impl Row {
    pub fn new(key: ItemKey, data: &impl Serialize) -> Self {
        Self {
            key,
            data: serde_json::to_value(data).expect("read-model rows serialise"),
        }
    }

    /// The item at `key` removed (an entry that no longer belongs in an index: an ended schedule's due row).
    pub fn deleted(key: ItemKey) -> Self {
        Self {
            key,
            data: Value::Null,
        }
    }
}

/// One read model: a pure fold of an entity's events into a checkpoint (its state and the version it reached)
/// and rows.
///
/// The infrastructure reads the checkpoint, folds the events after it with [`Projection::step`], and writes the
/// checkpoint and the rows together, guarded on the version it read: duplicates are skipped, gaps are filled from
/// the event store, and a concurrent writer makes it start over, never write twice.
pub trait Projection: Send + Sync + 'static {
    /// The events it folds.
    type Event: DomainEvent;
    /// The checkpoint's state (stored as JSON at [`Projection::checkpoint_key`]).
    type State: Serialize + DeserializeOwned + Clone + Send + Sync;

    /// Stable name: consumer group suffix, CLI argument, rebuild progress key. Every version of a read model has
    /// the same name.
    fn name(&self) -> &'static str;
    /// Which version of the read model this fold is (default 1). A changed fold whose rows differ is a new version:
    /// it is stored beside the old one (its items under its own key prefix), built from the event store, fed by its
    /// own consumer group, and served once promoted (`tributary_projections::versions`).
    fn version(&self) -> u32 {
        1
    }
    /// The entity a stream's events fold into (usually the aggregate id inside the stream id); `None`: this
    /// projection does not read the stream (another aggregate's events on the same topic).
    fn entity<'s>(&self, stream_id: &'s str) -> Option<&'s str>;
    /// Where the entity's checkpoint lives.
    fn checkpoint_key(&self, entity: &str) -> ItemKey;
    /// Apply one event (the next one after `state`; `None` before the first), pushing the rows it writes.
    /// `None`: the events do not fold (a stream that does not start with its creation) — the data is wrong, so the
    /// records are dead-lettered.
    fn step(
        &self,
        entity: &str,
        state: Option<Self::State>,
        event: &RecordedEvent<Self::Event>,
        rows: &mut Vec<Row>,
    ) -> Option<Self::State>;
}
