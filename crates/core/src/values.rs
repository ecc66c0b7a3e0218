//! Values every domain needs at its edge, so that no domain copies them: who is calling ([`Principal`]), aggregate
//! identities ([`Id`]: a UUID with one spelling, random or derived from a caller and an idempotency key), and whole
//! numbers read from JSON ([`WholeNumber`]: `2598` and `2598.0` alike, never a fraction).

use crate::IdempotencyKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use uuid::Uuid;

/// Longest principal, in bytes.
pub const MAX_PRINCIPAL_LEN: usize = 256;

/// The largest integer every JSON client (JavaScript included) reads exactly: 2^53 - 1.
pub const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// Why a principal was refused; safe to show to a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a principal must be 1 to {MAX_PRINCIPAL_LEN} bytes without control characters")]
pub struct InvalidPrincipal;

/// Who acts: the authenticated principal as API Gateway authenticated it (an IAM principal's ARN, or a JWT's
/// `sub`), recorded by a domain as an owner, a depositor, an operator. Never taken from a request body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal(String);

impl Principal {
    pub fn parse(raw: &str) -> Result<Self, InvalidPrincipal> {
        if raw.is_empty() || raw.len() > MAX_PRINCIPAL_LEN || raw.chars().any(char::is_control) {
            return Err(InvalidPrincipal);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A kind of aggregate identity: what its ids are called and where its streams live. Implemented by an
/// uninhabited marker type (`pub enum AccountStream {}`); the ids are then `Id<AccountStream>`.
pub trait IdKind: Copy + Eq + Ord + Hash + fmt::Debug + Send + Sync + 'static {
    /// The aggregate in messages and path parameters (`account`: `{account_id}`, `invalid-account-id`).
    const NOUN: &'static str;
    /// Prefix of these aggregates' streams in the event store (`account-`).
    const STREAM_PREFIX: &'static str;
    /// The namespace of ids derived from names (a fixed UUID of the kind's own; two kinds never share one).
    const NAMESPACE: Uuid;
}

/// Why an id was refused; safe to show to a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{noun} id must be a lowercase hyphenated UUID")]
pub struct InvalidId {
    pub noun: &'static str,
}

/// An aggregate identity: a UUID, accepted only in its canonical lowercase hyphenated form so that one aggregate
/// has exactly one spelling (and one event-store key), with its stream `<prefix><uuid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id<K: IdKind>(Uuid, PhantomData<K>);

impl<K: IdKind> Id<K> {
    /// Prefix of these aggregates' streams in the event store.
    pub const STREAM_PREFIX: &'static str = K::STREAM_PREFIX;

    /// A fresh random id.
    pub fn random() -> Self {
        Self(Uuid::new_v4(), PhantomData)
    }

    /// A deterministic id derived from a name (a retried request that creates an aggregate addresses the same
    /// one).
    pub fn derived_from(name: &str) -> Self {
        Self(Uuid::new_v5(&K::NAMESPACE, name.as_bytes()), PhantomData)
    }

    /// The id of what a request creates: derived from the caller and their idempotency key when there is one (the
    /// retry addresses, and finds, the same aggregate; no other caller's key can reach it), else random.
    pub fn for_request(caller: &str, key: Option<&IdempotencyKey>) -> Self {
        match key {
            Some(key) => Self::derived_from(&format!("{caller}\n{}", key.as_str())),
            None => Self::random(),
        }
    }

    /// The event-store stream of this aggregate.
    pub fn stream_id(&self) -> String {
        format!("{}{self}", K::STREAM_PREFIX)
    }

    /// The id inside a stream id of this kind, if it is one.
    pub fn of_stream(stream_id: &str) -> Option<&str> {
        stream_id.strip_prefix(K::STREAM_PREFIX)
    }

    /// Parse the canonical form.
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let invalid = InvalidId { noun: K::NOUN };
        let id = Uuid::try_parse(raw).map_err(|_| invalid.clone())?;
        if id.hyphenated().to_string() != raw {
            return Err(invalid);
        }
        Ok(Self(id, PhantomData))
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl<K: IdKind> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl<K: IdKind> Serialize for Id<K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de, K: IdKind> Deserialize<'de> for Id<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A whole number from JSON, from 0 to [`MAX_SAFE_INTEGER`]: `2598` and `2598.0` are the same JSON number (as JSON
/// Schema's `integer` says); a fraction, a negative number, a string or anything beyond 2^53 - 1 is refused. The
/// base of a domain's amounts and quantities, which add their own bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WholeNumber(pub u64);

impl<'de> Deserialize<'de> for WholeNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Whole;
        impl serde::de::Visitor<'_> for Whole {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a whole number from 0 to {MAX_SAFE_INTEGER}")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
                if v <= MAX_SAFE_INTEGER {
                    Ok(v)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
                u64::try_from(v)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
                // Integral and exactly representable (every integer up to 2^53 - 1 is); -0.0 is a sign, refused.
                if v.fract() == 0.0 && v.is_sign_positive() && v <= MAX_SAFE_INTEGER as f64 {
                    Ok(v as u64)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
                }
            }
        }
        d.deserialize_any(Whole).map(Self)
    }
}

