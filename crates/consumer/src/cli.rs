//! What the operator tools (`rebuild`, `redrive`) share: naming a read model on the command line, and reaching
//! DynamoDB (a local server through `AWS_ENDPOINT_URL_DYNAMODB`, else AWS with the usual credentials).

use std::sync::Arc;
use tributary_dynamodb::local::local_client;
use tributary_projections::{ReadModel, ReadModels};
use tributary_runtime::config::SdkPolicy;

/// The read model of `models` named `raw` (a command-line argument or the `PROJECTION` setting).
pub fn read_model(models: &ReadModels, raw: &str) -> Result<Arc<dyn ReadModel>, String> {
    tributary_projections::find(models, raw)
        .ok_or_else(|| format!("expected one of {:?}", tributary_projections::names(models)))
}

/// AWS configuration for an operator tool: the usual credentials chain, the SDK policy of background work.
pub async fn aws_config() -> aws_types::SdkConfig {
    tributary_runtime::config::aws_config(SdkPolicy::BACKGROUND).await
}

/// A DynamoDB client: the local server in `AWS_ENDPOINT_URL_DYNAMODB` with dummy credentials, or AWS.
pub fn dynamodb_client(aws: &aws_types::SdkConfig) -> aws_sdk_dynamodb::Client {
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(endpoint) if !endpoint.is_empty() => local_client(&endpoint),
        _ => aws_sdk_dynamodb::Client::new(aws),
    }
}
