//! Opaque pagination cursors: the position to continue from, bound to the listing it came from, and signed
//! (HMAC-SHA256) so that a tampered or foreign cursor is refused instead of read.
//!
//! Cursors are signed with the current key and accepted under the one before it too, so that a rotation breaks no
//! cursor a client holds; a cursor signed two rotations ago is refused. Where the keys come from: `CURSOR_SECRET`
//! locally, a secret in Secrets Manager in AWS (`cursor_secret`, feature `secrets-manager`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::{Arc, RwLock};

/// The cursor secret of local runs (the devstack, a function without `CURSOR_SECRET`): never in production.
pub const LOCAL_CURSOR_SECRET: &str = "tributary-local-cursor-secret";

/// What a cursor says: which listing (`kind` and `scope`, e.g. the statement of one account) and where to go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub kind: String,
    pub scope: String,
    pub after: String,
}

/// The signing keys: the current one, and the one before it during a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub current: Vec<u8>,
    pub previous: Option<Vec<u8>>,
}

/// Signs and checks cursors with a secret shared by every container. Clones share the keys.
#[derive(Clone)]
pub struct Cursors {
    keys: Arc<RwLock<Keys>>,
}

impl Cursors {
    /// Cursors signed with `secret`, which never changes.
    pub fn new(secret: &[u8]) -> Self {
        Self::rotating(Keys {
            current: secret.to_vec(),
            previous: None,
        })
    }

    /// Cursors signed with `keys.current`, accepted under either key; [`Cursors::replace`] changes them.
    pub fn rotating(keys: Keys) -> Self {
        Self {
            keys: Arc::new(RwLock::new(keys)),
        }
    }

    /// Sign with `keys` from now on.
    pub fn replace(&self, keys: Keys) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }

    fn mac(key: &[u8]) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length")
    }

    /// The opaque text of a position.
    pub fn encode(&self, position: &Position) -> String {
        let body = serde_json::to_vec(position).expect("positions serialise");
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let mut mac = Self::mac(&keys.current);
        mac.update(&body);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&body),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    /// The position of a cursor, if it is intact (signed with the current key or the previous one) and belongs to
    /// listing (`kind`, `scope`).
    pub fn decode(&self, cursor: &str, kind: &str, scope: &str) -> Option<Position> {
        let (body, signature) = cursor.split_once('.')?;
        let body = URL_SAFE_NO_PAD.decode(body).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let signed = |key: &[u8]| {
            let mut mac = Self::mac(key);
            mac.update(&body);
            mac.verify_slice(&signature).is_ok()
        };
        if !(signed(&keys.current) || keys.previous.as_deref().is_some_and(signed)) {
            return None;
        }
        let position: Position = serde_json::from_slice(&body).ok()?;
        (position.kind == kind && position.scope == scope).then_some(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> Position {
        Position {
            kind: "statement".into(),
            scope: "a-1".into(),
            after: "17".into(),
        }
    }

    #[test]
    fn round_trips_and_refuses_tampering() {
        let cursors = Cursors::new(b"secret");
        let text = cursors.encode(&position());
        assert_eq!(cursors.decode(&text, "statement", "a-1"), Some(position()));
        // Another listing, another secret, a flipped character: refused.
        assert_eq!(cursors.decode(&text, "statement", "a-2"), None);
        assert_eq!(
            Cursors::new(b"other").decode(&text, "statement", "a-1"),
            None
        );
        let mut forged = text.clone().into_bytes();
        forged[3] ^= 1;
        assert_eq!(
            cursors.decode(&String::from_utf8_lossy(&forged), "statement", "a-1"),
            None
        );
        assert_eq!(cursors.decode("garbage", "statement", "a-1"), None);
    }

    #[test]
    fn a_rotation_accepts_the_previous_key_and_no_older_one() {
        let keys = |current: &[u8], previous: Option<&[u8]>| Keys {
            current: current.to_vec(),
            previous: previous.map(<[u8]>::to_vec),
        };
        let cursors = Cursors::new(b"alpha");
        let alpha = cursors.encode(&position());
        cursors.replace(keys(b"beta", Some(b"alpha")));
        let beta = cursors.encode(&position());
        assert_ne!(alpha, beta, "signed with the new key");
        assert_eq!(cursors.decode(&alpha, "statement", "a-1"), Some(position()));
        cursors.replace(keys(b"gamma", Some(b"beta")));
        assert_eq!(cursors.decode(&beta, "statement", "a-1"), Some(position()));
        assert_eq!(
            cursors.decode(&alpha, "statement", "a-1"),
            None,
            "two rotations old"
        );
    }
}
