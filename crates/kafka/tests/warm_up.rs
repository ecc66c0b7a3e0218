//! A publisher connected in the background settles (connected and warmed up, or given up) and then delivers. What
//! the warm-up saves (the first delivery's wait for the brokers and the idempotent producer's id: ~500 ms on the
//! embedded cluster, ~2.5 ms after it) is a performance figure: init-bench measures it (BENCHMARKS.md), no test
//! times it.

use std::time::Duration;
use tributary_kafka::local::EmbeddedKafka;
use tributary_kafka::{KafkaConfig, LazyPublisher, RejectionEnvelope, ENVELOPE_VERSION};

fn rejection(aggregate: &str) -> RejectionEnvelope {
    RejectionEnvelope {
        envelope_version: ENVELOPE_VERSION,
        rejection_id: uuid::Uuid::new_v4(),
        aggregate_id: aggregate.to_owned(),
        aggregate_version: 1,
        command: "Withdraw".to_owned(),
        command_body: serde_json::json!({}),
        reason: "insufficient-funds".to_owned(),
        detail: "not enough".to_owned(),
        command_id: uuid::Uuid::new_v4(),
        correlation_id: "warm-up-test".to_owned(),
        actor: "test".to_owned(),
        occurred_at: chrono::Utc::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_settles_connected_and_then_delivers() {
    let kafka = EmbeddedKafka::start().unwrap();
    kafka.create_topic("warm", 3).unwrap();
    // One topic for events and rejections: the warm-up fetches the events topic's metadata.
    let config = KafkaConfig::plaintext(kafka.bootstrap_servers(), "warm", "warm");
    let publisher =
        LazyPublisher::connect_in_background(config, aws_types::SdkConfig::builder().build());
    assert!(publisher.settled(Duration::from_secs(10)).await);
    let publisher = publisher.get().expect("connected");
    publisher.publish_rejection(&rejection("a")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_warm_up_of_an_unreachable_cluster_fails_instead_of_hanging() {
    let kafka = EmbeddedKafka::start().unwrap();
    kafka.create_topic("warm", 3).unwrap();
    kafka.set_available(false).unwrap();
    let config = KafkaConfig::plaintext(kafka.bootstrap_servers(), "warm", "warm");
    let publisher =
        tributary_kafka::Publisher::connect(&config, &aws_types::SdkConfig::builder().build())
            .await
            .unwrap();
    assert!(publisher.warm_up(Duration::from_millis(300)).await.is_err());
}

#[tokio::test]
async fn a_publisher_that_never_connects_settles_as_not_connected() {
    let never = LazyPublisher::default();
    assert!(!never.settled(Duration::from_millis(10)).await);
}
