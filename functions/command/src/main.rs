//! Command function entry point: configuration, clients (once per container), then serve.

use command_function::{router, CommandConfig, CommandService, PublishFaults};
use std::time::Duration;
use tributary_kafka::{KafkaConfig, Publisher};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tributary_http::init_tracing();
    let config = CommandConfig::from_env()?;
    // On the request path: wait at most 2 s (by default) for Kafka; the relay covers anything slower.
    let kafka = KafkaConfig::from_env(Duration::from_secs(2))?;
    let aws = tributary_http::config::aws_config().await;
    let publisher = Publisher::connect(&kafka, &aws).await?;
    let service = CommandService::new(aws_sdk_dynamodb::Client::new(&aws), &config.events_table)
        .with_publisher(publisher, PublishFaults::default());
    tributary_http::serve(router(service), config.local_addr).await
}
