//! Personal data in events: a field a domain marks as one person's (the data subject's), so that the kit stores it
//! encrypted under that subject's key and can forget it by destroying the key (crypto-shredding).
//!
//! A [`Personal`] value is in one of three forms, and its JSON says which (the marker `$personal` is how every layer
//! of the kit finds personal fields in a payload without knowing the domain's types):
//!
//! | form | JSON | where it is seen |
//! | --- | --- | --- |
//! | plain | `{"$personal": {"subject": "alice", "value": "Ada"}}` | a decision's new events, before they are stored |
//! | sealed | `{"$personal": {"subject": "alice", "sealed": "<base64>"}}` | the store, Kafka, snapshots, projections |
//! | erased | `{"$personal": {"subject": "alice", "erased": true}}` | anywhere, once the subject's key is destroyed |
//!
//! The store seals every plain value before it hashes and writes an event; only the edges that show data to people
//! open sealed values (`tributary_store::personal`). A decider sees sealed values: it may copy one into a new event
//! (the ciphertext travels, still the subject's) and compare subjects, never read one — so snapshots of its state
//! hold ciphertext too. Authorization must never depend on a personal value: it can be erased. Hold owners as
//! pseudonymous subject ids ([`crate::Principal`]), which are not erased.

use serde::{Deserialize, Serialize};

/// The JSON key that marks a personal value.
pub const PERSONAL_MARKER: &str = "$personal";

/// The longest personal value the kit accepts (characters).
pub const MAX_PERSONAL_LEN: usize = 1024;

/// One subject's personal value: plain (just decided), sealed (encrypted under the subject's key) or erased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Wire", into = "Wire")]
pub struct Personal {
    subject: String,
    form: Form,
}

/// What a [`Personal`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Form {
    Plain(String),
    /// The ciphertext, as the vault wrote it (opaque to the domain).
    Sealed(String),
    Erased,
}

impl Personal {
    /// `value`, belonging to `subject` (a pseudonymous id: the principal the data is about).
    pub fn new(subject: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            form: Form::Plain(value.into()),
        }
    }

    /// A value sealed by a vault.
    pub fn sealed(subject: impl Into<String>, ciphertext: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            form: Form::Sealed(ciphertext.into()),
        }
    }

    /// A value whose subject was forgotten.
    pub fn erased(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            form: Form::Erased,
        }
    }

    /// Whose data this is.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The form it is in.
    pub fn form(&self) -> &Form {
        &self.form
    }

    /// The value, when it is plain (decided, or opened by an edge).
    pub fn value(&self) -> Option<&str> {
        match &self.form {
            Form::Plain(value) => Some(value),
            _ => None,
        }
    }

    /// Whether the subject's key was destroyed.
    pub fn is_erased(&self) -> bool {
        self.form == Form::Erased
    }
}

/// The JSON form: `{"$personal": {...}}`.
#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(rename = "$personal")]
    personal: WireBody,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBody {
    subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    erased: bool,
}

impl TryFrom<Wire> for Personal {
    type Error = String;

    fn try_from(wire: Wire) -> Result<Self, String> {
        let WireBody {
            subject,
            value,
            sealed,
            erased,
        } = wire.personal;
        if subject.is_empty() {
            return Err("a personal value names its subject".into());
        }
        let form = match (value, sealed, erased) {
            (Some(value), None, false) => Form::Plain(value),
            (None, Some(sealed), false) => Form::Sealed(sealed),
            (None, None, true) => Form::Erased,
            _ => {
                return Err(
                    "a personal value holds exactly one of `value`, `sealed` or `erased`".into(),
                )
            }
        };
        Ok(Self { subject, form })
    }
}

impl From<Personal> for Wire {
    fn from(personal: Personal) -> Self {
        let (value, sealed, erased) = match personal.form {
            Form::Plain(value) => (Some(value), None, false),
            Form::Sealed(sealed) => (None, Some(sealed), false),
            Form::Erased => (None, None, true),
        };
        Self {
            personal: WireBody {
                subject: personal.subject,
                value,
                sealed,
                erased,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_form_round_trips_through_its_json() {
        for (personal, wire) in [
            (
                Personal::new("alice", "Ada"),
                json!({"$personal": {"subject": "alice", "value": "Ada"}}),
            ),
            (
                Personal::sealed("alice", "b64"),
                json!({"$personal": {"subject": "alice", "sealed": "b64"}}),
            ),
            (
                Personal::erased("alice"),
                json!({"$personal": {"subject": "alice", "erased": true}}),
            ),
        ] {
            assert_eq!(serde_json::to_value(&personal).unwrap(), wire);
            assert_eq!(serde_json::from_value::<Personal>(wire).unwrap(), personal);
        }
    }

    #[test]
    fn a_value_with_no_form_or_two_is_refused() {
        for wire in [
            json!({"$personal": {"subject": "alice"}}),
            json!({"$personal": {"subject": "alice", "value": "Ada", "sealed": "x"}}),
            json!({"$personal": {"subject": "", "value": "Ada"}}),
            json!({"$personal": {"subject": "alice", "value": "Ada", "extra": 1}}),
            json!("Ada"),
        ] {
            assert!(serde_json::from_value::<Personal>(wire).is_err());
        }
    }
}
