//! The second example domain, end to end on the same local stack as the bank (the same command, query and
//! denormaliser wiring the deployed functions run): a task created by its owner, assigned, completed by its
//! assignee; read back with read-your-writes by both; a stranger can neither see nor command it; a retried create
//! with the same `Idempotency-Key` finds the same task; the committed events reach the topic; and the task's view
//! equals a pure fold of its stream. Runs on the embedded servers and on DynamoDB Local + tansu.

mod common;

use common::{client_as, get, get_fresh, post, stack};
use serde_json::Value;
use std::collections::BTreeSet;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_store::EventStore;
use tributary_testkit::{dynamo, read_topic};

fn slug(body: &Value) -> &str {
    body["type"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("urn:tributary:problem:")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_created_assigned_completed_and_read_by_whom_it_concerns() {
    let stack = stack().await;
    let base = stack.base_url();
    let (ann, bob, eve) = (client_as("ann"), client_as("bob"), client_as("eve"));
    let key = [("idempotency-key", "create-the-report-task")];

    let created = post(
        &ann,
        &format!("{base}/tasks"),
        &key,
        Some(r#"{"title":"file the report"}"#),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let task_id = created.body["task_id"].as_str().unwrap().to_owned();
    assert_eq!(created.header("location"), format!("/tasks/{task_id}"));
    assert_eq!(created.header("etag"), "\"1\"");

    // The same request again: the same task, not a second one.
    let again = post(
        &ann,
        &format!("{base}/tasks"),
        &key,
        Some(r#"{"title":"file the report"}"#),
    )
    .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body["task_id"], task_id.as_str());
    assert_eq!(again.header("idempotent-replayed"), "true");

    let task = format!("{base}/tasks/{task_id}");
    // A stranger commands nothing and sees nothing: told it does not exist.
    let hijack = post(
        &eve,
        &format!("{task}/assign"),
        &[],
        Some(r#"{"assignee":"eve"}"#),
    )
    .await;
    assert_eq!(
        (hijack.status, slug(&hijack.body)),
        (404, "task-not-found"),
        "{}",
        hijack.body
    );
    let peek = get_fresh(&eve, &format!("{task}?min_version=1")).await;
    assert_eq!(
        (peek.status, slug(&peek.body)),
        (404, "task-not-found"),
        "{}",
        peek.body
    );
    // Bad input is a clear 4xx, never a partial write.
    let empty = post(
        &ann,
        &format!("{task}/assign"),
        &[],
        Some(r#"{"assignee":""}"#),
    )
    .await;
    assert_eq!(empty.status, 400, "{}", empty.body);

    let assigned = post(
        &ann,
        &format!("{task}/assign"),
        &[("if-match", "\"1\"")],
        Some(r#"{"assignee":"bob"}"#),
    )
    .await;
    assert_eq!(
        (assigned.status, assigned.body["version"].as_u64()),
        (200, Some(2)),
        "{}",
        assigned.body
    );
    // The assignee does not reassign; they complete.
    let reassign = post(
        &bob,
        &format!("{task}/assign"),
        &[],
        Some(r#"{"assignee":"eve"}"#),
    )
    .await;
    assert_eq!(reassign.status, 404, "{}", reassign.body);
    let done = post(&bob, &format!("{task}/complete"), &[], None).await;
    assert_eq!(
        (done.status, done.body["version"].as_u64()),
        (200, Some(3)),
        "{}",
        done.body
    );
    let twice = post(&ann, &format!("{task}/complete"), &[], Some("{}")).await;
    assert_eq!(
        (twice.status, slug(&twice.body)),
        (409, "task-completed"),
        "{}",
        twice.body
    );

    for reader in [&ann, &bob] {
        let view = get_fresh(reader, &format!("{task}?min_version=3")).await;
        assert_eq!(view.status, 200, "{}", view.body);
        assert_eq!(view.header("etag"), "\"3\"");
        assert_eq!(view.body["status"], "done");
        assert_eq!(view.body["owner"], "ann");
        assert_eq!(view.body["assignee"], "bob");
        assert_eq!(view.body["completed_by"], "bob");
        assert_eq!(view.body["title"], "file the report");
    }
    let peek = get(&eve, &task).await;
    assert_eq!(peek.status, 404, "{}", peek.body);

    // The store holds exactly the three events, and the view is their fold.
    let d = dynamo();
    let store = DynamoDbEventStore::shared(d.client(), &d.events_table);
    let stream = format!("task-{task_id}");
    let stored = store.load_between(&stream, 0, None).await.unwrap();
    let types: Vec<&str> = stored.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["TaskCreated", "TaskAssigned", "TaskCompleted"]);
    let folded = tributary_projections::state_as_of(&tasks_domain::TaskViews, &*store, &stream, 3)
        .await
        .unwrap()
        .unwrap();
    let served = get(&ann, &task).await.body;
    assert_eq!(serde_json::to_value(&folded).unwrap(), served);

    // Every committed event reached the topic, keyed by the task's stream; the refused second complete went out
    // as a rejection, like any domain's.
    let on_topic = |topic: String, count: usize| {
        let stream = stream.clone();
        let bootstrap = stack.kafka_bootstrap.clone();
        async move {
            read_topic(&bootstrap, &topic, common::EVENTUALLY, move |records| {
                // Distinct versions: the command's publish and the relay's may both deliver one (at least once).
                let mine = records.iter().filter(|r| r.key == stream);
                mine.map(|r| r.value["version"].to_string())
                    .collect::<BTreeSet<_>>()
                    .len()
                    >= count
            })
            .await
        }
    };
    let events = on_topic(stack.events_topic.clone(), 3).await;
    let versions: BTreeSet<u64> = events
        .iter()
        .filter(|r| r.key == stream)
        .map(|r| r.value["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, BTreeSet::from([1, 2, 3]));
    let rejections = on_topic(stack.rejections_topic.clone(), 1).await;
    assert!(
        rejections
            .iter()
            .any(|r| r.key == stream && r.value.to_string().contains("task-completed")),
        "the refused complete is on the rejections topic: {rejections:?}"
    );
}

/// Read-your-writes for a reader the awaited events make one: the view is at version 1 (created, nobody assigned)
/// while the store holds version 2 (assigned to bob), and no denormaliser runs (tables of the test's own, which no
/// local stack's relay watches). Bob asking for version 2 is let
/// wait — and told `not-yet-visible`, since the view never gets there — not told the task does not exist; a
/// stranger asking the same is told at once that it does not; once the view is at 2, bob reads it. (The query
/// function's routes over the test's tables: the same `app::reads` the deployed function serves.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assignee_waiting_for_the_assignment_is_not_told_the_task_does_not_exist() {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tasks_domain::{TaskEvent, TaskViews, Title};
    use tower::ServiceExt;
    use tributary_core::Principal;
    use tributary_store::NewEvent;
    use tributary_testkit::{bearer, event_metadata};

    let client = dynamo().client();
    let own = uuid::Uuid::new_v4().simple().to_string();
    let (events_table, projections_table) = (format!("events-{own}"), format!("projections-{own}"));
    tributary_dynamodb::tables::EVENTS
        .ensure(&client, &events_table)
        .await
        .unwrap();
    tributary_dynamodb::tables::PROJECTIONS
        .ensure(&client, &projections_table)
        .await
        .unwrap();
    let store = DynamoDbEventStore::shared(client.clone(), &events_table);
    let projections = tributary_projections::ProjectionStore::new(client, &projections_table);
    let task_id = uuid::Uuid::new_v4().to_string();
    let stream = format!("task-{task_id}");
    let who = |name: &str| Principal::parse(name).unwrap();
    let created = TaskEvent::TaskCreated {
        owner: who("ann"),
        title: Title::parse("read me").unwrap(),
    };
    let assigned = TaskEvent::TaskAssigned {
        assignee: who("bob"),
    };
    store
        .append(
            &stream,
            0,
            &[NewEvent::from_domain(&created, event_metadata("ann"))],
        )
        .await
        .unwrap();
    tributary_projections::apply(&TaskViews, &projections, &*store, &stream, 1)
        .await
        .unwrap();
    store
        .append(
            &stream,
            1,
            &[NewEvent::from_domain(&assigned, event_metadata("ann"))],
        )
        .await
        .unwrap();

    let side = tributary_http::shell::ReadSide {
        projections: projections.clone(),
        events: store.clone(),
        cursors: tributary_http::cursor::Cursors::new(b"tasks-test"),
        snapshots: Default::default(),
    };
    let api = app::read_router(side);
    let read = |who: &str, min_version: u64| {
        let request =
            axum::http::Request::get(format!("/tasks/{task_id}?min_version={min_version}"))
                .header("authorization", bearer(who))
                .body(Body::empty())
                .unwrap();
        let api = api.clone();
        async move {
            let response = api.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&body).unwrap())
        }
    };
    let (status, body) = read("bob", 2).await;
    assert_eq!((status, slug(&body)), (503, "not-yet-visible"), "{body}");
    let (status, body) = read("eve", 2).await;
    assert_eq!((status, slug(&body)), (404, "task-not-found"), "{body}");
    let (status, body) = read("ann", 2).await;
    assert_eq!((status, slug(&body)), (503, "not-yet-visible"), "{body}");

    tributary_projections::apply(&TaskViews, &projections, &*store, &stream, 2)
        .await
        .unwrap();
    let (status, body) = read("bob", 2).await;
    assert_eq!(
        (status, body["assignee"].as_str()),
        (200, Some("bob")),
        "{body}"
    );
    let (status, body) = read("eve", 2).await;
    assert_eq!(status, 404, "{body}");
}
