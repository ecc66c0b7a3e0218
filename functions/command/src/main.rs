//! Command function entry point: configuration, clients (once per container), then serve.

use command_function::{router, CommandConfig, CommandService};
use std::time::Duration;
use tributary_kafka::KafkaConfig;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tributary_runtime::init_tracing();
    let config = CommandConfig::from_env()?;
    // On the request path: wait at most 2 s (by default) for Kafka; the relay covers anything slower.
    let kafka = KafkaConfig::from_env(Duration::from_secs(2))?;
    let aws =
        tributary_runtime::config::aws_config(tributary_runtime::config::SdkPolicy::from_env(
            tributary_runtime::config::SdkPolicy::REQUEST_PATH,
        )?)
        .await;
    // Kafka connects in the background: a cold start never waits on (or fails with) MSK discovery.
    let service = CommandService::connect(
        aws_sdk_dynamodb::Client::new(&aws),
        &config.events_table,
        kafka,
        aws,
    )
    .with_snapshots(config.snapshots);
    tributary_http::serve(router(service), config.local_addr).await
}
