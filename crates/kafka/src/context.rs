//! librdkafka callbacks for our producers: log lines go to `tracing`, and on MSK the SASL OAUTHBEARER token is a
//! SigV4-presigned IAM token ([`crate::msk_token`]), refreshed whenever librdkafka asks (before expiry).

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_types::region::Region;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use std::error::Error;

/// Principal name reported with the token (MSK takes the identity from the signature, not from this).
const PRINCIPAL: &str = "msk-iam";

/// What signs MSK IAM tokens: the region and the credentials of this container (the Lambda role).
#[derive(Debug, Clone)]
pub struct MskIamAuth {
    pub region: Region,
    pub credentials: SharedCredentialsProvider,
}

impl MskIamAuth {
    /// A fresh token. librdkafka calls this from its own thread, so the (async) credentials provider runs on a
    /// short-lived runtime on a thread of its own (valid from any thread, inside or outside tokio).
    pub fn token(&self) -> Result<OAuthToken, Box<dyn Error>> {
        let provider = self.credentials.clone();
        let credentials = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("MSK IAM token: {e}"))?;
            runtime
                .block_on(provider.provide_credentials())
                .map_err(|e| format!("MSK IAM token: no credentials: {e}"))
        })
        .join()
        .map_err(|_| "the MSK IAM token thread panicked")??;
        let (token, lifetime_ms) =
            crate::msk_token::auth_token(&self.region, credentials, std::time::SystemTime::now())?;
        Ok(OAuthToken {
            token,
            principal_name: PRINCIPAL.to_owned(),
            lifetime_ms,
        })
    }
}

/// The client context of every producer and consumer we create.
#[derive(Debug, Clone, Default)]
pub struct KafkaContext {
    /// Set on MSK (SASL OAUTHBEARER); `None` for plaintext brokers.
    pub iam: Option<MskIamAuth>,
}

impl ClientContext for KafkaContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", %error, "{reason}");
    }

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn Error>> {
        self.iam
            .as_ref()
            .ok_or("SASL OAUTHBEARER was requested, but no MSK IAM signer is configured")?
            .token()
    }
}

/// Our consumers (dead-letter re-drives, tools) use the same logging and MSK IAM tokens.
impl ConsumerContext for KafkaContext {}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use base64::Engine;

    #[test]
    fn tokens_are_sigv4_presigned_kafka_connect_urls() {
        let auth = MskIamAuth {
            region: Region::new("eu-west-1"),
            credentials: SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            )),
        };
        let context = KafkaContext { iam: Some(auth) };
        let token = context.generate_oauth_token(None).unwrap();
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&token.token)
                .unwrap(),
        )
        .unwrap();
        assert!(
            url.starts_with("https://kafka.eu-west-1.amazonaws.com/?"),
            "{url}"
        );
        assert!(url.contains("Action=kafka-cluster%3AConnect"), "{url}");
        assert!(url.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"), "{url}");
        assert!(url.contains("X-Amz-Credential=AKIDEXAMPLE%2F"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        let now_ms = chrono::Utc::now().timestamp_millis();
        assert!(token.lifetime_ms > now_ms && token.lifetime_ms <= now_ms + 16 * 60 * 1000);
    }

    #[test]
    fn plaintext_contexts_refuse_to_make_tokens() {
        assert!(KafkaContext::default().generate_oauth_token(None).is_err());
    }
}
