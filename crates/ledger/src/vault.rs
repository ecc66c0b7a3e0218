//! The personal-data vault: envelope encryption with one data key per data subject. A subject's data key is made on
//! first use (KMS `GenerateDataKey` on AWS, a local wrapping key in the devstack), kept only wrapped in the key store
//! (`tributary_dynamodb::DynamoDbSubjectKeys`), and deleted to forget the subject: every value sealed under it is
//! then unreadable, wherever its ciphertext was copied (events, Kafka, snapshots, projections, backups).
//!
//! Values are sealed with AES-256-GCM, the subject as associated data (a ciphertext moved under another subject's
//! name does not open): `base64(key_id[16] ‖ nonce[12] ‖ tag[16] ‖ ciphertext)`.
//!
//! The key store is read on every seal and open (one consistent read for a page of values); what is cached, per
//! process, is only the unwrapping — by key id, which a forgotten subject's item no longer names — so the key service
//! is called once per subject per container, never per command.

use crate::LedgerError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeySpec, KeyUsageType};
use base64::Engine;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tributary_store::personal::{
    by_subject, Erasure, SubjectKeyStore, Vault, VaultError, WrappedKey,
};

const KEY_ID_BYTES: usize = 16;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
/// Unwrapped keys a process keeps at most (then it starts over: a bound on memory, not a correctness matter).
const CACHED_KEYS: usize = 10_000;

/// A plaintext data key (AES-256).
type DataKey = [u8; 32];

/// What makes and unwraps data keys: a key service key that never leaves it.
#[async_trait::async_trait]
pub trait KeyWrap: Send + Sync + std::fmt::Debug {
    /// The wrapping key's name, recorded with each key it wraps.
    fn name(&self) -> &str;
    /// A new data key for `subject`: in the clear (to use now) and wrapped (to keep).
    async fn generate(&self, subject: &str) -> Result<(DataKey, Vec<u8>), VaultError>;
    /// The data key `wrapped` holds, for `subject` (bound to it: another subject's wrapped key does not unwrap).
    async fn unwrap(&self, subject: &str, wrapped: &[u8]) -> Result<DataKey, VaultError>;
}

/// The vault: a key store, a key wrap, and the per-process cache of unwrapped keys.
#[derive(Debug)]
pub struct SubjectVault {
    keys: Arc<dyn SubjectKeyStore>,
    wrap: Arc<dyn KeyWrap>,
    unwrapped: Mutex<HashMap<String, DataKey>>,
}

impl SubjectVault {
    pub fn new(keys: Arc<dyn SubjectKeyStore>, wrap: Arc<dyn KeyWrap>) -> Self {
        Self {
            keys,
            wrap,
            unwrapped: Mutex::new(HashMap::new()),
        }
    }

