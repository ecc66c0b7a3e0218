//! The producer: one per container, idempotent (`enable.idempotence`, `acks=all`), keyed by aggregate id, so each
//! aggregate's records land on one partition in the order they were sent.

use crate::config::{Brokers, KafkaConfig};
use crate::context::{KafkaContext, MskIamAuth};
use crate::envelope::{DeadLetter, EventEnvelope, RejectionEnvelope};
use crate::msk::{discover_bootstrap_brokers, MskError};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;
use tributary_store::StoredEvent;

/// Publishing failed; the records may or may not have reached the broker.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot create the Kafka producer: {0}")]
    Setup(#[source] KafkaError),
    #[error(transparent)]
    Discovery(#[from] MskError),
    #[error("MSK IAM auth needs {0} in the AWS configuration")]
    MissingAws(&'static str),
    #[error(
        "event {aggregate_id} v{version} cannot be encoded (its payload is not JSON): {source}"
    )]
    Encode {
        aggregate_id: String,
        version: u64,
        source: serde_json::Error,
    },
    #[error("the record was not queued: {0}")]
    Enqueue(#[source] KafkaError),
    #[error("the broker did not acknowledge the record: {0}")]
    Delivery(#[source] KafkaError),
    #[error("the producer was shut down before the record was acknowledged")]
    Cancelled,
}

/// One record to publish, in an ordered batch: a committed event, or a dead letter.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Event {
        envelope: EventEnvelope,
        /// W3C `traceparent` of the command that produced it, sent as a header.
        traceparent: Option<String>,
    },
    DeadLetter(DeadLetter),
}

impl Outgoing {
    /// The record of a stored event; an event whose payload is not JSON cannot be published.
    pub fn event(event: &StoredEvent) -> Result<Self, PublishError> {
        let envelope =
            EventEnvelope::from_stored(event).map_err(|source| PublishError::Encode {
                aggregate_id: event.stream_id.clone(),
                version: event.version,
                source,
            })?;
        Ok(Self::Event {
            envelope,
            traceparent: event.metadata.traceparent.clone(),
        })
    }
}

/// Some records of a batch were not acknowledged: every record before `first_unacknowledged` was.
#[derive(Debug, thiserror::Error)]
#[error(
    "event {first_unacknowledged} of the batch and possibly later ones were not published: {error}"
)]
pub struct PartialPublish {
    pub first_unacknowledged: usize,
    #[source]
    pub error: PublishError,
}

/// Sends envelopes to the events and rejections topics.
#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer<KafkaContext>,
    events_topic: String,
    rejections_topic: String,
    dead_letter_topic: String,
}

impl Publisher {
    /// Connect as configured: plaintext brokers directly; an MSK cluster by discovering its IAM brokers with
    /// `aws` (the container's SDK config) and signing OAUTHBEARER tokens with its credentials.
    pub async fn connect(
        config: &KafkaConfig,
        aws: &aws_types::SdkConfig,
    ) -> Result<Self, PublishError> {
        let (bootstrap, context) = resolve_brokers(config, aws).await?;
        Self::with_context(config, &bootstrap, context)
    }

    /// A producer for `bootstrap` with an explicit context.
    pub fn with_context(
        config: &KafkaConfig,
        bootstrap: &str,
        context: KafkaContext,
    ) -> Result<Self, PublishError> {
        let producer = producer_config(config, bootstrap, context.iam.is_some())
            .create_with_context(context)
            .map_err(PublishError::Setup)?;
        Ok(Self {
            producer,
            events_topic: config.events_topic.clone(),
            rejections_topic: config.rejections_topic.clone(),
            dead_letter_topic: config.dead_letter_topic.clone(),
        })
    }

    /// Reach the brokers now rather than with the first record: connect (TLS and the IAM token on MSK), learn the
    /// events topic's partitions and leaders, and let the idempotent producer get its producer id. Two metadata
    /// requests, each waiting up to `timeout`: the first is answered over the bootstrap connection and names the
    /// brokers; the second goes to one of them, and an answer from a broker is when librdkafka asks for the
    /// producer id (else a timer does, 500 ms after the producer was created; one request was not enough when
    /// measured).
    pub async fn warm_up(&self, timeout: Duration) -> Result<(), KafkaError> {
        let producer = self.producer.clone();
        let topic = self.events_topic.clone();
        // librdkafka's metadata call blocks its thread.
        tokio::task::spawn_blocking(move || {
            for _ in 0..2 {
                producer.client().fetch_metadata(Some(&topic), timeout)?;
            }
            Ok(())
        })
        .await
        .unwrap_or(Err(KafkaError::MetadataFetch(RDKafkaErrorCode::Fail)))
    }

