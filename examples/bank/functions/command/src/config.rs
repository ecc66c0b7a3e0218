//! Configuration of the command function, read once per container from the environment.

use tributary_aggregate::{KeyRetention, SnapshotPolicy};
use tributary_runtime::config::{env_or, socket_addr};
use tributary_runtime::ConfigError;

/// Default name of the events table (matches the local stack; `template.yaml` sets the deployed name).
pub const DEFAULT_EVENTS_TABLE: &str = "tributary-events";

#[derive(Debug, Clone)]
pub struct CommandConfig {
    /// `EVENTS_TABLE`: the DynamoDB table holding the event streams.
    pub events_table: String,
    /// `COMMAND_ADDR`: where to listen when not in Lambda (default 127.0.0.1:3001).
    pub local_addr: std::net::SocketAddr,
    /// `SNAPSHOT_EVERY` (default 64): every this many events an event's item also carries the aggregate's state, so
    /// a command reads at most this many items. `IDEMPOTENCY_WINDOW` (default 128): the recent commands a snapshot
    /// carries — a retried request is recognised while fewer than this many commands were accepted on the
    /// aggregate since (README, "Bounded loads").
    pub snapshots: SnapshotPolicy,
    /// `IDEMPOTENCY_KEY_HOURS` (default 24, at least 24): how long a caller's `Idempotency-Key` is remembered,
    /// whatever else reaches the aggregate meanwhile (a receipt written with the command's events).
    pub key_retention: KeyRetention,
}

impl CommandConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            events_table: env_or("EVENTS_TABLE", DEFAULT_EVENTS_TABLE),
            local_addr: socket_addr("COMMAND_ADDR", "127.0.0.1:3001")?,
            snapshots: SnapshotPolicy::from_env()?,
            key_retention: KeyRetention::from_env()?,
        })
    }
}
