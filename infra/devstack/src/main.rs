//! `cargo run --bin devstack`: start the whole system locally and print where everything is.

use clap::Parser;
use devstack::{Devstack, DevstackConfig, DynamoSource};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Tributary local stack: a DynamoDB API, the tables and the HTTP API, on loopback.
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
    let stack = Devstack::start(DevstackConfig {
        http_addr: args.addr,
        dynamo,
        events_table: args.events_table,
    })
    .await?;
    println!("Tributary devstack is up");
    println!("  HTTP API      {}", stack.base_url());
    println!(
        "  DynamoDB API  {} ({})",
        stack.dynamo_endpoint, stack.dynamo_description
    );
    println!("  tables        {}", stack.events_table);
    println!("Try: curl -s -X POST {}/accounts -H 'content-type: application/json' -d '{{\"owner\":\"alice\",\"currency\":\"EUR\"}}'", stack.base_url());
    println!("Ctrl-C to stop.");
    tributary_http::serve::shutdown_signal().await;
    println!("stopping");
    drop(stack);
    Ok(())
}
