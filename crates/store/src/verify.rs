//! Verifying a stream's chain and seals: [`ChainWalk`] takes a stream's events oldest first, one at a time (memory:
//! a few hashes and the findings, not the stream), and says what was modified, deleted, inserted, reordered or
//! rewritten, and which seals do not verify or are missing. Each item is checked on its own (its content against
//! its hash, its chain hash against both and the previous chain it recorded) and against the one recorded before
//! it, so an edit next to a deletion or a move is still seen.

use crate::chain::{chain_hash, seal_message, SealKeys};
use crate::event::StoredEvent;
use serde::Serialize;

/// How far from its recorded position a moved event is looked for (a swap, or a renumbering after an insertion or
/// a deletion, moves events by one or two).
const MOVED_WITHIN: u64 = 2;

/// Something about a stream that is not as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// Versions `from..=to` are missing: deleted.
    Deleted { from: u64, to: u64 },
    /// The event's content no longer matches the hashes it was written with (an amount, a type, a date... changed;
    /// its hash edited too or not).
    Modified { version: u64 },
    /// An event was inserted at `version`: the events recorded from there on were each moved one version up.
    Inserted { version: u64 },
    /// The event at `version` was deleted and the ones after it moved down to close the gap.
    Removed { version: u64 },
    /// The events at `version` and `with` were swapped.
    Reordered { version: u64, with: u64 },
    /// The event at `version` was recorded at `was` (moved; no simpler explanation found).
    Moved { version: u64, was: u64 },
    /// The event does not follow from the one recorded before it: that one was replaced with its hashes recomputed,
    /// or this one was put in with hashes of its own.
    Rewritten { version: u64 },
    /// No hash, after chained events: written by something that does not chain (inserted by hand).
    Unchained { version: u64 },
    /// The seal on this event does not verify (forged, copied, or the chain under it was rewritten).
    BadSeal { version: u64, reason: String },
    /// A seal was due on this event (the stream's interval) and there is none: removed.
    MissingSeal { version: u64 },
    /// The items after `version` could not be read as events (an attribute removed or mangled): the walk stopped.
    Unreadable { version: u64, reason: String },
}

/// Trusts no key: every seal fails (for checking chains alone).
pub struct TrustNoKeys;

impl SealKeys for TrustNoKeys {
    fn check(&self, seal: &crate::chain::Seal, _message: &[u8]) -> Result<(), String> {
        Err(format!("no key is trusted (sealed by {})", seal.key))
    }
}

/// What verifying one stream found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamReport {
    pub stream_id: String,
    /// Events read.
    pub events: u64,
    /// The newest version read.
    pub head: u64,
    /// Events at the start of the stream written before chaining (not covered).
    pub unchained_before_chaining: u64,
    /// The newest version whose seal verified: every event up to it is as it was when sealed.
    pub sealed_to: Option<u64>,
    /// Empty when nothing was found.
    pub findings: Vec<Finding>,
}

impl StreamReport {
    pub fn is_intact(&self) -> bool {
        self.findings.is_empty()
    }
}

/// What the verifier knows of how the stream was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// The deployment's seal interval: a seal is due on every chained event at a multiple of it (`None`: learn it
    /// from the first valid seal — only what follows a seal is then held to it).
    pub seal_every: Option<u64>,
    /// Events without hashes are accepted at a stream's start (written before chaining; counted, not verified).
    /// Otherwise every event without hashes is a finding.
    pub unchained_start: bool,
}

impl Default for Expected {
    /// Everything chained, sealed every 64 events (`LEDGER_SEAL_EVERY`'s default).
    fn default() -> Self {
        Self {
            seal_every: Some(64),
            unchained_start: false,
        }
    }
}

/// How many chain hashes of the latest events the walk keeps, by where each was recorded (a moved event's link is
/// checked against its original predecessor).
const RECENT: usize = 2 * MOVED_WITHIN as usize + 2;

