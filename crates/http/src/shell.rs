//! The HTTP functions' shells, for any domain (feature `shell`): a command function or a query function reads its
//! configuration once per container, builds its clients once, and serves the domain's routes — Lambda when
//! `AWS_LAMBDA_RUNTIME_API` is set, a local server otherwise — behind the per-caller rate limit
//! (`RATE_LIMIT_PER_SECOND`) and the operator rule. A domain's `main` is one call with its routes; the denormaliser
//! and process-manager shells are `tributary_consumer::lambda`'s.

use crate::commands::{CommandConfig, Commands};
use crate::cursor::Cursors;
use crate::{serve, with_operators, with_rate_limit, OperatorRule, RateLimit};
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tributary_aggregate::{PublishFaults, SnapshotPolicy};
use tributary_dynamodb::{DynamoDbEventStore, DynamoDbSubjectKeys};
use tributary_kafka::{KafkaConfig, LazyPublisher};
use tributary_projections::ProjectionStore;
use tributary_runtime::config::{aws_config, env_or, socket_addr, SdkPolicy};
use tributary_store::chain::Notary;
use tributary_store::personal::{SubjectKeyStore, Vault};
use tributary_store::EventStore;

/// How long a command function's init waits for Kafka; the rest of a slow connection happens in the background.
const KAFKA_INIT_PATIENCE: Duration = Duration::from_secs(1);

/// A command function: the events table (`EVENTS_TABLE`) on DynamoDB with the request path's timeouts, snapshots
/// and key retention as [`CommandConfig`] reads them, and a Kafka publisher (`KafkaConfig::from_env`, at most 2 s
/// per delivery on the request path: the relay covers anything slower) that connects in the background — a cold
/// start never fails with MSK discovery, and waits at most a second for the brokers, so that a healthy cluster is
/// reached during init rather than by the first command. `routes` makes the domain's command routes over the kit's
/// [`Commands`].
pub async fn serve_commands(
    routes: impl FnOnce(Commands) -> Router,
) -> Result<(), lambda_http::Error> {
    tributary_runtime::init_tracing();
    let config = CommandConfig::from_env()?;
    let kafka = KafkaConfig::from_env(Duration::from_secs(2))?;
    let aws = aws_config(SdkPolicy::from_env(SdkPolicy::REQUEST_PATH)?).await;
    let notary = tributary_ledger::notary_from_env(&aws).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let vault = vault_from_env(&aws, &dynamodb).await?;
    let commands = connected_commands(
        dynamodb,
        &config.events_table,
        kafka,
        aws,
        Ledger { notary, vault },
    )
    .with_snapshots(config.snapshots)
    .with_key_retention(config.key_retention);
    commands.publisher_settled(KAFKA_INIT_PATIENCE).await;
    serve_with_limits(routes(commands), config.local_addr).await
}

/// What a deployed writer seals with: checkpoints by the notary (`tributary_ledger::notary_from_env`), personal
/// values by the vault ([`vault_from_env`]).
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    pub notary: Option<Arc<dyn Notary>>,
    pub vault: Option<Arc<dyn Vault>>,
}

/// The personal-data vault of a deployed function: the key table `SUBJECT_KEYS_TABLE` through `dynamodb`, data
/// keys wrapped as `tributary_ledger::vault_from_env` reads (none without a table).
pub async fn vault_from_env(
    aws: &aws_types::SdkConfig,
    dynamodb: &aws_sdk_dynamodb::Client,
) -> Result<Option<Arc<dyn Vault>>, tributary_runtime::ConfigError> {
    let keys = std::env::var("SUBJECT_KEYS_TABLE")
        .ok()
        .filter(|table| !table.is_empty())
        .map(|table| {
            Arc::new(DynamoDbSubjectKeys::new(dynamodb.clone(), table)) as Arc<dyn SubjectKeyStore>
        });
    tributary_ledger::vault_from_env(aws, keys).await
}

/// The commands of a deployed function: the events table `events_table` through `dynamodb` (sealed by `ledger`),
/// and a Kafka publisher that connects in the background (MSK
/// discovery through `aws`), so that commands are served from the first request even when the MSK control plane
/// does not answer.
pub fn connected_commands(
    dynamodb: aws_sdk_dynamodb::Client,
    events_table: &str,
    kafka: KafkaConfig,
    aws: aws_types::SdkConfig,
    ledger: Ledger,
) -> Commands {
    Commands::new(Arc::new(
        DynamoDbEventStore::new(dynamodb, events_table)
            .with_notary(ledger.notary)
            .with_vault(ledger.vault),
    ))
    .with_publisher(
        LazyPublisher::connect_in_background(kafka, aws),
        PublishFaults::default(),
    )
}

/// What a query function's routes read: the projections, the events (the audit trail, and views as of a past
/// version; its vault opens the answers' personal data), signed cursors, and how the aggregates' snapshots are written (a read of the past folds from the
/// nearest one at or below it). Clones share the clients (each domain's routes take one).
#[derive(Clone)]
pub struct ReadSide {
    pub projections: ProjectionStore,
    pub events: Arc<dyn EventStore>,
    pub cursors: Cursors,
    pub snapshots: SnapshotPolicy,
}

/// A query function: the projections table (`PROJECTIONS_TABLE`) and the events table (`EVENTS_TABLE`) on DynamoDB
/// with the request path's timeouts; cursors signed with keys from Secrets Manager where `CURSOR_SECRET_ARN` names
/// a secret (rotating), else `CURSOR_SECRET` (local runs); snapshots as `SNAPSHOT_EVERY` says; listening on
/// `QUERY_ADDR` locally. `routes` makes the domain's query routes over the [`ReadSide`].
#[cfg(feature = "secrets-manager")]
pub async fn serve_reads(
    routes: impl FnOnce(ReadSide) -> Router,
) -> Result<(), lambda_http::Error> {
    tributary_runtime::init_tracing();
    let local_addr = socket_addr("QUERY_ADDR", "127.0.0.1:3002")?;
    let aws = aws_config(SdkPolicy::from_env(SdkPolicy::REQUEST_PATH)?).await;
    let cursors = crate::cursor_secret::cursors_from_env(&aws).await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let vault = vault_from_env(&aws, &dynamodb).await?;
    let side = ReadSide {
        projections: ProjectionStore::new(
            dynamodb.clone(),
            env_or("PROJECTIONS_TABLE", "tributary-projections"),
        ),
        events: Arc::new(
            DynamoDbEventStore::new(
                dynamodb,
                env_or("EVENTS_TABLE", crate::commands::DEFAULT_EVENTS_TABLE),
            )
            .with_vault(vault),
        ),
        cursors,
        snapshots: SnapshotPolicy::from_env()?,
    };
    serve_with_limits(routes(side), local_addr).await
}

/// Serve `router` behind the per-caller rate limit and the operator rule (from the environment in Lambda; the
/// local default otherwise).
async fn serve_with_limits(
    router: Router,
    local_addr: std::net::SocketAddr,
) -> Result<(), lambda_http::Error> {
    let limit = RateLimit::from_env()?;
    let operators = if tributary_runtime::in_lambda() {
        OperatorRule::from_env()
    } else {
        OperatorRule::local_default()
    };
    serve(
        with_operators(with_rate_limit(router, limit), operators),
        local_addr,
    )
    .await
}
