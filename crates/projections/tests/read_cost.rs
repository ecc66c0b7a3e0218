//! What applying costs in DynamoDB calls, counted by an SDK interceptor against a real DynamoDB API (the figures
//! BENCHMARKS.md quotes): since projections are read from the event store rather than from Kafka records, a batch
//! that brings an entity forward costs one consistent `Query` of the new events on top of the projection's own read
//! and write; a batch of duplicates costs the read alone. Over the kit's test-only tally domain: one read model of
//! each shape the read side writes (a checkpoint alone, rows with it in a transaction, one row elsewhere).

use tributary_core::{ItemKey, Projection};
use tributary_dynamodb::{tables, DynamoDbEventStore};
use tributary_projections::{
    apply, rebuild_stream, Consistency, Direction, Guard, ProjectionStore, ReadModel,
};
use tributary_store::{EventStore, NewEvent};
use tributary_testkit::tally::{
    self, KeeperEntry, LogCheckpoint, LogLine, TalliesByKeeper, TallyEvent, TallyLogs, TallyTotals,
};
use tributary_testkit::{dynamo, event_metadata, seed_history};
use uuid::Uuid;

/// A tally kept by `counter`, started and counted `counts` times (by 1, 2, ...); its stream id.
async fn tally_with(counts: u64) -> String {
    let stream = format!("{}{}", tally::STREAM_PREFIX, Uuid::new_v4());
    append(&stream, 0, &[TallyEvent::started("counter")]).await;
    count(&stream, 1, counts).await;
    stream
}

/// Counts by 1, 2, ... `counts` after `version`.
async fn count(stream: &str, version: u64, counts: u64) {
    let events: Vec<TallyEvent> = (1..=counts)
        .map(|by| TallyEvent::TallyCounted { by })
        .collect();
    append(stream, version, &events).await;
}

