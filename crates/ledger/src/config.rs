//! Which notary a writer seals with, from its environment: `LEDGER_KMS_KEY_ID` (a KMS key: the deployment's),
//! else `LEDGER_SIGNING_KEY_FILE` (a local PEM key: the devstack's), else none (events are still chained, not
//! sealed; a warning says so). `LEDGER_SEAL_EVERY`: the interval, 1 to 100,000 events (default 64).

use crate::{KeyWrap, KmsKeyWrap, KmsNotary, LocalKeyWrap, LocalNotary, SubjectVault};
use std::sync::Arc;
use tributary_runtime::ConfigError;
use tributary_store::chain::Notary;
use tributary_store::personal::{SubjectKeyStore, Vault};

/// One seal every 64 events of a stream: one KMS `Sign` per 64 commands of an account at most.
pub const DEFAULT_SEAL_EVERY: u64 = 64;

/// The notary the environment configures, if any.
pub async fn notary_from_env(
    aws: &aws_types::SdkConfig,
) -> Result<Option<Arc<dyn Notary>>, ConfigError> {
    let every = tributary_runtime::config::count_between(
        "LEDGER_SEAL_EVERY",
        DEFAULT_SEAL_EVERY,
        1,
        100_000,
    )?;
    let invalid = |name: &'static str, reason: String| ConfigError {
        name,
        problem: format!(
            "({:?}) is not a usable signing key: {reason}",
            std::env::var(name).unwrap_or_default()
        ),
    };
    if let Some(key_id) = std::env::var("LEDGER_KMS_KEY_ID")
        .ok()
        .filter(|v| !v.is_empty())
    {
        let notary = KmsNotary::connect(crate::kms_client(aws), &key_id, every)
            .await
            .map_err(|e| invalid("LEDGER_KMS_KEY_ID", e.to_string()))?;
        return Ok(Some(Arc::new(notary)));
    }
    if let Some(path) = std::env::var("LEDGER_SIGNING_KEY_FILE")
        .ok()
        .filter(|v| !v.is_empty())
    {
        let pem =
            std::fs::read(&path).map_err(|e| invalid("LEDGER_SIGNING_KEY_FILE", e.to_string()))?;
        let notary = LocalNotary::from_pem(&pem, every)
            .map_err(|e| invalid("LEDGER_SIGNING_KEY_FILE", e.to_string()))?;
        return Ok(Some(Arc::new(notary)));
    }
    tracing::warn!("no LEDGER_KMS_KEY_ID or LEDGER_SIGNING_KEY_FILE: events are chained but no checkpoint is signed");
    Ok(None)
}

/// The personal-data vault over `keys` (the key table, `SUBJECT_KEYS_TABLE` where the functions read it), its data
/// keys wrapped by the KMS key `PERSONAL_DATA_KMS_KEY_ID` (the deployment's) or the local key in the file
/// `PERSONAL_DATA_KEY_FILE` (32 bytes, hex: the devstack's). None without a key table: events with personal data are
/// then refused (a warning says so).
pub async fn vault_from_env(
    aws: &aws_types::SdkConfig,
    keys: Option<Arc<dyn SubjectKeyStore>>,
) -> Result<Option<Arc<dyn Vault>>, ConfigError> {
    let Some(keys) = keys else {
        tracing::warn!("no SUBJECT_KEYS_TABLE: events that hold personal data are refused");
        return Ok(None);
    };
    let invalid = |name: &'static str, reason: String| ConfigError {
        name,
        problem: format!(
            "({:?}) is not a usable data-key wrapping key: {reason}",
            std::env::var(name).unwrap_or_default()
        ),
    };
    let wrap: Arc<dyn KeyWrap> = if let Some(key_id) = std::env::var("PERSONAL_DATA_KMS_KEY_ID")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Arc::new(
            KmsKeyWrap::connect(crate::kms_client(aws), &key_id)
                .await
                .map_err(|e| invalid("PERSONAL_DATA_KMS_KEY_ID", e.to_string()))?,
        )
    } else if let Some(path) = std::env::var("PERSONAL_DATA_KEY_FILE")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Arc::new(
            LocalKeyWrap::read(std::path::Path::new(&path))
                .map_err(|e| invalid("PERSONAL_DATA_KEY_FILE", e.to_string()))?,
        )
    } else {
        return Err(ConfigError {
            name: "PERSONAL_DATA_KMS_KEY_ID",
            problem: "is not set (nor PERSONAL_DATA_KEY_FILE): SUBJECT_KEYS_TABLE needs a key to wrap data keys with"
                .into(),
        });
    };
    Ok(Some(Arc::new(SubjectVault::new(keys, wrap))))
}
