//! An event as an auditor reads it (the audit trail over HTTP, the operator CLI's `stream`): the event as recorded
//! — type, schema version, payload in that shape — with who, when and which trace, and nothing internal (no
//! idempotency key, no request fingerprint, no snapshot).

use crate::event::StoredEvent;
use serde::{Deserialize, Serialize};
use tributary_core::TraceParent;

/// One event of a stream, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub version: u64,
    pub event_type: String,
    /// The schema version it was recorded in (`payload` is in that shape).
    pub schema_version: u32,
    pub payload: serde_json::Value,
    pub occurred_at: String,
    /// Who sent the command.
    pub actor: String,
    pub command_id: String,
    pub correlation_id: String,
    /// The W3C trace the command belonged to (its logs carry this id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The event's chain hash (`tributary verify` checks it; absent for events written before chaining).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// Whether the event is a signed checkpoint (its seal verified by `tributary verify`, not here).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sealed: bool,
}

impl From<StoredEvent> for AuditEvent {
    fn from(stored: StoredEvent) -> Self {
        let chain = stored.chain().map(str::to_owned);
        let sealed = stored.seal.is_some();
        let metadata = stored.metadata;
        Self {
            version: stored.version,
            event_type: stored.event_type,
            schema_version: stored.schema_version,
            payload: serde_json::from_str(&stored.payload).unwrap_or(serde_json::Value::Null),
            occurred_at: metadata
                .occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            actor: metadata.actor,
            command_id: metadata.command_id.to_string(),
            correlation_id: metadata.correlation_id,
            trace_id: metadata
                .traceparent
                .as_deref()
                .and_then(TraceParent::parse)
                .map(|t| t.trace_id().to_owned()),
            chain,
            sealed,
        }
    }
}
