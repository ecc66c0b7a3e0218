//! What every function's process needs before it does anything, HTTP or not.
//!
//! * [`config`]: environment configuration with clear errors, and the AWS SDK configuration (timeouts, retries).
//! * [`http_client`]: the AWS SDK's HTTP client, on the vendored OpenSSL librdkafka links (one TLS library).
//! * [`logging`]: JSON logs in Lambda, readable ones elsewhere; [`in_lambda`].
//! * [`metrics`]: counters in CloudWatch Embedded Metric Format.
//! * [`retry`]: the pauses between attempts of every retrying loop.
//! * [`spans`]: spans sent to an OpenTelemetry collector (OTLP/HTTP) where one is configured.

pub mod config;
pub mod http_client;
pub mod logging;
pub mod metrics;
pub mod retry;
pub mod spans;

pub use config::ConfigError;
pub use logging::{in_lambda, init_tracing};
