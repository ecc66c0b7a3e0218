//! The contract every [`EventStore`] passes, as tests a store's own suite runs ([`contract_tests!`]): the in-memory
//! store's here, DynamoDB's in `tributary-dynamodb` (against a real DynamoDB API). Each check takes a store of its
//! own streams (fresh ids), so checks may share one store and run in parallel.

use crate::{
    EventStore, EventStoreError, NewEvent, Order, Receipt, Snapshot, MAX_EVENTS_PER_APPEND,
};
use chrono::{TimeDelta, Utc};
use std::collections::HashSet;
use std::sync::Arc;
use tributary_core::EventMetadata;
use uuid::Uuid;

/// Generate one `#[test]` per check of the contract, each on the store `$store` (an expression evaluated in each
/// test, inside a Tokio runtime, that gives an `Arc<dyn EventStore>`).
#[macro_export]
macro_rules! contract_tests {
    ($store:expr) => {
        $crate::contract_tests!(@checks $store;
            appends_and_loads_in_version_order_with_metadata,
            a_stale_writer_gets_a_typed_conflict_and_writes_nothing,
            one_append_holds_up_to_the_limit_its_receipt_included,
            long_streams_load_whole,
            concurrent_writers_never_share_a_version,
            a_receipt_is_written_with_its_events_and_holds_the_key,
            an_expired_receipt_may_be_written_over,
            a_remembered_rejection_holds_the_key,
            receipts_are_not_streams,
            a_tail_stops_at_the_newest_snapshot_at_or_below_its_end,
            single_events_and_ranges_are_read_exactly,
            audit_pages_go_both_ways_and_say_when_more_follow,
            every_stream_is_listed_once_over_the_pages,
            every_event_is_chained_to_the_one_before,
            an_audit_scan_finds_every_stream_and_no_receipt
        );
    };
    (@checks $store:expr; $($check:ident),+) => {
        $(
            #[test]
            fn $check() {
                $crate::contract::run(async {
                    let store: ::std::sync::Arc<dyn $crate::EventStore> = $store;
                    $crate::contract::$check(store).await;
                });
            }
        )+
    };
}

/// Run a check on a runtime of its own (a store's suite need not depend on Tokio's macros).
pub fn run<F: std::future::Future>(check: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
        .block_on(check)
}

fn stream() -> String {
    format!("contract-{}", Uuid::new_v4())
}

