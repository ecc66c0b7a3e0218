//! The in-memory store passes the contract every event store passes (the DynamoDB one runs the same checks).

use std::sync::Arc;
use tributary_store::InMemoryEventStore;

tributary_store::contract_tests!(Arc::new(InMemoryEventStore::new()));
