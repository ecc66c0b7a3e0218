//! The application as the operator CLI sees it: every domain's read models, the process manager (the bank's
//! transfer process) and every aggregate's stream prefix. The CLI itself is `tributary-ops`, the same for any
//! application.

use bank_service::transfers::{TransferProcess, CONSUMER_GROUP_SUFFIX};
use std::sync::Arc;
use tributary_aggregate::SnapshotPolicy;
use tributary_projections::ReadModels;
use tributary_store::EventStore;

/// The application, for `tributary_ops::run`.
pub struct Operated;

impl tributary_ops::Domain for Operated {
    type Process = TransferProcess;

    fn read_models(&self) -> ReadModels {
        crate::read_models()
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
            tasks_domain::STREAM_PREFIX,
            tributary_scheduler::schedule::STREAM_PREFIX,
        ]
    }
}
