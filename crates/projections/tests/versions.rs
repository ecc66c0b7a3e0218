//! Versions of a read model in one table, against a real DynamoDB API: two versions never share an item, the catalog
//! refuses what would serve a half-built or deleted version, two operators promoting at once both see their write
//! land in turn (never a lost one), and retiring deletes exactly the retired version's items.

use serde_json::json;
use tributary_core::{ItemKey, Row};
use tributary_dynamodb::tables;
use tributary_projections::versions::{self, VersionError, VersionState};
use tributary_projections::{Guard, ProjectionStore, Step};
use tributary_testkit::dynamo;

async fn fresh_store() -> ProjectionStore {
    let d = dynamo();
    let table = format!("test-versions-{}", uuid::Uuid::new_v4().simple());
    tables::PROJECTIONS
        .ensure(&d.client(), &table)
        .await
        .unwrap();
    ProjectionStore::new(d.client(), &table)
}

/// One checkpoint and one row of entity `entity`, written by `store` at version 1.
async fn write(store: &ProjectionStore, entity: &str, value: u64) {
    let step = Step {
        version: 1,
        state: json!({ "value": value }),
        rows: vec![
            Row::new(
                ItemKey::new(format!("thing#{entity}"), "row-a"),
                &json!({ "value": value }),
            ),
            Row::new(
                ItemKey::new(format!("thing#{entity}"), "row-b"),
                &json!({ "value": value }),
            ),
        ],
    };
    assert!(store
        .commit(
            &ItemKey::new(format!("thing#{entity}"), "~checkpoint"),
            Guard::Exactly(0),
            &[step]
        )
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_versions_never_share_an_item_and_retiring_one_deletes_only_its_own() {
    let table = fresh_store().await;
    let (one, two) = (table.at("thing", 1), table.at("thing", 2));
    write(&one, "a", 1).await;
    write(&two, "a", 2).await;
    write(&two, "b", 2).await;
    let key = ItemKey::new("thing#a", "row-a");
    assert_eq!(
        one.get::<serde_json::Value>(&key).await.unwrap(),
        Some(json!({"value": 1}))
    );
    assert_eq!(
        two.get::<serde_json::Value>(&key).await.unwrap(),
        Some(json!({"value": 2}))
    );
    assert_eq!(
        two.get::<serde_json::Value>(&ItemKey::new("thing#c", "row-a"))
            .await
            .unwrap(),
        None
    );
    let stored: Vec<String> = table
        .dump()
        .await
        .unwrap()
        .into_iter()
        .map(|(pk, sk, _)| format!("{pk} {sk}"))
        .collect();
    assert!(stored.contains(&"thing#a row-a".to_owned()), "{stored:?}");
    assert!(
        stored.contains(&"thing-v2/thing#a row-a".to_owned()),
        "{stored:?}"
    );

    // An item of another read model, written without a version's store: never touched by a retirement.
    table
        .unscoped()
        .commit(
            &ItemKey::new("other#a", "~checkpoint"),
            Guard::Exactly(0),
            &[Step {
                version: 1,
                state: json!(1),
                rows: vec![],
            }],
        )
        .await
        .unwrap();
    let deleted = table.delete_tagged("thing", |_, _| {}).await.unwrap();
    assert_eq!(deleted, 3, "version 1's checkpoint and two rows");
    let left: Vec<String> = table
        .dump()
        .await
        .unwrap()
        .into_iter()
        .map(|(pk, sk, _)| format!("{pk} {sk}"))
        .collect();
    assert_eq!(
        left.len(),
        7,
        "version 2's six items and the other read model's: {left:?}"
    );
    assert!(
        left.iter()
            .all(|i| i.starts_with("thing-v2/") || i.starts_with("other#")),
        "{left:?}"
    );
    assert_eq!(
        table.delete_tagged("thing", |_, _| {}).await.unwrap(),
        0,
        "a second pass finds nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_serves_only_a_built_version_and_never_the_one_being_retired() {
    let table = fresh_store().await;
    // Nothing recorded: version 1 is served and built.
    let catalog = versions::catalog(&table, "thing").await.unwrap();
    assert_eq!(
        (catalog.serving, catalog.state(1)),
        (1, Some(VersionState::Built))
    );
    assert_eq!(
        versions::serving(&table, "thing").await.unwrap().label(),
        Some("thing")
    );

    // Version 2 cannot be served before it is built, nor while it builds.
    assert!(matches!(
        versions::promote(&table, "thing", 2).await,
        Err(VersionError::Refused { .. })
    ));
    versions::begin_build(&table, "thing", 2).await.unwrap();
    assert!(matches!(
        versions::promote(&table, "thing", 2).await,
        Err(VersionError::Refused {
            state: "building",
            ..
        })
    ));
    versions::finish_build(&table, "thing", 2).await.unwrap();
    let promoted = versions::promote(&table, "thing", 2).await.unwrap();
    assert_eq!(promoted.serving, 2);
    // This container's cache was told (its own change); others follow within the cache time.
    assert_eq!(
        versions::serving(&table, "thing").await.unwrap().label(),
        Some("thing-v2")
    );

    // The served version cannot be retired; the other can, and then is never served again.
    assert!(matches!(
        versions::begin_retire(&table, "thing", 2).await,
        Err(VersionError::Served { .. })
    ));
    versions::begin_retire(&table, "thing", 1).await.unwrap();
    assert!(
        !versions::may_write(&table, "thing", 1).await.unwrap(),
        "a retiring version's denormaliser writes nothing"
    );
    assert!(matches!(
        versions::promote(&table, "thing", 1).await,
        Err(VersionError::Refused {
            state: "retiring",
            ..
        })
    ));
    assert!(matches!(
        versions::begin_build(&table, "thing", 1).await,
        Err(VersionError::Refused { .. })
    ));
    versions::finish_retire(&table, "thing", 1).await.unwrap();
    let catalog = versions::catalog(&table, "thing").await.unwrap();
    assert_eq!(
        (catalog.serving, catalog.state(1), catalog.state(2)),
        (2, Some(VersionState::Retired), Some(VersionState::Built))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_changing_the_catalog_at_once_lose_no_change() {
    let table = fresh_store().await;
    // Eight versions' builds recorded at the same moment, each a read and a conditional write of one item.
    let builds: Vec<_> = (2..10)
        .map(|version| {
            let table = table.clone();
            tokio::spawn(async move { versions::begin_build(&table, "thing", version).await })
        })
        .collect();
    for build in builds {
        build.await.unwrap().unwrap();
    }
    let catalog = versions::catalog(&table, "thing").await.unwrap();
    assert_eq!(catalog.versions.len(), 8, "{catalog:?}");
    assert!(catalog
        .versions
        .values()
        .all(|r| r.state == VersionState::Building));
}
