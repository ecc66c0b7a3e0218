//! Commit, then publish: a [`CommandHandler`] with an optional Kafka publisher. What a command committed is
//! published right after the commit (the fast path), and a rejected command is published as a rejection event whose
//! reason is the domain's own code ([`Decider::rejection_code`]).
//!
//! If the publish fails — or the process dies first, or the publisher is not connected yet because MSK discovery has
//! not answered — the events are already in the store, and the relay (DynamoDB Streams -> Kafka) publishes them
//! anyway; so a publish failure is logged, never reported as a failure of a command that did commit, and a cold
//! start never waits for Kafka.

use crate::{CommandError, CommandHandler, CommandOutcome, CommandRequest};
use tributary_core::Decider;
use tributary_kafka::{LazyPublisher, RejectionEnvelope, ENVELOPE_VERSION};
use uuid::Uuid;

/// Chaos switch for demos and tests: drop this fraction (0..=1) of the fast path's publishes after the commit, as
/// if the process had died between commit and publish. 0 in production.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PublishFaults {
    pub fail_rate: f64,
}

impl PublishFaults {
    fn strikes(&self) -> bool {
        self.fail_rate > 0.0 && rand::random::<f64>() < self.fail_rate
    }
}

/// A command handler that publishes what it committed, and what it refused.
pub struct PublishingHandler<D: Decider> {
    handler: CommandHandler<D>,
    publisher: Option<LazyPublisher>,
    faults: PublishFaults,
}

impl<D: Decider> Clone for PublishingHandler<D> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            publisher: self.publisher.clone(),
            faults: self.faults,
        }
    }
}

impl<D: Decider> PublishingHandler<D>
where
    D::Command: Sync,
    D::Event: Sync,
{
    /// `handler`, publishing nothing until [`PublishingHandler::with_publisher`].
    pub fn new(handler: CommandHandler<D>) -> Self {
        Self {
            handler,
            publisher: None,
            faults: PublishFaults::default(),
        }
    }

    /// Publish committed events and rejections with `publisher` (once it is connected).
    pub fn with_publisher(mut self, publisher: LazyPublisher, faults: PublishFaults) -> Self {
        self.publisher = Some(publisher);
        self.faults = faults;
        self
    }

    /// Change the command handler (its snapshot or retry policy).
    pub fn map_handler(mut self, f: impl FnOnce(CommandHandler<D>) -> CommandHandler<D>) -> Self {
        self.handler = f(self.handler);
        self
    }

    /// The command handler underneath (to read an aggregate's state).
    pub fn handler(&self) -> &CommandHandler<D> {
        &self.handler
    }

    /// Whether the publisher is connected (false when there is none, or MSK discovery has not answered yet).
    pub fn publisher_connected(&self) -> bool {
        self.publisher.as_ref().is_some_and(|p| p.get().is_some())
    }

    /// Wait up to `patience` for the publisher to connect and reach the brokers ([`LazyPublisher::settled`]);
    /// whether it is connected then (false when there is none).
    pub async fn publisher_settled(&self, patience: std::time::Duration) -> bool {
        match &self.publisher {
            Some(publisher) => publisher.settled(patience).await,
            None => false,
        }
    }

    /// Run a command, then publish its outcome. `description` is the command as the caller sent it (its
    /// `operation` names the command): the body of a rejection event, serialised only when one is published.
    pub async fn handle(
        &self,
        request: &CommandRequest<D::Command>,
        description: &impl serde::Serialize,
    ) -> Result<CommandOutcome, CommandError<D::Rejection>> {
        let result = self.handler.handle(request).await;
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
                    tributary_runtime::metrics::count("PublishFailures", 1, &[]);
                } else if let Err(error) = publisher.publish_events(events).await {
                    tracing::warn!(%error, stream = %request.stream_id, "publish after commit failed; the relay will publish");
                    tributary_runtime::metrics::count("PublishFailures", 1, &[]);
                } else {
                    tracing::info!(stream = %request.stream_id, events = events.len(), "published");
                }
            }
            Err(CommandError::Rejected { rejection, version }) => {
                let envelope = rejection_envelope::<D>(request, description, rejection, *version);
                if let Err(error) = publisher.publish_rejection(&envelope).await {
                    tracing::warn!(%error, stream = %request.stream_id, "could not publish the rejection");
                }
            }
            _ => {}
        }
        result
    }
}

/// The rejection event of `request`, refused with `rejection` at stream version `version`.
fn rejection_envelope<D: Decider>(
    request: &CommandRequest<D::Command>,
    description: &impl serde::Serialize,
    rejection: &D::Rejection,
    version: u64,
) -> RejectionEnvelope {
    let description = serde_json::to_value(description).unwrap_or_default();
    let ctx = &request.context;
    RejectionEnvelope {
        envelope_version: ENVELOPE_VERSION,
        rejection_id: Uuid::new_v4(),
        aggregate_id: request.stream_id.clone(),
        aggregate_version: version,
        command: description["operation"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        command_body: description,
        reason: D::rejection_code(rejection).to_owned(),
        detail: rejection.to_string(),
        command_id: ctx.command_id,
        correlation_id: ctx.correlation_id.clone(),
        actor: ctx.actor.clone(),
        occurred_at: ctx.now,
    }
}
