//! Checkpoints signed with a local P-256 key (a PEM file): the devstack's and the tests' notary. On AWS the key is
//! KMS's ([`crate::KmsNotary`]), so that nothing with access to the table or the function can take it away.

use crate::keys::local_name;
use crate::LedgerError;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use tributary_store::chain::{Notary, NotaryError};

/// A notary with its private key in memory.
#[derive(Clone)]
pub struct LocalNotary {
    key: PKey<Private>,
    name: String,
    every: u64,
}

impl std::fmt::Debug for LocalNotary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalNotary")
            .field("key", &self.name)
            .field("every", &self.every)
            .finish()
    }
}

impl LocalNotary {
    /// A new random key, sealing every `every` events.
    pub fn generate(every: u64) -> Result<Self, LedgerError> {
        let failed = |e: openssl::error::ErrorStack| LedgerError::Key("new".into(), e.to_string());
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(failed)?;
        let key = PKey::from_ec_key(EcKey::generate(&group).map_err(failed)?).map_err(failed)?;
        Self::from_key(key, every)
    }

    /// The key in `pem` (PKCS#8 or SEC1, as `private_key_pem` writes it).
    pub fn from_pem(pem: &[u8], every: u64) -> Result<Self, LedgerError> {
        let key = PKey::private_key_from_pem(pem)
            .map_err(|e| LedgerError::Key("PEM".into(), e.to_string()))?;
        Self::from_key(key, every)
    }

    fn from_key(key: PKey<Private>, every: u64) -> Result<Self, LedgerError> {
        let der = key
            .public_key_to_der()
            .map_err(|e| LedgerError::Key("public".into(), e.to_string()))?;
        Ok(Self {
            name: local_name(&der),
            key,
            every: every.max(1),
        })
    }

    /// The private key (PKCS#8 PEM), to keep in a file only its writers can read.
    pub fn private_key_pem(&self) -> Vec<u8> {
        self.key
            .private_key_to_pem_pkcs8()
            .expect("an EC key always encodes")
    }

    /// The public key (PEM), what a verifier trusts.
    pub fn public_key_pem(&self) -> Vec<u8> {
        self.key
            .public_key_to_pem()
            .expect("an EC key always encodes")
    }
}

#[async_trait::async_trait]
impl Notary for LocalNotary {
    fn key(&self) -> &str {
        &self.name
    }

    fn every(&self) -> u64 {
        self.every
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, NotaryError> {
        let mut signer = Signer::new(MessageDigest::sha256(), &self.key)
            .map_err(|e| NotaryError(e.to_string()))?;
        signer
            .update(message)
            .map_err(|e| NotaryError(e.to_string()))?;
        signer.sign_to_vec().map_err(|e| NotaryError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrustedKeys;
    use tributary_store::chain::{Seal, SealKeys};

    #[tokio::test]
    async fn a_seal_verifies_with_its_public_key_only() {
        let notary = LocalNotary::generate(4).unwrap();
        let message = b"tributary-chain/1 seal\ns\n4\nabc\n4";
        let seal = Seal {
            key: notary.key().to_owned(),
            every: 4,
            signature: hex::encode(notary.sign(message).await.unwrap()),
        };
        let mut keys = TrustedKeys::new();
        assert_eq!(
            keys.add_pem(&notary.public_key_pem()).unwrap(),
            notary.key()
        );
        keys.check(&seal, message).unwrap();
        assert!(keys.check(&seal, b"another message").is_err());
        // The same key read back from its PEM signs under the same name.
        let again = LocalNotary::from_pem(&notary.private_key_pem(), 4).unwrap();
        assert_eq!(again.key(), notary.key());
        // A seal by another key, even one claiming the trusted key's name, does not verify.
        let other = LocalNotary::generate(4).unwrap();
        let forged = Seal {
            signature: hex::encode(other.sign(message).await.unwrap()),
            ..seal.clone()
        };
        assert!(keys.check(&forged, message).is_err());
        let untrusted = Seal {
            key: other.key().to_owned(),
            ..forged
        };
        assert!(keys
            .check(&untrusted, message)
            .unwrap_err()
            .contains("not a trusted key"));
    }
}