    async fn data_key(&self, key: &WrappedKey) -> Result<DataKey, VaultError> {
        if let Some(data) = self.cache().get(&key.key_id) {
            return Ok(*data);
        }
        let data = self.wrap.unwrap(&key.subject, &key.wrapped).await?;
        self.remember(&key.key_id, data);
        Ok(data)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, DataKey>> {
        self.unwrapped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn remember(&self, key_id: &str, data: DataKey) {
        let mut cache = self.cache();
        if cache.len() >= CACHED_KEYS {
            cache.clear();
        }
        cache.insert(key_id.to_owned(), data);
    }

    /// `subject`'s key, made (and kept) if they have none.
    async fn key_to_seal(&self, subject: &str) -> Result<(String, DataKey), VaultError> {
        for _ in 0..3 {
            if let Some(key) = self.keys.get(&[subject]).await?.into_iter().next() {
                return Ok((key.key_id.clone(), self.data_key(&key).await?));
            }
            let (data, wrapped) = self.wrap.generate(subject).await?;
            let key = WrappedKey {
                subject: subject.to_owned(),
                key_id: hex::encode(random::<KEY_ID_BYTES>()?),
                wrapped,
                wrapped_by: self.wrap.name().to_owned(),
            };
            if self.keys.insert(&key).await? {
                self.remember(&key.key_id, data);
                return Ok((key.key_id, data));
            }
            // Another writer made the subject's key first: use theirs (read again).
        }
        Err(VaultError::Unavailable(format!(
            "subject {subject}: the key kept changing while it was made"
        )))
    }
}

fn random<const N: usize>() -> Result<[u8; N], VaultError> {
    let mut bytes = [0u8; N];
    openssl::rand::rand_bytes(&mut bytes).map_err(|e| VaultError::Refused(e.to_string()))?;
    Ok(bytes)
}

/// `plaintext` sealed under `key` (AES-256-GCM, `subject` as associated data): `prefix ‖ nonce ‖ tag ‖ ciphertext`.
fn seal_bytes(
    prefix: &[u8],
    key: &DataKey,
    subject: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, VaultError> {
    let nonce = random::<NONCE_BYTES>()?;
    let mut tag = [0u8; TAG_BYTES];
    let ciphertext = encrypt_aead(
        Cipher::aes_256_gcm(),
        key,
        Some(&nonce),
        subject.as_bytes(),
        plaintext,
        &mut tag,
    )
    .map_err(|e| VaultError::Refused(e.to_string()))?;
    let mut out = Vec::with_capacity(prefix.len() + NONCE_BYTES + TAG_BYTES + ciphertext.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// `body` (`nonce ‖ tag ‖ ciphertext`) opened with `key` for `subject` (`None`: not sealed by it, or altered).
fn open_bytes(key: &DataKey, subject: &str, body: &[u8]) -> Option<Vec<u8>> {
    if body.len() < NONCE_BYTES + TAG_BYTES {
        return None;
    }
    let (nonce, rest) = body.split_at(NONCE_BYTES);
    let (tag, ciphertext) = rest.split_at(TAG_BYTES);
    decrypt_aead(
        Cipher::aes_256_gcm(),
        key,
        Some(nonce),
        subject.as_bytes(),
        ciphertext,
        tag,
    )
    .ok()
}

#[async_trait::async_trait]
impl Vault for SubjectVault {
    async fn seal(&self, subject: &str, plaintext: &str) -> Result<String, VaultError> {
        let (key_id, data) = self.key_to_seal(subject).await?;
        let id = hex::decode(&key_id).map_err(|e| VaultError::Refused(e.to_string()))?;
        let sealed = seal_bytes(&id, &data, subject, plaintext.as_bytes())?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
    }

    async fn open(&self, sealed: &[(&str, &str)]) -> Result<Vec<Option<String>>, VaultError> {
        let grouped = by_subject(sealed);
        let subjects: Vec<&str> = grouped.keys().copied().collect();
        let keys: HashMap<String, WrappedKey> = self
            .keys
            .get(&subjects)
            .await?
            .into_iter()
            .map(|key| (key.subject.clone(), key))
            .collect();
        let mut opened = vec![None; sealed.len()];
        for (subject, positions) in grouped {
            let Some(key) = keys.get(subject) else {
                continue; // forgotten (or never had a key): erased
            };
            // A key that does not unwrap (its wrapping key disabled, or not this deployment's) makes this subject's
            // values unreadable, not every answer that mentions them unavailable.
            let data = match self.data_key(key).await {
                Ok(data) => data,
                Err(VaultError::Refused(reason)) => {
                    tracing::warn!(subject, %reason, "a subject's data key does not unwrap");
                    continue;
                }
                Err(other) => return Err(other),
            };
            for index in positions {
                let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(sealed[index].1)
                else {
                    continue;
                };
                if bytes.len() < KEY_ID_BYTES || hex::encode(&bytes[..KEY_ID_BYTES]) != key.key_id {
                    continue; // sealed under an earlier key of this subject, since forgotten
                }
                opened[index] = open_bytes(&data, subject, &bytes[KEY_ID_BYTES..])
                    .and_then(|plain| String::from_utf8(plain).ok());
            }
        }
        Ok(opened)
    }

    async fn forget(&self, subject: &str, record: &Erasure) -> Result<bool, VaultError> {
        let deleted = self.keys.erase(subject, record).await?;
        if let Some(key) = &deleted {
            self.cache().remove(&key.key_id);
        }
        Ok(deleted.is_some())
    }
}

/// Data keys made and unwrapped by a KMS symmetric key (`SYMMETRIC_DEFAULT`, `ENCRYPT_DECRYPT`), with the subject
/// as encryption context (CloudTrail records whose key each call used).
#[derive(Debug, Clone)]
pub struct KmsKeyWrap {
    client: aws_sdk_kms::Client,
    arn: String,
}

const CONTEXT: &str = "tributary-subject";

impl KmsKeyWrap {
    /// The wrap using `key_id` (id, ARN or alias), checked to be a symmetric encryption key.
    pub async fn connect(client: aws_sdk_kms::Client, key_id: &str) -> Result<Self, LedgerError> {
        let metadata = crate::kms::describe(&client, key_id).await?;
        // A key's usage defaults to ENCRYPT_DECRYPT (some KMS-compatible servers leave it out).
        let usage = metadata
            .key_usage()
            .unwrap_or(&KeyUsageType::EncryptDecrypt);
        if metadata.key_spec() != Some(&KeySpec::SymmetricDefault)
            || usage != &KeyUsageType::EncryptDecrypt
        {
            return Err(LedgerError::Key(
                key_id.to_owned(),
                format!(
                    "must be a SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key (it is {:?}, {:?})",
                    metadata.key_spec(),
                    metadata.key_usage()
                ),
            ));
        }
        let arn = metadata.arn().unwrap_or(key_id).to_owned();
        Ok(Self { client, arn })
    }
}

/// A KMS answer as the vault's error: refusals (a wrong or disabled key, a ciphertext it did not make, denied access)
/// are [`VaultError::Refused`]; timeouts, throttling and lost connections [`VaultError::Unavailable`].
fn kms_vault_error<E, R>(e: aws_sdk_kms::error::SdkError<E, R>) -> VaultError
where
    E: std::error::Error + aws_sdk_kms::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let throttled = matches!(
        &e,
        aws_sdk_kms::error::SdkError::ServiceError(service)
            if matches!(service.err().code(), Some("ThrottlingException" | "KMSInternalException" | "DependencyTimeoutException"))
    );
    let refused = matches!(&e, aws_sdk_kms::error::SdkError::ServiceError(_)) && !throttled;
    let text = aws_sdk_kms::error::DisplayErrorContext(e).to_string();
    if refused {
        VaultError::Refused(text)
    } else {
        VaultError::Unavailable(text)
    }
}

fn data_key(bytes: &[u8]) -> Result<DataKey, VaultError> {
    bytes
        .try_into()
        .map_err(|_| VaultError::Refused(format!("a data key of {} bytes", bytes.len())))
}

#[async_trait::async_trait]
impl KeyWrap for KmsKeyWrap {
    fn name(&self) -> &str {
        &self.arn
    }

    async fn generate(&self, subject: &str) -> Result<(DataKey, Vec<u8>), VaultError> {
        let made = self
            .client
            .generate_data_key()
            .key_id(&self.arn)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT, subject)
            .send()
            .await
            .map_err(kms_vault_error)?;
        let plain = made
            .plaintext()
            .ok_or_else(|| VaultError::Refused("KMS returned no data key".into()))?;
        let wrapped = made
            .ciphertext_blob()
            .ok_or_else(|| VaultError::Refused("KMS returned no wrapped key".into()))?;
        Ok((data_key(plain.as_ref())?, wrapped.as_ref().to_vec()))
    }

    async fn unwrap(&self, subject: &str, wrapped: &[u8]) -> Result<DataKey, VaultError> {
        // No key id: a symmetric ciphertext names the key that made it, so keys wrapped before the configured key
        // changed still unwrap (where this role may use that key).
        let opened = self
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(wrapped))
            .encryption_context(CONTEXT, subject)
            .send()
            .await
            .map_err(kms_vault_error)?;
        data_key(
            opened
                .plaintext()
                .ok_or_else(|| VaultError::Refused("KMS returned no plaintext".into()))?
                .as_ref(),
        )
    }
}

/// Data keys wrapped by a local AES-256 key (a file): the devstack's. On AWS the wrapping key is KMS's
/// ([`KmsKeyWrap`]), so that a copy of the key table alone opens nothing.
#[derive(Clone)]
pub struct LocalKeyWrap {
    key: DataKey,
    name: String,
}

impl std::fmt::Debug for LocalKeyWrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyWrap")
            .field("name", &self.name)
            .finish()
    }
}

