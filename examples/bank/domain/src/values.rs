//! Validated value types of the bank domain: account and transfer ids (the kit's [`Id`]), currencies, amounts.
//! Principals (owners) are the kit's [`Principal`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tributary_core::{Id, IdKind, WholeNumber};
use uuid::Uuid;

pub use tributary_core::{Principal, MAX_PRINCIPAL_LEN};

/// Largest amount one deposit or withdrawal may move, in minor units (10^12: ten billion euros in cents).
pub const MAX_AMOUNT: u64 = 1_000_000_000_000;
/// Largest balance an account may hold, in minor units: 2^53 - 1, the largest integer every JSON client
/// (including JavaScript) reads exactly.
pub const MAX_BALANCE: u64 = tributary_core::MAX_SAFE_INTEGER;
/// Prefix of account streams in the event store (`account-<uuid>`).
pub const STREAM_PREFIX: &str = "account-";
/// Prefix of transfer streams in the event store (`transfer-<uuid>`).
pub const TRANSFER_STREAM_PREFIX: &str = "transfer-";

/// Why a value was refused; the message is safe to show to a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    #[error("amount must be a whole number of minor units from 1 to {MAX_AMOUNT}")]
    Amount,
    #[error("currency must be an ISO 4217 code such as EUR")]
    Currency,
    #[error(
        "holder must be a name of 1 to {MAX_HOLDER_LEN} characters, without control characters"
    )]
    Holder,
}

/// The longest holder name accepted (characters).
pub const MAX_HOLDER_LEN: usize = 100;

/// An account holder's name as given: personal data, stored only sealed
/// ([`tributary_core::Personal`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HolderName(String);

impl HolderName {
    pub fn parse(name: &str) -> Result<Self, InvalidValue> {
        let length = name.chars().count();
        if !(1..=MAX_HOLDER_LEN).contains(&length) || name.chars().any(char::is_control) {
            return Err(InvalidValue::Holder);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for HolderName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for HolderName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).map_err(serde::de::Error::custom)
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

/// The kind of account ids: `account-<uuid>` streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountStream {}

impl IdKind for AccountStream {
    const NOUN: &'static str = "account";
    const STREAM_PREFIX: &'static str = STREAM_PREFIX;
    // A fixed namespace for Tributary account ids (itself a v5 UUID of "tributary.account").
    const NAMESPACE: Uuid = Uuid::from_u128(0x4a8e_1f0c_9b5d_5e3a_8c2f_6d7e_1a3b_9c40);
}

/// Identity of an account.
pub type AccountId = Id<AccountStream>;

/// The kind of transfer ids: `transfer-<uuid>` streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransferStream {}

impl IdKind for TransferStream {
    const NOUN: &'static str = "transfer";
    const STREAM_PREFIX: &'static str = TRANSFER_STREAM_PREFIX;
    const NAMESPACE: Uuid = Uuid::from_u128(0x7d1c_52e8_3f6a_5b90_9e44_0c2d_8b17_a6f3);
}

/// Identity of a transfer between two accounts.
pub type TransferId = Id<TransferStream>;

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.code().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Currency::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// An amount is a whole number ([`WholeNumber`]: `2598` and `2598.0` alike) from 1 to [`MAX_AMOUNT`].
impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let WholeNumber(raw) = WholeNumber::deserialize(d)
            .map_err(|_: D::Error| serde::de::Error::custom(InvalidValue::Amount))?;
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
