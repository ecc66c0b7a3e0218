//! `cargo run -p devstack --bin create-topics`: the deploy step that creates the topics (events, rejections, dead
//! letters) on the configured brokers — an MSK cluster (`MSK_CLUSTER_ARN`, IAM auth; run it where the cluster is
//! reachable, e.g. from inside its VPC) or plaintext brokers (`KAFKA_BOOTSTRAP_SERVERS`). Topics that exist are
//! left alone, so it is safe to run on every deploy.

use clap::Parser;
use std::time::Duration;
use tributary_kafka::local::create_topics_with;
use tributary_kafka::{client_config, resolve_brokers, Brokers, KafkaConfig};

#[derive(Debug, Parser)]
#[command(about = "Create the Tributary topics on the configured Kafka brokers")]
struct Args {
    /// Partitions per topic (ordering is per aggregate, so more partitions only add parallelism).
    #[arg(long, env = "TOPIC_PARTITIONS", default_value_t = 6)]
    partitions: i32,
    /// Replication factor; -1 uses the cluster's default (what MSK Serverless requires).
    #[arg(long, env = "TOPIC_REPLICATION", allow_negative_numbers = true)]
    replication: Option<i32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = KafkaConfig::from_env(Duration::from_secs(10))?;
    let aws =
        tributary_runtime::config::aws_config(tributary_runtime::config::SdkPolicy::from_env(
            tributary_runtime::config::SdkPolicy::BACKGROUND,
        )?)
        .await;
    let (bootstrap, context) = resolve_brokers(&config, &aws).await?;
    let replication = args.replication.unwrap_or(match config.brokers {
        Brokers::Msk { .. } => -1,
        Brokers::Plaintext(_) => 1,
    });
    let admin = client_config(&bootstrap, context.iam.is_some()).create_with_context(context)?;
    let topics = [
        (config.events_topic.as_str(), args.partitions),
        (config.rejections_topic.as_str(), args.partitions),
        (config.dead_letter_topic.as_str(), args.partitions),
    ];
    create_topics_with(&admin, &topics, replication).await?;
    for (name, partitions) in topics {
        println!(
            "topic {name}: present ({partitions} partitions requested, replication {replication})"
        );
    }
    Ok(())
}