fn event(n: usize) -> NewEvent {
    NewEvent {
        event_type: "Tested".into(),
        schema_version: 1,
        payload: format!(r#"{{"n":{n}}}"#),
        metadata: EventMetadata {
            event_id: Uuid::new_v4(),
            command_id: Uuid::new_v4(),
            correlation_id: "correlation".into(),
            causation_id: "cause".into(),
            occurred_at: Utc::now(),
            actor: "contract".into(),
            idempotency_key: Some(format!("key-{n}")),
            request_fingerprint: Some("fingerprint".into()),
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        },
    }
}

fn events(range: std::ops::Range<usize>) -> Vec<NewEvent> {
    range.map(event).collect()
}

fn receipt(stream_id: &str, version: u64, expires_in: Option<TimeDelta>) -> Receipt {
    // Whole seconds: a store may keep times to the second.
    let written_at = chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now");
    Receipt {
        id: Uuid::new_v4().to_string(),
        stream_id: stream_id.to_owned(),
        version,
        fingerprint: "fingerprint".into(),
        written_at,
        expires_at: expires_in.map(|period| written_at + period),
        rejection: None,
    }
}

fn snapshot(n: u32) -> Snapshot {
    Snapshot {
        shape: 1,
        state: format!(r#"{{"state":{n}}}"#),
        recent: "[]".into(),
        window: Some(64),
    }
}

fn versions(events: &[crate::StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.version).collect()
}

pub async fn appends_and_loads_in_version_order_with_metadata(store: Arc<dyn EventStore>) {
    let s = stream();
    let first = event(1);
    assert_eq!(
        store
            .append(&s, 0, std::slice::from_ref(&first))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.append(&s, 1, &events(2..4)).await.unwrap(), 3);
    let loaded = store.load(&s).await.unwrap();
    assert_eq!(versions(&loaded), vec![1, 2, 3]);
    assert_eq!(loaded[0].stream_id, s);
    assert_eq!(loaded[0].event_type, first.event_type);
    assert_eq!(loaded[0].schema_version, first.schema_version);
    assert_eq!(loaded[0].payload, first.payload);
    assert_eq!(
        loaded[0].metadata, first.metadata,
        "metadata read back whole"
    );
    assert_eq!(versions(&store.load_after(&s, 2).await.unwrap()), vec![3]);
    assert!(store.load(&stream()).await.unwrap().is_empty());
    assert_eq!(
        store.append(&s, 3, &[]).await.unwrap(),
        3,
        "nothing to append"
    );
}

pub async fn a_stale_writer_gets_a_typed_conflict_and_writes_nothing(store: Arc<dyn EventStore>) {
    let s = stream();
    store.append(&s, 0, &[event(1)]).await.unwrap();
    let err = store.append(&s, 0, &[event(9)]).await.unwrap_err();
    assert!(
        matches!(
            &err,
            EventStoreError::WrongExpectedVersion {
                expected: 0,
                actual_at_least: 1,
                ..
            }
        ),
        "{err:?}"
    );
    // A multi-event append that collides on its first event writes none of them, receipt included.
    let r = receipt(&s, 3, None);
    let err = store
        .append_with_receipt(&s, 0, None, &events(7..10), None, Some(&r))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EventStoreError::WrongExpectedVersion { .. }),
        "{err:?}"
    );
    let loaded = store.load(&s).await.unwrap();
    assert_eq!(versions(&loaded), vec![1]);
    assert_eq!(loaded[0].payload, r#"{"n":1}"#);
    assert_eq!(store.receipt(&r.id).await.unwrap(), None);
}

pub async fn one_append_holds_up_to_the_limit_its_receipt_included(store: Arc<dyn EventStore>) {
    let s = stream();
    let limit = MAX_EVENTS_PER_APPEND;
    assert_eq!(
        store.append(&s, 0, &events(0..limit)).await.unwrap(),
        limit as u64
    );
    let err = store
        .append(&s, limit as u64, &events(0..limit + 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EventStoreError::TooManyEvents { count, limit: l } if count == limit + 1 && l == limit),
        "{err:?}"
    );
    // With a receipt, the receipt is one of the items: one event fewer, said before anything is written.
    let r = receipt(&s, 2 * limit as u64 - 1, None);
    let err = store
        .append_with_receipt(&s, limit as u64, None, &events(0..limit), None, Some(&r))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EventStoreError::TooManyEvents { count, limit: l } if count == limit && l == limit - 1),
        "{err:?}"
    );
    assert_eq!(store.load(&s).await.unwrap().len(), limit);
    assert_eq!(
        store
            .append_with_receipt(
                &s,
                limit as u64,
                None,
                &events(0..limit - 1),
                None,
                Some(&r)
            )
            .await
            .unwrap(),
        2 * limit as u64 - 1
    );
    assert_eq!(store.receipt(&r.id).await.unwrap(), Some(r));
}

pub async fn long_streams_load_whole(store: Arc<dyn EventStore>) {
    let s = stream();
    for batch in 0..5 {
        store.append(&s, batch * 60, &events(0..60)).await.unwrap();
    }
    let loaded = store.load(&s).await.unwrap();
    assert_eq!(versions(&loaded), (1..=300).collect::<Vec<_>>());
    let tail = store.load_tail(&s, 7).await.unwrap();
    assert_eq!(tail.events.len(), 300, "no snapshot: the whole stream");
    assert_eq!(tail.items_read, 300);
    assert_eq!(tail.newest.map(|e| e.version), Some(300));
}

