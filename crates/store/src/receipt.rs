//! Receipts: a command's idempotency key remembered for a stated period (a caller's key: 24 hours by default) or for
//! ever (a process manager's order), however many other commands reach the aggregate meanwhile.
//!
//! A store writes a command's receipt in the same atomic write as its events, on condition that no live one holds
//! its id: a command with a receipt is applied at most once while its receipt lives. It names the stream and the
//! version the command reached and the request's fingerprint, so a repeat is answered as a replay (and a different
//! request under the same key is told so). A receipt may instead remember a rejection ([`Receipt::rejection`]:
//! written alone, no event), so that the same order always gets the same answer even when the aggregate's state
//! changes in between. Receipts are not events: they are never a stream's position, never listed as a stream and
//! never published.

use chrono::{DateTime, Utc};

/// What a command with an idempotency key left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Who sent it and with which key, as one id (a hash: any key fits).
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
    /// Whether the receipt still holds at `now` (an expired one is read as absent, whether or not its store has
    /// deleted it yet).
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|expiry| now < expiry)
    }

    /// Whether this receipt may be written over `existing` (the one its store holds under the same id): only once
    /// that one expired, at or before this one's time.
    pub fn may_replace(&self, existing: &Receipt) -> bool {
        existing
            .expires_at
            .is_some_and(|expiry| expiry.timestamp() <= self.written_at.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(expires_in: Option<i64>) -> Receipt {
        let written_at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Receipt {
            id: "abc".into(),
            stream_id: "account-1".into(),
            version: 7,
            fingerprint: "f".into(),
            written_at,
            expires_at: expires_in.map(|s| written_at + chrono::TimeDelta::seconds(s)),
            rejection: None,
        }
    }

    #[test]
    fn a_receipt_lives_until_it_expires() {
        let r = receipt(Some(60));
        assert!(r.is_live(r.written_at));
        assert!(r.is_live(r.written_at + chrono::TimeDelta::seconds(59)));
        assert!(!r.is_live(r.written_at + chrono::TimeDelta::seconds(60)));
        assert!(receipt(None).is_live(DateTime::<Utc>::MAX_UTC));
    }

    #[test]
    fn only_an_expired_receipt_may_be_replaced() {
        let old = receipt(Some(60));
        let mut new = receipt(Some(60));
        assert!(!new.may_replace(&old));
        new.written_at = old.written_at + chrono::TimeDelta::seconds(60);
        assert!(new.may_replace(&old));
        assert!(!new.may_replace(&receipt(None)));
    }
}
