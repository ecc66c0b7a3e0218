//! Transfer process manager entry point: clients (once per container), then the Lambda loop. An error fails the
//! invocation: the MSK event source mapping retries the batch (without a cap); reacting is idempotent.

use aws_lambda_events::event::kafka::KafkaEvent;
use bank_service::transfers::{TransferProcess, CONSUMER_GROUP};
use lambda_runtime::{service_fn, LambdaEvent};
use std::time::Duration;
use tributary_aggregate::SnapshotPolicy;
use tributary_consumer::reactor::Reactor;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_kafka::{KafkaConfig, LazyPublisher};
use tributary_runtime::config::env_or;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_runtime::init_tracing();
    let aws =
        tributary_runtime::config::aws_config(tributary_runtime::config::SdkPolicy::from_env(
            tributary_runtime::config::SdkPolicy::BACKGROUND,
        )?)
        .await;
    let events = DynamoDbEventStore::shared(
        aws_sdk_dynamodb::Client::new(&aws),
        env_or("EVENTS_TABLE", "tributary-events"),
    );
    let kafka = KafkaConfig::from_env(Duration::from_secs(10))?;
    // The same snapshot settings as the command function: the snapshots this function writes carry the window of
    // recent commands the command function's loads know.
    let snapshots = SnapshotPolicy::from_env()?;
    let reactor = Reactor {
        manager: TransferProcess::over(events, snapshots),
        // Named on dead letters; the template sets it to the mapping's ConsumerGroupId.
        consumer_group: env_or("KAFKA_CONSUMER_GROUP", CONSUMER_GROUP),
        dead_letters: LazyPublisher::connect_in_background(kafka, aws),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<KafkaEvent>| {
        let reactor = reactor.clone();
        async move {
            let report = reactor.handle(&event.payload).await?;
            tracing::info!(?report, "batch reacted to");
            Ok::<(), lambda_runtime::Error>(())
        }
    }))
    .await
}
