//! The local stack: everything the deployed system has, in one process on loopback.
//!
//! * a DynamoDB API: embedded dynoxide (in memory, or a file), or an external server (`AWS_ENDPOINT_URL_DYNAMODB`,
//!   e.g. the official DynamoDB Local);
//! * the tables, created from the shared definitions in `tributary_dynamodb::tables`;
//! * the command API (the same router the Lambda function serves).
//!
//! [`Devstack::start`] is what `cargo run --bin devstack` runs; end-to-end tests start it the same way.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tributary_dynamodb::local::local_client;
use tributary_dynamodb::tables;

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

/// What to start.
#[derive(Debug, Clone)]
pub struct DevstackConfig {
    /// Address of the HTTP API.
    pub http_addr: SocketAddr,
    pub dynamo: DynamoSource,
    pub events_table: String,
}

/// A running stack. Dropping it stops the servers it started.
pub struct Devstack {
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    /// The DynamoDB endpoint in use.
    pub dynamo_endpoint: String,
    pub dynamo_description: String,
    pub events_table: String,
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
    /// Start every part, create the tables, and return once the HTTP API accepts connections.
    pub async fn start(config: DevstackConfig) -> anyhow::Result<Self> {
        let mut tasks = Vec::new();
        let (dynamo_endpoint, dynamo_description) = match &config.dynamo {
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
                    None => dynoxide::Database::memory()
                        .context("cannot create the in-memory DynamoDB")?,
                };
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} for the embedded DynamoDB API (set DEVSTACK_DYNAMODB_ADDR)"))?;
                let bound = listener.local_addr()?;
                tasks.push(tokio::spawn(dynoxide::server::serve_on(listener, db)));
                let description = match file {
                    Some(path) => format!("embedded dynoxide, data in {}", path.display()),
                    None => "embedded dynoxide, in memory".to_owned(),
                };
                (format!("http://{bound}"), description)
            }
        };

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

        let service = command_function::CommandService::new(client, &config.events_table);
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

        Ok(Self {
            http_addr,
            dynamo_endpoint,
            dynamo_description,
            events_table: config.events_table,
            tasks,
        })
    }

    /// Base URL of the HTTP API.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }
}
