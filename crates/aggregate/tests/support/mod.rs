//! What the command-loop tests share: a decider that counts its events, and requests for it.

#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use tributary_aggregate::{CommandContext, CommandRequest, Idempotency, KeyRetention};
use tributary_core::{fingerprint, Decider, DomainEvent, IdempotencyKey};
use tributary_store::EventStore;
use uuid::Uuid;

/// Records `count` events per command, each naming the count it makes (so a wrong state shows in the events it
/// decides): enough to exercise single- and multi-event appends.
pub struct Tally;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    pub n: u64,
}

impl DomainEvent for Recorded {
    fn event_type(&self) -> &'static str {
        "Recorded"
    }
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

impl Decider for Tally {
    type State = u64;
    type Command = u64;
    type Event = Recorded;
    type Rejection = Never;

    fn initial() -> u64 {
        0
    }
    fn evolve(state: u64, _: &Recorded) -> u64 {
        state + 1
    }
    fn decide(state: &u64, count: &u64) -> Result<Vec<Recorded>, Never> {
        Ok((1..=*count).map(|i| Recorded { n: state + i }).collect())
    }
}

/// A request to `stream` for `count` events by `actor`, with an idempotency key if given.
pub fn request_to(stream: &str, count: u64, actor: &str, key: Option<&str>) -> CommandRequest<u64> {
    let command_id = Uuid::new_v4();
    CommandRequest {
        stream_id: stream.to_owned(),
        command: count,
        expected_version: None,
        idempotency: key.map(|k| Idempotency {
            key: IdempotencyKey::parse(k).unwrap(),
            fingerprint: fingerprint(&count),
            retention: KeyRetention::default(),
        }),
        context: CommandContext {
            command_id,
            correlation_id: command_id.to_string(),
            causation_id: command_id.to_string(),
            actor: actor.to_owned(),
            now: chrono::Utc::now(),
            traceparent: None,
        },
    }
}

/// The `n` of every event of `stream` in `store`, in order.
pub async fn counts_in(store: &dyn EventStore, stream: &str) -> Vec<u64> {
    store
        .load(stream)
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode::<Recorded>().unwrap().event.n)
        .collect()
}
