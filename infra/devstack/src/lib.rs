//! The local stack: everything the deployed system has, in one process on loopback.
//!
//! * a DynamoDB API: embedded dynoxide (in memory, or a file), or an external server (`AWS_ENDPOINT_URL_DYNAMODB`,
//!   e.g. the official DynamoDB Local);
//! * a Kafka cluster: embedded (librdkafka's mock brokers), or an external broker (`KAFKA_BOOTSTRAP_SERVERS`,
//!   e.g. tansu), with the topics created;
//! * the tables, created from the shared definitions in `tributary_dynamodb::tables`;
//! * the command API (the same router the Lambda function serves), publishing after each commit;
//! * the relay (the same handler the Lambda function runs), fed by a local DynamoDB Streams event source mapping.
//!
//! [`Devstack::start`] is what `cargo run --bin devstack` runs; end-to-end tests start it the same way.

pub mod stream_mapping;

use anyhow::Context;
use aws_sdk_dynamodbstreams::config::{BehaviorVersion, Credentials, Region};
use command_function::{CommandService, PublishFaults};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tributary_dynamodb::local::local_client;
use tributary_dynamodb::tables;
use tributary_kafka::local::{create_topics, EmbeddedKafka};
use tributary_kafka::{KafkaConfig, Publisher};

/// Partitions of the topics devstack creates.
pub const TOPIC_PARTITIONS: i32 = 6;

/// Where the DynamoDB API comes from.
#[derive(Debug, Clone)]
pub enum DynamoSource {
    /// Embedded dynoxide on `addr`; in memory, or persisted in `file`.
    Embedded {
        addr: SocketAddr,
        file: Option<PathBuf>,
    },
    /// A server already running at this URL.
    External(String),
}

/// Where Kafka comes from.
#[derive(Debug, Clone)]
pub enum KafkaSource {
    /// An in-process mock cluster on loopback.
    Embedded,
    /// A broker already running at this bootstrap list.
    External(String),
}

/// What to start.
#[derive(Debug, Clone)]
pub struct DevstackConfig {
    /// Address of the HTTP API.
    pub http_addr: SocketAddr,
    pub dynamo: DynamoSource,
    pub events_table: String,
    pub kafka: KafkaSource,
    pub events_topic: String,
    pub rejections_topic: String,
    /// Fraction of the command path's publishes to drop after the commit (chaos switch; 0 normally).
    pub fail_publish_rate: f64,
    /// Run the relay (off only in tests that simulate a crash before it could run).
    pub relay: bool,
}

impl DevstackConfig {
    /// Defaults: HTTP on `http_addr`, everything embedded, default names, no chaos, relay on.
    pub fn embedded(http_addr: SocketAddr) -> Self {
        Self {
            http_addr,
            dynamo: DynamoSource::Embedded {
                addr: "127.0.0.1:0".parse().expect("valid address"),
                file: None,
            },
            events_table: command_function::config::DEFAULT_EVENTS_TABLE.to_owned(),
            kafka: KafkaSource::Embedded,
            events_topic: tributary_kafka::config::DEFAULT_EVENTS_TOPIC.to_owned(),
            rejections_topic: tributary_kafka::config::DEFAULT_REJECTIONS_TOPIC.to_owned(),
            fail_publish_rate: 0.0,
            relay: true,
        }
    }
}

