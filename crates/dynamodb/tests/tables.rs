//! Creating the tables: `TableSpec::ensure` is what every test binary, the devstack and the tools call when they
//! start, often several at once on one table (the tests of a binary share it). Against a real DynamoDB API
//! (embedded dynoxide, or DynamoDB Local when `AWS_ENDPOINT_URL_DYNAMODB` is set).

use tributary_dynamodb::tables;
use tributary_testkit::{dynamo, ChaosProxy, Faults};

/// Eight callers ensure one new events table at once (ten times, a new table each): all succeed, and the table ends
/// as specified (its time to live on the receipts' attribute). DynamoDB Local answers the second `UpdateTimeToLive`
/// of a race with "TimeToLive is already enabled"; that is the table as wanted, not a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_ensure_one_table() {
    for _ in 0..10 {
        eight_callers_ensure_a_new_table().await;
    }
}

async fn eight_callers_ensure_a_new_table() {
    let client = dynamo().client();
    let name = format!("ensure-race-{}", uuid::Uuid::new_v4().simple());
    let callers = (0..8).map(|_| {
        let (client, name) = (client.clone(), name.clone());
        tokio::spawn(async move { tables::EVENTS.ensure(&client, &name).await })
    });
    for result in futures::future::join_all(callers).await {
        result.unwrap().expect("every caller gets the table");
    }
    let ttl = client
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        tables::EVENTS.ttl_attribute
    );
    client
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();
}

/// The DynamoDB API refuses the first table operations as throttled, past the SDK's own retries (DynamoDB Local
/// answers a loaded machine's concurrent table creations with "timed out ... waiting for a lock", a 500): the table
/// is ensured all the same, once the API answers. Red before `ensure` retried transient failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_table_operation_is_tried_again() {
    let proxy = ChaosProxy::start(&dynamo().endpoint, 7).await;
    proxy.set(Faults {
        throttle: 1.0,
        operations: vec![
            "CreateTable",
            "DescribeTable",
            "DescribeTimeToLive",
            "UpdateTimeToLive",
        ],
        limit: Some(12),
        ..Faults::none()
    });
    let client = tributary_dynamodb::local::local_client(&proxy.url);
    let name = format!("ensure-throttled-{}", uuid::Uuid::new_v4().simple());
    tables::EVENTS
        .ensure(&client, &name)
        .await
        .expect("ensured once the API answers");
    assert_eq!(proxy.counts().throttled, 12, "every injected fault was met");
    dynamo()
        .client()
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();
}
