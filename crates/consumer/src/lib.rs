//! Consumers of the MSK event source mapping (`KafkaEvent` batches), for any domain:
//! * [`denormaliser`]: folds a batch into one read model ([`tributary_projections::ReadModel`]);
//! * [`reactor`]: hands a batch's streams to a process manager (a domain reacting to events by sending commands);
//! * [`redrive`]: re-applies what the dead-letter topic holds for a read model, after a fix;
//! * [`observe`]: a batch's metrics and the traces its records continue;
//! * [`ops`]: what an operator asks Kafka: consumer lag per partition, the dead-letter topic's letters;
//! * [`record`]: reading a record as an event envelope, and what makes it poison;
//! * [`lambda`]: the Lambda entry points of a denormaliser and of a process manager (a function's `main` names
//!   its read models or builds its process manager);
//! * [`cli`]: what the operator commands share (AWS configuration, a DynamoDB client that honours local endpoints).

pub mod cli;
pub mod denormaliser;
pub mod lambda;
pub mod observe;
pub mod ops;
pub mod reactor;
pub mod record;
pub mod redrive;

pub use denormaliser::{default_consumer_group, BatchReport, Denormaliser, DenormaliserError};

/// Streams of one batch handled at the same time (by a denormaliser or a reactor); each stream's records in order.
pub const CONCURRENT_STREAMS: usize = 16;
