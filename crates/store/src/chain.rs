//! Tamper evidence, the primitives: an event's hash over its canonical content, the chain hash that ties it to the
//! event before it, and the signed checkpoints (seals) that make rewriting a chain detectable.
//!
//! * `content` = SHA-256 over the event as stored — stream, version, type, schema version, payload bytes and every
//!   metadata field — each length-prefixed in a fixed order ([`content_hash`]). Upcasting reads the stored bytes
//!   into a newer shape but never rewrites them, so a chain survives schema evolution; a snapshot or a receipt is
//!   not an event and is not hashed.
//! * `chain` = SHA-256 over the previous event's `chain` and this `content` ([`chain_hash`]), the previous `chain`
//!   kept beside it: changing, removing, inserting or reordering an event breaks the link to the event after it,
//!   unless the writer recomputes every hash after it.
//! * A [`Seal`] is a [`Notary`]'s signature over `(stream, version, chain, every)` at the events whose version is a
//!   multiple of `every`: recomputing the chain after an edit does not give the signed value, and a signature cannot
//!   be made without the key (on AWS, a KMS asymmetric key the table's writers cannot export).

use sha2::{Digest, Sha256};
use tributary_core::EventMetadata;

/// The hashing scheme's name and version: part of every hash, so a later scheme cannot be confused with this one.
pub const SCHEME: &str = "tributary-chain/1";

/// An event's place in its stream's chain (SHA-256, lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    /// Over the event's canonical content.
    pub content: String,
    /// Over `previous` and `content`.
    pub chain: String,
    /// The previous event's `chain` as this event was written (none for a stream's first event, or one after an
    /// event written before chaining): so every item can be checked on its own, and against the one before it
    /// even when something between them was deleted or moved.
    pub previous: Option<String>,
}

/// A signed checkpoint on the event at `version` of a stream: the notary's signature over [`seal_message`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Seal {
    /// Which key signed: a KMS key's ARN, or `local:` and a local key's fingerprint.
    pub key: String,
    /// The interval the writer sealed at: the next seal is due `every` events later.
    pub every: u64,
    /// The signature (ECDSA P-256 over SHA-256, DER), lowercase hex.
    pub signature: String,
}

/// The bytes a seal signs: the scheme, the stream, the version, its chain hash and the interval.
pub fn seal_message(stream_id: &str, version: u64, chain: &str, every: u64) -> Vec<u8> {
    format!("{SCHEME} seal\n{stream_id}\n{version}\n{chain}\n{every}").into_bytes()
}

/// Why a notary could not sign.
#[derive(Debug, thiserror::Error)]
#[error("the notary could not sign: {0}")]
pub struct NotaryError(pub String);

/// Signs checkpoints: one signature every `every` events of a stream (not one per event), so that the key service
/// is called once per `every` commands of a stream at most.
#[async_trait::async_trait]
pub trait Notary: Send + Sync + std::fmt::Debug {
    /// The key's name, recorded on each seal (what a verifier looks up among the keys it trusts).
    fn key(&self) -> &str;
    /// Seal the events whose version is a multiple of this.
    fn every(&self) -> u64;
    /// Sign `message` (ECDSA P-256 over its SHA-256, DER-encoded).
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, NotaryError>;
}

/// Checks seals against the keys a verifier trusts (public keys only).
pub trait SealKeys: Send + Sync {
    /// `Ok` when `seal` is a valid signature of `message` by a trusted key; why not otherwise.
    fn check(&self, seal: &Seal, message: &[u8]) -> Result<(), String>;
}

/// SHA-256 over an event's canonical content at `version` of `stream_id` (lowercase hex).
pub fn content_hash(
    stream_id: &str,
    version: u64,
    event_type: &str,
    schema_version: u32,
    payload: &str,
    metadata: &EventMetadata,
) -> String {
    let mut hash = Canonical::new();
    hash.text(SCHEME);
    hash.text(stream_id);
    hash.number(version);
    hash.text(event_type);
    hash.number(u64::from(schema_version));
    hash.text(payload);
    hash.text(&metadata.event_id.to_string());
    hash.text(&metadata.command_id.to_string());
    hash.text(&metadata.correlation_id);
    hash.text(&metadata.causation_id);
    // The instant, not its text: the same whichever way a store writes a timestamp.
    hash.number(metadata.occurred_at.timestamp() as u64);
    hash.number(u64::from(metadata.occurred_at.timestamp_subsec_nanos()));
    hash.text(&metadata.actor);
    hash.optional(metadata.idempotency_key.as_deref());
    hash.optional(metadata.request_fingerprint.as_deref());
    hash.optional(metadata.traceparent.as_deref());
    hash.finish()
}

