//! Receipts: a command's idempotency key remembered for a stated period (a caller's key: 24 hours by default) or for
//! ever (a process manager's order), however many other commands reach the aggregate meanwhile.
//!
//! A receipt is an item of the events table in a partition of its own (`receipt#<id>`, version 0), written in the
//! same transaction as the command's events, on condition that no live one exists: a command with a receipt is
//! applied at most once while its receipt lives. It names the stream and the version the command reached and the
//! request's fingerprint, so a repeat is answered as a replay (and a different request under the same key is told
//! so). A receipt may instead remember a rejection ([`Receipt::rejection`]: written alone, no event), so that the
//! same order always gets the same answer even when the aggregate's state changes in between.
//!
//! A receipt with an expiry is forgotten once it has passed: the table's TTL (attribute [`EXPIRES_AT`]) deletes it
//! some time later, and until then it is read as absent and may be overwritten. Receipts are not events: version 0
//! is never a stream position, rebuilds enumerate streams by their version-1 items, and the relay publishes nothing
//! for them ([`Receipt::is_receipt`]).

use crate::errors::EventStoreError;
use crate::item::{STREAM_ID, VERSION};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

const PREFIX: &str = "receipt#";
const TARGET_STREAM: &str = "receipt_stream_id";
const TARGET_VERSION: &str = "receipt_version";
const FINGERPRINT: &str = "receipt_fingerprint";
const WRITTEN_AT: &str = "receipt_written_at";
const REJECTION: &str = "receipt_rejection";
/// The events table's TTL attribute (epoch seconds): only receipts carry it.
pub const EXPIRES_AT: &str = "expires_at";

/// What a command with an idempotency key left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Who sent it and with which key, as one id (a hash: any key fits the item).
    pub id: String,
    /// The stream the command was sent to, and the version its last event reached (for a rejection: the version
    /// it was decided at).
    pub stream_id: String,
    pub version: u64,
    /// The request's fingerprint: the same key with another request is not a repeat.
    pub fingerprint: String,
    /// When the command was handled (its context's time).
    pub written_at: DateTime<Utc>,
    /// When the key may be forgotten (`None`: never).
    pub expires_at: Option<DateTime<Utc>>,
    /// The code of the rejection this receipt remembers (`None`: the command was applied).
    pub rejection: Option<String>,
}

impl Receipt {
    /// The partition key of the receipt `id`.
    pub(crate) fn stream_of(id: &str) -> String {
        format!("{PREFIX}{id}")
    }

    /// Whether the receipt still holds at `now` (an expired one is read as absent, whether or not the TTL has
    /// deleted it yet).
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|expiry| now < expiry)
    }

    /// Whether an item of the events table (as a stream record's image, say) is a receipt, not an event.
    pub fn is_receipt(item: &HashMap<String, AttributeValue>) -> bool {
        item.get(STREAM_ID)
            .and_then(|v| v.as_s().ok())
            .is_some_and(|s| s.starts_with(PREFIX))
    }

    pub(crate) fn to_item(&self) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::from([
            (
                STREAM_ID.to_owned(),
                AttributeValue::S(Self::stream_of(&self.id)),
            ),
            (VERSION.to_owned(), AttributeValue::N("0".into())),
            (
                TARGET_STREAM.to_owned(),
                AttributeValue::S(self.stream_id.clone()),
            ),
            (
                TARGET_VERSION.to_owned(),
                AttributeValue::N(self.version.to_string()),
            ),
            (
                FINGERPRINT.to_owned(),
                AttributeValue::S(self.fingerprint.clone()),
            ),
            (
                WRITTEN_AT.to_owned(),
                AttributeValue::S(self.written_at.to_rfc3339()),
            ),
        ]);
        if let Some(expiry) = self.expires_at {
            item.insert(
                EXPIRES_AT.to_owned(),
                AttributeValue::N(expiry.timestamp().to_string()),
            );
        }
        if let Some(code) = &self.rejection {
            item.insert(REJECTION.to_owned(), AttributeValue::S(code.clone()));
        }
        item
    }

    /// The condition a receipt is written on: no receipt under its id, or only one that expired before this one
    /// was written (the TTL deletes expired items late; until then they may be replaced).
    pub(crate) fn condition(&self) -> (String, HashMap<String, AttributeValue>) {
        (
            "attribute_not_exists(#version) OR #expires <= :written".to_owned(),
            HashMap::from([(
                ":written".to_owned(),
                AttributeValue::N(self.written_at.timestamp().to_string()),
            )]),
        )
    }

    pub(crate) fn from_item(
        item: &HashMap<String, AttributeValue>,
    ) -> Result<Self, EventStoreError> {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
        };
        let stream = text(STREAM_ID).unwrap_or_default();
        let corrupt = |reason: &str| EventStoreError::Corrupt {
            stream_id: stream.clone(),
            version: "0".into(),
            reason: reason.to_owned(),
        };
        Ok(Self {
            id: stream
                .strip_prefix(PREFIX)
                .ok_or_else(|| corrupt("not a receipt"))?
                .to_owned(),
            stream_id: text(TARGET_STREAM).ok_or_else(|| corrupt("receipt without a stream"))?,
            version: number(TARGET_VERSION)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| corrupt("receipt without a version"))?,
            fingerprint: text(FINGERPRINT)
                .ok_or_else(|| corrupt("receipt without a fingerprint"))?,
            // Receipts written before these fields existed were remembered for ever.
            written_at: text(WRITTEN_AT)
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map_or(DateTime::UNIX_EPOCH, |t| t.with_timezone(&Utc)),
            expires_at: match number(EXPIRES_AT) {
                None => None,
                Some(seconds) => Some(
                    DateTime::from_timestamp(seconds, 0)
                        .ok_or_else(|| corrupt("receipt with an impossible expiry"))?,
                ),
            },
            rejection: text(REJECTION),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(expires_in: Option<i64>, rejection: Option<&str>) -> Receipt {
        let written_at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Receipt {
            id: "abc".into(),
            stream_id: "account-1".into(),
            version: 7,
            fingerprint: "f".into(),
            written_at,
            expires_at: expires_in.map(|s| written_at + chrono::TimeDelta::seconds(s)),
            rejection: rejection.map(str::to_owned),
        }
    }

    #[test]
    fn a_receipt_reads_back_as_written() {
        for r in [
            receipt(None, None),
            receipt(Some(86_400), None),
            receipt(None, Some("insufficient-funds")),
        ] {
            assert_eq!(Receipt::from_item(&r.to_item()).unwrap(), r);
        }
    }

    #[test]
    fn a_receipt_lives_until_it_expires() {
        let r = receipt(Some(60), None);
        assert!(r.is_live(r.written_at));
        assert!(r.is_live(r.written_at + chrono::TimeDelta::seconds(59)));
        assert!(!r.is_live(r.written_at + chrono::TimeDelta::seconds(60)));
        assert!(receipt(None, None).is_live(DateTime::<Utc>::MAX_UTC));
    }
}
