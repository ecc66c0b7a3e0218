//! Two writers of one projection: the live denormaliser and a rebuild, against a real DynamoDB API.
//!
//! Fault model: a rebuild that loaded an entity's stream a moment ago writes its (older) result between the
//! denormaliser's read of the projection and its guarded write. The denormaliser must never report events as
//! applied unless it wrote them: it retries against the new state instead, and ends with the projection the
//! store's events fold into. Over the kit's test-only tally domain, one read model of each shape the read side
//! writes.

use serde_json::Value;
use std::collections::BTreeMap;
use tributary_core::EventMetadata;
use tributary_dynamodb::{tables, DynamoDbEventStore};
use tributary_projections::{apply, Guard, ProjectionStore, ReadModel};
use tributary_store::{EventStore, NewEvent, StoredEvent};
use tributary_testkit::tally::{self, TalliesByKeeper, TallyEvent, TallyLogs, TallyTotals};
use tributary_testkit::{dynamo, run_on_own_thread, seed_history, AfterCall};
use uuid::Uuid;

fn metadata() -> EventMetadata {
    tributary_testkit::event_metadata("tester")
}

/// A tally counted `counts` times, appended to the event store; its id and events.
async fn tally(counts: u64) -> (String, Vec<StoredEvent>) {
    let d = dynamo();
    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
    let id = Uuid::new_v4().to_string();
    let stream = format!("{}{id}", tally::STREAM_PREFIX);
    let mut domain = vec![TallyEvent::started("racer")];
    domain.extend((1..=counts).map(|n| TallyEvent::TallyCounted { by: 100 * n }));
    let events = domain
        .iter()
        .map(|event| NewEvent::from_domain(event, metadata()));
    seed_history(&d.client(), &d.events_table, &stream, 1, events)
        .await
        .unwrap();
    (id, store.load(&stream).await.unwrap())
}

async fn fresh_table() -> String {
    let d = dynamo();
    let table = format!("test-race-{}", Uuid::new_v4().simple());
    tables::PROJECTIONS
        .ensure(&d.client(), &table)
        .await
        .unwrap();
    table
}

/// What a rebuild that loaded `events` (the start of the tally's stream) writes for `model`: their fold from
/// nothing, guarded only against moving the projection backwards.
async fn write_as_a_rebuild(
    projections: ProjectionStore,
    model: &'static dyn ReadModel,
    entity: String,
    events: Vec<StoredEvent>,
) {
    let steps = model.fold(&entity, None, &events).unwrap();
    assert!(
        projections
            .commit(&model.checkpoint_key(&entity), Guard::NotNewer, &steps)
            .await
            .unwrap(),
        "{}: the rebuild's write is not older than what is stored",
        model.name()
    );
}

/// Every item a fold of `events` from nothing leaves in an empty table: the checkpoint and the last version of
/// each row.
fn folded_items(
    model: &dyn ReadModel,
    entity: &str,
    events: &[StoredEvent],
) -> BTreeMap<(String, String), Value> {
    let steps = model.fold(entity, None, events).unwrap();
    let mut items = BTreeMap::new();
    for step in &steps {
        for row in &step.rows {
            items.insert((row.key.pk.clone(), row.key.sk.clone()), row.data.clone());
        }
    }
    let last = steps.last().expect("the tally has events");
    let key = model.checkpoint_key(entity);
    items.insert((key.pk, key.sk), last.state.clone());
    items
}

/// Every item of the table, its data parsed.
async fn stored_items(projections: &ProjectionStore) -> BTreeMap<(String, String), Value> {
    projections
        .dump()
        .await
        .unwrap()
        .into_iter()
        .map(|(pk, sk, data)| ((pk, sk), serde_json::from_str(&data).unwrap()))
        .collect()
}

/// The denormaliser has applied v1-v2 and applies v3-v4; right after it reads the projection's checkpoint, a
/// rebuild that loaded the stream at v3 writes v3. The denormaliser must end with v4 stored, say so, and leave the
/// projection the store's events fold into. `checkpoint_marker` picks the checkpoint read out of the requests.
async fn a_rebuild_writing_between_read_and_write(
    model: &'static dyn ReadModel,
    checkpoint_marker: &str,
) {
    let d = dynamo();
    let table = fresh_table().await;
    let (id, events) = tally(3).await;
    let plain = ProjectionStore::new(d.client(), &table);
    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
    let stream = format!("{}{id}", tally::STREAM_PREFIX);
    // The projection has applied v1-v2 (as far as the first records reached).
    write_as_a_rebuild(plain.clone(), model, id.clone(), events[..2].to_vec()).await;

    let marker = checkpoint_marker.replace("{id}", &id);
    let key = model.checkpoint_key(&id);
    assert!(
        key.pk.contains(&marker) || key.sk.contains(&marker),
        "{}: the marker names the checkpoint {key:?}",
        model.name()
    );
    let rebuild = {
        let (plain, id, loaded) = (plain.clone(), id.clone(), events[..3].to_vec());
        AfterCall::new("GetItem", 1, move || {
            run_on_own_thread(write_as_a_rebuild(
                plain.clone(),
                model,
                id.clone(),
                loaded.clone(),
            ))
        })
        .matching(marker)
    };
    let racing = ProjectionStore::new(d.client_with(rebuild.clone()), &table);
    let applied = apply(model, &racing, &store, &stream, 4).await.unwrap();
    assert!(
        rebuild.fired(),
        "the rebuild wrote in the middle of the apply"
    );
    assert_eq!(applied.to, 4, "{} reports v4 applied", model.name());
    assert_eq!(
        applied.from,
        3,
        "{}: the guarded write failed and the apply started over from what the rebuild wrote",
        model.name()
    );
    assert_eq!(
        plain
            .checkpoint(&model.checkpoint_key(&id))
            .await
            .unwrap()
            .map(|(_, version)| version),
        Some(4),
        "{}: what was reported applied is stored",
        model.name()
    );
    assert_eq!(
        stored_items(&plain).await,
        folded_items(model, &id, &events),
        "{}: the projection is the fold of the store",
        model.name()
    );
}

/// A checkpoint alone (one put).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_alone_is_never_reported_applied_when_a_rebuild_moved_it() {
    a_rebuild_writing_between_read_and_write(&TallyTotals, "tally#{id}").await;
}

/// One row rewritten by every event, in another partition (the row, then the checkpoint: two puts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_row_is_never_reported_applied_when_a_rebuild_moved_it() {
    // The guarded item is the tally's `keeper-of` checkpoint; its entry in `keeper#racer` is written before it.
    a_rebuild_writing_between_read_and_write(&TalliesByKeeper, "keeper-of#{id}").await;
}

/// A row per event, with the checkpoint in one transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_per_event_are_never_reported_applied_when_a_rebuild_moved_them() {
    a_rebuild_writing_between_read_and_write(&TallyLogs, "tally-log#{id}").await;
}
