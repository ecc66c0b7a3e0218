//! Validated value types of the bank domain: account ids, principals (owners), currencies, amounts.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use uuid::Uuid;

/// Largest amount one deposit or withdrawal may move, in minor units (10^12: ten billion euros in cents).
pub const MAX_AMOUNT: u64 = 1_000_000_000_000;
/// Largest balance an account may hold, in minor units: 2^53 - 1, the largest integer every JSON client
/// (including JavaScript) reads exactly.
pub const MAX_BALANCE: u64 = 9_007_199_254_740_991;
/// Prefix of account streams in the event store (`account-<uuid>`).
pub const STREAM_PREFIX: &str = "account-";
/// Prefix of transfer streams in the event store (`transfer-<uuid>`).
pub const TRANSFER_STREAM_PREFIX: &str = "transfer-";
/// Longest principal, in bytes.
pub const MAX_PRINCIPAL_LEN: usize = 256;

/// Why a value was refused; the message is safe to show to a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error("amount must be a whole number of minor units from 1 to {MAX_AMOUNT}")]
    Amount,
    #[error("a principal must be 1 to {MAX_PRINCIPAL_LEN} bytes without control characters")]
    Principal,
    #[error("currency must be an ISO 4217 code such as EUR")]
    Currency,
    #[error("account id must be a lowercase hyphenated UUID")]
    AccountId,
    #[error("transfer id must be a lowercase hyphenated UUID")]
    TransferId,
}

/// Who an account belongs to: the authenticated principal that opened it, as API Gateway authenticated it (an
/// IAM principal's ARN, or a JWT's `sub`). Never taken from a request body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal(String);

impl Principal {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.is_empty() || raw.len() > MAX_PRINCIPAL_LEN || raw.chars().any(char::is_control) {
            return Err(InvalidValue::Principal);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Parse an upper-case ISO 4217 alphabetic code.
    pub fn parse(code: &str) -> Result<Self, InvalidValue> {
        iso_currency::Currency::from_code(code)
            .map(Self)
            .ok_or(InvalidValue::Currency)
    }

    pub fn code(&self) -> &'static str {
        self.0.code()
    }
}

/// A positive amount of money in minor units, at most [`MAX_AMOUNT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u64);

impl Amount {
    pub fn new(minor_units: u64) -> Result<Self, InvalidValue> {
        if (1..=MAX_AMOUNT).contains(&minor_units) {
            Ok(Self(minor_units))
        } else {
            Err(InvalidValue::Amount)
        }
    }

    pub fn minor_units(self) -> u64 {
        self.0
    }
}

