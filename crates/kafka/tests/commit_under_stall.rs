//! Fault: the group coordinator stalls — it accepts the commit and does not answer (a paused broker). The commit
//! must not take the async runtime with it: on a single-threaded runtime other tasks keep running while it waits,
//! and the caller gets `NoAnswer` after its bounded wait. (A synchronous commit called inline freezes the runtime
//! for the whole stall: that froze the local stack's HTTP APIs and timers while tansu was paused.)

use rdkafka::consumer::BaseConsumer;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tributary_kafka::local::EmbeddedKafka;
use tributary_kafka::{commit_offsets, CommitError};

#[tokio::test]
async fn a_stalled_coordinator_does_not_stall_the_runtime() {
    let kafka = EmbeddedKafka::start().unwrap();
    kafka.create_topic("orders", 1).unwrap();
    let consumer: Arc<BaseConsumer> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", kafka.bootstrap_servers())
            .set("group.id", "stall-test")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap(),
    );
    let offsets = |offset| {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset("orders", 0, Offset::Offset(offset))
            .unwrap();
        list
    };
    commit_offsets(consumer.clone(), offsets(1), Duration::from_secs(10))
        .await
        .expect("a commit while the cluster answers");

    let stall = Duration::from_secs(4);
    kafka.set_round_trip_time(stall).unwrap();
    let ticks = Arc::new(AtomicU32::new(0));
    let ticker = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let wait = Duration::from_millis(800);
    let outcome = commit_offsets(consumer.clone(), offsets(2), wait).await;
    let ticked = ticks.load(Ordering::SeqCst);
    ticker.abort();
    assert!(
        matches!(outcome, Err(CommitError::NoAnswer(w)) if w == wait),
        "the caller stops waiting: {outcome:?}"
    );
    assert!(
        ticked >= 10,
        "the runtime kept running while the commit waited ({ticked} ticks of 10 ms in {wait:?})"
    );

    kafka.set_round_trip_time(Duration::ZERO).unwrap();
    commit_offsets(consumer.clone(), offsets(3), stall * 3)
        .await
        .expect("commits answer again once the broker does");
}
