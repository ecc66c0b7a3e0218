//! The end-to-end promise, checked per account after a load: the event store, the Kafka topic (distinct events),
//! the three projections and the client's ledger agree, and nothing was appended twice.

use crate::ledger::Ledger;
use crate::projection::{applied_versions, assert_projections_match_the_store};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tributary_projections::ProjectionStore;
use tributary_store::{EventStore, StoredEvent};
use tributary_testkit::read_topic;

/// Where the system under test keeps things.
pub struct Endpoints {
    pub store: Arc<dyn EventStore>,
    pub projections: ProjectionStore,
    pub kafka_bootstrap: String,
    pub events_topic: String,
}

/// What was checked, for the record (RELIABILITY.md).
#[derive(Debug, Clone, Default)]
pub struct Agreement {
    pub accounts: usize,
    pub events: usize,
    pub acked: usize,
    pub rejected: usize,
    pub unknown_keyless: usize,
    /// Keyless commands with an unknown outcome that were in fact applied (at most once each).
    pub unknown_applied: usize,
    pub resent: usize,
    /// Records of these accounts on the topic (duplicates included).
    pub topic_records: usize,
}

impl std::fmt::Display for Agreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} accounts, {} events; client: {} acknowledged, {} refused (422), {} resent, {} keyless unknown ({} of them applied); topic: {} records",
            self.accounts,
            self.events,
            self.acked,
            self.rejected,
            self.resent,
            self.unknown_keyless,
            self.unknown_applied,
            self.topic_records
        )
    }
}

/// Check everything; panics with the first disagreement. Waits up to `settle` for the read side to catch up.
pub async fn assert_agreement(ledger: &Ledger, at: &Endpoints, settle: Duration) -> Agreement {
    let mut streams: BTreeMap<String, Vec<StoredEvent>> = BTreeMap::new();
    let mut agreement = Agreement {
        accounts: ledger.accounts.len(),
        acked: ledger.acked(),
        rejected: ledger.rejected(),
        unknown_keyless: ledger.unknown_keyless(),
        resent: ledger.resent(),
        ..Agreement::default()
    };
    for (account, record) in &ledger.accounts {
        let stream = format!("account-{account}");
        let events = at.store.load(&stream).await.expect("stream load");
        agreement.events += events.len();
        assert_eq!(
            events[0].event_type, "AccountOpened",
            "{stream} starts with its opening"
        );

        // Nothing appended twice: one command, one append; one (caller, key), one command.
        let commands: BTreeSet<_> = events.iter().map(|e| e.metadata.command_id).collect();
        assert_eq!(
            commands.len(),
            events.len(),
            "{stream}: a command appended twice"
        );
        let keyed: Vec<(&str, &str)> = events
            .iter()
            .filter_map(|e| {
                e.metadata
                    .idempotency_key
                    .as_deref()
                    .map(|k| (e.metadata.actor.as_str(), k))
            })
            .collect();
        let distinct_keys: BTreeSet<_> = keyed.iter().collect();
        assert_eq!(
            distinct_keys.len(),
            keyed.len(),
            "{stream}: an idempotency key applied twice"
        );

        // Every acknowledged command is in the store, at the version the client was told, exactly as sent.
        for ack in &record.acked {
            let event = events
                .iter()
                .find(|e| e.version == ack.version)
                .unwrap_or_else(|| panic!("{stream}: acknowledged v{} is missing", ack.version));
            assert_eq!(
                event.event_type,
                ack.movement.event_type(),
                "{stream} v{}",
                ack.version
            );
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&event.payload).unwrap()["amount"],
                ack.amount,
                "{stream} v{}",
                ack.version
            );
            if let Some(key) = &ack.key {
                assert_eq!(
                    event.metadata.idempotency_key.as_ref(),
                    Some(key),
                    "{stream} v{}",
                    ack.version
                );
            }
        }
        // Nothing the client was not told about, except keyless commands whose outcome it never learned.
        let acked_versions: BTreeSet<u64> = record.acked.iter().map(|a| a.version).collect();
        let unexplained: Vec<&StoredEvent> = events
            .iter()
            .skip(1)
            .filter(|e| !acked_versions.contains(&e.version))
            .collect();
        assert!(
            unexplained
                .iter()
                .all(|e| e.metadata.idempotency_key.is_none()),
            "{stream}: keyed events the client was never acknowledged: {unexplained:?}"
        );
        assert!(
            unexplained.len() <= record.unknown_keyless,
            "{stream}: {} unacknowledged events, {} keyless commands of unknown outcome",
            unexplained.len(),
            record.unknown_keyless
        );
        agreement.unknown_applied += unexplained.len();
        streams.insert(account.clone(), events);
    }

    assert_read_side_converges(&streams, at, settle).await;
    agreement.topic_records = assert_topic_holds_every_event(&streams, at, settle).await;
    agreement
}