/// Walks one stream's events in version order.
pub struct ChainWalk<'k> {
    keys: &'k dyn SealKeys,
    expected: Expected,
    report: StreamReport,
    /// The next version expected.
    next: u64,
    /// Whether any chained event was seen.
    chaining: bool,
    /// The seal interval in force (the expected one, or the newest valid seal's).
    seal_every: Option<u64>,
    /// The chain hashes of the latest events by where they were recorded.
    recent: std::collections::VecDeque<(u64, String)>,
    /// Moved events found, turned into findings at the end (a run of them is one insertion or removal).
    moved: Vec<(u64, u64)>,
}

impl<'k> ChainWalk<'k> {
    pub fn new(stream_id: &str, keys: &'k dyn SealKeys, expected: Expected) -> Self {
        Self {
            keys,
            expected,
            report: StreamReport {
                stream_id: stream_id.to_owned(),
                ..StreamReport::default()
            },
            next: 1,
            chaining: false,
            seal_every: expected.seal_every.filter(|every| *every > 0),
            recent: std::collections::VecDeque::new(),
            moved: Vec::new(),
        }
    }

    /// The next event of the stream (versions ascending).
    pub fn push(&mut self, event: &StoredEvent) {
        let version = event.version;
        self.report.events += 1;
        self.report.head = version;
        if version > self.next {
            self.report.findings.push(Finding::Deleted {
                from: self.next,
                to: version - 1,
            });
        }
        self.next = version + 1;
        let Some(link) = &event.link else {
            if self.chaining || !self.expected.unchained_start {
                self.report.findings.push(Finding::Unchained { version });
            } else {
                self.report.unchained_before_chaining += 1;
            }
            if event.seal.is_some() {
                self.report.findings.push(Finding::BadSeal {
                    version,
                    reason: "a seal on an event without hashes".into(),
                });
            }
            // Whatever follows starts a chain of its own.
            self.recent.clear();
            return;
        };
        self.chaining = true;
        // Where the event was recorded: its own version, unless it was moved.
        let mut recorded_at = version;
        if event.content_hash_at(version) != link.content {
            let was = (version.saturating_sub(MOVED_WITHIN).max(1)..=version + MOVED_WITHIN)
                .filter(|&w| w != version)
                .find(|&w| event.content_hash_at(w) == link.content);
            match was {
                Some(was) => {
                    self.moved.push((version, was));
                    recorded_at = was;
                }
                None => self.report.findings.push(Finding::Modified { version }),
            }
        } else if chain_hash(link.previous.as_deref(), &link.content) != link.chain {
            // The content matches its hash, but the chain hash was not made from them: edited by hand.
            self.report.findings.push(Finding::Modified { version });
        }
        // The link to the event recorded before it, when that one was read (not deleted, not before chaining).
        let before = recorded_at
            .checked_sub(1)
            .and_then(|r| self.recent.iter().rev().find(|(at, _)| *at == r))
            .map(|(_, chain)| chain.as_str());
        if before.is_some() && link.previous.as_deref() != before {
            self.report.findings.push(Finding::Rewritten { version });
        }
        self.recent.push_back((recorded_at, link.chain.clone()));
        if self.recent.len() > RECENT {
            self.recent.pop_front();
        }
        self.check_seal(event, recorded_at, &link.chain);
    }

    /// The seal on `event` (recorded at `recorded_at`), or the one due there.
    fn check_seal(&mut self, event: &StoredEvent, recorded_at: u64, chain: &str) {
        let version = event.version;
        match &event.seal {
            Some(seal) => {
                let message = seal_message(&event.stream_id, recorded_at, chain, seal.every);
                let on_time = seal.every > 0 && recorded_at.is_multiple_of(seal.every);
                match self.keys.check(seal, &message) {
                    Err(reason) => self
                        .report
                        .findings
                        .push(Finding::BadSeal { version, reason }),
                    Ok(()) if !on_time => self.report.findings.push(Finding::BadSeal {
                        version,
                        reason: format!("not a multiple of its interval {}", seal.every),
                    }),
                    Ok(()) => {
                        self.report.sealed_to = Some(version);
                        self.seal_every = Some(seal.every);
                    }
                }
            }
            None => {
                if self
                    .seal_every
                    .is_some_and(|every| recorded_at.is_multiple_of(every))
                {
                    self.report.findings.push(Finding::MissingSeal { version });
                }
            }
        }
    }

