//! A rebuild goes past a stream it cannot rebuild: before, the first stream whose events the fold refused stopped the
//! whole rebuild (and every run after it stopped at the same place). Now every other stream is rebuilt, the failed one
//! is reported with why, an operator can leave it out, and retry it alone once fixed.

use tributary_core::Projection;
use tributary_dynamodb::{tables, DynamoDbEventStore};
use tributary_projections::{
    rebuild, rebuild_streams, ProjectionStore, RebuildOptions, RebuildOutcome,
};
use tributary_store::NewEvent;
use tributary_testkit::tally::{TallyEvent, TallyTotals, STREAM_PREFIX};
use tributary_testkit::{dynamo, event_metadata, seed_history};
use uuid::Uuid;

fn counted(by: u64) -> TallyEvent {
    TallyEvent::TallyCounted { by }
}

#[tokio::test]
async fn a_rebuild_goes_past_a_stream_it_cannot_rebuild() {
    let d = dynamo();
    let suffix = Uuid::new_v4().simple();
    let (events_table, projections_table) = (
        format!("rebuild-failures-events-{suffix}"),
        format!("rebuild-failures-projections-{suffix}"),
    );
    let events_spec = tables::TableSpec {
        stream_view: None,
        ..tables::EVENTS
    };
    events_spec
        .ensure(&d.client(), &events_table)
        .await
        .unwrap();
    tables::PROJECTIONS
        .ensure(&d.client(), &projections_table)
        .await
        .unwrap();
    let streams: Vec<String> = (0..5)
        .map(|_| format!("{STREAM_PREFIX}{}", Uuid::new_v4()))
        .collect();
    let broken = streams[2].clone();
    for stream in &streams {
        // The broken stream starts with a count: the totals' fold refuses it (no tally was started).
        let history: Vec<TallyEvent> = if *stream == broken {
            vec![counted(5), counted(6)]
        } else {
            vec![TallyEvent::started("keeper"), counted(5)]
        };
        let events = history
            .iter()
            .map(|e| NewEvent::from_domain(e, event_metadata("ann")));
        seed_history(&d.client(), &events_table, stream, 1, events)
            .await
            .unwrap();
    }
    let store = DynamoDbEventStore::shared(d.client(), &events_table);
    let projections = ProjectionStore::new(d.client(), &projections_table);

    let outcome = rebuild(
        &TallyTotals,
        &projections,
        &store,
        RebuildOptions {
            page_size: 2,
            ..RebuildOptions::default()
        },
        |_| {},
    )
    .await
    .expect("the rebuild goes on past the broken stream");
    let RebuildOutcome::Completed(progress) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(progress.streams, 4, "{progress:?}");
    assert_eq!(
        progress.failed.keys().collect::<Vec<_>>(),
        [&broken],
        "{progress:?}"
    );
    for stream in streams.iter().filter(|s| **s != broken) {
        let entity = Projection::entity(&TallyTotals, stream).unwrap();
        let (_, version) = projections
            .checkpoint(&Projection::checkpoint_key(&TallyTotals, entity))
            .await
            .unwrap()
            .expect("rebuilt");
        assert_eq!(version, 2, "{stream}");
    }

    // Left out on purpose: nothing fails.
    let skipping = rebuild(
        &TallyTotals,
        &projections,
        &store,
        RebuildOptions {
            restart: true,
            skip: [broken.clone()].into(),
            ..RebuildOptions::default()
        },
        |_| {},
    )
    .await
    .unwrap();
    let RebuildOutcome::Completed(progress) = skipping else {
        panic!("{skipping:?}")
    };
    assert_eq!(
        (progress.streams, progress.skipped, progress.failed.len()),
        (4, 1, 0)
    );

    // Retried alone: still failing, and said so.
    let retried = rebuild_streams(
        &TallyTotals,
        &projections,
        &store,
        std::slice::from_ref(&broken),
        |_| {},
    )
    .await;
    assert_eq!(
        (retried.streams, retried.failed.len()),
        (0, 1),
        "{retried:?}"
    );
}