/// `events` as the versions after `version` of `stream`.
async fn append(stream: &str, version: u64, events: &[TallyEvent]) {
    let d = dynamo();
    let events = events
        .iter()
        .map(|event| NewEvent::from_domain(event, event_metadata("counter")));
    seed_history(&d.client(), &d.events_table, stream, version + 1, events)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_batch_costs_one_query_of_the_store_per_entity_and_duplicates_cost_nothing_more() {
    let d = dynamo();
    let table = format!("test-cost-{}", Uuid::new_v4().simple());
    tables::PROJECTIONS
        .ensure(&d.client(), &table)
        .await
        .unwrap();
    let (client, calls) = d.counted_client();
    let projections = ProjectionStore::new(client.clone(), &table);
    let store = DynamoDbEventStore::shared(client, &d.events_table);
    let stream = tally_with(9).await;

    let models: [(&dyn ReadModel, &[&str], &[&str]); 3] = [
        (&TallyTotals, &["GetItem", "Query", "PutItem"], &["GetItem"]),
        // Checkpoint and log lines in one transaction.
        (
            &TallyLogs,
            &["GetItem", "Query", "TransactWriteItems"],
            &["GetItem"],
        ),
        // The keeper listing's entry in the keeper's partition (guarded on its own version), then its checkpoint
        // (the tally's `keeper-of` item): two puts.
        (
            &TalliesByKeeper,
            &["GetItem", "Query", "PutItem", "PutItem"],
            &["GetItem"],
        ),
    ];
    for (projection, first, reads) in models {
        calls.clear();
        let applied = apply(projection, &projections, &store, &stream, 10)
            .await
            .unwrap();
        assert_eq!(applied.to, 10);
        let mut expected: Vec<&str> = first.to_vec();
        let mut got = calls.operations();
        got.sort();
        expected.sort();
        assert_eq!(
            got,
            expected,
            "{}: ten events in one batch",
            projection.name()
        );

        // The same records again (a redelivery): the projection's read, nothing else.
        calls.clear();
        apply(projection, &projections, &store, &stream, 10)
            .await
            .unwrap();
        assert_eq!(
            calls.operations(),
            reads,
            "{}: duplicates",
            projection.name()
        );
    }
}

/// A long gap (250 events, e.g. a read model that starts late) is applied in as few writes as DynamoDB's 100-item
/// transaction limit allows, each moving the checkpoint to the last event it holds, and ends equal to the fold: 250
/// log lines take three transactions; the keeper listing's one entry, rewritten by every event, one put of the
/// entry and one of the checkpoint.
#[tokio::test]
async fn a_long_gap_is_written_in_transactions_of_at_most_a_hundred_items() {
    let d = dynamo();
    let table = format!("test-gap-{}", Uuid::new_v4().simple());
    tables::PROJECTIONS
        .ensure(&d.client(), &table)
        .await
        .unwrap();
    let (client, calls) = d.counted_client();
    let projections = ProjectionStore::new(client.clone(), &table);
    let store = DynamoDbEventStore::shared(client, &d.events_table);
    let stream = tally_with(250).await;
    let tally = stream.strip_prefix(tally::STREAM_PREFIX).unwrap();

    for (projection, writes) in [
        (
            &TallyLogs as &dyn ReadModel,
            ["TransactWriteItems"; 3].as_slice(),
        ),
        (
            &TalliesByKeeper as &dyn ReadModel,
            ["PutItem"; 2].as_slice(),
        ),
    ] {
        calls.clear();
        let applied = apply(projection, &projections, &store, &stream, 251)
            .await
            .unwrap();
        assert_eq!((applied.from, applied.to), (0, 251));
        let got: Vec<String> = calls
            .operations()
            .into_iter()
            .filter(|op| op != "GetItem" && op != "Query")
            .collect();
        assert_eq!(got, writes, "{}", projection.name());
    }
    let mut lines: Vec<LogLine> = Vec::new();
    let mut after = "line#".to_owned();
    loop {
        let page = projections
            .page::<LogLine>(
                &tally::log_partition(tally),
                &after,
                "line$",
                Direction::OldestFirst,
                Consistency::Strong,
                100,
            )
            .await
            .unwrap();
        lines.extend(page.items);
        match page.next {
            Some(next) => after = next,
            None => break,
        }
    }
    let versions: Vec<u64> = lines.iter().map(|l| l.version).collect();
    assert_eq!(versions, (2..=251).collect::<Vec<_>>());
    let total = (1..=250).sum::<u64>();
    let checkpoint: LogCheckpoint = projections
        .get(&Projection::checkpoint_key(&TallyLogs, tally))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((checkpoint.version, checkpoint.total), (251, total));
    let entry: KeeperEntry = projections
        .get(&ItemKey::new(
            tally::keeper_partition("counter"),
            tally::keeper_entry_sk(tally),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((entry.version, entry.total), (251, total));
}

/// A rebuild of a long stream beside a live projection that is behind (stuck at version 200 of 251): it writes what
/// comes after the live checkpoint and ends equal to the fold — it neither gives up nor moves anything backwards.
#[tokio::test]
async fn a_rebuild_of_a_long_stream_beside_a_projection_that_is_behind_completes() {
    let d = dynamo();
    let table = format!("test-behind-{}", Uuid::new_v4().simple());
    tables::PROJECTIONS
        .ensure(&d.client(), &table)
        .await
        .unwrap();
    let projections = ProjectionStore::new(d.client(), &table);
    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
    let stream = tally_with(199).await;
    let applied = apply(&TallyLogs, &projections, &store, &stream, 200)
        .await
        .unwrap();
    assert_eq!(applied.to, 200);
    count(&stream, 200, 51).await;
    let read = rebuild_stream(&TallyLogs, &projections, &store, &stream)
        .await
        .unwrap();
    assert_eq!(read, 251);
    let tally = stream.strip_prefix(tally::STREAM_PREFIX).unwrap();
    let checkpoint: LogCheckpoint = projections
        .get(&Projection::checkpoint_key(&TallyLogs, tally))
        .await
        .unwrap()
        .unwrap();
    let total = (1..=199).sum::<u64>() + (1..=51).sum::<u64>();
    assert_eq!((checkpoint.version, checkpoint.total), (251, total));
    let lines = projections
        .page::<LogLine>(
            &tally::log_partition(tally),
            "line#",
            "line$",
            Direction::OldestFirst,
            Consistency::Strong,
            1000,
        )
        .await
        .unwrap()
        .items;
    assert_eq!(lines.len(), 250);
    assert_eq!(lines.last().unwrap().total_after, total);
}

/// A view row written without a transaction never moves backwards: a writer that folded from an older checkpoint
/// (its checkpoint write will be refused) cannot overwrite the row a newer fold wrote.
#[tokio::test]
async fn a_stale_writer_never_moves_a_view_row_backwards() {
    let d = dynamo();
    let table = format!("test-stale-row-{}", Uuid::new_v4().simple());
    tables::PROJECTIONS
        .ensure(&d.client(), &table)
        .await
        .unwrap();
    let projections = ProjectionStore::new(d.client(), &table);
    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
    let stream = tally_with(5).await;
    let tally = stream.strip_prefix(tally::STREAM_PREFIX).unwrap();
    let events = store.load(&stream).await.unwrap();
    let key = Projection::checkpoint_key(&TalliesByKeeper, tally);
    let fold = |to: usize| TalliesByKeeper.fold(tally, None, &events[..to]).unwrap();
    // A writer folded versions 1-3 and wrote them; another then folded 4-6 from that checkpoint and wrote them.
    assert!(projections
        .commit(&key, Guard::Exactly(0), &fold(3))
        .await
        .unwrap());
    assert!(projections
        .commit(&key, Guard::Exactly(3), &fold(6)[3..])
        .await
        .unwrap());
    // A stale writer that read the checkpoint at 3 and folded only to 5 writes now: refused, and the entry stays.
    assert!(!projections
        .commit(&key, Guard::Exactly(3), &fold(5)[3..])
        .await
        .unwrap());
    let entry: KeeperEntry = projections
        .get(&ItemKey::new(
            tally::keeper_partition("counter"),
            tally::keeper_entry_sk(tally),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((entry.version, entry.total), (6, 15));
}
