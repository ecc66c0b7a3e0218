//! `cargo run --bin devstack`: start the whole system locally and print where everything is.

use clap::Parser;
use devstack::{Devstack, DevstackConfig, DynamoSource, KafkaSource};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Tributary local stack: a DynamoDB API, Kafka, the tables and topics, the HTTP API and the relay, on loopback.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address of the HTTP API.
    #[arg(long, env = "DEVSTACK_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// Address of the embedded DynamoDB API.
    #[arg(long, env = "DEVSTACK_DYNAMODB_ADDR", default_value = "127.0.0.1:8042")]
    dynamodb_addr: SocketAddr,
    /// Keep the embedded DynamoDB's data in this SQLite file (default: in memory, gone at exit).
    #[arg(long, env = "DEVSTACK_DATA_FILE")]
    data_file: Option<PathBuf>,
    /// Use this DynamoDB API (e.g. DynamoDB Local) instead of the embedded one.
    #[arg(long, env = "AWS_ENDPOINT_URL_DYNAMODB")]
    dynamodb_endpoint: Option<String>,
    /// Name of the events table.
    #[arg(long, env = "EVENTS_TABLE", default_value = command_function::config::DEFAULT_EVENTS_TABLE)]
    events_table: String,
    /// Use this Kafka broker (e.g. tansu) instead of the embedded mock cluster.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    kafka_bootstrap: Option<String>,
    /// Topic of committed events.
    #[arg(long, env = "KAFKA_EVENTS_TOPIC", default_value = tributary_kafka::config::DEFAULT_EVENTS_TOPIC)]
    events_topic: String,
    /// Topic of rejected commands.
    #[arg(long, env = "KAFKA_REJECTIONS_TOPIC", default_value = tributary_kafka::config::DEFAULT_REJECTIONS_TOPIC)]
    rejections_topic: String,
    /// Chaos: drop this fraction (0 to 1) of the command path's publishes after the commit, as if the process
    /// died there. The relay still publishes every event.
    #[arg(long, env = "DEVSTACK_FAIL_PUBLISH_RATE", default_value_t = 0.0, value_parser = rate)]
    fail_publish_rate: f64,
}

fn rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("must be a number from 0 to 1, got {raw:?}")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tributary_http::init_tracing();
    let args = Args::parse();
    let dynamo = match args.dynamodb_endpoint.filter(|url| !url.is_empty()) {
        Some(url) => DynamoSource::External(url),
        None => DynamoSource::Embedded {
            addr: args.dynamodb_addr,
            file: args.data_file,
        },
    };
    let kafka = match args.kafka_bootstrap.filter(|b| !b.is_empty()) {
        Some(bootstrap) => KafkaSource::External(bootstrap),
        None => KafkaSource::Embedded,
    };
    let stack = Devstack::start(DevstackConfig {
        http_addr: args.addr,
        dynamo,
        events_table: args.events_table,
        kafka,
        events_topic: args.events_topic,
        rejections_topic: args.rejections_topic,
        fail_publish_rate: args.fail_publish_rate,
        relay: true,
    })
    .await?;
    println!("Tributary devstack is up");
    println!("  HTTP API      {}", stack.base_url());
    println!(
        "  DynamoDB API  {} ({})",
        stack.dynamo_endpoint, stack.dynamo_description
    );
    println!("  table         {}", stack.events_table);
    println!(
        "  Kafka         {} ({})",
        stack.kafka_bootstrap, stack.kafka_description
    );
    println!(
        "  topics        {}, {}",
        stack.events_topic, stack.rejections_topic
    );
    if args.fail_publish_rate > 0.0 {
        println!(
            "  chaos         {:.0}% of publishes after commit are dropped; the relay delivers them",
            args.fail_publish_rate * 100.0
        );
    }
    println!("Try: curl -s -X POST {}/accounts -H 'content-type: application/json' -d '{{\"owner\":\"alice\",\"currency\":\"EUR\"}}'", stack.base_url());
    println!("Ctrl-C to stop.");
    tributary_http::serve::shutdown_signal().await;
    println!("stopping");
    stack.stop().await;
    Ok(())
}