impl LocalKeyWrap {
    /// A new random wrapping key.
    pub fn generate() -> Result<Self, LedgerError> {
        let key = random::<32>().map_err(|e| LedgerError::Key("new".into(), e.to_string()))?;
        Ok(Self::from_bytes(key))
    }

    /// The wrapping key in `bytes` (32 of them, as [`Self::to_hex`] gives them, decoded).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, LedgerError> {
        let key = bytes.try_into().map_err(|_| {
            LedgerError::Key(
                "local".into(),
                format!("a wrapping key is 32 bytes, not {}", bytes.len()),
            )
        })?;
        Ok(Self::from_bytes(key))
    }

    fn from_bytes(key: DataKey) -> Self {
        use sha2::Digest;
        let name = format!("local:{}", &hex::encode(sha2::Sha256::digest(key))[..16]);
        Self { key, name }
    }

    /// The key in the file at `path` (hex, as [`Self::to_hex`] gives it).
    pub fn read(path: &std::path::Path) -> Result<Self, LedgerError> {
        let failed = |e: String| LedgerError::Key(path.display().to_string(), e);
        let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
        Self::from_slice(&hex::decode(text.trim()).map_err(|e| failed(e.to_string()))?)
    }

    /// The key as its file holds it (hex), to keep in a file only its users can read.
    pub fn to_hex(&self) -> String {
        hex::encode(self.key)
    }
}

