//! Receipts ([`Receipt`]) as items of the events table.
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
//! for them ([`is_receipt`]).

use crate::item::{STREAM_ID, VERSION};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use tributary_store::{EventStoreError, Receipt};

const PREFIX: &str = "receipt#";
const TARGET_STREAM: &str = "receipt_stream_id";
const TARGET_VERSION: &str = "receipt_version";
const FINGERPRINT: &str = "receipt_fingerprint";
const WRITTEN_AT: &str = "receipt_written_at";
const REJECTION: &str = "receipt_rejection";
/// The events table's TTL attribute (epoch seconds): only receipts carry it.
pub const EXPIRES_AT: &str = "expires_at";

/// The partition key of the receipt `id`.
pub(crate) fn partition_of(id: &str) -> String {
    format!("{PREFIX}{id}")
}

/// Whether an item of the events table (as a stream record's image, say) is a receipt, not an event.
pub fn is_receipt(item: &HashMap<String, AttributeValue>) -> bool {
    item.get(STREAM_ID)
        .and_then(|v| v.as_s().ok())
        .is_some_and(|s| s.starts_with(PREFIX))
}

/// The item of `receipt`.
pub(crate) fn receipt_item(receipt: &Receipt) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (
            STREAM_ID.to_owned(),
            AttributeValue::S(partition_of(&receipt.id)),
        ),
        (VERSION.to_owned(), AttributeValue::N("0".into())),
        (
            TARGET_STREAM.to_owned(),
            AttributeValue::S(receipt.stream_id.clone()),
        ),
        (
            TARGET_VERSION.to_owned(),
            AttributeValue::N(receipt.version.to_string()),
        ),
        (
            FINGERPRINT.to_owned(),
            AttributeValue::S(receipt.fingerprint.clone()),
        ),
        (
            WRITTEN_AT.to_owned(),
            AttributeValue::S(receipt.written_at.to_rfc3339()),
        ),
    ]);
    if let Some(expiry) = receipt.expires_at {
        item.insert(
            EXPIRES_AT.to_owned(),
            AttributeValue::N(expiry.timestamp().to_string()),
        );
    }
    if let Some(code) = &receipt.rejection {
        item.insert(REJECTION.to_owned(), AttributeValue::S(code.clone()));
    }
    item
}

/// The condition a receipt is written on ([`Receipt::may_replace`]): no receipt under its id, or only one that
/// expired before this one was written (the TTL deletes expired items late; until then they may be replaced).
pub(crate) fn receipt_condition(receipt: &Receipt) -> (String, HashMap<String, AttributeValue>) {
    (
        "attribute_not_exists(#version) OR #expires <= :written".to_owned(),
        HashMap::from([(
            ":written".to_owned(),
            AttributeValue::N(receipt.written_at.timestamp().to_string()),
        )]),
    )
}

/// Read a receipt's item back.
pub(crate) fn receipt_from_item(
    item: &HashMap<String, AttributeValue>,
) -> Result<Receipt, EventStoreError> {
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
    Ok(Receipt {
        id: stream
            .strip_prefix(PREFIX)
            .ok_or_else(|| corrupt("not a receipt"))?
            .to_owned(),
        stream_id: text(TARGET_STREAM).ok_or_else(|| corrupt("receipt without a stream"))?,
        version: number(TARGET_VERSION)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| corrupt("receipt without a version"))?,
        fingerprint: text(FINGERPRINT).ok_or_else(|| corrupt("receipt without a fingerprint"))?,
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
            let item = receipt_item(&r);
            assert!(is_receipt(&item));
            assert_eq!(receipt_from_item(&item).unwrap(), r);
        }
    }
}
