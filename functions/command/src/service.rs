//! The command service: runs a command through the account aggregate, then publishes what it committed (or the
//! rejection) to Kafka before the response goes out.
//!
//! Publishing after the commit is the fast path. If it fails — or the process dies first, or the publisher is not
//! connected yet because MSK discovery has not answered — the event is already in the store, and the relay
//! (DynamoDB Streams -> Kafka) publishes it anyway; so a publish failure is logged, never reported to the caller as
//! a failure of a command that did commit, and a cold start never waits for Kafka.

use crate::problems::for_rejection;
use crate::routes::RequestDescription;
use bank_account::{Account, AccountRejection};
use tributary_aggregate::{
    CommandError, CommandHandler, CommandOutcome, CommandRequest, RetryPolicy, SnapshotPolicy,
};
use tributary_dynamodb::EventStore;
use tributary_kafka::{KafkaConfig, LazyPublisher, RejectionEnvelope, ENVELOPE_VERSION};
use uuid::Uuid;

/// Chaos switch for demos and tests: drop this fraction (0..=1) of the command path's publishes after the commit,
/// as if the process had died between commit and publish. 0 in production.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PublishFaults {
    pub fail_rate: f64,
}

impl PublishFaults {
    fn strikes(&self) -> bool {
        self.fail_rate > 0.0 && rand::random::<f64>() < self.fail_rate
    }
}

/// Everything the handlers need, built once per container.
#[derive(Clone)]
pub struct CommandService {
    accounts: CommandHandler<Account>,
    publisher: Option<LazyPublisher>,
    faults: PublishFaults,
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
            accounts: CommandHandler::new(EventStore::new(client, events_table), retry),
            publisher: None,
            faults: PublishFaults::default(),
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
        self.accounts = self.accounts.with_snapshots(snapshots);
        self
    }

    /// Publish committed events and rejections with `publisher` (once it is connected).
    pub fn with_publisher(mut self, publisher: LazyPublisher, faults: PublishFaults) -> Self {
        self.publisher = Some(publisher);
        self.faults = faults;
        self
    }

    /// Whether the publisher is connected (false when there is none, or MSK discovery has not answered yet).
    pub fn publisher_connected(&self) -> bool {
        self.publisher.as_ref().is_some_and(|p| p.get().is_some())
    }

    /// Run a command, then publish its outcome.
    pub(crate) async fn handle(
        &self,
        request: &CommandRequest<bank_account::AccountCommand>,
        description: &RequestDescription<'_>,
    ) -> Result<CommandOutcome, CommandError<AccountRejection>> {
        let result = self.accounts.handle(request).await;
        let Some(publisher) = &self.publisher else {
            return result;
        };
        let Some(publisher) = publisher.get() else {
            if matches!(result, Ok(CommandOutcome::Committed { .. })) {
                tracing::info!(stream = %request.stream_id, "the Kafka publisher is not connected yet; the relay will publish");
            }
            return result;
        };
        match &result {
            Ok(CommandOutcome::Committed { events, .. }) => {
                if self.faults.strikes() {
                    tracing::warn!(stream = %request.stream_id, "chaos: skipping the publish after the commit");
                } else if let Err(error) = publisher.publish_events(events).await {
                    tracing::warn!(%error, stream = %request.stream_id, "publish after commit failed; the relay will publish");
                }
            }
            Err(CommandError::Rejected { rejection, version }) => {
                let envelope = rejection_envelope(request, description, rejection, *version);
                if let Err(error) = publisher.publish_rejection(&envelope).await {
                    tracing::warn!(%error, stream = %request.stream_id, "could not publish the rejection");
                }
            }
            _ => {}
        }
        result
    }
}

fn rejection_envelope(
    request: &CommandRequest<bank_account::AccountCommand>,
    description: &RequestDescription<'_>,
    rejection: &AccountRejection,
    version: u64,
) -> RejectionEnvelope {
    let command_body = serde_json::to_value(description).expect("request descriptions serialise");
    let problem = for_rejection(rejection);
    let ctx = &request.context;
    RejectionEnvelope {
        envelope_version: ENVELOPE_VERSION,
        rejection_id: Uuid::new_v4(),
        aggregate_id: request.stream_id.clone(),
        aggregate_version: version,
        command: command_body["operation"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        command_body,
        reason: problem.slug.to_owned(),
        detail: problem.detail,
        command_id: ctx.command_id,
        correlation_id: ctx.correlation_id.clone(),
        actor: ctx.actor.clone(),
        occurred_at: ctx.now,
    }
}
