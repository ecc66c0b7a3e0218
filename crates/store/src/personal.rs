//! Personal data at the store's boundary: the [`Vault`] that seals a subject's values under the subject's key and
//! forgets a subject by destroying it, and the walks over JSON payloads that find personal values by their marker
//! ([`tributary_core::personal`]) — sealing every plain one before an event is hashed and stored, opening sealed ones
//! where an edge shows them to people, and erasing a forgotten subject's from a stored document.
//!
//! Where each happens: stores seal in [`crate::sealing::prepare_append`] (and the command loop before it chains, so
//! the events it publishes are the stored ones); Kafka, snapshots and projections only ever hold ciphertext; the
//! HTTP edge and the operator CLI open with [`open_all`] and [`reveal`].

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use tributary_core::personal::{Form, Personal, MAX_PERSONAL_LEN, PERSONAL_MARKER};

/// Why the vault could not seal, open or forget.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key store or the key service is throttling, timing out or unreachable: try again.
    #[error("the personal-data vault is unavailable: {0}")]
    Unavailable(String),
    /// An event holds personal data and this writer has no vault to seal it with (a deployment's configuration).
    #[error("an event holds personal data, and no personal-data vault is configured to seal it")]
    NoVault,
    /// Anything else refused (a key of the wrong kind, access denied, a malformed key item).
    #[error("the personal-data vault refused: {0}")]
    Refused(String),
}

/// Where each subject's data key lives: envelope encryption (a data key per subject, wrapped by a key service), the
/// keys read on every use so that a forgotten subject is forgotten at once by every process.
#[async_trait::async_trait]
pub trait Vault: Send + Sync + std::fmt::Debug {
    /// `plaintext` sealed under `subject`'s key (made on first use): an opaque string bound to the subject.
    async fn seal(&self, subject: &str, plaintext: &str) -> Result<String, VaultError>;

    /// Each `(subject, sealed)` opened: `None` where the subject's key is gone (forgotten) or is not the one that
    /// sealed it. One read of the key store for all of them.
    async fn open(&self, sealed: &[(&str, &str)]) -> Result<Vec<Option<String>>, VaultError>;

    /// Destroy `subject`'s key, leaving `record` (who, when, why) in its place: every value sealed under it is
    /// unreadable from now on, by every process. `true` if a key was destroyed, `false` if there was none (never
    /// made, or already forgotten: the record is written all the same).
    async fn forget(&self, subject: &str, record: &Erasure) -> Result<bool, VaultError>;
}

/// A subject's data key as kept: wrapped (encrypted) by a key service, never in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub subject: String,
    /// Names this key among the subject's keys over time (a subject forgotten and seen again gets a new one): the
    /// ciphertexts it sealed carry it.
    pub key_id: String,
    pub wrapped: Vec<u8>,
    /// Which key service key wrapped it (a KMS key ARN, or `local:<fingerprint>`).
    pub wrapped_by: String,
}

/// What forgetting a subject leaves in the key store in place of their key: the audit record of the erasure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// Who asked (the operator's principal).
    pub by: String,
    pub reason: String,
    /// RFC 3339.
    pub at: String,
}

/// Where the wrapped data keys live: one per subject, read consistently (a forgotten subject is forgotten at once).
#[async_trait::async_trait]
pub trait SubjectKeyStore: Send + Sync + std::fmt::Debug {
    /// The keys of those of `subjects` that have one.
    async fn get(&self, subjects: &[&str]) -> Result<Vec<WrappedKey>, VaultError>;
    /// Keep `key` unless its subject has one already (`false`: another writer made it first; read that one).
    async fn insert(&self, key: &WrappedKey) -> Result<bool, VaultError>;
    /// Replace `subject`'s key with `record`; the key destroyed, if there was one. A later
    /// [`insert`](Self::insert) for the subject makes a new key (the record stays).
    async fn erase(
        &self,
        subject: &str,
        record: &Erasure,
    ) -> Result<Option<WrappedKey>, VaultError>;
}

/// Wrapped keys in one process (tests, and a domain's own unit tests).
#[derive(Debug, Default)]
pub struct InMemorySubjectKeys {
    keys: std::sync::Mutex<BTreeMap<String, WrappedKey>>,
    erasures: std::sync::Mutex<Vec<(String, Erasure)>>,
}

