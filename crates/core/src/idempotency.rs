//! Recognising a retried command: validated idempotency keys and request fingerprints.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;

/// Longest key a client may send.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// Keys under this prefix are the system's own (a process manager's orders): no caller may send one, so no caller
/// can take a key a process will use (which would turn the process's order into a replay of the caller's command).
pub const RESERVED_KEY_PREFIX: &str = "system:";

/// A client-chosen key that makes a command safe to retry: 1-255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why an idempotency key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters, not starting with {RESERVED_KEY_PREFIX:?}")]
pub struct InvalidIdempotencyKey;

impl IdempotencyKey {
    /// Validate a key as a caller sent it (keys under [`RESERVED_KEY_PREFIX`] are refused).
    pub fn parse(raw: &str) -> Result<Self, InvalidIdempotencyKey> {
        if raw.starts_with(RESERVED_KEY_PREFIX) {
            return Err(InvalidIdempotencyKey);
        }
        Self::checked(raw.to_owned())
    }

    /// The system's own key `name`, under [`RESERVED_KEY_PREFIX`] (for a process manager's orders).
    pub fn reserved(name: &str) -> Result<Self, InvalidIdempotencyKey> {
        Self::checked(format!("{RESERVED_KEY_PREFIX}{name}"))
    }

    fn checked(key: String) -> Result<Self, InvalidIdempotencyKey> {
        let printable = key.bytes().all(|b| (0x20..=0x7e).contains(&b));
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN || !printable {
            return Err(InvalidIdempotencyKey);
        }
        Ok(Self(key))
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
    fn callers_cannot_send_the_systems_keys() {
        let system = IdempotencyKey::reserved("transfer-1-debit").unwrap();
        assert_eq!(system.as_str(), "system:transfer-1-debit");
        assert_eq!(
            IdempotencyKey::parse(system.as_str()),
            Err(InvalidIdempotencyKey)
        );
        assert!(IdempotencyKey::parse("transfer-1-debit").is_ok());
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
