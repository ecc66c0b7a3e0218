//! Query function entry point: configuration, clients (once per container), then serve (Lambda or local).

use query_function::cursor::{Cursors, SecretsManagerKeys, REFRESH};
use query_function::{router, QueryService};
use tributary_dynamodb::DynamoDbEventStore;
use tributary_http::{with_operators, OperatorRule};
use tributary_projections::ProjectionStore;
use tributary_runtime::config::{env_or, socket_addr};

/// The cursor secret used when `CURSOR_SECRET` is unset: fine locally, never in production.
const LOCAL_CURSOR_SECRET: &str = "tributary-local-cursor-secret";

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tributary_runtime::init_tracing();
    let local_addr = socket_addr("QUERY_ADDR", "127.0.0.1:3002")?;
    let aws =
        tributary_runtime::config::aws_config(tributary_runtime::config::SdkPolicy::from_env(
            tributary_runtime::config::SdkPolicy::REQUEST_PATH,
        )?)
        .await;
    // The cursor secret: from Secrets Manager where one is configured (read at start and every 5 minutes, its
    // previous value accepted during a rotation), else the variable (local runs).
    let secret_arn = env_or("CURSOR_SECRET_ARN", "");
    let cursors = if secret_arn.is_empty() {
        let secret = env_or("CURSOR_SECRET", LOCAL_CURSOR_SECRET);
        if secret == LOCAL_CURSOR_SECRET && tributary_runtime::in_lambda() {
            return Err(
                "configuration: CURSOR_SECRET_ARN (or CURSOR_SECRET) must be set in Lambda (cursors are signed with it)"
                    .into(),
            );
        }
        Cursors::new(secret.as_bytes())
    } else {
        let source = SecretsManagerKeys::new(aws_sdk_secretsmanager::Client::new(&aws), secret_arn);
        let cursors = Cursors::rotating(source.fetch().await?);
        source.refresh(cursors.clone(), REFRESH);
        cursors
    };
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
                    QueryService::new(projections, events, LOCAL_CURSOR_SECRET.as_bytes())
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
