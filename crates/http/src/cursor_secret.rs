//! The cursor signing keys from their configuration: `CURSOR_SECRET` locally, and in AWS a secret in Secrets
//! Manager (`CURSOR_SECRET_ARN`): cursors are signed with its current value (`AWSCURRENT`) and accepted under the
//! value before it too (`AWSPREVIOUS`), so a rotation (`aws secretsmanager put-secret-value`) breaks no cursor a
//! client holds. Every container reads both values at start and again every [`REFRESH`].

use crate::cursor::{Cursors, Keys, LOCAL_CURSOR_SECRET};
use std::time::Duration;
use tributary_runtime::config::env_or;

/// How often a container reads the secret's values again (so that, within this long of a rotation, every container
/// accepts cursors signed with the new value).
pub const REFRESH: Duration = Duration::from_secs(300);

/// Why the cursor keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CursorConfigError {
    #[error("configuration: CURSOR_SECRET_ARN (or CURSOR_SECRET) must be set in Lambda (cursors are signed with it)")]
    NoSecretInLambda,
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// The cursors of a query function as configured: from Secrets Manager where `CURSOR_SECRET_ARN` names a secret
/// (read now and every [`REFRESH`] in the background, its previous value accepted during a rotation), else
/// `CURSOR_SECRET` (local runs; required in Lambda).
pub async fn cursors_from_env(aws: &aws_types::SdkConfig) -> Result<Cursors, CursorConfigError> {
    let secret_arn = env_or("CURSOR_SECRET_ARN", "");
    if secret_arn.is_empty() {
        let secret = env_or("CURSOR_SECRET", LOCAL_CURSOR_SECRET);
        if secret == LOCAL_CURSOR_SECRET && tributary_runtime::in_lambda() {
            return Err(CursorConfigError::NoSecretInLambda);
        }
        return Ok(Cursors::new(secret.as_bytes()));
    }
    let source = SecretsManagerKeys::new(aws_sdk_secretsmanager::Client::new(aws), secret_arn);
    let cursors = Cursors::rotating(source.fetch().await?);
    source.refresh(cursors.clone(), REFRESH);
    Ok(cursors)
}

/// Why the secret could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the cursor secret {secret_id} ({stage}) from Secrets Manager: {detail}")]
pub struct SecretError {
    secret_id: String,
    stage: &'static str,
    detail: String,
}

/// A cursor secret in AWS Secrets Manager.
#[derive(Clone)]
pub struct SecretsManagerKeys {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerKeys {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }

    /// The secret's current value and the one before it (none before the first rotation).
    pub async fn fetch(&self) -> Result<Keys, SecretError> {
        let current = self.value("AWSCURRENT").await?.ok_or_else(|| SecretError {
            secret_id: self.secret_id.clone(),
            stage: "AWSCURRENT",
            detail: "the secret has no current value".into(),
        })?;
        let previous = self.value("AWSPREVIOUS").await?;
        Ok(Keys { current, previous })
    }

    async fn value(&self, stage: &'static str) -> Result<Option<Vec<u8>>, SecretError> {
        let result = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_stage(stage)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            // No version carries the stage (AWSPREVIOUS before the first rotation).
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None)
            }
            Err(e) => {
                return Err(SecretError {
                    secret_id: self.secret_id.clone(),
                    stage,
                    detail: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                })
            }
        };
        Ok(output
            .secret_string()
            .map(|s| s.as_bytes().to_vec())
            .or_else(|| output.secret_binary().map(|b| b.as_ref().to_vec()))
            .filter(|v| !v.is_empty()))
    }

    /// Read the secret again into `cursors` every `every`, for as long as the process runs (a failed read keeps the
    /// keys it has, and says so in the log).
    pub fn refresh(self, cursors: Cursors, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match self.fetch().await {
                    Ok(keys) => cursors.replace(keys),
                    Err(error) => tracing::warn!(%error, "keeping the cursor keys read before"),
                }
            }
        })
    }
}
