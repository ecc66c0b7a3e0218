//! The recent commands of an aggregate: the idempotency window, and how a command recognises its own earlier
//! attempt. Snapshots carry them (compactly), so neither needs the whole stream.
//!
//! The window is a count: the last [`SnapshotPolicy::window`](crate::SnapshotPolicy) commands accepted on the
//! aggregate are always known to a load, exactly. A retry of an older command is not recognised: it is a new
//! command (the README says so).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use tributary_store::StoredEvent;
use uuid::Uuid;

/// Hex digits kept of a hash: 128 bits.
const HASH_HEX: usize = 32;

/// One accepted command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RecentCommand {
    /// Its command id.
    #[serde(rename = "c")]
    command_id: Uuid,
    /// Hash of (actor, idempotency key), when it had a key.
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// Its request fingerprint (truncated), when it had a key.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    /// The version of its last event.
    #[serde(rename = "v")]
    version: u64,
}

/// The recent commands, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RecentCommands(VecDeque<RecentCommand>);

/// What the window says about an idempotency key.
pub(crate) struct KeySeen<'a> {
    pub fingerprint: &'a str,
    pub version: u64,
}

fn key_hash(actor: &str, key: &str) -> String {
    let mut hash = hex::encode(Sha256::digest(format!("{actor}\n{key}")));
    hash.truncate(HASH_HEX);
    hash
}

fn short(fingerprint: &str) -> String {
    fingerprint.chars().take(HASH_HEX).collect()
}

impl RecentCommands {
    pub(crate) fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<Vec<RecentCommand>>(json).map(|v| Self(v.into()))
    }

    /// The newest `window` commands, as JSON (what a snapshot carries).
    pub(crate) fn to_json(&self, window: usize) -> String {
        let skip = self.0.len().saturating_sub(window);
        let newest: Vec<&RecentCommand> = self.0.iter().skip(skip).collect();
        serde_json::to_string(&newest).expect("recent commands serialise")
    }

    /// Remember the commands of `events` (in version order).
    pub(crate) fn record(&mut self, events: &[StoredEvent]) {
        for event in events {
            let m = &event.metadata;
            match self.0.back_mut() {
                Some(last) if last.command_id == m.command_id => last.version = event.version,
                _ => self.0.push_back(RecentCommand {
                    command_id: m.command_id,
                    key: m
                        .idempotency_key
                        .as_deref()
                        .map(|key| key_hash(&m.actor, key)),
                    fingerprint: m.request_fingerprint.as_deref().map(short),
                    version: event.version,
                }),
            }
        }
    }

    /// The version a command reached, if it is one of the recent ones.
    pub(crate) fn version_of(&self, command_id: Uuid) -> Option<u64> {
        self.0
            .iter()
            .rev()
            .find(|c| c.command_id == command_id)
            .map(|c| c.version)
    }

    /// The command `actor` sent with `key`, if it is one of the recent ones.
    pub(crate) fn with_key(&self, actor: &str, key: &str) -> Option<KeySeen<'_>> {
        let hash = key_hash(actor, key);
        self.0
            .iter()
            .rev()
            .find(|c| c.key.as_deref() == Some(hash.as_str()))
            .map(|c| KeySeen {
                fingerprint: c.fingerprint.as_deref().unwrap_or_default(),
                version: c.version,
            })
    }

    /// Whether `fingerprint` (a full request fingerprint) is the one remembered.
    pub(crate) fn same_request(seen: &KeySeen<'_>, fingerprint: &str) -> bool {
        seen.fingerprint == short(fingerprint)
    }
}
