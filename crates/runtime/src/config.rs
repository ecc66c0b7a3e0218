//! Configuration from the environment, with errors that name the variable and what it should hold.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use std::net::SocketAddr;
use std::time::Duration;

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

/// How patient calls to AWS (DynamoDB above all) may be: per attempt, in all (the SDK's own retries included),
/// and how the SDK backs off between attempts. A hung call must end well before the function's timeout, so that
/// the caller gets a clear answer (a 503, a retried batch) instead of a function killed mid-request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkPolicy {
    /// One attempt (`AWS_CALL_ATTEMPT_TIMEOUT_MS`).
    pub attempt_timeout: Duration,
    /// A whole call, retries included (`AWS_CALL_TIMEOUT_MS`).
    pub operation_timeout: Duration,
    /// Establishing a connection.
    pub connect_timeout: Duration,
    /// Attempts per call, the first included (the SDK's standard retry mode).
    pub max_attempts: u32,
    /// The SDK's first backoff (jittered, doubling).
    pub initial_backoff: Duration,
}

impl SdkPolicy {
    /// Functions that answer HTTP requests within a 10 s function timeout (command, query): a call gives up after
    /// 2 s, so a command's whole retry budget and its publish fit in the timeout.
    pub const REQUEST_PATH: Self = Self {
        attempt_timeout: Duration::from_millis(800),
        operation_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_millis(500),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(25),
    };

    /// Event-driven functions with a 60 s timeout (relay, denormalisers) and tools: more patient, still bounded.
    pub const BACKGROUND: Self = Self {
        attempt_timeout: Duration::from_secs(5),
        operation_timeout: Duration::from_secs(15),
        connect_timeout: Duration::from_secs(2),
        max_attempts: 5,
        initial_backoff: Duration::from_millis(50),
    };

    /// `default`, with the timeouts overridden by `AWS_CALL_ATTEMPT_TIMEOUT_MS` and `AWS_CALL_TIMEOUT_MS` when set.
    pub fn from_env(default: Self) -> Result<Self, ConfigError> {
        Ok(Self {
            attempt_timeout: millis("AWS_CALL_ATTEMPT_TIMEOUT_MS", default.attempt_timeout)?,
            operation_timeout: millis("AWS_CALL_TIMEOUT_MS", default.operation_timeout)?,
            ..default
        })
    }

    /// The SDK's timeout settings.
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .connect_timeout(self.connect_timeout)
            .build()
    }

    /// The SDK's retry settings.
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.initial_backoff)
    }
}

/// A whole number from `name` that `valid` accepts (`expected` says which), or `None` when unset.
fn whole_number(
    name: &'static str,
    valid: impl Fn(u64) -> bool,
    expected: &str,
) -> Result<Option<u64>, ConfigError> {
    let raw = env_or(name, "");
    if raw.is_empty() {
        return Ok(None);
    }
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| valid(*n))
        .map(Some)
        .ok_or_else(|| ConfigError {
            name,
            problem: format!("must be {expected} (got {raw:?})"),
        })
}

/// A whole number of milliseconds from `name`, or `default` when unset.
pub fn millis(name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    Ok(
        whole_number(name, |ms| ms > 0, "a positive whole number of milliseconds")?
            .map_or(default, Duration::from_millis),
    )
}

/// A whole number in `1..=max` from `name`, or `default` when unset.
pub fn count(name: &'static str, default: u64, max: u64) -> Result<u64, ConfigError> {
    count_between(name, default, 1, max)
}

/// A whole number from `min` to `max` in `name`, or `default` when unset (a clear error otherwise).
pub fn count_between(
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let expected = format!("a whole number from {min} to {max}");
    Ok(whole_number(name, |n| (min..=max).contains(&n), &expected)?.unwrap_or(default))
}

/// The AWS SDK configuration from the usual sources (environment, profile, Lambda role), with `policy`'s timeouts
/// and retries, over the process's HTTP client ([`crate::http_client`]; the credential providers use it too).
/// Honours `AWS_ENDPOINT_URL_DYNAMODB` for local servers.
pub async fn aws_config(policy: SdkPolicy) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::http_client::sdk_http_client())
        .timeout_config(policy.timeout_config())
        .retry_config(policy.retry_config())
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_on_the_request_path_end_well_before_the_function_timeout() {
        let p = SdkPolicy::REQUEST_PATH;
        assert!(p.attempt_timeout < p.operation_timeout);
        // A command makes at most a load and an append after its retry budget runs out (3 s), then publishes
        // (2 s): all inside the 10 s function timeout.
        assert!(
            Duration::from_secs(3) + p.operation_timeout * 2 + Duration::from_secs(2)
                < Duration::from_secs(10)
        );
        let c = p.timeout_config();
        assert_eq!(c.operation_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(
            c.operation_attempt_timeout(),
            Some(Duration::from_millis(800))
        );
    }
}
