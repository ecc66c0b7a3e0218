//! A tiny domain for the kit's own tests: tallies that count up. Two events and one read model, nothing of the
//! bank's, so the framework's consumers and read side are tested on their own terms (the bank's tests test the bank).

use serde::{Deserialize, Serialize};
use tributary_core::{DomainEvent, ItemKey, Projection, RecordedEvent, Row};

/// A tally's stream id is `tally-<id>`.
pub const STREAM_PREFIX: &str = "tally-";

/// What happens to a tally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TallyEvent {
    /// The first event of every tally.
    TallyStarted,
    TallyCounted {
        by: u64,
    },
}

impl DomainEvent for TallyEvent {
    fn event_type(&self) -> &'static str {
        match self {
            TallyEvent::TallyStarted => "TallyStarted",
            TallyEvent::TallyCounted { .. } => "TallyCounted",
        }
    }
}

/// The read model: each tally's total, kept in its checkpoint.
pub struct TallyTotals;

/// A tally's total so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Total {
    pub total: u64,
}

impl Projection for TallyTotals {
    type Event = TallyEvent;
    type State = Total;

    fn name(&self) -> &'static str {
        "tally-totals"
    }

    fn entity<'s>(&self, stream_id: &'s str) -> Option<&'s str> {
        stream_id.strip_prefix(STREAM_PREFIX)
    }

    fn checkpoint_key(&self, entity: &str) -> ItemKey {
        ItemKey::new(format!("tally#{entity}"), "total")
    }

    fn step(
        &self,
        _entity: &str,
        state: Option<Total>,
        event: &RecordedEvent<TallyEvent>,
        _rows: &mut Vec<Row>,
    ) -> Option<Total> {
        match (state, &event.event) {
            (None, TallyEvent::TallyStarted) => Some(Total { total: 0 }),
            (Some(Total { total }), TallyEvent::TallyCounted { by }) => {
                Some(Total { total: total + by })
            }
            _ => None,
        }
    }
}
