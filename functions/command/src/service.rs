//! The command service: the account and transfer aggregates' command handlers, each publishing what it committed
//! (or the rejection) to Kafka before the response goes out ([`tributary_aggregate::PublishingHandler`]), built
//! once per container.

use bank_account::{Account, Transfer};
use tributary_aggregate::{
    CommandHandler, KeyRetention, PublishFaults, PublishingHandler, RetryPolicy, SnapshotPolicy,
};
use tributary_dynamodb::DynamoDbEventStore;
use tributary_kafka::{KafkaConfig, LazyPublisher};

/// Everything the handlers need, built once per container.
#[derive(Clone)]
pub struct CommandService {
    pub(crate) accounts: PublishingHandler<Account>,
    pub(crate) transfers: PublishingHandler<Transfer>,
    /// How long callers' idempotency keys are remembered.
    pub(crate) key_retention: KeyRetention,
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
        let store = DynamoDbEventStore::shared(client, events_table);
        Self {
            accounts: PublishingHandler::new(CommandHandler::new(store.clone(), retry)),
            transfers: PublishingHandler::new(CommandHandler::new(store, retry)),
            key_retention: KeyRetention::default(),
        }
    }

    /// The service as deployed: the events table through `dynamodb`, and a Kafka publisher that connects in the
    /// background (MSK discovery through `aws`), so the function serves commands from its first request even when
    /// the MSK control plane does not answer.
    pub fn connect(
        dynamodb: aws_sdk_dynamodb::Client,
        events_table: &str,
        kafka: KafkaConfig,
        aws: aws_types::SdkConfig,
    ) -> Self {
        Self::new(dynamodb, events_table).with_publisher(
            LazyPublisher::connect_in_background(kafka, aws),
            PublishFaults::default(),
        )
    }

    /// Store snapshots and remember recent commands as `snapshots` says (instead of the default policy).
    pub fn with_snapshots(mut self, snapshots: SnapshotPolicy) -> Self {
        self.accounts = self
            .accounts
            .map_handler(|handler| handler.with_snapshots(snapshots));
        self.transfers = self
            .transfers
            .map_handler(|handler| handler.with_snapshots(snapshots));
        self
    }

    /// Remember callers' idempotency keys for `retention` (instead of the default 24 hours).
    pub fn with_key_retention(mut self, retention: KeyRetention) -> Self {
        self.key_retention = retention;
        self
    }

    /// Publish committed events and rejections with `publisher` (once it is connected).
    pub fn with_publisher(mut self, publisher: LazyPublisher, faults: PublishFaults) -> Self {
        self.accounts = self.accounts.with_publisher(publisher.clone(), faults);
        self.transfers = self.transfers.with_publisher(publisher, faults);
        self
    }

    /// Whether the publisher is connected (false when there is none, or MSK discovery has not answered yet).
    pub fn publisher_connected(&self) -> bool {
        self.accounts.publisher_connected()
    }

    /// Wait up to `patience` for the publisher to connect and reach the brokers; whether it is connected then.
    pub async fn publisher_settled(&self, patience: std::time::Duration) -> bool {
        // One publisher behind both handlers.
        self.accounts.publisher_settled(patience).await
    }
}