/// A running stack. Dropping it stops everything it started.
pub struct Devstack {
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    /// The DynamoDB endpoint in use.
    pub dynamo_endpoint: String,
    pub dynamo_description: String,
    pub events_table: String,
    /// The Kafka bootstrap list in use.
    pub kafka_bootstrap: String,
    pub kafka_description: String,
    pub events_topic: String,
    pub rejections_topic: String,
    embedded_kafka: Option<EmbeddedKafka>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Devstack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Devstack {
    /// Start every part, create tables and topics, and return once the HTTP API accepts connections.
    pub async fn start(config: DevstackConfig) -> anyhow::Result<Self> {
        let mut tasks = Vec::new();
        let (dynamo_endpoint, dynamo_description) =
            start_dynamo(&config.dynamo, &mut tasks).await?;
        let client = local_client(&dynamo_endpoint);
        tables::EVENTS
            .ensure(&client, &config.events_table)
            .await
            .with_context(|| {
                format!(
                    "cannot create table {} at {dynamo_endpoint}",
                    config.events_table
                )
            })?;

        let topics = [
            (config.events_topic.as_str(), TOPIC_PARTITIONS),
            (config.rejections_topic.as_str(), TOPIC_PARTITIONS),
        ];
        let (embedded_kafka, kafka_bootstrap, kafka_description) = match &config.kafka {
            KafkaSource::Embedded => {
                let kafka = EmbeddedKafka::start().context("cannot start the embedded Kafka")?;
                for (name, partitions) in topics {
                    kafka
                        .create_topic(name, partitions)
                        .with_context(|| format!("cannot create topic {name}"))?;
                }
                let bootstrap = kafka.bootstrap_servers().to_owned();
                (
                    Some(kafka),
                    bootstrap,
                    "embedded mock cluster, 3 brokers".to_owned(),
                )
            }
            KafkaSource::External(bootstrap) => {
                create_topics(bootstrap, &topics)
                    .await
                    .with_context(|| format!("cannot create topics on {bootstrap}"))?;
                (None, bootstrap.clone(), "external broker".to_owned())
            }
        };
        let kafka = KafkaConfig::plaintext(
            &kafka_bootstrap,
            &config.events_topic,
            &config.rejections_topic,
        );

        // The command function: its own producer, with the short delivery timeout of the request path.
        let command_publisher = Publisher::connect(
            &KafkaConfig {
                delivery_timeout: Duration::from_secs(2),
                ..kafka.clone()
            },
            &aws_types::SdkConfig::builder().build(),
        )
        .await?;
        let service = CommandService::new(client.clone(), &config.events_table).with_publisher(
            command_publisher,
            PublishFaults {
                fail_rate: config.fail_publish_rate,
            },
        );
        let listener = TcpListener::bind(config.http_addr).await.with_context(|| {
            format!(
                "cannot listen on {} for the HTTP API (set DEVSTACK_ADDR)",
                config.http_addr
            )
        })?;
        let http_addr = listener.local_addr()?;
        let router = command_function::router(service);
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(%e, "HTTP API stopped");
            }
        }));

        // The relay function: its own producer, patient like the Lambda's.
        if config.relay {
            let relay_publisher = Publisher::connect(
                &KafkaConfig {
                    delivery_timeout: Duration::from_secs(30),
                    ..kafka.clone()
                },
                &aws_types::SdkConfig::builder().build(),
            )
            .await?;
            tasks.push(tokio::spawn(stream_mapping::run(
                streams_client(&dynamo_endpoint),
                client,
                config.events_table.clone(),
                relay_publisher,
            )));
        }

        Ok(Self {
            http_addr,
            dynamo_endpoint,
            dynamo_description,
            events_table: config.events_table,
            kafka_bootstrap,
            kafka_description,
            events_topic: config.events_topic,
            rejections_topic: config.rejections_topic,
            embedded_kafka,
            tasks,
        })
    }

    /// Stop in reverse start order: the relay and the API first (and their Kafka producers with them), then the
    /// DynamoDB server, then (on drop) the embedded Kafka.
    pub async fn stop(mut self) {
        for task in std::mem::take(&mut self.tasks).into_iter().rev() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Base URL of the HTTP API.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The embedded Kafka, if this stack runs one (for broker-outage tests).
    pub fn embedded_kafka(&self) -> Option<&EmbeddedKafka> {
        self.embedded_kafka.as_ref()
    }
}

async fn start_dynamo(
    source: &DynamoSource,
    tasks: &mut Vec<JoinHandle<()>>,
) -> anyhow::Result<(String, String)> {
    Ok(match source {
        DynamoSource::External(url) => (
            url.trim_end_matches('/').to_owned(),
            "external server".to_owned(),
        ),
        DynamoSource::Embedded { addr, file } => {
            let db = match file {
                Some(path) => {
                    let path_text = path
                        .to_str()
                        .context("the data file path must be valid UTF-8")?;
                    dynoxide::Database::new(path_text).with_context(|| {
                        format!("cannot open DynamoDB data file {}", path.display())
                    })?
                }
                None => {
                    dynoxide::Database::memory().context("cannot create the in-memory DynamoDB")?
                }
            };
            let listener = TcpListener::bind(addr).await.with_context(|| {
                format!("cannot listen on {addr} for the embedded DynamoDB API (set DEVSTACK_DYNAMODB_ADDR)")
            })?;
            let bound = listener.local_addr()?;
            tasks.push(tokio::spawn(dynoxide::server::serve_on(listener, db)));
            let description = match file {
                Some(path) => format!("embedded dynoxide, data in {}", path.display()),
                None => "embedded dynoxide, in memory".to_owned(),
            };
            (format!("http://{bound}"), description)
        }
    })
}

/// A DynamoDB Streams client for the local server (same endpoint, dummy credentials).
fn streams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "local",
                "local",
                None,
                None,
                "tributary-local",
            ))
            .build(),
    )
}
