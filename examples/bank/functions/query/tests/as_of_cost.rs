//! A read of the past costs the same on day one and in year ten: `GET /accounts/{id}?as_of_version=N` reads back
//! from N to the nearest snapshot at or below it — at most the snapshot interval + 1 items for any N of a
//! 20,000-event stream (counted: DynamoDB's `ScannedCount` of every `Query`), where it read N items before. A
//! stranger's request costs the same bounded read and gets the 404 an account that does not exist gets.

use axum::body::Body;
use axum::http::Request;
use bank_account::{Account, AccountEvent, AccountState, Amount, Currency, Principal};
use http_body_util::BodyExt;
use query_function::{router, QueryService};
use tower::ServiceExt;
use tributary_aggregate::SnapshotPolicy;
use tributary_core::Decider;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_projections::ProjectionStore;
use tributary_store::{NewEvent, Snapshot};
use tributary_testkit::{bearer, dynamo, event_metadata, seed_history_with_snapshots};

const LENGTH: u64 = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_past_version_is_read_from_the_nearest_snapshot() {
    let d = dynamo();
    let every = SnapshotPolicy::default().every;
    let account = uuid::Uuid::new_v4();
    let stream = format!("account-{account}");
    let owner = Principal::parse("ann").unwrap();
    // Opened, then 19,999 deposits of one cent; every `every`-th item carries the state after it, as commands do.
    let mut state = Account::initial();
    let history = (1..=LENGTH).map(|version| {
        let event = if version == 1 {
            AccountEvent::AccountOpened {
                owner: owner.clone(),
                currency: Currency::parse("EUR").unwrap(),
                holder: None,
            }
        } else {
            AccountEvent::MoneyDeposited {
                amount: Amount::new(1).unwrap(),
                deposited_by: owner.clone(),
            }
        };
        state = Account::evolve(std::mem::take(&mut state), &event);
        let snapshot = (version % every == 0).then(|| Snapshot {
            shape: Account::STATE_SHAPE,
            state: serde_json::to_string(&state).unwrap(),
            recent: "[]".into(),
            window: None,
        });
        (
            NewEvent::from_domain(&event, event_metadata("ann")),
            snapshot,
        )
    });
    seed_history_with_snapshots(&d.client(), &d.events_table, &stream, 1, history)
        .await
        .unwrap();
    assert!(matches!(state, AccountState::Open { balance, .. } if balance == LENGTH - 1));

    let (client, calls) = d.counted_client();
    let app = router(QueryService::new(
        ProjectionStore::new(client.clone(), &d.projections_table),
        DynamoDbEventStore::shared(client, &d.events_table),
        b"secret",
    ));
    let get = |caller: &str, version: u64| {
        let request = Request::get(format!("/accounts/{account}?as_of_version={version}"))
            .header("authorization", bearer(caller))
            .body(Body::empty())
            .unwrap();
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value =
                serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
                    .unwrap();
            (status, body)
        }
    };
    let bound = every + 1;
    for version in [
        1,
        2,
        every - 1,
        every,
        every + 1,
        2 * every - 1,
        10_001,
        LENGTH - 1,
        LENGTH,
        LENGTH + 5,
    ] {
        calls.clear();
        let (status, body) = get("ann", version).await;
        let read: i32 = calls.items_queried().iter().sum();
        assert!(
            read as u64 <= bound,
            "as_of_version={version}: {read} items read, at most {bound} ({:?})",
            calls.operations()
        );
        if version <= LENGTH {
            assert_eq!(status, 200, "{version}: {body}");
            assert_eq!(
                (&body["version"], &body["balance"], &body["owner"]),
                (
                    &serde_json::json!(version),
                    &serde_json::json!(version - 1),
                    &serde_json::json!("ann")
                ),
                "{body}"
            );
        } else {
            assert_eq!(
                (status, &body["current_version"]),
                (404, &serde_json::json!(LENGTH)),
                "{body}"
            );
        }
        // A stranger: the same bounded read, and the answer an account that does not exist gets.
        calls.clear();
        let (status, body) = get("mallory", version).await;
        let read: i32 = calls.items_queried().iter().sum();
        assert!(read as u64 <= bound, "a stranger's read: {read} items");
        assert_eq!(
            (status, body["type"].as_str(), body.get("current_version")),
            (404, Some("urn:tributary:problem:account-not-found"), None),
            "{body}"
        );
    }
}