/// SHA-256 over the previous event's chain hash (`None`: the stream's first event, or one after an event written
/// before chaining) and this event's content hash (lowercase hex).
pub fn chain_hash(previous: Option<&str>, content: &str) -> String {
    let mut hash = Canonical::new();
    hash.text(SCHEME);
    hash.optional(previous);
    hash.text(content);
    hash.finish()
}

/// A fixed, unambiguous encoding fed to SHA-256: every field length-prefixed, optional fields tagged.
struct Canonical(Sha256);

impl Canonical {
    fn new() -> Self {
        Self(Sha256::new())
    }

    fn text(&mut self, text: &str) {
        self.0.update((text.len() as u64).to_be_bytes());
        self.0.update(text.as_bytes());
    }

    fn number(&mut self, number: u64) {
        self.0.update(number.to_be_bytes());
    }

    fn optional(&mut self, text: Option<&str>) {
        match text {
            None => self.0.update([0u8]),
            Some(text) => {
                self.0.update([1u8]);
                self.text(text);
            }
        }
    }

    fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    fn metadata() -> EventMetadata {
        EventMetadata {
            event_id: Uuid::from_u128(1),
            command_id: Uuid::from_u128(2),
            correlation_id: "corr".into(),
            causation_id: "cause".into(),
            occurred_at: DateTime::parse_from_rfc3339("2026-12-07T10:00:00.123456789Z")
                .unwrap()
                .with_timezone(&Utc),
            actor: "alice".into(),
            idempotency_key: None,
            request_fingerprint: None,
            traceparent: None,
        }
    }

    #[test]
    fn every_field_is_covered() {
        let m = metadata();
        let base = content_hash("s", 1, "T", 1, r#"{"a":1}"#, &m);
        assert_eq!(base, content_hash("s", 1, "T", 1, r#"{"a":1}"#, &m));
        let mut changed = vec![
            content_hash("t", 1, "T", 1, r#"{"a":1}"#, &m),
            content_hash("s", 2, "T", 1, r#"{"a":1}"#, &m),
            content_hash("s", 1, "U", 1, r#"{"a":1}"#, &m),
            content_hash("s", 1, "T", 2, r#"{"a":1}"#, &m),
            content_hash("s", 1, "T", 1, r#"{"a":2}"#, &m),
        ];
        let edits: [fn(&mut EventMetadata); 9] = [
            |m| m.event_id = Uuid::from_u128(9),
            |m| m.command_id = Uuid::from_u128(9),
            |m| m.correlation_id.push('x'),
            |m| m.causation_id.push('x'),
            |m| m.occurred_at += chrono::TimeDelta::nanoseconds(1),
            |m| m.actor.push('x'),
            |m| m.idempotency_key = Some(String::new()),
            |m| m.request_fingerprint = Some("f".into()),
            |m| m.traceparent = Some("t".into()),
        ];
        for edit in edits {
            let mut m = metadata();
            edit(&mut m);
            changed.push(content_hash("s", 1, "T", 1, r#"{"a":1}"#, &m));
        }
        for (i, hash) in changed.iter().enumerate() {
            assert_ne!(hash, &base, "edit {i} left the hash unchanged");
        }
    }

    #[test]
    fn fields_cannot_run_into_each_other() {
        // Without length prefixes, "ab" + "c" and "a" + "bc" would hash alike.
        let m = metadata();
        assert_ne!(
            content_hash("ab", 1, "c", 1, "{}", &m),
            content_hash("a", 1, "bc", 1, "{}", &m)
        );
        assert_ne!(chain_hash(None, "x"), chain_hash(Some(""), "x"));
    }

    #[test]
    fn the_chain_depends_on_the_previous_link() {
        let content = content_hash("s", 2, "T", 1, "{}", &metadata());
        assert_ne!(
            chain_hash(Some(&"a".repeat(64)), &content),
            chain_hash(Some(&"b".repeat(64)), &content)
        );
        assert_eq!(chain_hash(None, &content).len(), 64);
    }
}