#[async_trait::async_trait]
impl KeyWrap for LocalKeyWrap {
    fn name(&self) -> &str {
        &self.name
    }

    async fn generate(&self, subject: &str) -> Result<(DataKey, Vec<u8>), VaultError> {
        let data = random::<32>()?;
        Ok((data, seal_bytes(&[], &self.key, subject, &data)?))
    }

    async fn unwrap(&self, subject: &str, wrapped: &[u8]) -> Result<DataKey, VaultError> {
        let plain = open_bytes(&self.key, subject, wrapped).ok_or_else(|| {
            VaultError::Refused(format!(
                "subject {subject}: the key was not wrapped by {}",
                self.name
            ))
        })?;
        data_key(&plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_store::personal::InMemorySubjectKeys;

    fn vault() -> SubjectVault {
        SubjectVault::new(
            Arc::new(InMemorySubjectKeys::default()),
            Arc::new(LocalKeyWrap::generate().unwrap()),
        )
    }

    #[tokio::test]
    async fn a_sealed_value_opens_for_its_subject_only_until_they_are_forgotten() {
        let vault = vault();
        let ada = vault.seal("alice", "Ada Lovelace").await.unwrap();
        let bo = vault.seal("bob", "Bo").await.unwrap();
        assert!(!ada.contains("Ada"));
        assert_ne!(ada, vault.seal("alice", "Ada Lovelace").await.unwrap());
        let erasure = Erasure {
            by: "operator".into(),
            reason: "asked".into(),
            at: "2026-12-07T00:00:00Z".into(),
        };
        let opened = vault
            .open(&[("alice", &ada), ("bob", &bo), ("bob", &ada)])
            .await
            .unwrap();
        assert_eq!(
            opened,
            vec![Some("Ada Lovelace".into()), Some("Bo".into()), None]
        );

        assert!(vault.forget("alice", &erasure).await.unwrap());
        assert!(
            !vault.forget("alice", &erasure).await.unwrap(),
            "idempotent"
        );
        let opened = vault.open(&[("alice", &ada), ("bob", &bo)]).await.unwrap();
        assert_eq!(opened, vec![None, Some("Bo".into())]);

        // Seen again after being forgotten: a new key, and the old ciphertext stays unreadable.
        let again = vault.seal("alice", "Ada King").await.unwrap();
        let opened = vault
            .open(&[("alice", &ada), ("alice", &again)])
            .await
            .unwrap();
        assert_eq!(opened, vec![None, Some("Ada King".into())]);
    }

    #[tokio::test]
    async fn an_altered_ciphertext_does_not_open() {
        let vault = vault();
        let sealed = vault.seal("alice", "Ada").await.unwrap();
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        let altered = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert_eq!(
            vault.open(&[("alice", &altered)]).await.unwrap(),
            vec![None]
        );
    }
}
