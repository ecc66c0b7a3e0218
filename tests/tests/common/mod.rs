//! Shared helpers for the end-to-end tests: start the local stack on the test DynamoDB API, speak JSON over HTTP.

#![allow(dead_code)]

use devstack::kafka_mapping::MappingSettings;
use devstack::{Devstack, DevstackConfig, DynamoSource, KafkaSource, TOPIC_PARTITIONS};
use serde_json::Value;
use tributary_aggregate::SnapshotPolicy;
use tributary_runtime::config::SdkPolicy;
use tributary_testkit::{dynamo, kafka};

/// The snapshot policy of the test stacks: a snapshot every 3 events, 16 recent commands remembered.
pub const SNAPSHOTS: SnapshotPolicy = SnapshotPolicy {
    every: 3,
    window: 16,
};

/// A stack configuration over the test binary's DynamoDB API and tables and its Kafka, with fresh topics, HTTP on
/// an ephemeral loopback port.
pub async fn test_config() -> DevstackConfig {
    let d = dynamo();
    let k = kafka();
    DevstackConfig {
        dynamo: DynamoSource::External(d.endpoint.clone()),
        events_table: d.events_table.clone(),
        projections_table: d.projections_table.clone(),
        kafka: KafkaSource::External(k.bootstrap.clone()),
        events_topic: k.topic("events", TOPIC_PARTITIONS).await,
        rejections_topic: k.topic("rejections", TOPIC_PARTITIONS).await,
        dead_letter_topic: k.topic("dead-letters", TOPIC_PARTITIONS).await,
        // Consumer groups of their own: stacks of other tests joining and leaving must not rebalance them.
        mapping: MappingSettings {
            group_prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
            ..MappingSettings::default()
        },
        // The deployed timeouts assume DynamoDB's latency; the tests share two cores and a debug build of the
        // embedded server between many stacks, so calls get the background functions' patience. (The
        // fault-injection suite, infra/devstack/tests/reliability.rs, runs with the deployed ones.)
        request_path_policy: SdkPolicy::BACKGROUND,
        // Snapshots every few events, so every end-to-end test runs over items that carry them (the relay, the
        // denormalisers, catch-up and rebuilds must see the events and nothing else).
        snapshots: SNAPSHOTS,
        ..DevstackConfig::embedded("127.0.0.1:0".parse().unwrap())
    }
}

/// Start the stack with [`test_config`].
pub async fn stack() -> Devstack {
    Devstack::start(test_config().await)
        .await
        .expect("devstack starts")
}

/// An HTTP client that calls the local stack as `principal` (an unsigned bearer token naming it).
pub fn client_as(principal: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        tributary_testkit::bearer(principal).parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A reply: status, selected headers, JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

/// POST a JSON body (or nothing) with extra headers.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut request = client.post(url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request reaches the stack");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    Reply {
        status,
        headers,
        body,
    }
}
