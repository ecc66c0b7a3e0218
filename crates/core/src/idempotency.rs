//! Recognising a retried command: validated idempotency keys and request fingerprints.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;

/// Longest key a client may send.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A client-chosen key that makes a command safe to retry: 1-255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why an idempotency key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters")]
pub struct InvalidIdempotencyKey;

impl IdempotencyKey {
    /// Validate a key as received.
    pub fn parse(raw: &str) -> Result<Self, InvalidIdempotencyKey> {
        let printable = raw.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if raw.is_empty() || raw.len() > MAX_IDEMPOTENCY_KEY_LEN || !printable {
            return Err(InvalidIdempotencyKey);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stable fingerprint of a request: SHA-256 of its canonical JSON, hex encoded.
///
/// Two requests with the same meaning (same operation, target and parsed body) have the same fingerprint, whatever
/// their whitespace or field order, because the value is serialised from typed data.
pub fn fingerprint(request: &impl Serialize) -> String {
    let canonical = serde_json::to_vec(request).expect("typed requests always serialise");
    hex::encode(Sha256::digest(canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_printable_ascii_up_to_255() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse("order 42/retry ~!").is_ok());
    }

    #[test]
    fn refuses_empty_long_and_non_printable() {
        assert_eq!(IdempotencyKey::parse(""), Err(InvalidIdempotencyKey));
        assert_eq!(
            IdempotencyKey::parse(&"k".repeat(256)),
            Err(InvalidIdempotencyKey)
        );
        assert_eq!(
            IdempotencyKey::parse("tab\there"),
            Err(InvalidIdempotencyKey)
        );
        assert_eq!(IdempotencyKey::parse("é"), Err(InvalidIdempotencyKey));
    }

    #[test]
    fn fingerprint_depends_on_content_only() {
        #[derive(Serialize)]
        struct Req<'a> {
            op: &'a str,
            amount: u64,
        }
        let a = fingerprint(&Req {
            op: "deposit",
            amount: 1,
        });
        assert_eq!(
            a,
            fingerprint(&Req {
                op: "deposit",
                amount: 1
            })
        );
        assert_ne!(
            a,
            fingerprint(&Req {
                op: "deposit",
                amount: 2
            })
        );
        assert_eq!(a.len(), 64);
    }
}
