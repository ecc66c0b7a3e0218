//! The DynamoDB event store passes the contract every event store passes (`tributary_store::contract`), against a
//! real DynamoDB API (embedded dynoxide, or DynamoDB Local when `AWS_ENDPOINT_URL_DYNAMODB` is set).

use tributary_dynamodb::DynamoDbEventStore;
use tributary_testkit::dynamo;

tributary_store::contract_tests!({
    let d = dynamo();
    DynamoDbEventStore::shared(d.client(), &d.events_table)
});