    /// The report, moved events explained: a swap of two neighbours is one reordering; a run of events each moved
    /// one up is an insertion before it, one down a removal.
    pub fn finish(mut self) -> StreamReport {
        let moved = std::mem::take(&mut self.moved);
        let mut explained = Vec::new();
        let mut i = 0;
        while i < moved.len() {
            let (version, was) = moved[i];
            if let Some(&(next, next_was)) = moved.get(i + 1) {
                if next == was && next_was == version {
                    explained.push(Finding::Reordered {
                        version,
                        with: next,
                    });
                    i += 2;
                    continue;
                }
            }
            let shift = |(v, w): (u64, u64)| w as i64 - v as i64;
            let run = moved[i..]
                .iter()
                .enumerate()
                .take_while(|(k, &m)| {
                    m.0 == version + *k as u64 && shift(m) == shift((version, was))
                })
                .count();
            let at_end = moved[i + run - 1].0 == self.report.head;
            match shift((version, was)) {
                -1 if run > 1 || at_end => {
                    // The event now before the run is the inserted one: whatever was said of it, this says it.
                    let inserted = version - 1;
                    self.report.findings.retain(|f| {
                        !matches!(f, Finding::Modified { version } | Finding::Rewritten { version } | Finding::Unchained { version } if *version == inserted)
                    });
                    explained.push(Finding::Inserted { version: inserted });
                }
                1 if run > 1 || at_end => explained.push(Finding::Removed { version }),
                _ => {
                    for &(version, was) in &moved[i..i + run] {
                        explained.push(Finding::Moved { version, was });
                    }
                }
            }
            i += run;
        }
        self.report.findings.extend(explained);
        self.report.findings.sort_by_key(Finding::version);
        self.report
    }
}

impl Finding {
    /// The (first) version the finding is about.
    pub fn version(&self) -> u64 {
        match self {
            Self::Deleted { from, .. } => *from,
            Self::Modified { version }
            | Self::Inserted { version }
            | Self::Removed { version }
            | Self::Reordered { version, .. }
            | Self::Moved { version, .. }
            | Self::Rewritten { version }
            | Self::Unchained { version }
            | Self::BadSeal { version, .. }
            | Self::MissingSeal { version }
            | Self::Unreadable { version, .. } => *version,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Deleted { from, to } if from == to => write!(f, "event {from} deleted"),
            Self::Deleted { from, to } => write!(f, "events {from} to {to} deleted"),
            Self::Modified { version } => write!(f, "event {version} modified"),
            Self::Inserted { version } => {
                write!(f, "event {version} inserted (the events after it renumbered)")
            }
            Self::Removed { version } => {
                write!(f, "event {version} deleted (the events after it renumbered)")
            }
            Self::Reordered { version, with } => write!(f, "events {version} and {with} swapped"),
            Self::Moved { version, was } => write!(f, "event {version} was recorded at {was}"),
            Self::Rewritten { version } => write!(
                f,
                "event {version} does not follow from the event before it (that one replaced with hashes recomputed, or this one put in)"
            ),
            Self::Unchained { version } => write!(f, "event {version} has no hash (inserted)"),
            Self::BadSeal { version, reason } => {
                write!(f, "the seal on event {version} does not verify: {reason}")
            }
            Self::MissingSeal { version } => write!(f, "the seal due on event {version} is missing"),
            Self::Unreadable { version, reason } => {
                write!(f, "the items after event {version} cannot be read: {reason}")
            }
        }
    }
}