pub async fn concurrent_writers_never_share_a_version(store: Arc<dyn EventStore>) {
    let s = stream();
    let writers = (0..16).map(|i| {
        let (store, s) = (store.clone(), s.clone());
        tokio::spawn(async move {
            let mut won = 0;
            for _ in 0..5 {
                let version = store
                    .load(&s)
                    .await
                    .unwrap()
                    .last()
                    .map_or(0, |e| e.version);
                match store.append(&s, version, &[event(i)]).await {
                    Ok(_) => won += 1,
                    Err(EventStoreError::WrongExpectedVersion { .. }) => {}
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
            won
        })
    });
    let mut won = 0u64;
    for writer in writers.collect::<Vec<_>>() {
        won += writer.await.unwrap();
    }
    let loaded = store.load(&s).await.unwrap();
    assert_eq!(loaded.len() as u64, won);
    assert_eq!(versions(&loaded), (1..=won).collect::<Vec<_>>());
}

pub async fn a_receipt_is_written_with_its_events_and_holds_the_key(store: Arc<dyn EventStore>) {
    let s = stream();
    let r = receipt(&s, 2, Some(TimeDelta::hours(24)));
    assert_eq!(
        store
            .append_with_receipt(&s, 0, None, &events(1..3), None, Some(&r))
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.receipt(&r.id).await.unwrap(), Some(r.clone()));
    // The same key again, on a stream that moved on or on another stream: refused, nothing written.
    for (target, expected) in [(s.clone(), 2), (stream(), 0)] {
        let err = store
            .append_with_receipt(&target, expected, None, &[event(3)], None, Some(&r))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, EventStoreError::ReceiptTaken { id } if *id == r.id),
            "{err:?}"
        );
        assert_eq!(store.load(&target).await.unwrap().len() as u64, expected);
    }
    // A single event with a receipt too.
    let single = receipt(&s, 3, None);
    store
        .append_with_receipt(&s, 2, None, &[event(3)], None, Some(&single))
        .await
        .unwrap();
    assert!(matches!(
        store
            .append_with_receipt(&s, 3, None, &[event(4)], None, Some(&single))
            .await,
        Err(EventStoreError::ReceiptTaken { .. })
    ));
    assert_eq!(
        store.receipt(&Uuid::new_v4().to_string()).await.unwrap(),
        None
    );
}

pub async fn an_expired_receipt_may_be_written_over(store: Arc<dyn EventStore>) {
    let s = stream();
    let mut old = receipt(&s, 1, Some(TimeDelta::seconds(60)));
    old.written_at -= TimeDelta::hours(2);
    old.expires_at = Some(old.written_at + TimeDelta::hours(1));
    store
        .append_with_receipt(&s, 0, None, &[event(1)], None, Some(&old))
        .await
        .unwrap();
    let stored = store
        .receipt(&old.id)
        .await
        .unwrap()
        .expect("kept until deleted");
    assert!(!stored.is_live(Utc::now()), "read as expired");
    let new = Receipt {
        id: old.id.clone(),
        ..receipt(&s, 2, Some(TimeDelta::hours(24)))
    };
    store
        .append_with_receipt(&s, 1, None, &[event(2)], None, Some(&new))
        .await
        .unwrap();
    assert_eq!(store.receipt(&old.id).await.unwrap(), Some(new));
}

pub async fn a_remembered_rejection_holds_the_key(store: Arc<dyn EventStore>) {
    let s = stream();
    let rejected = Receipt {
        rejection: Some("insufficient-funds".into()),
        ..receipt(&s, 0, None)
    };
    store.remember(&rejected).await.unwrap();
    assert_eq!(
        store.receipt(&rejected.id).await.unwrap(),
        Some(rejected.clone())
    );
    assert!(matches!(
        store.remember(&rejected).await,
        Err(EventStoreError::ReceiptTaken { .. })
    ));
    assert!(matches!(
        store
            .append_with_receipt(&s, 0, None, &[event(1)], None, Some(&rejected))
            .await,
        Err(EventStoreError::ReceiptTaken { .. })
    ));
    assert!(
        store.load(&s).await.unwrap().is_empty(),
        "a rejection is no event"
    );
}