/// Wait until every projection has applied each account's head, then compare them with the fold of the store.
async fn assert_read_side_converges(
    streams: &BTreeMap<String, Vec<StoredEvent>>,
    at: &Endpoints,
    settle: Duration,
) {
    let deadline = tokio::time::Instant::now() + settle;
    for (account, events) in streams {
        let head = events.last().map_or(0, |e| e.version);
        loop {
            let versions = applied_versions(&at.projections, account).await;
            if versions == [head; 3] {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "account {account}: projections at {versions:?} (summary, statement, owners), the store at {head}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let accounts: Vec<String> = streams.keys().cloned().collect();
    assert_projections_match_the_store(&at.projections, &*at.store, &accounts).await;
}

/// Read the events topic until every stored event of these accounts is there; check keys and versions. Returns
/// the number of records about these accounts.
async fn assert_topic_holds_every_event(
    streams: &BTreeMap<String, Vec<StoredEvent>>,
    at: &Endpoints,
    settle: Duration,
) -> usize {
    let expected: Arc<HashMap<String, BTreeMap<String, u64>>> = Arc::new(
        streams
            .iter()
            .map(|(account, events)| {
                let ids = events
                    .iter()
                    .map(|e| (e.metadata.event_id.to_string(), e.version))
                    .collect();
                (format!("account-{account}"), ids)
            })
            .collect(),
    );
    let wanted = expected.clone();
    let records = read_topic(
        &at.kafka_bootstrap,
        &at.events_topic,
        settle,
        move |records| {
            let mut seen: HashMap<&str, BTreeSet<&str>> = HashMap::new();
            for r in records {
                if let Some(id) = r.value["event_id"].as_str() {
                    seen.entry(r.key.as_str()).or_default().insert(id);
                }
            }
            wanted.iter().all(|(stream, ids)| {
                seen.get(stream.as_str())
                    .is_some_and(|s| ids.keys().all(|id| s.contains(id.as_str())))
            })
        },
    )
    .await;
    let mut on_topic: HashMap<String, BTreeMap<String, u64>> = HashMap::new();
    let mut count = 0;
    for r in records.iter().filter(|r| expected.contains_key(&r.key)) {
        count += 1;
        assert_eq!(
            r.value["aggregate_id"].as_str(),
            Some(r.key.as_str()),
            "key = aggregate id"
        );
        let id = r.value["event_id"]
            .as_str()
            .expect("an event id")
            .to_owned();
        let version = r.value["version"].as_u64().expect("a version");
        let previous = on_topic
            .entry(r.key.clone())
            .or_default()
            .insert(id, version);
        assert!(
            previous.is_none_or(|v| v == version),
            "one event, one version"
        );
    }
    for (stream, ids) in expected.iter() {
        assert_eq!(
            on_topic.get(stream),
            Some(ids),
            "{stream}: the distinct events on the topic are the store's"
        );
    }
    count
}
