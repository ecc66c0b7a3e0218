//! Transfer process manager entry point: the bank's transfer process on the kit's process-manager shell.

use bank_service::transfers::{TransferProcess, CONSUMER_GROUP};
use tributary_aggregate::SnapshotPolicy;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_consumer::lambda::serve_process_manager(CONSUMER_GROUP, |events| {
        // The same snapshot settings as the command function: the snapshots this function writes carry the window
        // of recent commands the command function's loads know.
        Ok(TransferProcess::over(events, SnapshotPolicy::from_env()?))
    })
    .await
}