pub async fn receipts_are_not_streams(store: Arc<dyn EventStore>) {
    let s = stream();
    let r = receipt(&s, 1, None);
    store
        .append_with_receipt(&s, 0, None, &[event(1)], None, Some(&r))
        .await
        .unwrap();
    let mut listed = Vec::new();
    let mut cursor = None;
    loop {
        let (streams, next) = store.streams_page(cursor.as_ref(), 100).await.unwrap();
        listed.extend(streams);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(listed.iter().filter(|id| **id == s).count(), 1);
    assert!(
        listed.iter().all(|id| !id.contains(&r.id)),
        "a receipt listed as a stream"
    );
    assert_eq!(versions(&store.load(&s).await.unwrap()), vec![1]);
    assert_eq!(store.load_tail(&s, 10).await.unwrap().items_read, 1);
}

pub async fn a_tail_stops_at_the_newest_snapshot_at_or_below_its_end(store: Arc<dyn EventStore>) {
    let s = stream();
    store
        .append_with_snapshot(&s, 0, &events(1..4), Some(&snapshot(3)))
        .await
        .unwrap();
    store.append(&s, 3, &events(4..6)).await.unwrap();
    store
        .append_with_snapshot(&s, 5, &[event(6)], Some(&snapshot(6)))
        .await
        .unwrap();
    store.append(&s, 6, &[event(7)]).await.unwrap();

    let tail = store.load_tail(&s, 2).await.unwrap();
    assert_eq!(tail.snapshot, Some((6, snapshot(6))));
    assert_eq!(versions(&tail.events), vec![7]);
    assert_eq!(tail.newest.as_ref().map(|e| e.version), Some(7));
    assert_eq!(tail.items_read, 2);

    let at_snapshot = store.load_tail_up_to(&s, Some(6), 2).await.unwrap();
    assert_eq!(at_snapshot.snapshot, Some((6, snapshot(6))));
    assert!(at_snapshot.events.is_empty());
    assert_eq!(
        at_snapshot.newest.map(|e| e.version),
        Some(6),
        "the snapshot's own event"
    );

    let earlier = store.load_tail_up_to(&s, Some(5), 2).await.unwrap();
    assert_eq!(earlier.snapshot, Some((3, snapshot(3))));
    assert_eq!(versions(&earlier.events), vec![4, 5]);
    assert_eq!(earlier.items_read, 3);

    let before_any = store.load_tail_up_to(&s, Some(2), 2).await.unwrap();
    assert_eq!(before_any.snapshot, None);
    assert_eq!(versions(&before_any.events), vec![1, 2]);

    let loaded = store.load(&s).await.unwrap();
    assert_eq!(
        versions(&loaded),
        (1..=7).collect::<Vec<_>>(),
        "snapshots are not events"
    );
    let empty = store.load_tail(&stream(), 2).await.unwrap();
    assert_eq!(
        (
            empty.snapshot,
            empty.events.len(),
            empty.newest,
            empty.items_read
        ),
        (None, 0, None, 0)
    );
}

pub async fn single_events_and_ranges_are_read_exactly(store: Arc<dyn EventStore>) {
    let s = stream();
    store.append(&s, 0, &events(1..11)).await.unwrap();
    assert_eq!(
        store.load_event(&s, 4).await.unwrap().map(|e| e.payload),
        Some(r#"{"n":4}"#.to_owned())
    );
    assert_eq!(store.load_event(&s, 11).await.unwrap(), None);
    assert_eq!(store.load_event(&stream(), 1).await.unwrap(), None);
    assert_eq!(
        versions(&store.load_between(&s, 3, Some(6)).await.unwrap()),
        vec![4, 5, 6]
    );
    assert_eq!(
        versions(&store.load_between(&s, 8, None).await.unwrap()),
        vec![9, 10]
    );
    assert!(store.load_between(&s, 6, Some(6)).await.unwrap().is_empty());
    assert!(store.load_between(&s, 6, Some(2)).await.unwrap().is_empty());
    assert_eq!(
        versions(&store.load_between(&s, 0, Some(20)).await.unwrap()),
        (1..=10).collect::<Vec<_>>()
    );
}

pub async fn audit_pages_go_both_ways_and_say_when_more_follow(store: Arc<dyn EventStore>) {
    let s = stream();
    store.append(&s, 0, &events(1..8)).await.unwrap();
    let first = store.page(&s, Order::OldestFirst, None, 3).await.unwrap();
    assert_eq!((versions(&first.events), first.more), (vec![1, 2, 3], true));
    let last = store
        .page(&s, Order::OldestFirst, Some(4), 3)
        .await
        .unwrap();
    assert_eq!((versions(&last.events), last.more), (vec![5, 6, 7], false));
    let newest = store.page(&s, Order::NewestFirst, None, 3).await.unwrap();
    assert_eq!(
        (versions(&newest.events), newest.more),
        (vec![7, 6, 5], true)
    );
    let older = store
        .page(&s, Order::NewestFirst, Some(3), 3)
        .await
        .unwrap();
    assert_eq!((versions(&older.events), older.more), (vec![2, 1], false));
    assert!(store
        .page(&s, Order::NewestFirst, Some(1), 3)
        .await
        .unwrap()
        .events
        .is_empty());
    assert!(store
        .page(&s, Order::OldestFirst, Some(7), 3)
        .await
        .unwrap()
        .events
        .is_empty());
    assert!(store
        .page(&stream(), Order::OldestFirst, None, 3)
        .await
        .unwrap()
        .events
        .is_empty());
}

pub async fn every_stream_is_listed_once_over_the_pages(store: Arc<dyn EventStore>) {
    let mine: HashSet<String> = (0..30).map(|_| stream()).collect();
    for s in &mine {
        store.append(s, 0, &events(1..3)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let (streams, next) = store.streams_page(cursor.as_ref(), 25).await.unwrap();
        pages += 1;
        seen.extend(streams.into_iter().filter(|s| mine.contains(s)));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), mine.len(), "each stream once: {seen:?}");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), mine);
    assert!(pages >= 2, "30 streams in pages of 25");
}

