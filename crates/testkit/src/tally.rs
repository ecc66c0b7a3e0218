//! A tiny domain for the kit's own tests: tallies that count up. Two events and three read models, one of each
//! shape the read side writes — a checkpoint alone ([`TallyTotals`]: one put), a checkpoint with a row per event in
//! one transaction ([`TallyLogs`]), and one row rewritten by every event in another partition ([`TalliesByKeeper`]:
//! two puts) — nothing of the bank's, so the framework's consumers and read side are tested on their own terms (the
//! bank's tests test the bank).

use serde::{Deserialize, Serialize};
use tributary_core::{DomainEvent, ItemKey, Projection, RecordedEvent, Row};

/// A tally's stream id is `tally-<id>`.
pub const STREAM_PREFIX: &str = "tally-";

/// What happens to a tally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TallyEvent {
    /// The first event of every tally; `keeper` lists it ([`TalliesByKeeper`]).
    TallyStarted {
        keeper: String,
    },
    TallyCounted {
        by: u64,
    },
}

impl TallyEvent {
    /// A tally started by `keeper`.
    pub fn started(keeper: &str) -> Self {
        TallyEvent::TallyStarted {
            keeper: keeper.to_owned(),
        }
    }
}

impl DomainEvent for TallyEvent {
    fn event_type(&self) -> &'static str {
        match self {
            TallyEvent::TallyStarted { .. } => "TallyStarted",
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
            (None, TallyEvent::TallyStarted { .. }) => Some(Total { total: 0 }),
            (Some(Total { total }), TallyEvent::TallyCounted { by }) => {
                Some(Total { total: total + by })
            }
            _ => None,
        }
    }
}

/// A read model with a row per event: each tally's log of counts, the lines and the checkpoint in the tally's own
/// partition (`tally-log#<id>`), written together in one transaction.
pub struct TallyLogs;

/// The partition of a tally's log.
pub fn log_partition(entity: &str) -> String {
    format!("tally-log#{entity}")
}

/// The sort key of the log line of the event at `version` (lines sort by version).
pub fn log_line_sk(version: u64) -> String {
    format!("line#{version:020}")
}

/// Where a tally's log has got to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCheckpoint {
    pub version: u64,
    pub total: u64,
}

/// One count in a tally's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub version: u64,
    pub by: u64,
    pub total_after: u64,
}

impl Projection for TallyLogs {
    type Event = TallyEvent;
    type State = LogCheckpoint;

    fn name(&self) -> &'static str {
        "tally-logs"
    }

    fn entity<'s>(&self, stream_id: &'s str) -> Option<&'s str> {
        stream_id.strip_prefix(STREAM_PREFIX)
    }

    fn checkpoint_key(&self, entity: &str) -> ItemKey {
        ItemKey::new(log_partition(entity), "~checkpoint")
    }

    fn step(
        &self,
        entity: &str,
        state: Option<LogCheckpoint>,
        event: &RecordedEvent<TallyEvent>,
        rows: &mut Vec<Row>,
    ) -> Option<LogCheckpoint> {
        let version = event.version;
        match (state, &event.event) {
            (None, TallyEvent::TallyStarted { .. }) => Some(LogCheckpoint { version, total: 0 }),
            (Some(LogCheckpoint { total, .. }), TallyEvent::TallyCounted { by }) => {
                let total_after = total + by;
                rows.push(Row::new(
                    ItemKey::new(log_partition(entity), log_line_sk(version)),
                    &LogLine {
                        version,
                        by: *by,
                        total_after,
                    },
                ));
                Some(LogCheckpoint {
                    version,
                    total: total_after,
                })
            }
            _ => None,
        }
    }
}

/// A read model with one row outside the entity's partition, rewritten by every event: each keeper's listing of
/// their tallies (an entry per tally in `keeper#<keeper>`), its checkpoint apart at `keeper-of#<id>`.
pub struct TalliesByKeeper;

/// The partition of a keeper's listing.
pub fn keeper_partition(keeper: &str) -> String {
    format!("keeper#{keeper}")
}

/// The sort key of a tally in its keeper's listing.
pub fn keeper_entry_sk(entity: &str) -> String {
    format!("entry#{entity}")
}

/// A tally in its keeper's listing (also the listing's checkpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeeperEntry {
    pub keeper: String,
    pub version: u64,
    pub total: u64,
}

impl Projection for TalliesByKeeper {
    type Event = TallyEvent;
    type State = KeeperEntry;

    fn name(&self) -> &'static str {
        "tallies-by-keeper"
    }

    fn entity<'s>(&self, stream_id: &'s str) -> Option<&'s str> {
        stream_id.strip_prefix(STREAM_PREFIX)
    }

    fn checkpoint_key(&self, entity: &str) -> ItemKey {
        ItemKey::new(format!("keeper-of#{entity}"), "checkpoint")
    }

    fn step(
        &self,
        entity: &str,
        state: Option<KeeperEntry>,
        event: &RecordedEvent<TallyEvent>,
        rows: &mut Vec<Row>,
    ) -> Option<KeeperEntry> {
        let version = event.version;
        let next = match (state, &event.event) {
            (None, TallyEvent::TallyStarted { keeper }) => KeeperEntry {
                keeper: keeper.clone(),
                version,
                total: 0,
            },
            (Some(entry), TallyEvent::TallyCounted { by }) => KeeperEntry {
                version,
                total: entry.total + by,
                ..entry
            },
            _ => return None,
        };
        rows.push(Row::new(
            ItemKey::new(keeper_partition(&next.keeper), keeper_entry_sk(entity)),
            &next,
        ));
        Some(next)
    }
}
