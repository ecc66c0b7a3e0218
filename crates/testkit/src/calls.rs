//! An SDK interceptor that records every DynamoDB operation sent (retries included), to assert on request counts.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use std::sync::{Arc, Mutex};

/// The operations a client sent, in order (`"PutItem"`, `"Query"`, ...). Clones share the log.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<String>>>);

impl CallLog {
    /// Every operation sent so far.
    pub fn operations(&self) -> Vec<String> {
        self.0.lock().expect("call log lock").clone()
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
        self.0.lock().expect("call log lock").clear();
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
        self.0.lock().expect("call log lock").push(operation);
        Ok(())
    }
}
