//! Configuration from the environment, with errors that name the variable and what it should hold.

use std::net::SocketAddr;

/// A configuration variable is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {name} {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

/// A variable's value, or `default` when it is unset or empty.
pub fn env_or(name: &'static str, default: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value,
        _ => default.to_owned(),
    }
}

/// A socket address such as `127.0.0.1:3000`, or `default` when unset.
pub fn socket_addr(name: &'static str, default: &str) -> Result<SocketAddr, ConfigError> {
    let raw = env_or(name, default);
    raw.parse().map_err(|e| ConfigError {
        name,
        problem: format!("must be an address such as 127.0.0.1:3000 (got {raw:?}: {e})"),
    })
}

/// The AWS SDK configuration from the usual sources (environment, profile, Lambda role). Honours
/// `AWS_ENDPOINT_URL_DYNAMODB` for local servers.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
