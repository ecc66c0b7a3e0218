//! Tamper evidence and erasable personal data for the event store, the parts with keys and I/O (the hashing, chaining and the walk are
//! `tributary_store::{chain, sealing, verify}`, pure):
//!
//! * [`LocalNotary`]: checkpoints signed with a P-256 key held in a PEM file (the devstack, tests);
//! * [`KmsNotary`]: signed by an AWS KMS asymmetric key (`ECC_NIST_P256`, `ECDSA_SHA_256`) that never leaves KMS;
//! * [`TrustedKeys`]: the public keys a verifier accepts seals from (PEM files, KMS keys by id): a seal by any other
//!   key is reported, however valid its signature;
//! * [`verify_stream`], [`verify_all`]: re-walk streams page by page (memory bounded by a page), with progress;
//! * [`SubjectVault`]: the personal-data vault — a data key per subject, wrapped by KMS ([`KmsKeyWrap`]) or a
//!   local key ([`LocalKeyWrap`]), AES-256-GCM; forgetting a subject deletes their key;
//! * [`notary_from_env`]: which notary a function signs with (`LEDGER_KMS_KEY_ID`, `LEDGER_SIGNING_KEY_FILE`,
//!   `LEDGER_SEAL_EVERY`).

mod config;
mod keys;
mod kms;
mod local;
mod vault;
mod walk;

pub use config::{notary_from_env, vault_from_env, DEFAULT_SEAL_EVERY};
pub use keys::TrustedKeys;
pub use kms::{kms_client, local_kms_client, KmsNotary};
pub use local::LocalNotary;
pub use vault::{KeyWrap, KmsKeyWrap, LocalKeyWrap, SubjectVault};
pub use walk::{verify_all, verify_stream, Progress, PAGE};

/// What a key operation failed on.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("key {0}: {1}")]
    Key(String, String),
    #[error("KMS: {0}")]
    Kms(String),
}
