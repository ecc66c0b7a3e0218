//! An append's events as a store writes them: each chained to the one before (the first to the stream's head), and
//! sealed by the store's [`Notary`] where a checkpoint is due — their personal values sealed by the store's vault
//! first, so that the chain covers the ciphertext. Every store appends through [`chain_append`], so a
//! stream's chain and seals do not depend on which store, or which writer, appended.

use crate::chain::{seal_message, Notary, Seal};
use crate::error::EventStoreError;
use crate::event::{NewEvent, StoredEvent};
use crate::personal::{seal_payload, Vault};
use crate::store::EventStore;

/// `events` with every plain personal value sealed by `vault` ([`crate::personal`]): what is hashed, stored and
/// published. Events without personal data are passed as they are; personal data and no vault is refused.
pub async fn seal_events(
    vault: Option<&dyn Vault>,
    events: &[NewEvent],
) -> Result<Vec<NewEvent>, EventStoreError> {
    let mut sealed = Vec::with_capacity(events.len());
    for event in events {
        let mut event = event.clone();
        if let Some(payload) = seal_payload(vault, &event.payload).await? {
            event.payload = payload;
        }
        sealed.push(event);
    }
    Ok(sealed)
}

/// `events` as `store` writes them after `expected_version` of `stream_id`: chained to `previous` (the event the
/// caller read at `expected_version`; when it passes none, `store` reads it: one more read), sealed by `notary`
/// ([`chain_append`]).
pub async fn prepare_append(
    store: &dyn EventStore,
    stream_id: &str,
    expected_version: u64,
    previous: Option<&StoredEvent>,
    events: &[NewEvent],
    notary: Option<&dyn Notary>,
) -> Result<Vec<StoredEvent>, EventStoreError> {
    let events = seal_events(store.vault(), events).await?;
    let read;
    let previous_chain = match known_previous(expected_version, previous) {
        Some(chain) => chain,
        None => {
            read = store.load_event(stream_id, expected_version).await?;
            // Appending after an event that is not there would start a chain of its own in mid-stream (and hide a
            // deletion): an append continues a stream from an event it has.
            let Some(previous) = &read else {
                return Err(EventStoreError::Rejected(format!(
                    "stream {stream_id}: no event at version {expected_version} to append after"
                )));
            };
            previous.chain()
        }
    };
    chain_append(stream_id, expected_version, previous_chain, &events, notary).await
}

/// The chain hash an append at `expected_version` continues from, when the caller's `previous` (the event it read
/// at that version) says: `Some(None)` for a new stream or an event written before chaining; `None` when the caller
/// did not say, and the store must read the event at `expected_version`.
fn known_previous(expected_version: u64, previous: Option<&StoredEvent>) -> Option<Option<&str>> {
    if expected_version == 0 {
        return Some(None);
    }
    previous
        .filter(|event| event.version == expected_version)
        .map(StoredEvent::chain)
}

/// `events` as stored at `expected_version + 1`, ... of `stream_id`: chained from `previous_chain`, and each one
/// whose version is a multiple of the notary's interval sealed (a failed signature fails the append as
/// [`EventStoreError::Transient`]: nothing is written, and a retry may succeed).
pub async fn chain_append(
    stream_id: &str,
    expected_version: u64,
    previous_chain: Option<&str>,
    events: &[NewEvent],
    notary: Option<&dyn Notary>,
) -> Result<Vec<StoredEvent>, EventStoreError> {
    let mut stored = StoredEvent::chained(
        stream_id,
        expected_version + 1,
        events.iter().cloned(),
        previous_chain,
    );
    if let Some(notary) = notary {
        let every = notary.every().max(1);
        for event in stored
            .iter_mut()
            .filter(|e| e.version.is_multiple_of(every))
        {
            let chain = event.chain().unwrap_or_default();
            let message = seal_message(stream_id, event.version, chain, every);
            let signature = notary
                .sign(&message)
                .await
                .map_err(|e| EventStoreError::Transient(e.to_string()))?;
            event.seal = Some(Seal {
                key: notary.key().to_owned(),
                every,
                signature: hex::encode(signature),
            });
        }
    }
    Ok(stored)
}
