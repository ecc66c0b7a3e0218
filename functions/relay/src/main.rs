//! Relay function entry point: configuration and the Kafka producer (once per container, connected in the
//! background so a slow MSK control plane delays batches rather than failing the container), then the Lambda loop.

use lambda_runtime::{service_fn, LambdaEvent};
use std::time::Duration;
use tributary_kafka::{KafkaConfig, LazyPublisher};

/// How long init waits for Kafka.
const KAFKA_INIT_PATIENCE: Duration = Duration::from_secs(1);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_runtime::init_tracing();
    // Off the request path, the relay can wait longer for acknowledgements than the command function.
    let kafka = KafkaConfig::from_env(Duration::from_secs(30))?;
    let aws =
        tributary_runtime::config::aws_config(tributary_runtime::config::SdkPolicy::from_env(
            tributary_runtime::config::SdkPolicy::BACKGROUND,
        )?)
        .await;
    let publisher = LazyPublisher::connect_in_background(kafka, aws);
    // Reach the brokers during init (TLS, the IAM token, metadata, the producer id) rather than in the first batch;
    // a slower connection goes on in the background (a batch waits for it, see relay_when_connected).
    publisher.settled(KAFKA_INIT_PATIENCE).await;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<aws_lambda_events::event::dynamodb::Event>| {
            let publisher = publisher.clone();
            async move {
                Ok::<_, lambda_runtime::Error>(
                    relay_function::relay_when_connected(&publisher, event.payload).await,
                )
            }
        },
    ))
    .await
}
