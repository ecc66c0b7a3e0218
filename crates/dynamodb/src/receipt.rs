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

use crate::item::STREAM_ID;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use tributary_store::{EventStoreError, Receipt};

const PREFIX: &str = "receipt#";
/// The events table's TTL attribute (epoch seconds): only receipts carry it.
pub const EXPIRES_AT: &str = "expires_at";

/// A receipt as an item of the events table (attribute names are the field names, encoded by `serde_dynamo`).
/// Borrowed when written, owned when read.
#[derive(Serialize, Deserialize)]
struct ReceiptItem<'a> {
    /// `receipt#<id>`.
    stream_id: Cow<'a, str>,
    /// Always 0: not a stream position.
    version: u64,
    receipt_stream_id: Cow<'a, str>,
    receipt_version: u64,
    receipt_fingerprint: Cow<'a, str>,
    /// RFC 3339. Receipts written before it existed were remembered for ever (read as the epoch).
    #[serde(default)]
    receipt_written_at: Option<String>,
    /// Epoch seconds ([`EXPIRES_AT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receipt_rejection: Option<Cow<'a, str>>,
}

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
    serde_dynamo::to_item(ReceiptItem {
        stream_id: Cow::Owned(partition_of(&receipt.id)),
        version: 0,
        receipt_stream_id: Cow::Borrowed(&receipt.stream_id),
        receipt_version: receipt.version,
        receipt_fingerprint: Cow::Borrowed(&receipt.fingerprint),
        receipt_written_at: Some(receipt.written_at.to_rfc3339()),
        expires_at: receipt.expires_at.map(|expiry| expiry.timestamp()),
        receipt_rejection: receipt.rejection.as_deref().map(Cow::Borrowed),
    })
    .expect("a receipt's item is strings and numbers")
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
    let corrupt = |reason: String| EventStoreError::Corrupt {
        stream_id: item
            .get(STREAM_ID)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default(),
        version: "0".into(),
        reason,
    };
    let read: ReceiptItem = serde_dynamo::from_item(item.clone())
        .map_err(|e| corrupt(format!("not a receipt: {e}")))?;
    Ok(Receipt {
        id: read
            .stream_id
            .strip_prefix(PREFIX)
            .ok_or_else(|| corrupt("not a receipt".to_owned()))?
            .to_owned(),
        stream_id: read.receipt_stream_id.into_owned(),
        version: read.receipt_version,
        fingerprint: read.receipt_fingerprint.into_owned(),
        written_at: read
            .receipt_written_at
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map_or(DateTime::UNIX_EPOCH, |t| t.with_timezone(&Utc)),
        expires_at: match read.expires_at {
            None => None,
            Some(seconds) => Some(
                DateTime::from_timestamp(seconds, 0)
                    .ok_or_else(|| corrupt("receipt with an impossible expiry".to_owned()))?,
            ),
        },
        rejection: read.receipt_rejection.map(Cow::into_owned),
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

    /// The table's format, as the hand-written mapping before `serde_dynamo` wrote it.
    #[test]
    fn a_receipts_item_is_the_tables_format() {
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let n = |v: &str| AttributeValue::N(v.to_owned());
        assert_eq!(
            receipt_item(&receipt(Some(60), Some("insufficient-funds"))),
            HashMap::from([
                ("stream_id".to_owned(), s("receipt#abc")),
                ("version".to_owned(), n("0")),
                ("receipt_stream_id".to_owned(), s("account-1")),
                ("receipt_version".to_owned(), n("7")),
                ("receipt_fingerprint".to_owned(), s("f")),
                (
                    "receipt_written_at".to_owned(),
                    s("2027-01-15T08:00:00+00:00")
                ),
                ("expires_at".to_owned(), n("1800000060")),
                ("receipt_rejection".to_owned(), s("insufficient-funds")),
            ])
        );
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
