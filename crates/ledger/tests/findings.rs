//! What the walk says about each kind of tampering, on a stream written through a sealing store (every 4 events)
//! and then altered as someone with write access to the table would: each alteration named, at its version, and a
//! clean stream intact.

use std::sync::Arc;
use tributary_ledger::{LocalNotary, TrustedKeys};
use tributary_store::chain::{chain_hash, Notary};
use tributary_store::verify::{ChainWalk, Expected, Finding, StreamReport};
use tributary_store::{EventStore, InMemoryEventStore, NewEvent, StoredEvent};
use tributary_testkit::event_metadata;

const STREAM: &str = "account-1";

fn deposit(n: u64) -> NewEvent {
    NewEvent {
        event_type: "MoneyDeposited".into(),
        schema_version: 1,
        payload: format!(r#"{{"type":"MoneyDeposited","amount":{n}}}"#),
        metadata: event_metadata("alice"),
    }
}

/// Twelve events written one command at a time through a store sealing every 4; the trusted keys.
async fn written() -> (Vec<StoredEvent>, TrustedKeys, LocalNotary) {
    let notary = LocalNotary::generate(4).unwrap();
    let store = InMemoryEventStore::new().with_notary(Arc::new(notary.clone()));
    for n in 0..12 {
        store.append(STREAM, n, &[deposit(100 + n)]).await.unwrap();
    }
    let mut keys = TrustedKeys::new();
    keys.add_pem(&notary.public_key_pem()).unwrap();
    (store.load(STREAM).await.unwrap(), keys, notary)
}

fn walk(events: &[StoredEvent], keys: &TrustedKeys) -> StreamReport {
    let mut walk = ChainWalk::new(
        STREAM,
        keys,
        Expected {
            seal_every: Some(4),
            unchained_start: false,
        },
    );
    for event in events {
        walk.push(event);
    }
    walk.finish()
}

/// Swap everything but the key (stream, version) of two items, as a table edit would.
fn swap_contents(events: &mut [StoredEvent], a: usize, b: usize) {
    let (va, vb) = (events[a].version, events[b].version);
    events.swap(a, b);
    events[a].version = va;
    events[b].version = vb;
}

#[tokio::test]
async fn a_clean_stream_is_intact_and_sealed_to_its_last_checkpoint() {
    let (events, keys, _) = written().await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.seal.is_some())
            .map(|e| e.version)
            .collect::<Vec<_>>(),
        vec![4, 8, 12]
    );
    let report = walk(&events, &keys);
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.sealed_to, Some(12));
}

#[tokio::test]
async fn a_changed_amount_is_named() {
    let (mut events, keys, _) = written().await;
    events[5].payload = events[5].payload.replace("105", "100105");
    assert_eq!(
        walk(&events, &keys).findings,
        vec![Finding::Modified { version: 6 }]
    );
}

#[tokio::test]
async fn a_deleted_event_is_named() {
    let (mut events, keys, _) = written().await;
    events.remove(6);
    assert_eq!(
        walk(&events, &keys).findings,
        vec![Finding::Deleted { from: 7, to: 7 }]
    );
}

#[tokio::test]
async fn an_inserted_event_is_named_with_the_ones_after_it_renumbered() {
    let (mut events, keys, _) = written().await;
    // A forger who knows the scheme: the new event chained to the one before it, the rest moved up one version.
    let previous = events[5].chain().map(str::to_owned);
    let forged = StoredEvent::committed(STREAM, 7, deposit(1_000_000), previous.as_deref());
    for event in &mut events[6..] {
        event.version += 1;
    }
    events.insert(6, forged);
    let findings = walk(&events, &keys).findings;
    assert_eq!(
        findings,
        vec![Finding::Inserted { version: 7 }],
        "{findings:?}"
    );
}

#[tokio::test]
async fn two_swapped_events_are_named() {
    let (mut events, keys, _) = written().await;
    swap_contents(&mut events, 8, 9);
    assert_eq!(
        walk(&events, &keys).findings,
        vec![Finding::Reordered {
            version: 9,
            with: 10
        }]
    );
}

#[tokio::test]
async fn a_rewritten_chain_is_caught_by_the_next_checkpoint() {
    let (mut events, keys, _) = written().await;
    // Change event 6 and recompute every hash after it (the whole suffix, as a careful forger would).
    events[5].payload = events[5].payload.replace("105", "100105");
    let mut previous = events[4].chain().map(str::to_owned);
    for event in &mut events[5..] {
        let content = event.content_hash_at(event.version);
        let chain = chain_hash(previous.as_deref(), &content);
        event.link = Some(tributary_store::chain::Link {
            content,
            chain: chain.clone(),
            previous: previous.clone(),
        });
        previous = Some(chain);
    }
    let report = walk(&events, &keys);
    assert!(
        matches!(
            report.findings.as_slice(),
            [
                Finding::BadSeal { version: 8, .. },
                Finding::BadSeal { version: 12, .. }
            ]
        ),
        "{report:?}"
    );
    assert_eq!(
        report.sealed_to,
        Some(4),
        "nothing after the last good checkpoint is vouched for"
    );
}