impl Serialize for WholeNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    enum Thing {}
    impl IdKind for Thing {
        const NOUN: &'static str = "thing";
        const STREAM_PREFIX: &'static str = "thing-";
        const NAMESPACE: Uuid = Uuid::from_u128(0x1234);
    }
    type ThingId = Id<Thing>;

    #[test]
    fn principals_are_bounded_printable_identities() {
        assert!(Principal::parse("alice").is_ok());
        assert!(Principal::parse("arn:aws:iam::123456789012:user/alice").is_ok());
        assert!(Principal::parse("").is_err());
        assert!(Principal::parse("a\nb").is_err());
        assert!(Principal::parse(&"a".repeat(257)).is_err());
        assert!(serde_json::from_str::<Principal>("\"\"").is_err());
    }

    #[test]
    fn ids_have_one_spelling_and_their_own_stream() {
        let id = ThingId::random();
        assert_eq!(ThingId::parse(&id.to_string()), Ok(id));
        assert!(ThingId::parse(&id.to_string().to_uppercase()).is_err());
        assert!(ThingId::parse(&id.to_string().replace('-', "")).is_err());
        assert_eq!(
            ThingId::parse("../events").unwrap_err().to_string(),
            "thing id must be a lowercase hyphenated UUID"
        );
        assert_eq!(id.stream_id(), format!("thing-{id}"));
        assert_eq!(
            ThingId::of_stream(&id.stream_id()),
            Some(id.to_string().as_str())
        );
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<ThingId>(&json).unwrap(), id);
    }

    #[test]
    fn a_requests_id_is_derived_from_its_caller_and_key() {
        let key = IdempotencyKey::parse("k-1").unwrap();
        let other = IdempotencyKey::parse("k-2").unwrap();
        let mine = ThingId::for_request("alice", Some(&key));
        assert_eq!(mine, ThingId::for_request("alice", Some(&key)));
        assert_ne!(mine, ThingId::for_request("bob", Some(&key)));
        assert_ne!(mine, ThingId::for_request("alice", Some(&other)));
        assert_ne!(
            ThingId::for_request("alice", None),
            ThingId::for_request("alice", None)
        );
    }

    #[test]
    fn whole_numbers_accept_integral_json_numbers_only() {
        let read = |raw: &str| serde_json::from_str::<WholeNumber>(raw).map(|n| n.0);
        assert_eq!(read("250").unwrap(), 250);
        assert_eq!(read("2598.0").unwrap(), 2598);
        assert_eq!(read("0").unwrap(), 0);
        assert_eq!(read("9007199254740991").unwrap(), MAX_SAFE_INTEGER);
        for refused in [
            "-5",
            "10.5",
            "\"10\"",
            "1e300",
            "-0.0",
            "9007199254740992",
            "null",
        ] {
            assert!(read(refused).is_err(), "{refused} is not a whole number");
        }
    }
}
