//! MSK IAM auth tokens: a SigV4-presigned `kafka-cluster:Connect` request, base64url-encoded without padding —
//! the token AWS's MSK IAM signers (`aws-msk-iam-sasl-signer` and its Java, Python and Go kin) produce, signed here
//! with `aws-sigv4` alone (that crate also brought the AWS SDK's default HTTP client and an STS client).

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_types::region::Region;
use base64::Engine;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The SigV4 service name MSK checks.
const SERVICE: &str = "kafka-cluster";
/// How long a token is valid (what the AWS signers use; librdkafka asks for a new one before it expires).
const VALIDITY: Duration = Duration::from_secs(900);
/// Reported to MSK after signing (it is not part of the signature), as the AWS signers do.
const USER_AGENT: &str = concat!("tributary-kafka/", env!("CARGO_PKG_VERSION"));

/// A token for `region`'s MSK signed with `credentials` at `now`, and when it expires (milliseconds since the
/// epoch, what librdkafka wants).
pub(crate) fn auth_token(
    region: &Region,
    credentials: Credentials,
    now: SystemTime,
) -> Result<(String, i64), String> {
    let unsigned = format!(
        "https://kafka.{region}.amazonaws.com/?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "kafka-cluster:Connect")
            .finish()
    );
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(VALIDITY);
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region.as_ref())
        .name(SERVICE)
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("MSK IAM token: signing parameters: {e}"))?;
    let request = SignableRequest::new(
        "GET",
        unsigned.as_str(),
        std::iter::empty(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| format!("MSK IAM token: {e}"))?;
    let (instructions, _signature) = sign(request, &params.into())
        .map_err(|e| format!("MSK IAM token: signing: {e}"))?
        .into_parts();
    let query_starts = unsigned.len() - unsigned.split_once('?').map_or(0, |(_, q)| q.len());
    let mut query = form_urlencoded::Serializer::for_suffix(unsigned, query_starts);
    for (name, value) in instructions.params() {
        query.append_pair(name, value);
    }
    let url = query.append_pair("User-Agent", USER_AGENT).finish();
    // X-Amz-Date has whole seconds: the token expires VALIDITY after that second.
    let signed_at = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "MSK IAM token: the clock is before 1970".to_owned())?
        .as_secs();
    let expires_ms = (signed_at + VALIDITY.as_secs()) as i64 * 1000;
    Ok((
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url),
        expires_ms,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn decode(token: &str) -> String {
        String::from_utf8(URL_SAFE_NO_PAD.decode(token).unwrap()).unwrap()
    }

    /// The query parameters of `url`, decoded, in order.
    fn query(url: &str) -> Vec<(String, String)> {
        let (_, query) = url.split_once('?').unwrap();
        form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn credentials() -> Credentials {
        // A session token with the characters that need escaping in a query string.
        Credentials::new(
            "ASIAEXAMPLE",
            "secret/with+slashes=",
            Some("IQoJb3JpZ2luX2VjE/session+token==".to_owned()),
            None,
            "test",
        )
    }

    #[test]
    fn a_token_is_a_presigned_kafka_cluster_connect_url() {
        let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01T00:00:00Z
        let (token, expires_ms) =
            auth_token(&Region::new("eu-west-1"), credentials(), now).unwrap();
        assert!(!token.contains('=') && !token.contains('+') && !token.contains('/'));
        let url = decode(&token);
        assert!(
            url.starts_with(
                "https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect&"
            ),
            "{url}"
        );
        let params = query(&url);
        let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "Action",
                "X-Amz-Algorithm",
                "X-Amz-Credential",
                "X-Amz-Date",
                "X-Amz-Expires",
                "X-Amz-SignedHeaders",
                "X-Amz-Signature",
                "X-Amz-Security-Token",
                "User-Agent"
            ]
        );
        let value = |name: &str| params.iter().find(|(k, _)| k == name).unwrap().1.as_str();
        assert_eq!(value("X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
        assert_eq!(
            value("X-Amz-Credential"),
            "ASIAEXAMPLE/20260101/eu-west-1/kafka-cluster/aws4_request"
        );
        assert_eq!(value("X-Amz-Date"), "20260101T000000Z");
        assert_eq!(value("X-Amz-Expires"), "900");
        assert_eq!(value("X-Amz-SignedHeaders"), "host");
        assert_eq!(
            value("X-Amz-Security-Token"),
            "IQoJb3JpZ2luX2VjE/session+token=="
        );
        assert_eq!(value("X-Amz-Signature").len(), 64);
        assert_eq!(expires_ms, (1_767_225_600 + 900) * 1000);
    }

    /// The token is the one `aws-msk-iam-sasl-signer` (what signed our tokens before) makes for the same
    /// credentials at the same second, but for the user agent it reports after signing.
    #[tokio::test]
    async fn tokens_match_the_aws_msk_iam_sasl_signer() {
        let region = Region::new("us-east-1");
        let (theirs, their_expiry) =
            aws_msk_iam_sasl_signer::generate_auth_token_from_credentials_provider(
                region.clone(),
                SharedCredentialsProvider::new(credentials()),
            )
            .await
            .unwrap();
        let their_url = decode(&theirs);
        let signed_at = query(&their_url)
            .into_iter()
            .find(|(k, _)| k == "X-Amz-Date")
            .unwrap()
            .1;
        let signed_at = chrono::NaiveDateTime::parse_from_str(&signed_at, "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc()
            .timestamp() as u64;
        let (ours, our_expiry) = auth_token(
            &region,
            credentials(),
            UNIX_EPOCH + Duration::from_secs(signed_at),
        )
        .unwrap();
        let without_user_agent = |url: &str| url.split("&User-Agent=").next().unwrap().to_owned();
        assert_eq!(
            without_user_agent(&decode(&ours)),
            without_user_agent(&their_url)
        );
        assert_eq!(our_expiry, their_expiry);
    }
}