/// Every append chains its events to the stream's head, whether the caller passes the head it read or the store
/// reads it; the chain read back verifies, and it is the one [`crate::StoredEvent::chained`] computes.
pub async fn every_event_is_chained_to_the_one_before(store: Arc<dyn EventStore>) {
    let s = stream();
    let written = events(1..7);
    store.append(&s, 0, &written[..1]).await.unwrap();
    // The store reads the head.
    store.append(&s, 1, &written[1..4]).await.unwrap();
    // The caller passes the head it read.
    let head = store.load_event(&s, 4).await.unwrap().expect("event 4");
    store
        .append_with_receipt(&s, 4, Some(&head), &written[4..], None, None)
        .await
        .unwrap();
    let loaded = store.load(&s).await.unwrap();
    let expected = crate::StoredEvent::chained(&s, 1, written, None);
    assert_eq!(
        loaded.iter().map(|e| e.link.clone()).collect::<Vec<_>>(),
        expected.iter().map(|e| e.link.clone()).collect::<Vec<_>>(),
        "the chain as stored is the chain of the events"
    );
    let mut walk = crate::verify::ChainWalk::new(
        &s,
        &crate::verify::TrustNoKeys,
        crate::verify::Expected {
            seal_every: None,
            unchained_start: false,
        },
    );
    for event in &loaded {
        walk.push(event);
    }
    let report = walk.finish();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.events, report.head), (6, 6));
}

/// The audit scan ([`EventStore::stream_ids_page`]) lists every stream (each at least once over its pages), never a
/// receipt's partition.
pub async fn an_audit_scan_finds_every_stream_and_no_receipt(store: Arc<dyn EventStore>) {
    let written: HashSet<String> = (0..3).map(|_| stream()).collect();
    let mut receipt_ids = Vec::new();
    for s in &written {
        let r = receipt(s, 2, Some(TimeDelta::hours(1)));
        store
            .append_with_receipt(s, 0, None, &events(1..3), None, Some(&r))
            .await
            .unwrap();
        receipt_ids.push(r.id);
    }
    let mut found = HashSet::new();
    let mut cursor = None;
    loop {
        let (streams, next) = store.stream_ids_page(cursor.as_ref(), 2).await.unwrap();
        found.extend(streams);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert!(
        written.is_subset(&found),
        "{written:?} not all in {found:?}"
    );
    let receipts: Vec<&String> = found
        .iter()
        .filter(|s| receipt_ids.iter().any(|id| s.contains(id.as_str())))
        .collect();
    assert!(
        receipts.is_empty(),
        "receipts are not streams: {receipts:?}"
    );
}
