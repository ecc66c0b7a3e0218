//! A read model's view of one entity as of a version, folded on demand from the event store (the audit trail's
//! "what did it look like then"): the same pure fold the denormaliser applies, over the stream's events up to that
//! version, with nothing written.

use crate::apply::ProjectionError;
use tributary_core::Projection;
use tributary_store::EventStore;

/// `projection`'s state of the entity in `stream` after its event `version`; `None` when the stream has not reached
/// that version (or the projection does not read it).
pub async fn state_as_of<P: Projection>(
    projection: &P,
    events: &dyn EventStore,
    stream: &str,
    version: u64,
) -> Result<Option<P::State>, ProjectionError> {
    let Some(entity) = projection.entity(stream) else {
        return Ok(None);
    };
    let stored = events.load_between(stream, 0, Some(version)).await?;
    if stored.last().map(|e| e.version) != Some(version) {
        return Ok(None);
    }
    let mut state = None;
    let mut rows = Vec::new();
    for event in &stored {
        let recorded = event.decode::<P::Event>()?;
        state = projection.step(entity, state, &recorded, &mut rows);
        rows.clear();
        if state.is_none() {
            return Err(ProjectionError::Unfoldable {
                stream: stream.to_owned(),
                projection: projection.name(),
                from: event.version,
            });
        }
    }
    Ok(state)
}
