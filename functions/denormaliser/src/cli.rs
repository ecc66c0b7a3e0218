//! What the operator tools (`rebuild`, `redrive`) share: naming a projection on the command line, and reaching
//! DynamoDB (a local server through `AWS_ENDPOINT_URL_DYNAMODB`, else AWS with the usual credentials).

use tributary_dynamodb::local::local_client;
use tributary_projections::Projection;
use tributary_runtime::config::SdkPolicy;

/// Parse a projection name (`account-summary`, `statement`, `accounts-by-owner`).
pub fn projection(raw: &str) -> Result<Projection, String> {
    Projection::parse(raw).ok_or_else(|| {
        let names: Vec<_> = Projection::ALL.iter().map(|p| p.name()).collect();
        format!("expected one of {names:?}")
    })
}

/// The tools' AWS configuration (environment, profile or role; patient timeouts).
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
