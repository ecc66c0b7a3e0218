//! Command function entry point: configuration, clients (once per container), then serve.

use command_function::{router, CommandConfig, CommandService};
use std::time::Duration;
use tributary_kafka::KafkaConfig;

/// How long init waits for Kafka; the rest of a slow connection happens in the background.
const KAFKA_INIT_PATIENCE: Duration = Duration::from_secs(1);

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
    // Kafka connects in the background: a cold start never fails with MSK discovery, and waits for it (and for the
    // brokers: TLS, the IAM token, metadata, the producer id) at most KAFKA_INIT_PATIENCE, so that a healthy cluster
    // is reached during init rather than by the first command's publish.
    let service = CommandService::connect(
        aws_sdk_dynamodb::Client::new(&aws),
        &config.events_table,
        kafka,
        aws,
    )
    .with_snapshots(config.snapshots)
    .with_key_retention(config.key_retention);
    service.publisher_settled(KAFKA_INIT_PATIENCE).await;
    let limit = tributary_http::RateLimit::from_env()?;
    // Operators may release a held transfer's money (the only command they may send).
    let operators = if tributary_runtime::in_lambda() {
        tributary_http::OperatorRule::from_env()
    } else {
        tributary_http::OperatorRule::local_default()
    };
    tributary_http::serve(
        tributary_http::with_operators(
            tributary_http::with_rate_limit(router(service), limit),
            operators,
        ),
        config.local_addr,
    )
    .await
}
