//! MSK bootstrap discovery: `GetBootstrapBrokers` for the IAM (SASL over TLS) endpoint, once per container.

use aws_sdk_kafka::Client;

/// Discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum MskError {
    #[error("GetBootstrapBrokers for {cluster_arn} failed: {message}")]
    Discovery {
        cluster_arn: String,
        message: String,
    },
    #[error("cluster {0} has no IAM bootstrap brokers: enable IAM access control on the cluster")]
    NoIamEndpoint(String),
}

/// The IAM bootstrap broker string of an MSK cluster (`b-1...:9098,b-2...:9098`). Call once at cold start.
pub async fn discover_bootstrap_brokers(
    client: &Client,
    cluster_arn: &str,
) -> Result<String, MskError> {
    let output = client
        .get_bootstrap_brokers()
        .cluster_arn(cluster_arn)
        .send()
        .await
        .map_err(|e| MskError::Discovery {
            cluster_arn: cluster_arn.to_owned(),
            message: aws_sdk_kafka::error::DisplayErrorContext(e).to_string(),
        })?;
    // Provisioned clusters report `BootstrapBrokerStringSaslIam`; MSK Serverless reports the same field.
    output
        .bootstrap_broker_string_sasl_iam()
        .or(output.bootstrap_broker_string_public_sasl_iam())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| MskError::NoIamEndpoint(cluster_arn.to_owned()))
}
