//! Denormaliser function entry point: which of the bank's read models, clients (once per container), then the Lambda loop. An
//! error fails the invocation: the MSK event source mapping retries the batch (without a cap).

use aws_lambda_events::event::kafka::KafkaEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use std::time::Duration;
use tributary_consumer::{default_consumer_group, Denormaliser};
use tributary_dynamodb::DynamoDbEventStore;
use tributary_kafka::{KafkaConfig, LazyPublisher};
use tributary_projections::ProjectionStore;
use tributary_runtime::config::env_or;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_runtime::init_tracing();
    let name = env_or("PROJECTION", "");
    let projection = tributary_consumer::cli::read_model(&bank_service::read_models(), &name)
        .map_err(|e| format!("configuration: PROJECTION {name:?}: {e}"))?;
    let aws =
        tributary_runtime::config::aws_config(tributary_runtime::config::SdkPolicy::from_env(
            tributary_runtime::config::SdkPolicy::BACKGROUND,
        )?)
        .await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let kafka = KafkaConfig::from_env(Duration::from_secs(10))?;
    // Named on dead letters; the template sets it to the mapping's ConsumerGroupId.
    let consumer_group = env_or(
        "KAFKA_CONSUMER_GROUP",
        &default_consumer_group(projection.name()),
    );
    let denormaliser = Denormaliser {
        projection,
        consumer_group,
        projections: ProjectionStore::new(
            dynamodb.clone(),
            env_or("PROJECTIONS_TABLE", "tributary-projections"),
        ),
        events: DynamoDbEventStore::shared(dynamodb, env_or("EVENTS_TABLE", "tributary-events")),
        // Dead letters only: the projection is applied whether or not MSK discovery has answered yet.
        dead_letters: LazyPublisher::connect_in_background(kafka, aws),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<KafkaEvent>| {
        let denormaliser = denormaliser.clone();
        async move {
            let report = denormaliser.handle(&event.payload).await?;
            tracing::info!(?report, "batch applied");
            Ok::<(), lambda_runtime::Error>(())
        }
    }))
    .await
}
