//! Publishing to Kafka (Amazon MSK) with rdkafka.
//!
//! * [`KafkaConfig`]: brokers (`KAFKA_BOOTSTRAP_SERVERS`, or `MSK_CLUSTER_ARN` resolved with `GetBootstrapBrokers`),
//!   topics, compression, timeouts — all from the environment, with clear errors.
//! * [`EventEnvelope`] / [`RejectionEnvelope`]: the versioned JSON records consumers read.
//! * [`Publisher`]: one idempotent producer per container (`acks=all`), key = aggregate id, headers with the event
//!   type, version, correlation id and W3C `traceparent`.
//! * [`KafkaContext`]: librdkafka callbacks: logs to `tracing`, and SigV4 OAUTHBEARER tokens for MSK IAM auth.
//! * [`local`]: the embedded Kafka (librdkafka's mock cluster) and topic creation, for local stacks and tests.

pub mod config;
mod context;
mod envelope;
pub mod local;
mod msk;
mod publisher;

pub use config::{Brokers, Compression, KafkaConfig};
pub use context::{KafkaContext, MskIamAuth};
pub use envelope::{DeadLetter, EventEnvelope, RejectionEnvelope, ENVELOPE_VERSION};
pub use msk::{discover_bootstrap_brokers, MskError};
pub use publisher::{client_config, resolve_brokers, PartialPublish, PublishError, Publisher};
