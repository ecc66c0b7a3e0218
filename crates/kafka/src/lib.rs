//! Publishing to Kafka (Amazon MSK) with rdkafka.
//!
//! * [`KafkaConfig`]: brokers (`KAFKA_BOOTSTRAP_SERVERS`, or `MSK_CLUSTER_ARN` resolved with `GetBootstrapBrokers`),
//!   topics, compression, timeouts — all from the environment, with clear errors.
//! * [`EventEnvelope`] / [`RejectionEnvelope`]: the versioned JSON records consumers read.
//! * [`Publisher`]: one idempotent producer per container (`acks=all`), key = aggregate id, headers with the event
//!   type, version, correlation id and W3C `traceparent`.
//! * [`LazyPublisher`]: a publisher connected (and warmed up: brokers reached, metadata, producer id) in the
//!   background, so a cold start never fails with MSK discovery and waits for it only as long as it chooses.
//! * [`KafkaContext`]: librdkafka callbacks: logs to `tracing`, and SigV4 OAUTHBEARER tokens for MSK IAM auth.
//! * [`commit_offsets`]: consumer offset commits that cannot stall the async runtime (a paused broker).
//! * [`local`]: the embedded Kafka (librdkafka's mock cluster) and topic creation, for local stacks and tests.

mod commit;
pub mod config;
mod context;
mod envelope;
mod lazy;
pub mod local;
mod msk;
mod msk_token;
mod publisher;

pub use commit::{commit_offsets, CommitError};
pub use config::{Brokers, Compression, KafkaConfig};
pub use context::{KafkaContext, MskIamAuth};
pub use envelope::{
    DeadLetter, DeadLetterSource, EventEnvelope, RejectionEnvelope, ENVELOPE_VERSION,
};
pub use lazy::LazyPublisher;
pub use msk::{discover_bootstrap_brokers, MskError};
pub use publisher::{
    client_config, resolve_brokers, trust_the_system_store, Outgoing, PartialPublish, PublishError,
    Publisher,
};
