//! An SDK interceptor that records every DynamoDB operation sent (retries included), to assert on request counts,
//! and the items `Query` calls read (DynamoDB's `ScannedCount`), to assert on read costs.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use std::sync::{Arc, Mutex};

/// The operations a client sent, in order (`"PutItem"`, `"Query"`, ...). Clones share the log.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Calls>>);

#[derive(Debug, Default)]
struct Calls {
    operations: Vec<String>,
    /// `ScannedCount` of each `Query` answered, in order.
    queried: Vec<i32>,
}

impl CallLog {
    /// Every operation sent so far.
    pub fn operations(&self) -> Vec<String> {
        self.0.lock().expect("call log lock").operations.clone()
    }

    /// The items each answered `Query` read (its `ScannedCount`), in order.
    pub fn items_queried(&self) -> Vec<i32> {
        self.0.lock().expect("call log lock").queried.clone()
    }

    /// How many times `operation` was sent.
    pub fn count(&self, operation: &str) -> usize {
        self.operations()
            .iter()
            .filter(|op| *op == operation)
            .count()
    }

    /// Forget what was recorded.
    pub fn clear(&self) {
        *self.0.lock().expect("call log lock") = Calls::default();
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map_or_else(|| "unknown".to_owned(), |m| m.name().to_owned());
        self.0
            .lock()
            .expect("call log lock")
            .operations
            .push(operation);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(output) = context.output_or_error() {
            if let Some(query) = output.downcast_ref::<QueryOutput>() {
                self.0
                    .lock()
                    .expect("call log lock")
                    .queried
                    .push(query.scanned_count());
            }
        }
        Ok(())
    }
}
