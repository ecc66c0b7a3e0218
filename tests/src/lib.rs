//! Shared by the end-to-end tests (`tests/tests/*.rs`) and the fault-injection suite
//! (`infra/devstack/tests/reliability.rs`):
//!
//! * [`projection`]: what each projection must hold, as a pure fold of the event store, and the check that it does;
//! * [`ledger`]: a client load that records what the API acknowledged, retrying uncertain outcomes with the same
//!   idempotency key until they are definite;
//! * [`agreement`]: the end-to-end check that the event store, the Kafka topic, the three projections and the
//!   client's record of acknowledged commands agree, and that nothing was appended twice;
//! * [`served`]: every route the application's command and query functions serve.

pub mod agreement;
pub mod ledger;
pub mod projection;
pub mod served;
