//! The command service: the kit's [`Commands`] (every aggregate's handler commits, then publishes to Kafka before
//! the response goes out) over the events table on DynamoDB, built once per container.

use tributary_aggregate::{KeyRetention, PublishFaults, RetryPolicy, SnapshotPolicy};
use tributary_dynamodb::DynamoDbEventStore;
use tributary_http::commands::Commands;
use tributary_kafka::{KafkaConfig, LazyPublisher};

/// Everything the handlers need, built once per container.
#[derive(Clone)]
pub struct CommandService {
    pub(crate) commands: Commands,
}

/// The bank's commands over the kit's (as the command shell builds them from the environment).
impl From<Commands> for CommandService {
    fn from(commands: Commands) -> Self {
        Self { commands }
    }
}

impl CommandService {
    /// A service over the events table `events_table`, with the default conflict-retry policy and no publisher.
    pub fn new(client: aws_sdk_dynamodb::Client, events_table: &str) -> Self {
        Self::with_retry(client, events_table, RetryPolicy::default())
    }

    pub fn with_retry(
        client: aws_sdk_dynamodb::Client,
        events_table: &str,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            commands: Commands::new(DynamoDbEventStore::shared(client, events_table))
                .with_retry(retry),
        }
    }

    /// The service as deployed: the kit's commands over the events table through `dynamodb`, publishing through a
    /// Kafka publisher that connects in the background (`tributary_http::shell::connected_commands`).
    pub fn connect(
        dynamodb: aws_sdk_dynamodb::Client,
        events_table: &str,
        kafka: KafkaConfig,
        aws: aws_types::SdkConfig,
        ledger: tributary_http::shell::Ledger,
    ) -> Self {
        Self::from(tributary_http::shell::connected_commands(
            dynamodb,
            events_table,
            kafka,
            aws,
            ledger,
        ))
    }

    /// Store snapshots and remember recent commands as `snapshots` says (instead of the default policy).
    pub fn with_snapshots(self, snapshots: SnapshotPolicy) -> Self {
        self.map(|commands| commands.with_snapshots(snapshots))
    }

    /// Remember callers' idempotency keys for `retention` (instead of the default 24 hours).
    pub fn with_key_retention(self, retention: KeyRetention) -> Self {
        self.map(|commands| commands.with_key_retention(retention))
    }

    /// Publish committed events and rejections with `publisher` (once it is connected).
    pub fn with_publisher(self, publisher: LazyPublisher, faults: PublishFaults) -> Self {
        self.map(|commands| commands.with_publisher(publisher, faults))
    }

    fn map(self, f: impl FnOnce(Commands) -> Commands) -> Self {
        Self {
            commands: f(self.commands),
        }
    }

    /// Whether the publisher is connected (false when there is none, or MSK discovery has not answered yet).
    pub fn publisher_connected(&self) -> bool {
        self.commands.publisher_connected()
    }

    /// Wait up to `patience` for the publisher to connect and reach the brokers; whether it is connected then.
    pub async fn publisher_settled(&self, patience: std::time::Duration) -> bool {
        self.commands.publisher_settled(patience).await
    }
}
