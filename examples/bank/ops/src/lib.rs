//! The bank as the operator CLI sees it: its read models, its process manager (the transfer process) and its
//! aggregates' stream prefixes. The CLI itself is `tributary-ops`, the same for any domain.

use bank_service::transfers::{TransferProcess, CONSUMER_GROUP_SUFFIX};
use std::sync::Arc;
use tributary_aggregate::SnapshotPolicy;
use tributary_projections::ReadModels;
use tributary_store::EventStore;

/// The bank, for `tributary_ops::run`.
pub struct Bank;

impl tributary_ops::Domain for Bank {
    type Process = TransferProcess;

    fn read_models(&self) -> ReadModels {
        bank_service::read_models()
    }

    fn process_name(&self) -> &'static str {
        CONSUMER_GROUP_SUFFIX
    }

    /// Writing snapshots as the deployment does (whatever this shell's settings are, the snapshots keep the window
    /// the deployment's carry).
    fn process(&self, events: Arc<dyn EventStore>) -> anyhow::Result<TransferProcess> {
        Ok(TransferProcess::over(events, SnapshotPolicy::from_env()?))
    }

    fn stream_prefixes(&self) -> &'static [&'static str] {
        &[
            bank_account::values::STREAM_PREFIX,
            bank_account::values::TRANSFER_STREAM_PREFIX,
        ]
    }
}
