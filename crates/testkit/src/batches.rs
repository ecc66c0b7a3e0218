//! Lambda-shaped event batches for handler tests: what the MSK event source mapping delivers (`KafkaEvent` JSON).

use base64::Engine;
use serde_json::{json, Value};
use tributary_kafka::EventEnvelope;
use tributary_store::StoredEvent;

/// One record of a batch: its key and value bytes, on partition 0 of the batch's topic.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

impl RawRecord {
    /// The record the publisher would send for `event`.
    pub fn of(event: &StoredEvent) -> Self {
        let envelope = EventEnvelope::from_stored(event).expect("stored events have JSON payloads");
        Self {
            key: Some(event.stream_id.clone().into_bytes()),
            value: Some(serde_json::to_vec(&envelope).expect("envelopes serialise")),
        }
    }

    /// A record with these exact bytes.
    pub fn raw(key: &str, value: &[u8]) -> Self {
        Self {
            key: Some(key.as_bytes().to_vec()),
            value: Some(value.to_vec()),
        }
    }
}

/// The `KafkaEvent` JSON of `records` on partition 0 of `topic`, offsets from `first_offset`.
pub fn kafka_batch_json(topic: &str, records: &[RawRecord], first_offset: i64) -> Value {
    let b64 = |bytes: &Option<Vec<u8>>| {
        bytes
            .as_ref()
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
    };
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "topic": topic, "partition": 0, "offset": first_offset + i as i64,
                "timestamp": 1_795_000_000_000i64, "timestampType": "CREATE_TIME",
                "key": b64(&r.key), "value": b64(&r.value), "headers": [],
            })
        })
        .collect();
    json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:us-east-1:000000000000:cluster/test/1",
        "bootstrapServers": "b:9092",
        "records": { format!("{topic}-0"): records },
    })
}
