//! Read-your-writes on the statement: the lines must come from the same consistent view as the checkpoint that
//! `min_version` waits on. Local DynamoDB servers are always consistent, so the fault (an eventually consistent
//! read missing line N) cannot be provoked here; the test checks what the query asks DynamoDB for instead.

use axum::body::Body;
use axum::http::Request;
use bank_account::views::{
    statement_line_sk, statement_partition, StatementCheckpoint, StatementLine, Statements,
};
use http_body_util::BodyExt;
use query_function::{router, QueryService};
use tower::ServiceExt;
use tributary_core::{ItemKey, Row};
use tributary_dynamodb::DynamoDbEventStore;
use tributary_http::caller::ANONYMOUS;
use tributary_projections::{Guard, ProjectionStore, ReadModel, Step};
use tributary_testkit::{dynamo, RequestLog};

#[tokio::test]
async fn statement_lines_are_read_consistently() {
    let d = dynamo();
    let account = uuid::Uuid::new_v4().to_string();
    let writer = ProjectionStore::new(d.client(), &d.projections_table);
    let line = StatementLine {
        version: 2,
        kind: "deposit".into(),
        amount: 500,
        balance_after: 500,
        occurred_at: "2026-11-27T10:00:00Z".into(),
        transfer_id: None,
        counterparty: None,
        transfers: None,
        counterparty_holder: None,
    };
    let checkpoint = StatementCheckpoint {
        version: 2,
        balance: 500,
        owner: ANONYMOUS.to_owned(),
        transfers: None,
    };
    // The statement as its denormaliser writes it: the checkpoint and the line in one guarded transaction.
    let step = Step {
        version: 2,
        state: serde_json::to_value(&checkpoint).unwrap(),
        rows: vec![Row::new(
            ItemKey::new(statement_partition(&account), statement_line_sk(2)),
            &line,
        )],
    };
    assert!(writer
        .commit(
            &Statements.checkpoint_key(&account),
            Guard::Exactly(0),
            &[step]
        )
        .await
        .unwrap());

    let queries = RequestLog::new("Query");
    let reader = ProjectionStore::new(d.client_with(queries.clone()), &d.projections_table);
    let events = DynamoDbEventStore::shared(d.client(), &d.events_table);
    let response = router(QueryService::new(reader, events, b"secret"))
        .oneshot(
            Request::get(format!("/accounts/{account}/statement?min_version=2"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["items"][0]["version"], 2);

    let sent = queries.bodies();
    assert!(!sent.is_empty(), "the lines were queried");
    for query in sent {
        assert_eq!(
            query["ConsistentRead"],
            serde_json::Value::Bool(true),
            "statement lines are read consistently: {query}"
        );
    }
}
