//! The command side of the bank-account API: validate a request, run it through the account Decider against
//! the event store, answer in JSON (errors as problem+json).
//!
//! Handlers are plain async functions over [`CommandService`]; [`router`] wires them to routes. `main.rs` only
//! reads configuration, builds clients once, and serves the router (Lambda or local).

pub mod config;
mod routes;
mod service;

pub use config::CommandConfig;
pub use routes::{route_table, router, routes};
pub use service::CommandService;
pub use tributary_aggregate::PublishFaults;
