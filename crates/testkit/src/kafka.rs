//! Kafka for tests: the embedded mock cluster (once per test binary), a tansu broker of the binary's own
//! (`TRIBUTARY_TEST_KAFKA=tansu`: the full run), or the broker in `KAFKA_BOOTSTRAP_SERVERS`; unique topics per test,
//! and a reader that collects a topic's records.

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tributary_kafka::local::{create_topics, EmbeddedKafka};

/// The Kafka every test of this binary talks to.
pub struct TestKafka {
    pub bootstrap: String,
    embedded: Option<EmbeddedKafka>,
}

static KAFKA: OnceLock<TestKafka> = OnceLock::new();

/// The shared broker, started on first use.
pub fn kafka() -> &'static TestKafka {
    crate::start_watchdog();
    KAFKA.get_or_init(|| match std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
        _ if std::env::var("TRIBUTARY_TEST_KAFKA").as_deref() == Ok("tansu") => TestKafka {
            bootstrap: crate::broker::PrivateBroker::for_this_process()
                .expect("TRIBUTARY_TEST_KAFKA=tansu needs TANSU_BIN, the tansu binary"),
            embedded: None,
        },
        Ok(bootstrap) if !bootstrap.is_empty() => TestKafka {
            bootstrap,
            embedded: None,
        },
        _ => {
            let embedded = EmbeddedKafka::start().expect("embedded Kafka starts");
            TestKafka {
                bootstrap: embedded.bootstrap_servers().to_owned(),
                embedded: Some(embedded),
            }
        }
    })
}

/// The binary's Kafka, if a test has started it.
pub fn kafka_if_started() -> Option<&'static TestKafka> {
    KAFKA.get()
}

impl TestKafka {
    /// Whether this is the embedded mock cluster.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// A new topic with a unique name (topics are never deleted: tansu 0.6 deletes all topics on any delete).
    pub async fn topic(&self, prefix: &str, partitions: i32) -> String {
        let name = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
        match &self.embedded {
            Some(kafka) => kafka.create_topic(&name, partitions).expect("create topic"),
            None => create_topics(&self.bootstrap, &[(&name, partitions)])
                .await
                .expect("create topic"),
        }
        name
    }

    /// Take the embedded brokers down or up. `false` when the broker is external (nothing changed).
    pub fn set_available(&self, up: bool) -> bool {
        match &self.embedded {
            Some(kafka) => {
                kafka.set_available(up).expect("toggle brokers");
                true
            }
            None => false,
        }
    }
}

/// One record as read from a topic.
#[derive(Debug, Clone)]
pub struct ConsumedRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: serde_json::Value,
    pub headers: Vec<(String, String)>,
}

impl ConsumedRecord {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Read `topic` from the beginning of every partition until `done` says the records suffice (or `timeout`).
/// Records come back in partition order, then offset order.
pub async fn read_topic(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[ConsumedRecord]) -> bool + Send + 'static,
) -> Vec<ConsumedRecord> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    let reader = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", format!("test-reader-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .expect("topic metadata");
        let mut assignment = TopicPartitionList::new();
        for partition in metadata.topics()[0].partitions() {
            assignment
                .add_partition_offset(&topic, partition.id(), Offset::Beginning)
                .expect("assign");
        }
        consumer.assign(&assignment).expect("assign partitions");
        let deadline = Instant::now() + timeout;
        let mut records = Vec::new();
        while Instant::now() < deadline && !done(&records) {
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let Ok(message) = message else { continue };
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_owned(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            records.push(ConsumedRecord {
                partition: message.partition(),
                offset: message.offset(),
                key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                value: serde_json::from_slice(message.payload().unwrap_or_default())
                    .unwrap_or(serde_json::Value::Null),
                headers,
            });
        }
        records.sort_by_key(|r| (r.partition, r.offset));
        records
    });
    tokio::time::timeout(timeout + Duration::from_secs(15), reader)
        .await
        .expect("the topic reader finished")
        .expect("the topic reader did not panic")
}

/// Produce one raw record (any bytes: a poison record among good ones) to `topic`, and wait for the broker's ack.
pub async fn produce_raw(bootstrap: &str, topic: &str, key: &str, payload: &str) {
    let producer: rdkafka::producer::FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("producer");
    producer
        .send(
            rdkafka::producer::FutureRecord::to(topic)
                .key(key)
                .payload(payload),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("the broker takes the record");
}
