//! Kafka for local stacks and tests: librdkafka's in-process mock cluster (a real Kafka protocol server on
//! loopback), and topic creation on any broker through the admin API.

use crate::context::KafkaContext;
use crate::publisher::client_config;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::types::RDKafkaErrorCode;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Brokers in the embedded cluster.
const BROKERS: i32 = 3;

enum Control {
    CreateTopic(String, i32, mpsc::Sender<Result<(), KafkaError>>),
    Available(bool, mpsc::Sender<Result<(), KafkaError>>),
    RoundTrip(Duration, mpsc::Sender<Result<(), KafkaError>>),
    Stop,
}

/// An in-process Kafka cluster (librdkafka's mock brokers), owned by a thread of its own. Dropping it stops it.
pub struct EmbeddedKafka {
    bootstrap: String,
    control: mpsc::Sender<Control>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedKafka {
    /// Start a 3-broker cluster on loopback.
    pub fn start() -> Result<Self, KafkaError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (control, requests) = mpsc::channel::<Control>();
        let thread = std::thread::Builder::new()
            .name("embedded-kafka".into())
            .spawn(move || {
                let cluster = match MockCluster::new(BROKERS) {
                    Ok(cluster) => cluster,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                for request in requests {
                    match request {
                        Control::CreateTopic(name, partitions, reply) => {
                            let _ = reply.send(cluster.create_topic(&name, partitions, 1));
                        }
                        Control::Available(up, reply) => {
                            let result = (1..=BROKERS).try_for_each(|id| {
                                if up {
                                    cluster.broker_up(id)
                                } else {
                                    cluster.broker_down(id)
                                }
                            });
                            let _ = reply.send(result);
                        }
                        Control::RoundTrip(delay, reply) => {
                            let result = (1..=BROKERS)
                                .try_for_each(|id| cluster.broker_round_trip_time(id, delay));
                            let _ = reply.send(result);
                        }
                        Control::Stop => break,
                    }
                }
            })
            .map_err(|e| {
                KafkaError::ClientCreation(format!("cannot start the embedded Kafka thread: {e}"))
            })?;
        let bootstrap = ready_rx
            .recv()
            .map_err(|_| KafkaError::ClientCreation("the embedded Kafka thread died".into()))??;
        Ok(Self {
            bootstrap,
            control,
            thread: Some(thread),
        })
    }

    /// The bootstrap list any Kafka client can use.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Create a topic (replication 1).
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), KafkaError> {
        self.ask(|reply| Control::CreateTopic(name.to_owned(), partitions, reply))
    }

    /// Take every broker down (`false`) or bring them back (`true`): a broker outage for fault-injection tests.
    pub fn set_available(&self, up: bool) -> Result<(), KafkaError> {
        self.ask(|reply| Control::Available(up, reply))
    }

    /// Every broker answers requests only `delay` after they arrive (zero: at once again): a stalled broker —
    /// connections are accepted, answers do not come, like a paused process — for fault-injection tests.
    pub fn set_round_trip_time(&self, delay: Duration) -> Result<(), KafkaError> {
        self.ask(|reply| Control::RoundTrip(delay, reply))
    }

    fn ask(
        &self,
        request: impl FnOnce(mpsc::Sender<Result<(), KafkaError>>) -> Control,
    ) -> Result<(), KafkaError> {
        let (reply, answer) = mpsc::channel();
        let stopped = || KafkaError::ClientCreation("the embedded Kafka has stopped".into());
        self.control.send(request(reply)).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

impl Drop for EmbeddedKafka {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Create topics on a running plaintext broker (replication 1), unless they exist already.
pub async fn create_topics(bootstrap: &str, topics: &[(&str, i32)]) -> Result<(), KafkaError> {
    let admin: AdminClient<KafkaContext> =
        client_config(bootstrap, false).create_with_context(KafkaContext::default())?;
    create_topics_with(&admin, topics, 1).await
}

/// Create topics through `admin` (any broker, MSK included) unless they exist already. `replication` -1 takes the
/// broker's default (MSK Serverless manages replication itself).
pub async fn create_topics_with(
    admin: &AdminClient<KafkaContext>,
    topics: &[(&str, i32)],
    replication: i32,
) -> Result<(), KafkaError> {
    let existing: Vec<String> = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))?
        .topics()
        .iter()
        .filter(|t| !t.partitions().is_empty())
        .map(|t| t.name().to_owned())
        .collect();
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .filter(|(name, _)| !existing.iter().any(|e| e == name))
        .map(|(name, partitions)| {
            NewTopic::new(name, *partitions, TopicReplication::Fixed(replication))
        })
        .collect();
    if new_topics.is_empty() {
        return Ok(());
    }
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::AdminOp(code))
                    .inspect_err(|_| tracing::error!(%topic, ?code, "cannot create topic"))
            }
        }
    }
    Ok(())
}
