//! Two writers of one projection: the live denormaliser and a rebuild, against a real DynamoDB API.
//!
//! Fault model: a rebuild that loaded an account's stream a moment ago writes its (older) result between the
//! denormaliser's read of the projection and its guarded write. The denormaliser must never report events as
//! applied unless it wrote them: it retries against the new state instead.

use bank_account::views::{statement_step, AccountSummary, StatementCheckpoint};
use bank_account::{AccountEvent, Amount, Currency, Principal};
use tributary_core::{EventMetadata, RecordedEvent};
use tributary_dynamodb::{tables, EventStore, NewEvent};
use tributary_projections::{apply, Projection, ProjectionStore};
use tributary_testkit::{dynamo, run_on_own_thread, AfterCall};
use uuid::Uuid;

fn metadata() -> EventMetadata {
    tributary_testkit::event_metadata("tester")
}

/// An account with `deposits` deposits, appended to the event store; its id and events.
async fn account(deposits: u64) -> (String, Vec<RecordedEvent<AccountEvent>>) {
    let d = dynamo();
    let store = EventStore::new(d.client(), &d.events_table);
    let id = Uuid::new_v4().to_string();
    let stream = format!("account-{id}");
    let mut domain = vec![AccountEvent::AccountOpened {
        owner: Principal::parse("racer").unwrap(),
        currency: Currency::parse("EUR").unwrap(),
    }];
    domain.extend((1..=deposits).map(|n| AccountEvent::MoneyDeposited {
        amount: Amount::new(100 * n).unwrap(),
        deposited_by: Principal::parse("racer").unwrap(),
    }));
    for (i, event) in domain.iter().enumerate() {
        store
            .append(
                &stream,
                i as u64,
                &[NewEvent::from_domain(event, metadata())],
            )
            .await
            .unwrap();
    }
    let recorded = store
        .load(&stream)
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode().unwrap())
        .collect();
    (id, recorded)
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

/// What a rebuild that loaded the first `upto` events writes for `projection`.
async fn write_as_a_rebuild(
    projections: ProjectionStore,
    projection: Projection,
    account: String,
    events: Vec<RecordedEvent<AccountEvent>>,
) {
    let mut summary: Option<AccountSummary> = None;
    let mut checkpoint = StatementCheckpoint::default();
    let mut lines = Vec::new();
    for e in &events {
        let at = e.metadata.occurred_at.to_rfc3339();
        summary = AccountSummary::evolve(summary, &account, e.version, &at, &e.event);
        let (line, next) = statement_step(checkpoint, e.version, &at, &e.event);
        lines.extend(line);
        checkpoint = next;
    }
    let summary = summary.expect("the account was opened");
    match projection {
        Projection::Summary => projections
            .overwrite_summary(&summary, false)
            .await
            .unwrap(),
        Projection::Owners => projections.overwrite_summary(&summary, true).await.unwrap(),
        Projection::Statement => projections
            .overwrite_statement(&account, &lines, checkpoint)
            .await
            .unwrap(),
    }
}

async fn applied_version(projections: &ProjectionStore, projection: Projection, id: &str) -> u64 {
    match projection {
        Projection::Summary => projections.summary(id).await.unwrap().unwrap().version,
        Projection::Owners => {
            projections
                .owner_entry("racer", id)
                .await
                .unwrap()
                .unwrap()
                .version
        }
        Projection::Statement => projections.statement_checkpoint(id).await.unwrap().version,
    }
}

/// The denormaliser has applied v1-v2 and applies v3-v4; right after it reads the projection, a rebuild that
/// loaded the stream at v3 writes v3. The denormaliser must end with v4 stored and say so.
async fn a_rebuild_writing_between_read_and_write(projection: Projection, item_marker: &str) {
    let d = dynamo();
    let table = fresh_table().await;
    let (id, events) = account(3).await;
    let plain = ProjectionStore::new(d.client(), &table);
    let store = EventStore::new(d.client(), &d.events_table);
    let stream = format!("account-{id}");
    // The projection has applied v1-v2 (as far as the first records reached).
    write_as_a_rebuild(plain.clone(), projection, id.clone(), events[..2].to_vec()).await;

    let marker = item_marker.replace("{id}", &id);
    let rebuild = {
        let (plain, id, loaded) = (plain.clone(), id.clone(), events[..3].to_vec());
        AfterCall::new("GetItem", 1, move || {
            run_on_own_thread(write_as_a_rebuild(
                plain.clone(),
                projection,
                id.clone(),
                loaded.clone(),
            ))
        })
        .matching(marker)
    };
    let racing = ProjectionStore::new(d.client_with(rebuild.clone()), &table);
    let applied = apply(projection, &racing, &store, &stream, 4)
        .await
        .unwrap();
    assert!(
        rebuild.fired(),
        "the rebuild wrote in the middle of the apply"
    );
    assert_eq!(applied.to, 4, "{} reports v4 applied", projection.name());
    assert_eq!(
        applied_version(&plain, projection, &id).await,
        4,
        "{}: what was reported applied is stored",
        projection.name()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_is_never_reported_applied_when_a_rebuild_moved_it() {
    a_rebuild_writing_between_read_and_write(Projection::Summary, "account#{id}").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_listing_is_never_reported_applied_when_a_rebuild_moved_it() {
    a_rebuild_writing_between_read_and_write(Projection::Owners, "owner#racer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statement_is_never_reported_applied_when_a_rebuild_moved_it() {
    a_rebuild_writing_between_read_and_write(Projection::Statement, "statement#{id}").await;
}
