//! The keys a verifier trusts: public keys by name, each checking ECDSA P-256 signatures over SHA-256.

use crate::LedgerError;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::sign::Verifier;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use tributary_store::chain::{Seal, SealKeys};

/// Public keys by the name seals record (`local:<fingerprint>`, or a KMS key's ARN).
#[derive(Default)]
pub struct TrustedKeys {
    keys: BTreeMap<String, PKey<Public>>,
}

/// A local key's name: `local:` and the first 16 hex digits of the SHA-256 of its public key (DER).
pub(crate) fn local_name(public_der: &[u8]) -> String {
    format!("local:{}", &hex::encode(Sha256::digest(public_der))[..16])
}

impl TrustedKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust a local key from its public key (PEM, as `LocalNotary::public_key_pem` writes it); its name.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<String, LedgerError> {
        let key = PKey::public_key_from_pem(pem)
            .map_err(|e| LedgerError::Key("PEM".into(), e.to_string()))?;
        let der = key
            .public_key_to_der()
            .map_err(|e| LedgerError::Key("PEM".into(), e.to_string()))?;
        let name = local_name(&der);
        self.keys.insert(name.clone(), key);
        Ok(name)
    }

    /// Trust the key `name` (as seals record it), given its public key (DER SubjectPublicKeyInfo).
    pub fn add_der(&mut self, name: &str, der: &[u8]) -> Result<(), LedgerError> {
        let key = PKey::public_key_from_der(der)
            .map_err(|e| LedgerError::Key(name.to_owned(), e.to_string()))?;
        self.keys.insert(name.to_owned(), key);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl SealKeys for TrustedKeys {
    fn check(&self, seal: &Seal, message: &[u8]) -> Result<(), String> {
        let key = self
            .keys
            .get(&seal.key)
            .ok_or_else(|| format!("signed by {}, which is not a trusted key", seal.key))?;
        let signature =
            hex::decode(&seal.signature).map_err(|_| "the signature is not hex".to_owned())?;
        let mut verifier =
            Verifier::new(MessageDigest::sha256(), key).map_err(|e| e.to_string())?;
        verifier.update(message).map_err(|e| e.to_string())?;
        match verifier.verify(&signature) {
            Ok(true) => Ok(()),
            // A malformed DER signature is an error in OpenSSL, a wrong one `false`: both do not verify.
            Ok(false) | Err(_) => Err(format!(
                "the signature is not {}'s over this event's chain hash",
                seal.key
            )),
        }
    }
}
