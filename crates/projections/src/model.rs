//! [`ReadModel`]: a [`Projection`] behind a trait object. Events arrive as stored (type, schema version, JSON);
//! the projection's own event type decodes them (upcasting older shapes) and its fold runs on the JSON form of its
//! checkpoint, so callers never name a domain's types.

use serde_json::Value;
use std::sync::Arc;
use tributary_core::{EventMetadata, ItemKey, Projection, Row};
use tributary_store::{EventStoreError, StoredEvent};

/// The checkpoint after one event and the rows that event writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub version: u64,
    pub state: Value,
    pub rows: Vec<Row>,
}

/// Folding stored events failed.
#[derive(Debug, thiserror::Error)]
pub enum FoldError {
    /// An event (or the stored checkpoint) does not decode.
    #[error(transparent)]
    Decode(#[from] EventStoreError),
    /// The events do not fold into this read model from version `from` (the projection's step said no).
    #[error("events from version {from} do not fold")]
    Unfoldable { from: u64 },
}

/// A read model of any domain.
pub trait ReadModel: Send + Sync {
    /// The read model's name, the same for all its versions.
    fn name(&self) -> &'static str;
    /// Which version of the read model this is (1 unless it says otherwise).
    fn version(&self) -> u32;
    /// What names this version of the read model (consumer group suffix, `PROJECTION` setting, resource names, the
    /// `rm` tag on its items): the name for version 1, `<name>-v<version>` for later ones.
    fn label(&self) -> String {
        label(self.name(), self.version())
    }
    /// The entity of a stream this read model folds; `None`: it does not read the stream.
    fn entity<'s>(&self, stream_id: &'s str) -> Option<&'s str>;
    /// Where the entity's checkpoint lives.
    fn checkpoint_key(&self, entity: &str) -> ItemKey;
    /// Whether an event of this read model's streams, as published, decodes (in its current shape after upcasting).
    fn decodes(
        &self,
        event_type: &str,
        schema_version: u32,
        metadata: &EventMetadata,
        payload: Value,
    ) -> Result<(), String>;
    /// Fold `events` (contiguous, right after the checkpoint `state`) into one step per event.
    fn fold(
        &self,
        entity: &str,
        state: Option<Value>,
        events: &[StoredEvent],
    ) -> Result<Vec<Step>, FoldError>;
}

impl std::fmt::Debug for dyn ReadModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReadModel({})", self.label())
    }
}

/// The read models of a service, shared by its denormalisers, its CLI and its local stack.
pub type ReadModels = Vec<Arc<dyn ReadModel>>;

/// The label of version `version` of read model `name` (see [`ReadModel::label`]).
pub fn label(name: &str, version: u32) -> String {
    if version == 1 {
        name.to_owned()
    } else {
        format!("{name}-v{version}")
    }
}

/// The read model `raw` names: its label (`statement`, `statement-v2`) or `<name>@<version>` (`statement@2`).
pub fn find(models: &ReadModels, raw: &str) -> Option<Arc<dyn ReadModel>> {
    let wanted = match raw.rsplit_once('@') {
        Some((name, version)) => label(name, version.parse().ok()?),
        None => raw.to_owned(),
    };
    models.iter().find(|m| m.label() == wanted).cloned()
}

/// The labels of `models` (every version of every read model), for error messages and help.
pub fn names(models: &ReadModels) -> Vec<String> {
    models.iter().map(|m| m.label()).collect()
}

impl<P: Projection> ReadModel for P {
    fn name(&self) -> &'static str {
        Projection::name(self)
    }

    fn version(&self) -> u32 {
        Projection::version(self)
    }

    fn entity<'s>(&self, stream_id: &'s str) -> Option<&'s str> {
        Projection::entity(self, stream_id)
    }

    fn checkpoint_key(&self, entity: &str) -> ItemKey {
        Projection::checkpoint_key(self, entity)
    }

    fn decodes(
        &self,
        event_type: &str,
        schema_version: u32,
        metadata: &EventMetadata,
        payload: Value,
    ) -> Result<(), String> {
        tributary_core::decode_event::<P::Event>(event_type, schema_version, metadata, payload)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn fold(
        &self,
        entity: &str,
        state: Option<Value>,
        events: &[StoredEvent],
    ) -> Result<Vec<Step>, FoldError> {
        let mut state: Option<P::State> =
            state.map(serde_json::from_value).transpose().map_err(|e| {
                FoldError::Decode(EventStoreError::Corrupt {
                    stream_id: entity.to_owned(),
                    version: "checkpoint".into(),
                    reason: format!("the {} checkpoint does not decode: {e}", self.name()),
                })
            })?;
        let mut steps = Vec::with_capacity(events.len());
        for stored in events {
            let event = stored.decode::<P::Event>()?;
            let mut rows = Vec::new();
            let next = self.step(entity, state.take(), &event, &mut rows).ok_or(
                FoldError::Unfoldable {
                    from: stored.version,
                },
            )?;
            steps.push(Step {
                version: stored.version,
                state: serde_json::to_value(&next).expect("read-model states serialise"),
                rows,
            });
            state = Some(next);
        }
        Ok(steps)
    }
}