    /// Publish committed events (in order) and wait until the broker has acknowledged all of them.
    pub async fn publish_events(&self, events: &[StoredEvent]) -> Result<(), PublishError> {
        let records = events
            .iter()
            .map(Outgoing::event)
            .collect::<Result<Vec<_>, _>>()?;
        self.publish_in_order(&records)
            .await
            .map_err(|failure| failure.error)
    }

    /// Publish records in order and wait for every acknowledgement; on failure, say which was the first not
    /// acknowledged (every record before it was). Records with one key go to one partition in this order
    /// (idempotent producer). Every record queued is awaited before this returns, whatever fails.
    pub async fn publish_in_order(&self, records: &[Outgoing]) -> Result<(), PartialPublish> {
        let mut deliveries = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            match self.enqueue_outgoing(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err(error) => {
                    // Nothing after a record that could not be queued may go out (order); what is already queued
                    // may still be acknowledged.
                    return Err(await_all(deliveries).await.err().unwrap_or(PartialPublish {
                        first_unacknowledged: index,
                        error,
                    }));
                }
            }
        }
        await_all(deliveries).await
    }

    /// Publish dead letters and wait for every acknowledgement.
    pub async fn publish_dead_letters(&self, letters: &[DeadLetter]) -> Result<(), PublishError> {
        let records: Vec<Outgoing> = letters.iter().cloned().map(Outgoing::DeadLetter).collect();
        self.publish_in_order(&records)
            .await
            .map_err(|failure| failure.error)
    }

    fn enqueue_outgoing(&self, record: &Outgoing) -> Result<DeliveryFuture, PublishError> {
        match record {
            Outgoing::Event {
                envelope,
                traceparent,
            } => {
                let value = serde_json::to_vec(envelope).expect("envelopes always serialise");
                let version = envelope.version.to_string();
                let schema = envelope.schema_version.to_string();
                let mut headers = OwnedHeaders::new_with_capacity(5)
                    .insert(header("event_type", &envelope.event_type))
                    .insert(header("schema_version", &schema))
                    .insert(header("version", &version))
                    .insert(header("correlation_id", &envelope.correlation_id));
                if let Some(traceparent) = traceparent {
                    headers = headers.insert(header("traceparent", traceparent));
                }
                self.enqueue(&self.events_topic, &envelope.aggregate_id, &value, headers)
            }
            Outgoing::DeadLetter(letter) => {
                let value = serde_json::to_vec(letter).expect("dead letters always serialise");
                let key = letter.aggregate_id().unwrap_or_else(|| letter.id.clone());
                let headers = OwnedHeaders::new_with_capacity(2)
                    .insert(header("consumer", &letter.consumer))
                    .insert(header("dead_letter_id", &letter.id));
                self.enqueue(&self.dead_letter_topic, &key, &value, headers)
            }
        }
    }

    /// Publish a rejection (keyed by the aggregate it addressed) and wait for the acknowledgement.
    pub async fn publish_rejection(
        &self,
        rejection: &RejectionEnvelope,
    ) -> Result<(), PublishError> {
        let value = serde_json::to_vec(rejection).expect("envelopes always serialise");
        let headers = OwnedHeaders::new_with_capacity(2)
            .insert(header("rejection", &rejection.reason))
            .insert(header("correlation_id", &rejection.correlation_id));
        let delivery = self.enqueue(
            &self.rejections_topic,
            &rejection.aggregate_id,
            &value,
            headers,
        )?;
        await_all(vec![delivery])
            .await
            .map_err(|failure| failure.error)
    }

    fn enqueue(
        &self,
        topic: &str,
        key: &str,
        value: &[u8],
        headers: OwnedHeaders,
    ) -> Result<DeliveryFuture, PublishError> {
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(value)
            .headers(headers);
        self.producer
            .send_result(record)
            .map_err(|(e, _)| PublishError::Enqueue(e))
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

/// Wait for every delivery; on failure, the index of the first that was not acknowledged.
async fn await_all(deliveries: Vec<DeliveryFuture>) -> Result<(), PartialPublish> {
    let mut first_failure = None;
    for (index, delivery) in deliveries.into_iter().enumerate() {
        let error = match delivery.await {
            Ok(Ok(_)) => continue,
            Ok(Err((error, _))) => PublishError::Delivery(error),
            Err(_) => PublishError::Cancelled,
        };
        first_failure.get_or_insert(PartialPublish {
            first_unacknowledged: index,
            error,
        });
    }
    first_failure.map_or(Ok(()), Err)
}

/// The bootstrap list and client context for `config`: plaintext brokers as given; an MSK cluster's IAM brokers
/// discovered with `GetBootstrapBrokers`, with OAUTHBEARER tokens signed by `aws`'s credentials.
pub async fn resolve_brokers(
    config: &KafkaConfig,
    aws: &aws_types::SdkConfig,
) -> Result<(String, KafkaContext), PublishError> {
    match &config.brokers {
        Brokers::Plaintext(bootstrap) => Ok((bootstrap.clone(), KafkaContext::default())),
        Brokers::Msk { cluster_arn } => {
            let bootstrap =
                discover_bootstrap_brokers(&aws_sdk_kafka::Client::new(aws), cluster_arn).await?;
            let iam = MskIamAuth {
                region: aws
                    .region()
                    .cloned()
                    .ok_or(PublishError::MissingAws("a region (AWS_REGION)"))?,
                credentials: aws
                    .credentials_provider()
                    .ok_or(PublishError::MissingAws("credentials"))?,
            };
            Ok((bootstrap, KafkaContext { iam: Some(iam) }))
        }
    }
}

/// Connection settings every client of `bootstrap` needs (TLS and SASL OAUTHBEARER for MSK IAM).
pub fn client_config(bootstrap: &str, iam: bool) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", "tributary");
    if iam {
        c.set("security.protocol", "SASL_SSL")
            .set("sasl.mechanism", "OAUTHBEARER");
        trust_the_system_store(&mut c);
    }
    c
}

