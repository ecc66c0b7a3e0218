//! The HTTP edge shared by the command and query functions.
//!
//! * [`Problem`]: RFC 9457 `application/problem+json` errors with stable types.
//! * [`JsonBody`]: a JSON body extractor that answers 400/413/415 as problems.
//! * [`Caller`]: who is calling (from the API Gateway authorizer), for event metadata.
//! * [`serve`]: one binary, two modes: Lambda when `AWS_LAMBDA_RUNTIME_API` is set, a local HTTP server otherwise.
//! * [`config`]: environment configuration with clear errors, and the AWS SDK configuration (timeouts, retries).
//! * [`metrics`]: counters in CloudWatch Embedded Metric Format.

pub mod caller;
pub mod config;
pub mod json_body;
pub mod metrics;
pub mod problem;
pub mod routes;
pub mod serve;

pub use caller::Caller;
pub use config::ConfigError;
pub use json_body::{JsonBody, MAX_BODY_BYTES};
pub use problem::{with_problem_fallbacks, Problem};
pub use routes::{router_from, Route};
pub use serve::{init_tracing, serve};
