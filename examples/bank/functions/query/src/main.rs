//! Query function entry point: configuration, clients (once per container), then serve (Lambda or local).

use query_function::{router, QueryService};
use tributary_dynamodb::DynamoDbEventStore;
use tributary_http::{with_operators, OperatorRule};
use tributary_projections::ProjectionStore;
use tributary_runtime::config::{env_or, socket_addr};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tributary_runtime::init_tracing();
    let local_addr = socket_addr("QUERY_ADDR", "127.0.0.1:3002")?;
    let aws =
        tributary_runtime::config::aws_config(tributary_runtime::config::SdkPolicy::from_env(
            tributary_runtime::config::SdkPolicy::REQUEST_PATH,
        )?)
        .await;
    // Signed cursors: keys from Secrets Manager (rotating) where CURSOR_SECRET_ARN names a secret, else
    // CURSOR_SECRET (local runs).
    let cursors = tributary_http::cursor_secret::cursors_from_env(&aws).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let projections = ProjectionStore::new(
        dynamodb.clone(),
        env_or("PROJECTIONS_TABLE", "tributary-projections"),
    );
    let events = DynamoDbEventStore::shared(dynamodb, env_or("EVENTS_TABLE", "tributary-events"));
    let operators = if tributary_runtime::in_lambda() {
        OperatorRule::from_env()
    } else {
        OperatorRule::local_default()
    };
    let limit = tributary_http::RateLimit::from_env()?;
    tributary_http::serve(
        with_operators(
            tributary_http::with_rate_limit(
                router(
                    QueryService::new(
                        projections,
                        events,
                        tributary_http::cursor::LOCAL_CURSOR_SECRET.as_bytes(),
                    )
                    .with_cursors(cursors)
                    .with_snapshots(tributary_aggregate::SnapshotPolicy::from_env()?),
                ),
                limit,
            ),
            operators,
        ),
        local_addr,
    )
    .await
}
