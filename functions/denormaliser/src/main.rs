//! Denormaliser function entry point: which projection, clients (once per container), then the Lambda loop.

use aws_lambda_events::event::kafka::KafkaEvent;
use denormaliser_function::Denormaliser;
use lambda_runtime::{service_fn, LambdaEvent};
use std::time::Duration;
use tributary_dynamodb::EventStore;
use tributary_http::config::env_or;
use tributary_kafka::{KafkaConfig, Publisher};
use tributary_projections::{Projection, ProjectionStore};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_http::init_tracing();
    let name = env_or("PROJECTION", "");
    let projection = Projection::parse(&name).ok_or_else(|| {
        let names: Vec<_> = Projection::ALL.iter().map(|p| p.name()).collect();
        format!("configuration: PROJECTION must be one of {names:?}, got {name:?}")
    })?;
    let aws = tributary_http::config::aws_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let kafka = KafkaConfig::from_env(Duration::from_secs(10))?;
    let denormaliser = Denormaliser {
        projection,
        projections: ProjectionStore::new(
            dynamodb.clone(),
            env_or("PROJECTIONS_TABLE", "tributary-projections"),
        ),
        events: EventStore::new(dynamodb, env_or("EVENTS_TABLE", "tributary-events")),
        dead_letters: Publisher::connect(&kafka, &aws).await?,
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