impl InMemorySubjectKeys {
    /// Every erasure recorded, in order.
    pub fn erasures(&self) -> Vec<(String, Erasure)> {
        self.erasures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, WrappedKey>> {
        self.keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait::async_trait]
impl SubjectKeyStore for InMemorySubjectKeys {
    async fn get(&self, subjects: &[&str]) -> Result<Vec<WrappedKey>, VaultError> {
        let keys = self.lock();
        Ok(subjects
            .iter()
            .filter_map(|s| keys.get(*s).cloned())
            .collect())
    }
    async fn insert(&self, key: &WrappedKey) -> Result<bool, VaultError> {
        let mut keys = self.lock();
        if keys.contains_key(&key.subject) {
            return Ok(false);
        }
        keys.insert(key.subject.clone(), key.clone());
        Ok(true)
    }
    async fn erase(
        &self,
        subject: &str,
        record: &Erasure,
    ) -> Result<Option<WrappedKey>, VaultError> {
        self.erasures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((subject.to_owned(), record.clone()));
        Ok(self.lock().remove(subject))
    }
}

impl From<VaultError> for crate::EventStoreError {
    fn from(error: VaultError) -> Self {
        match error {
            VaultError::Unavailable(reason) => Self::Transient(reason),
            other => Self::Rejected(other.to_string()),
        }
    }
}

/// Whether a payload may hold personal values (a cheap test before parsing it).
pub fn may_hold_personal(payload: &str) -> bool {
    payload.contains(PERSONAL_MARKER)
}

/// `payload` with every plain personal value sealed by `vault` (`None`: it holds none, keep it as it is). A plain
/// value and no vault is [`VaultError::NoVault`]: personal data is never stored in the clear.
pub async fn seal_payload(
    vault: Option<&dyn Vault>,
    payload: &str,
) -> Result<Option<String>, VaultError> {
    if !may_hold_personal(payload) {
        return Ok(None);
    }
    let Ok(mut value) = serde_json::from_str::<Value>(payload) else {
        return Ok(None);
    };
    if let Some(malformed) = malformed(&value) {
        return Err(VaultError::Refused(format!(
            "a personal value that is not one (refused rather than stored in the clear): {malformed}"
        )));
    }
    let mut plain = Vec::new();
    visit(&mut value, &mut |node| {
        if let Some(personal) = parse(node) {
            if let Form::Plain(text) = personal.form() {
                plain.push((personal.subject().to_owned(), text.clone()));
            }
        }
    });
    if plain.is_empty() {
        return Ok(None);
    }
    let vault = vault.ok_or(VaultError::NoVault)?;
    let mut sealed = Vec::with_capacity(plain.len());
    for (subject, text) in &plain {
        sealed.push(Personal::sealed(subject, vault.seal(subject, text).await?));
    }
    let mut sealed = sealed.into_iter();
    visit(&mut value, &mut |node| {
        if matches!(parse(node).map(|p| p.form().clone()), Some(Form::Plain(_))) {
            if let Some(next) = sealed.next() {
                *node = serde_json::to_value(next).expect("a personal value serialises");
            }
        }
    });
    Ok(Some(value.to_string()))
}

/// Every sealed personal value in `values` opened by `vault` (plain), or marked erased where its subject was
/// forgotten. Without a vault they stay sealed. One key-store read for all of them.
pub async fn open_all(vault: Option<&dyn Vault>, values: &mut [Value]) -> Result<(), VaultError> {
    let Some(vault) = vault else {
        return Ok(());
    };
    let mut sealed: Vec<(String, String)> = Vec::new();
    for value in values.iter_mut() {
        visit(value, &mut |node| {
            if let Some(personal) = parse(node) {
                if let Form::Sealed(ciphertext) = personal.form() {
                    sealed.push((personal.subject().to_owned(), ciphertext.clone()));
                }
            }
        });
    }
    if sealed.is_empty() {
        return Ok(());
    }
    let asked: Vec<(&str, &str)> = sealed
        .iter()
        .map(|(s, c)| (s.as_str(), c.as_str()))
        .collect();
    let opened = vault.open(&asked).await?;
    let mut opened = sealed.iter().zip(opened);
    for value in values.iter_mut() {
        visit(value, &mut |node| {
            if matches!(parse(node).map(|p| p.form().clone()), Some(Form::Sealed(_))) {
                if let Some(((subject, _), text)) = opened.next() {
                    let personal = match text {
                        Some(text) => Personal::new(subject, text),
                        None => Personal::erased(subject),
                    };
                    *node = serde_json::to_value(personal).expect("a personal value serialises");
                }
            }
        });
    }
    Ok(())
}

/// `value` as people read it: each personal value replaced by its text when it is open, by `null` when it is sealed
/// (no vault opened it) or erased.
pub fn reveal(value: &mut Value) {
    visit(value, &mut |node| {
        if let Some(personal) = parse(node) {
            *node = personal
                .value()
                .map_or(Value::Null, |text| Value::String(text.to_owned()));
        }
    });
}

/// `value` with every personal value of `subject` marked erased (sealed or plain alike): what forgetting leaves in a
/// stored document. Whether anything changed.
pub fn erase_subject(value: &mut Value, subject: &str) -> bool {
    let mut changed = false;
    visit(value, &mut |node| {
        if let Some(personal) = parse(node) {
            if personal.subject() == subject && !personal.is_erased() {
                *node = serde_json::to_value(Personal::erased(subject))
                    .expect("a personal value serialises");
                changed = true;
            }
        }
    });
    changed
}

/// The subjects whose personal values `value` holds (any form).
pub fn subjects(value: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut copy = value.clone();
    visit(&mut copy, &mut |node| {
        if let Some(personal) = parse(node) {
            found.insert(personal.subject().to_owned());
        }
    });
    found
}

/// Group `(subject, sealed)` pairs by subject, keeping their positions: what a vault reads keys for.
pub fn by_subject<'a>(sealed: &[(&'a str, &'a str)]) -> BTreeMap<&'a str, Vec<usize>> {
    let mut grouped: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, (subject, _)) in sealed.iter().enumerate() {
        grouped.entry(subject).or_default().push(index);
    }
    grouped
}

/// Why some object of `value` that carries the marker is not a personal value the kit can seal (another key beside
/// the marker, no subject, two forms, a value longer than [`MAX_PERSONAL_LEN`]), if one is not.
fn malformed(value: &Value) -> Option<String> {
    match value {
        Value::Object(fields) if fields.contains_key(PERSONAL_MARKER) => {
            if fields.len() != 1 {
                return Some("other fields beside the marker".into());
            }
            match serde_json::from_value::<Personal>(value.clone()) {
                Err(e) => Some(e.to_string()),
                Ok(p)
                    if p.value()
                        .is_some_and(|v| v.chars().count() > MAX_PERSONAL_LEN) =>
                {
                    Some(format!("longer than {MAX_PERSONAL_LEN} characters"))
                }
                Ok(_) => None,
            }
        }
        Value::Object(fields) => fields.values().find_map(malformed),
        Value::Array(items) => items.iter().find_map(malformed),
        _ => None,
    }
}

/// A node as a personal value, if it is one.
fn parse(node: &Value) -> Option<Personal> {
    if !is_marked(node) {
        return None;
    }
    serde_json::from_value(node.clone()).ok()
}

/// Call `f` on every node of `value`, depth first, parents before children; a personal value's own fields are not
/// visited.
fn visit(value: &mut Value, f: &mut impl FnMut(&mut Value)) {
    if is_marked(value) {
        f(value);
        return;
    }
    match value {
        Value::Array(items) => items.iter_mut().for_each(|item| visit(item, f)),
        Value::Object(fields) => fields.values_mut().for_each(|field| visit(field, f)),
        _ => {}
    }
}

/// Whether `value` is an object of the marker alone (the shape of a personal value).
fn is_marked(value: &Value) -> bool {
    matches!(value, Value::Object(fields) if fields.len() == 1 && fields.contains_key(PERSONAL_MARKER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    /// A vault that "seals" by reversing (no cryptography: these tests are about the walks).
    #[derive(Debug, Default)]
    struct Reversing {
        forgotten: Mutex<BTreeSet<String>>,
    }

    #[async_trait::async_trait]
    impl Vault for Reversing {
        async fn seal(&self, subject: &str, plaintext: &str) -> Result<String, VaultError> {
            Ok(format!(
                "{subject}:{}",
                plaintext.chars().rev().collect::<String>()
            ))
        }
        async fn open(&self, sealed: &[(&str, &str)]) -> Result<Vec<Option<String>>, VaultError> {
            let forgotten = self.forgotten.lock().unwrap();
            Ok(sealed
                .iter()
                .map(|(subject, text)| {
                    (!forgotten.contains(*subject)).then(|| {
                        text.trim_start_matches(&format!("{subject}:"))
                            .chars()
                            .rev()
                            .collect()
                    })
                })
                .collect())
        }
        async fn forget(&self, subject: &str, _: &Erasure) -> Result<bool, VaultError> {
            Ok(self.forgotten.lock().unwrap().insert(subject.to_owned()))
        }
    }

    fn erasure() -> Erasure {
        Erasure {
            by: "operator".into(),
            reason: "test".into(),
            at: "2026-12-07T00:00:00Z".into(),
        }
    }

    fn payload() -> Value {
        json!({
            "type": "Opened",
            "holder": Personal::new("alice", "Ada"),
            "nested": [{"other": Personal::new("bob", "Bo")}],
            "amount": 5
        })
    }

    #[tokio::test]
    async fn sealing_leaves_no_plain_value_and_opening_gives_them_back() {
        let vault = Reversing::default();
        let sealed = seal_payload(Some(&vault), &payload().to_string())
            .await
            .unwrap()
            .unwrap();
        assert!(
            !sealed.contains("\"Ada\"") && !sealed.contains("\"Bo\""),
            "{sealed}"
        );
        let mut values = vec![serde_json::from_str(&sealed).unwrap()];
        open_all(Some(&vault), &mut values).await.unwrap();
        assert_eq!(values[0], payload());
        reveal(&mut values[0]);
        assert_eq!(values[0]["holder"], "Ada");
        assert_eq!(values[0]["nested"][0]["other"], "Bo");
    }

    #[tokio::test]
    async fn a_forgotten_subject_opens_as_erased_and_the_others_still_open() {
        let vault = Reversing::default();
        let sealed = seal_payload(Some(&vault), &payload().to_string())
            .await
            .unwrap()
            .unwrap();
        assert!(vault.forget("alice", &erasure()).await.unwrap());
        assert!(!vault.forget("alice", &erasure()).await.unwrap());
        let mut values = vec![serde_json::from_str(&sealed).unwrap()];
        open_all(Some(&vault), &mut values).await.unwrap();
        assert_eq!(values[0]["holder"], json!(Personal::erased("alice")));
        reveal(&mut values[0]);
        assert_eq!(values[0]["holder"], Value::Null);
        assert_eq!(values[0]["nested"][0]["other"], "Bo");
    }

    #[tokio::test]
    async fn personal_data_without_a_vault_is_refused_and_other_payloads_pass() {
        let refused = seal_payload(None, &payload().to_string()).await;
        assert!(matches!(refused, Err(VaultError::NoVault)));
        assert_eq!(seal_payload(None, r#"{"amount":5}"#).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_marked_value_that_is_not_a_personal_value_is_refused_never_stored_in_the_clear() {
        let vault = Reversing::default();
        for payload in [
            json!({"holder": Personal::new("", "Ada")}),
            json!({"holder": {"$personal": {"subject": "alice", "value": "Ada"}, "name": "Ada"}}),
            json!({"holder": Personal::new("alice", "x".repeat(MAX_PERSONAL_LEN + 1))}),
        ] {
            let refused = seal_payload(Some(&vault), &payload.to_string()).await;
            assert!(matches!(refused, Err(VaultError::Refused(_))), "{payload}");
        }
    }

    #[test]
    fn erasing_a_subject_touches_only_theirs() {
        let mut value = payload();
        assert!(erase_subject(&mut value, "alice"));
        assert!(!erase_subject(&mut value, "alice"));
        assert_eq!(value["holder"], json!(Personal::erased("alice")));
        assert_eq!(
            value["nested"][0]["other"],
            json!(Personal::new("bob", "Bo"))
        );
        assert_eq!(
            subjects(&payload()),
            BTreeSet::from(["alice".to_owned(), "bob".to_owned()])
        );
    }
}
