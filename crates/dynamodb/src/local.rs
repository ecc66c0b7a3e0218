//! Clients for local DynamoDB API servers (dynoxide, DynamoDB Local): an explicit endpoint and fixed dummy
//! credentials, so a local run can never reach a real AWS account by accident.

use aws_sdk_dynamodb::config::{BehaviorVersion, Builder, Credentials, Region};

/// SDK configuration for a local server at `endpoint` (add interceptors before `build()` if needed), over the
/// process's HTTP client.
pub fn local_config(endpoint: &str) -> Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(tributary_runtime::http_client::sdk_http_client())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "tributary-local",
        ))
}

/// A client for a local server at `endpoint`.
pub fn local_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(local_config(endpoint).build())
}
