//! A publisher connected in the background reaches the brokers before its first record: its first delivery is as
//! quick as any other, instead of waiting for the connection and the idempotent producer's id.

use std::time::{Duration, Instant};
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
async fn the_first_record_after_the_warm_up_does_not_wait_for_the_brokers() {
    let kafka = EmbeddedKafka::start().unwrap();
    kafka.create_topic("warm", 3).unwrap();
    // One topic for events and rejections: the warm-up fetches the events topic's metadata.
    let config = KafkaConfig::plaintext(kafka.bootstrap_servers(), "warm", "warm");
    let publisher =
        LazyPublisher::connect_in_background(config, aws_types::SdkConfig::builder().build());
    assert!(publisher.settled(Duration::from_secs(10)).await);
    let publisher = publisher.get().expect("connected");

    let started = Instant::now();
    publisher.publish_rejection(&rejection("a")).await.unwrap();
    let first = started.elapsed();
    // Without the warm-up, librdkafka asks for the idempotent producer's id on a timer 500 ms after the producer is
    // created, and the first record waits for it (measured: 500 ms on the embedded cluster; ~3 ms once warm).
    assert!(
        first < Duration::from_millis(250),
        "first delivery took {first:?}"
    );
}

#[tokio::test]
async fn a_publisher_that_never_connects_settles_as_not_connected() {
    let never = LazyPublisher::default();
    assert!(!never.settled(Duration::from_millis(10)).await);
}
