//! Receipts: a command's idempotency key remembered for ever, for callers that may repeat a command long after it
//! was applied (a process manager that crashed between sending an order and recording its answer, then is retried
//! after many other commands reached the aggregate — beyond the snapshot's window of recent commands).
//!
//! A receipt is an item of the events table in a partition of its own (`receipt#<id>`, version 0), written in the
//! same transaction as the command's events, on condition that none exists: a command with a receipt is applied at
//! most once, ever. It names the stream and the version the command reached and the request's fingerprint, so a
//! repeat is answered as a replay (and a different request under the same key is told so). Receipts are not events:
//! version 0 is never a stream position, rebuilds enumerate streams by their version-1 items, and the relay
//! publishes nothing for them ([`Receipt::is_receipt`]).

use crate::errors::EventStoreError;
use crate::item::{STREAM_ID, VERSION};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

const PREFIX: &str = "receipt#";
const TARGET_STREAM: &str = "receipt_stream_id";
const TARGET_VERSION: &str = "receipt_version";
const FINGERPRINT: &str = "receipt_fingerprint";

/// What a command with a durable idempotency key left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Who sent it and with which key, as one id (a hash: any key fits the item).
    pub id: String,
    /// The stream the command was applied to, and the version its last event reached.
    pub stream_id: String,
    pub version: u64,
    /// The request's fingerprint: the same key with another request is not a repeat.
    pub fingerprint: String,
}

impl Receipt {
    /// The partition key of the receipt `id`.
    pub(crate) fn stream_of(id: &str) -> String {
        format!("{PREFIX}{id}")
    }

    /// Whether an item of the events table (as a stream record's image, say) is a receipt, not an event.
    pub fn is_receipt(item: &HashMap<String, AttributeValue>) -> bool {
        item.get(STREAM_ID)
            .and_then(|v| v.as_s().ok())
            .is_some_and(|s| s.starts_with(PREFIX))
    }

    pub(crate) fn to_item(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
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
        ])
    }

    pub(crate) fn from_item(
        item: &HashMap<String, AttributeValue>,
    ) -> Result<Self, EventStoreError> {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
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
            version: item
                .get(TARGET_VERSION)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| corrupt("receipt without a version"))?,
            fingerprint: text(FINGERPRINT)
                .ok_or_else(|| corrupt("receipt without a fingerprint"))?,
        })
    }
}
