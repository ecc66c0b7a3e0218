//! The command side of the bank-account API: validate a request, run it through the account Decider against
//! the event store, answer in JSON (errors as problem+json).
//!
//! Handlers are plain async functions over [`CommandService`]; [`router`] wires them to routes. `main.rs` is one
//! call into the kit's command shell (`tributary_http::shell::serve_commands`).

mod routes;
mod service;

pub use routes::{route_table, router, routes};
pub use service::CommandService;
pub use tributary_aggregate::PublishFaults;
