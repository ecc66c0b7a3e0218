//! Kafka configuration from the environment. Selection rules: `KAFKA_BOOTSTRAP_SERVERS` (plaintext, local stacks)
//! wins; otherwise `MSK_CLUSTER_ARN` (IAM auth over TLS, brokers discovered at cold start); neither is an error.

use std::time::Duration;

/// Default topic of committed events.
pub const DEFAULT_EVENTS_TOPIC: &str = "tributary.events";
/// Default topic of rejected commands.
pub const DEFAULT_REJECTIONS_TOPIC: &str = "tributary.rejections";
/// Default dead-letter topic (poison records, batches that exhausted their retries).
pub const DEFAULT_DEAD_LETTER_TOPIC: &str = "tributary.dead-letters";

/// Where the brokers are and how to reach them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Brokers {
    /// A plaintext bootstrap list, e.g. `127.0.0.1:9092`.
    Plaintext(String),
    /// An MSK cluster: brokers from `GetBootstrapBrokers`, SASL OAUTHBEARER (IAM) over TLS.
    Msk { cluster_arn: String },
}

/// Record compression. Snappy is refused: the tansu broker cannot fetch it. Zstd is not built in (librdkafka's zstd
/// would add about 0.2 MiB to every Kafka function's package).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Lz4,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Lz4 => "lz4",
        }
    }
}

/// Everything a producer needs.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaConfig {
    pub brokers: Brokers,
    /// `KAFKA_EVENTS_TOPIC`.
    pub events_topic: String,
    /// `KAFKA_REJECTIONS_TOPIC`.
    pub rejections_topic: String,
    /// `KAFKA_DEAD_LETTER_TOPIC`.
    pub dead_letter_topic: String,
    /// `KAFKA_COMPRESSION`: none or lz4 (default).
    pub compression: Compression,
    /// `KAFKA_LINGER_MS`: how long the producer waits to batch (default 2 ms: latency first).
    pub linger: Duration,
    /// `KAFKA_DELIVERY_TIMEOUT_MS`: how long a record may take to be acknowledged, retries included.
    pub delivery_timeout: Duration,
}

/// A configuration variable is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Kafka configuration: {0}")]
pub struct KafkaConfigError(pub String);