/// Serde for the string-like values: serialise as the plain string, validate on the way in.
macro_rules! serde_via {
    ($ty:ty, $repr:ty, $to:expr, $from:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                #[allow(clippy::redundant_closure_call)]
                ($to)(self).serialize(s)
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <$repr>::deserialize(d)?;
                #[allow(clippy::redundant_closure_call)]
                ($from)(raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An aggregate identity: a UUID, accepted only in its canonical lowercase hyphenated form so that one aggregate
/// has exactly one spelling (and one event-store key), with its stream `<prefix><uuid>`.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, prefix: $prefix:expr, namespace: $namespace:expr, invalid: $invalid:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// Prefix of these aggregates' streams in the event store.
            pub const STREAM_PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            /// A deterministic id derived from a name (a retried request that creates an aggregate addresses
            /// the same one).
            pub fn derived_from(name: &str) -> Self {
                const NAMESPACE: Uuid = Uuid::from_u128($namespace);
                Self(Uuid::new_v5(&NAMESPACE, name.as_bytes()))
            }

            /// The event-store stream of this aggregate.
            pub fn stream_id(&self) -> String {
                format!("{}{self}", Self::STREAM_PREFIX)
            }

            /// The id inside a stream id of this kind, if it is one.
            pub fn of_stream(stream_id: &str) -> Option<&str> {
                stream_id.strip_prefix(Self::STREAM_PREFIX)
            }

            /// Parse the canonical form.
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                let id = Uuid::try_parse(raw).map_err(|_| InvalidValue::$invalid)?;
                if id.hyphenated().to_string() != raw {
                    return Err(InvalidValue::$invalid);
                }
                Ok(Self(id))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        serde_via!($name, String, |v: &$name| v.to_string(), |r: String| $name::parse(&r));
    };
}

uuid_id!(
    /// Identity of an account.
    AccountId,
    prefix: STREAM_PREFIX,
    // A fixed namespace for Tributary account ids (itself a v5 UUID of "tributary.account").
    namespace: 0x4a8e_1f0c_9b5d_5e3a_8c2f_6d7e_1a3b_9c40,
    invalid: AccountId
);

uuid_id!(
    /// Identity of a transfer between two accounts.
    TransferId,
    prefix: TRANSFER_STREAM_PREFIX,
    namespace: 0x7d1c_52e8_3f6a_5b90_9e44_0c2d_8b17_a6f3,
    invalid: TransferId
);

serde_via!(
    Principal,
    String,
    |v: &Principal| v.0.clone(),
    |r: String| { Principal::parse(&r) }
);
serde_via!(Currency, String, |v: &Currency| v.code(), |r: String| {
    Currency::parse(&r)
});
impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// An amount is a whole number: `2598` and `2598.0` are the same JSON number (as JSON Schema's `integer` says), a
/// fraction or a negative number is refused.
impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Whole;
        impl serde::de::Visitor<'_> for Whole {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number of minor units")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
                Ok(v)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
                u64::try_from(v).map_err(|_| E::custom(InvalidValue::Amount))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
                // Integral and exactly representable (every amount up to MAX_AMOUNT is).
                if v.fract() == 0.0 && (0.0..=MAX_AMOUNT as f64).contains(&v) {
                    Ok(v as u64)
                } else {
                    Err(E::custom(InvalidValue::Amount))
                }
            }
        }
        let raw = d.deserialize_any(Whole)?;
        Amount::new(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_bounded_positive_integers() {
        assert!(Amount::new(0).is_err());
        assert!(Amount::new(1).is_ok());
        assert!(Amount::new(MAX_AMOUNT).is_ok());
        assert!(Amount::new(MAX_AMOUNT + 1).is_err());
        assert!(serde_json::from_str::<Amount>("-5").is_err());
        assert!(serde_json::from_str::<Amount>("10.5").is_err());
        assert!(serde_json::from_str::<Amount>("\"10\"").is_err());
        assert_eq!(
            serde_json::from_str::<Amount>("2598.0")
                .unwrap()
                .minor_units(),
            2598
        );
        assert!(serde_json::from_str::<Amount>("1e300").is_err());
        assert!(serde_json::from_str::<Amount>("-0.0").is_err());
        assert_eq!(
            serde_json::from_str::<Amount>("250").unwrap().minor_units(),
            250
        );
    }

    #[test]
    fn currencies_are_iso_4217_codes() {
        assert_eq!(Currency::parse("EUR").unwrap().code(), "EUR");
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn principals_are_bounded_printable_identities() {
        assert!(Principal::parse("alice").is_ok());
        assert!(Principal::parse("arn:aws:iam::123456789012:user/alice").is_ok());
        assert!(Principal::parse("f2c1e0a4-0000-4000-8000-00000000beef").is_ok());
        assert!(Principal::parse("").is_err());
        assert!(Principal::parse("a\nb").is_err());
        assert!(Principal::parse(&"a".repeat(257)).is_err());
    }

    #[test]
    fn account_ids_have_one_spelling() {
        let id = AccountId::random();
        assert_eq!(AccountId::parse(&id.to_string()), Ok(id));
        assert!(AccountId::parse(&id.to_string().to_uppercase()).is_err());
        assert!(AccountId::parse(&id.to_string().replace('-', "")).is_err());
        assert!(AccountId::parse("../events").is_err());
        assert_eq!(AccountId::derived_from("k"), AccountId::derived_from("k"));
        assert_ne!(AccountId::derived_from("k"), AccountId::derived_from("l"));
    }
}
