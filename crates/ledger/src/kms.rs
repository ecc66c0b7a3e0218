//! Checkpoints signed by an AWS KMS asymmetric key (`ECC_NIST_P256`, `SIGN_VERIFY`): the private key never leaves
//! KMS, so neither a writer of the events table nor the function itself can sign anything but through KMS (and
//! CloudTrail records every `Sign`). One `Sign` per seal — every `LEDGER_SEAL_EVERY` events of a stream — never one
//! per command.

use crate::{LedgerError, TrustedKeys};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyMetadata, KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use aws_sdk_kms::Client;
use tributary_store::chain::{Notary, NotaryError};

/// The key `key_id` (id, ARN or alias) names: its ARN, spec and usage.
pub(crate) async fn describe(client: &Client, key_id: &str) -> Result<KeyMetadata, LedgerError> {
    client
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(kms_error)?
        .key_metadata
        .ok_or_else(|| LedgerError::Kms(format!("{key_id}: no key metadata")))
}

/// A notary whose key is in KMS.
#[derive(Debug, Clone)]
pub struct KmsNotary {
    client: Client,
    /// The key's ARN (what seals record, whatever id or alias it was configured by).
    arn: String,
    every: u64,
}

fn kms_error(e: impl std::error::Error) -> LedgerError {
    LedgerError::Kms(aws_sdk_kms::error::DisplayErrorContext(e).to_string())
}

impl KmsNotary {
    /// The notary signing with `key_id` (id, ARN or alias), checked to be an ECC_NIST_P256 signing key.
    pub async fn connect(client: Client, key_id: &str, every: u64) -> Result<Self, LedgerError> {
        let metadata = describe(&client, key_id).await?;
        if metadata.key_spec() != Some(&KeySpec::EccNistP256)
            || metadata.key_usage() != Some(&KeyUsageType::SignVerify)
        {
            return Err(LedgerError::Key(
                key_id.to_owned(),
                format!(
                    "must be an ECC_NIST_P256 SIGN_VERIFY key (it is {:?}, {:?})",
                    metadata.key_spec(),
                    metadata.key_usage()
                ),
            ));
        }
        let arn = metadata.arn().unwrap_or(key_id).to_owned();
        Ok(Self {
            client,
            arn,
            every: every.max(1),
        })
    }
}

#[async_trait::async_trait]
impl Notary for KmsNotary {
    fn key(&self) -> &str {
        &self.arn
    }

    fn every(&self) -> u64 {
        self.every
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, NotaryError> {
        let signed = self
            .client
            .sign()
            .key_id(&self.arn)
            .message(Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|e| NotaryError(kms_error(e).to_string()))?;
        signed
            .signature()
            .map(|blob| blob.as_ref().to_vec())
            .ok_or_else(|| NotaryError("KMS returned no signature".into()))
    }
}

impl TrustedKeys {
    /// Trust the KMS key `key_id` (id, ARN or alias): its public key, fetched once (`GetPublicKey`), under its ARN.
    pub async fn add_kms(&mut self, client: &Client, key_id: &str) -> Result<String, LedgerError> {
        let public = client
            .get_public_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(kms_error)?;
        let der = public
            .public_key()
            .ok_or_else(|| LedgerError::Kms(format!("{key_id}: no public key")))?;
        // Filed under the ARN, as seals name it, whatever id or alias it was asked by.
        let metadata = describe(client, key_id).await?;
        let arn = metadata.arn().unwrap_or(key_id).to_owned();
        self.add_der(&arn, der.as_ref())?;
        Ok(arn)
    }
}

/// The KMS client a process uses: the local endpoint in `AWS_ENDPOINT_URL_KMS` with dummy credentials
/// ([`local_kms_client`]), or AWS through `aws`.
pub fn kms_client(aws: &aws_types::SdkConfig) -> Client {
    match std::env::var("AWS_ENDPOINT_URL_KMS") {
        Ok(endpoint) if !endpoint.is_empty() => local_kms_client(&endpoint),
        _ => Client::new(aws),
    }
}

/// A KMS client for a local KMS-compatible endpoint (`infra/kms-local.sh`): an explicit endpoint and fixed dummy
/// credentials, so a local run can never reach a real AWS account by accident.
pub fn local_kms_client(endpoint: &str) -> Client {
    use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
    Client::from_conf(
        aws_sdk_kms::Config::builder()
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
            .build(),
    )
}