impl KafkaConfig {
    /// Read from the process environment; `default_delivery_timeout` suits the caller (short on the request path).
    pub fn from_env(default_delivery_timeout: Duration) -> Result<Self, KafkaConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), default_delivery_timeout)
    }

    /// Read through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        default_delivery_timeout: Duration,
    ) -> Result<Self, KafkaConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let brokers = match (get("KAFKA_BOOTSTRAP_SERVERS"), get("MSK_CLUSTER_ARN")) {
            (Some(list), _) => Brokers::Plaintext(list),
            (None, Some(arn)) if arn.starts_with("arn:") && arn.contains(":kafka:") => Brokers::Msk { cluster_arn: arn },
            (None, Some(arn)) => {
                return Err(KafkaConfigError(format!(
                    "MSK_CLUSTER_ARN must be an MSK cluster ARN (arn:aws:kafka:REGION:ACCOUNT:cluster/...), got {arn:?}"
                )))
            }
            (None, None) => {
                return Err(KafkaConfigError(
                    "set KAFKA_BOOTSTRAP_SERVERS (host:port,...) or MSK_CLUSTER_ARN".to_owned(),
                ))
            }
        };
        let compression = match get("KAFKA_COMPRESSION").as_deref() {
            None | Some("lz4") => Compression::Lz4,
            Some("none") => Compression::None,
            Some(other) => {
                return Err(KafkaConfigError(format!(
                    "KAFKA_COMPRESSION must be none or lz4 (snappy, gzip and zstd are not supported), got {other:?}"
                )))
            }
        };
        let millis = |name: &str, default: Duration| -> Result<Duration, KafkaConfigError> {
            match get(name) {
                None => Ok(default),
                Some(raw) => raw.parse::<u64>().map(Duration::from_millis).map_err(|_| {
                    KafkaConfigError(format!(
                        "{name} must be a whole number of milliseconds, got {raw:?}"
                    ))
                }),
            }
        };
        Ok(Self {
            brokers,
            events_topic: get("KAFKA_EVENTS_TOPIC")
                .unwrap_or_else(|| DEFAULT_EVENTS_TOPIC.to_owned()),
            rejections_topic: get("KAFKA_REJECTIONS_TOPIC")
                .unwrap_or_else(|| DEFAULT_REJECTIONS_TOPIC.to_owned()),
            dead_letter_topic: get("KAFKA_DEAD_LETTER_TOPIC")
                .unwrap_or_else(|| DEFAULT_DEAD_LETTER_TOPIC.to_owned()),
            compression,
            linger: millis("KAFKA_LINGER_MS", Duration::from_millis(2))?,
            delivery_timeout: millis("KAFKA_DELIVERY_TIMEOUT_MS", default_delivery_timeout)?,
        })
    }

    /// Plaintext configuration for local stacks and tests.
    pub fn plaintext(bootstrap: &str, events_topic: &str, rejections_topic: &str) -> Self {
        Self {
            brokers: Brokers::Plaintext(bootstrap.to_owned()),
            events_topic: events_topic.to_owned(),
            rejections_topic: rejections_topic.to_owned(),
            dead_letter_topic: DEFAULT_DEAD_LETTER_TOPIC.to_owned(),
            compression: Compression::Lz4,
            linger: Duration::from_millis(2),
            delivery_timeout: Duration::from_secs(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<KafkaConfig, KafkaConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        KafkaConfig::from_lookup(|name| map.get(name).cloned(), Duration::from_secs(3))
    }

    const ARN: &str = "arn:aws:kafka:eu-west-1:123456789012:cluster/tributary/abcd-1234";

    #[test]
    fn bootstrap_servers_win_over_the_cluster_arn() {
        let c = config(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            ("MSK_CLUSTER_ARN", ARN),
        ])
        .unwrap();
        assert_eq!(c.brokers, Brokers::Plaintext("127.0.0.1:9092".into()));
    }

    #[test]
    fn a_cluster_arn_selects_msk() {
        let c = config(&[("MSK_CLUSTER_ARN", ARN)]).unwrap();
        assert_eq!(
            c.brokers,
            Brokers::Msk {
                cluster_arn: ARN.into()
            }
        );
        assert_eq!(c.events_topic, DEFAULT_EVENTS_TOPIC);
        assert_eq!(c.compression, Compression::Lz4);
        assert_eq!(c.delivery_timeout, Duration::from_secs(3));
    }

    #[test]
    fn missing_or_malformed_settings_are_clear_errors() {
        assert!(config(&[])
            .unwrap_err()
            .0
            .contains("KAFKA_BOOTSTRAP_SERVERS"));
        assert!(config(&[("MSK_CLUSTER_ARN", "my-cluster")])
            .unwrap_err()
            .0
            .contains("MSK cluster ARN"));
        let snappy = config(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "b:9092"),
            ("KAFKA_COMPRESSION", "snappy"),
        ]);
        assert!(snappy.unwrap_err().0.contains("snappy"));
        let zstd = config(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "b:9092"),
            ("KAFKA_COMPRESSION", "zstd"),
        ]);
        assert!(zstd.unwrap_err().0.contains("zstd"));
        let linger = config(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "b:9092"),
            ("KAFKA_LINGER_MS", "soon"),
        ]);
        assert!(linger.unwrap_err().0.contains("KAFKA_LINGER_MS"));
    }

    #[test]
    fn topics_and_timings_can_be_set() {
        let c = config(&[
            ("KAFKA_BOOTSTRAP_SERVERS", "b:9092"),
            ("KAFKA_EVENTS_TOPIC", "e"),
            ("KAFKA_REJECTIONS_TOPIC", "r"),
            ("KAFKA_COMPRESSION", "none"),
            ("KAFKA_LINGER_MS", "0"),
            ("KAFKA_DELIVERY_TIMEOUT_MS", "30000"),
        ])
        .unwrap();
        assert_eq!(
            (c.events_topic.as_str(), c.rejections_topic.as_str()),
            ("e", "r")
        );
        assert_eq!(
            (c.compression, c.linger, c.delivery_timeout),
            (Compression::None, Duration::ZERO, Duration::from_secs(30))
        );
    }
}