#[tokio::test]
async fn a_replaced_checkpoint_is_named() {
    let (events, keys, notary) = written().await;
    // Copied from another checkpoint.
    let mut copied = events.clone();
    copied[7].seal = copied[3].seal.clone();
    // Signed by a key of the forger's own, under its own name and under the trusted key's name.
    let forger = LocalNotary::generate(4).unwrap();
    let message = tributary_store::chain::seal_message(STREAM, 8, events[7].chain().unwrap(), 4);
    let forged_signature = hex::encode(forger.sign(&message).await.unwrap());
    let mut own_name = events.clone();
    own_name[7].seal = Some(tributary_store::chain::Seal {
        key: forger.key().to_owned(),
        every: 4,
        signature: forged_signature.clone(),
    });
    let mut trusted_name = events.clone();
    trusted_name[7].seal = Some(tributary_store::chain::Seal {
        key: notary.key().to_owned(),
        every: 4,
        signature: forged_signature,
    });
    // Removed.
    let mut removed = events.clone();
    removed[7].seal = None;
    for (what, events) in [
        ("copied", copied),
        ("own key", own_name),
        ("trusted name", trusted_name),
    ] {
        let findings = walk(&events, &keys).findings;
        assert!(
            matches!(findings.as_slice(), [Finding::BadSeal { version: 8, .. }]),
            "{what}: {findings:?}"
        );
    }
    assert_eq!(
        walk(&removed, &keys).findings,
        vec![Finding::MissingSeal { version: 8 }]
    );
}

#[tokio::test]
async fn an_event_inserted_by_hand_without_hashes_is_named() {
    let (mut events, keys, _) = written().await;
    let mut extra = StoredEvent::committed(STREAM, 13, deposit(5), None);
    extra.link = None;
    events.push(extra);
    assert_eq!(
        walk(&events, &keys).findings,
        vec![Finding::Unchained { version: 13 }]
    );
}

#[tokio::test]
async fn an_edit_next_to_a_deletion_or_a_swap_is_still_named() {
    let (events, keys, _) = written().await;
    // Event 9 deleted, event 10's amount and content hash changed (its chain hash left).
    let mut edited = events.clone();
    edited.remove(8);
    let tenth = &mut edited[8];
    tenth.payload = tenth.payload.replace("109", "100109");
    let content = tenth.content_hash_at(10);
    tenth.link.as_mut().unwrap().content = content;
    assert_eq!(
        walk(&edited, &keys).findings,
        vec![
            Finding::Deleted { from: 9, to: 9 },
            Finding::Modified { version: 10 }
        ]
    );
    // Events 6 and 7 swapped, event 8 edited with its content hash and chain hash recomputed.
    let mut edited = events.clone();
    swap_contents(&mut edited, 5, 6);
    let eighth = &mut edited[7];
    eighth.payload = eighth.payload.replace("107", "100107");
    let content = eighth.content_hash_at(8);
    let link = eighth.link.as_mut().unwrap();
    link.content = content;
    link.chain = chain_hash(link.previous.as_deref(), &link.content);
    let findings = walk(&edited, &keys).findings;
    assert!(
        findings.contains(&Finding::Reordered {
            version: 6,
            with: 7
        }) && findings.iter().any(|f| f.version() >= 8),
        "the edit after the swap is named: {findings:?}"
    );
}

#[tokio::test]
async fn a_stream_stripped_of_hashes_or_of_its_newer_seals_is_not_intact() {
    let (events, keys, _) = written().await;
    let mut stripped = events.clone();
    for event in &mut stripped {
        event.link = None;
        event.seal = None;
    }
    let report = walk(&stripped, &keys);
    assert_eq!(
        report.findings.len(),
        12,
        "every event unchained: {report:?}"
    );
    // The seals after event 4 removed (after an edit and a recomputed chain, say): each one due is missing.
    let mut unsealed = events.clone();
    for event in &mut unsealed[4..] {
        event.seal = None;
    }
    assert_eq!(
        walk(&unsealed, &keys).findings,
        vec![
            Finding::MissingSeal { version: 8 },
            Finding::MissingSeal { version: 12 }
        ]
    );
    // Even with no seal at all: the interval is the deployment's, not learned from the stream.
    let mut none = events;
    for event in &mut none {
        event.seal = None;
    }
    assert_eq!(walk(&none, &keys).findings.len(), 3);
}