/// Verify brokers against the system's CA certificates, wherever this system keeps them. librdkafka's OpenSSL is
/// vendored (built into the binary), so its built-in default (`/usr/local/ssl`) does not exist on Lambda's
/// `provided.al2023`, whose bundle is `/etc/pki/tls/certs/ca-bundle.crt`; `probe` makes librdkafka look in the
/// usual locations, that one first.
pub fn trust_the_system_store(config: &mut ClientConfig) {
    config.set("ssl.ca.location", "probe");
}

/// The producer settings: idempotent, all in-sync replicas, small linger, bounded delivery time.
fn producer_config(config: &KafkaConfig, bootstrap: &str, iam: bool) -> ClientConfig {
    let mut c = client_config(bootstrap, iam);
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", config.linger.as_millis().to_string())
        .set("compression.type", config.compression.as_str())
        // librdkafka paces a cold producer's second broker connection by half of this (default 100 ms), and the
        // warm-up waits for that connection: 20 ms makes a cold start's warm-up ~13 ms instead of ~53 ms. Failed
        // connections still back off exponentially (up to reconnect.backoff.max.ms, 10 s).
        .set("reconnect.backoff.ms", "20")
        .set(
            "message.timeout.ms",
            config.delivery_timeout.as_millis().max(1).to_string(),
        );
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Compression;

    #[test]
    fn producer_settings_are_safe_and_fast() {
        let mut config = KafkaConfig::plaintext("b:9092", "e", "r");
        config.compression = Compression::None;
        config.delivery_timeout = Duration::from_millis(1500);
        let c = producer_config(&config, "b:9092", false);
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("compression.type"), Some("none"));
        assert_eq!(c.get("message.timeout.ms"), Some("1500"));
        assert_eq!(c.get("reconnect.backoff.ms"), Some("20"));
        assert_eq!(c.get("security.protocol"), None);
        let msk = producer_config(&config, "b:9098", true);
        assert_eq!(msk.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(msk.get("sasl.mechanism"), Some("OAUTHBEARER"));
        assert_eq!(msk.get("ssl.ca.location"), Some("probe"));
    }
}
