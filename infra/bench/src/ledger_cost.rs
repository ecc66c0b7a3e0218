//! What tamper evidence costs a command (`--ledger-only`, BENCHMARKS.md "What the ledger costs"): the bytes the
//! chain adds to an event's item, the time to hash and chain one event, to sign one checkpoint with a local P-256 key
//! (on AWS, KMS signs: one `Sign` per `LEDGER_SEAL_EVERY` events of a stream, its latency KMS's), and the rate at
//! which `verify` walks a stream in memory; and what sealing personal data costs (the bytes a sealed holder name adds
//! to an event, the time to seal and to open one value with the data key's unwrapping cached, as a warm container
//! has it — the key table's read and KMS's latency are a server's). No server: in-process, in the build it runs in
//! (release for figures).

use crate::setup::deposit_event;
use std::time::Instant;
use tributary_dynamodb::approximate_size;
use tributary_ledger::{LocalNotary, TrustedKeys};
use tributary_store::chain::Notary;
use tributary_store::verify::{ChainWalk, Expected};
use tributary_store::StoredEvent;

/// The figures.
#[derive(Debug, serde::Serialize)]
pub struct LedgerCost {
    /// A deposit's item, written before chaining and now (DynamoDB's item size: names and values).
    pub item_bytes_unchained: usize,
    pub item_bytes_chained: usize,
    /// What a seal adds to the item it is on (one in `every`).
    pub seal_bytes: usize,
    pub hash_and_chain_micros_per_event: f64,
    pub local_sign_micros_per_seal: f64,
    pub verify_events_per_second: f64,
    pub every: u64,
    /// An account's opening event with no holder, and with a 12-character holder sealed (its item, bytes).
    pub opened_item_bytes: usize,
    pub opened_with_sealed_holder_item_bytes: usize,
    /// Sealing one value (AES-256-GCM, the payload walked and written again), and opening one in a batch of 100
    /// (an answer's worth), the data key's unwrapping cached.
    pub seal_micros_per_value: f64,
    pub open_micros_per_value: f64,
}

pub async fn measure(events: usize) -> anyhow::Result<LedgerCost> {
    let every = tributary_ledger::DEFAULT_SEAL_EVERY;
    let stream = format!("account-{}", uuid::Uuid::new_v4());
    let chained = StoredEvent::committed(&stream, 7, deposit_event(), Some(&"0".repeat(64)));
    let mut unchained = chained.clone();
    unchained.link = None;
    let item_bytes_unchained = approximate_size(&tributary_dynamodb::to_item(&unchained)?);
    let item_bytes_chained = approximate_size(&tributary_dynamodb::to_item(&chained)?);

    let new_events: Vec<_> = (0..events).map(|_| deposit_event()).collect();
    let started = Instant::now();
    let history = StoredEvent::chained(&stream, 1, new_events, None);
    let hash_and_chain_micros_per_event = started.elapsed().as_secs_f64() * 1e6 / events as f64;

    let notary = LocalNotary::generate(every)?;
    let signatures = (events / every as usize).max(100);
    let started = Instant::now();
    let mut signature = Vec::new();
    for n in 0..signatures {
        signature = notary.sign(format!("checkpoint {n}").as_bytes()).await?;
    }
    let local_sign_micros_per_seal = started.elapsed().as_secs_f64() * 1e6 / signatures as f64;
    let mut sealed = chained.clone();
    sealed.seal = Some(tributary_store::chain::Seal {
        // A KMS key's ARN, as deployed.
        key: format!(
            "arn:aws:kms:us-east-1:123456789012:key/{}",
            uuid::Uuid::new_v4()
        ),
        every,
        signature: hex::encode(&signature),
    });
    let seal_bytes = approximate_size(&tributary_dynamodb::to_item(&sealed)?) - item_bytes_chained;

    // Sealed as the store seals, then walked as `verify` walks.
    let mut history = history;
    for event in history
        .iter_mut()
        .filter(|e| e.version.is_multiple_of(every))
    {
        let message = tributary_store::chain::seal_message(
            &stream,
            event.version,
            event.chain().unwrap_or_default(),
            every,
        );
        event.seal = Some(tributary_store::chain::Seal {
            key: notary.key().to_owned(),
            every,
            signature: hex::encode(notary.sign(&message).await?),
        });
    }
    let mut keys = TrustedKeys::new();
    keys.add_pem(&notary.public_key_pem())?;
    let started = Instant::now();
    let mut walk = ChainWalk::new(
        &stream,
        &keys,
        Expected {
            seal_every: Some(every),
            unchained_start: false,
        },
    );
    for event in &history {
        walk.push(event);
    }
    let report = walk.finish();
    anyhow::ensure!(
        report.is_intact(),
        "the measured history verifies: {report:?}"
    );
    let verify_events_per_second = events as f64 / started.elapsed().as_secs_f64();
    let personal = personal_data_cost(events.max(1_000)).await?;
    Ok(LedgerCost {
        opened_item_bytes: personal.0,
        opened_with_sealed_holder_item_bytes: personal.1,
        seal_micros_per_value: personal.2,
        open_micros_per_value: personal.3,
        item_bytes_unchained,
        item_bytes_chained,
        seal_bytes,
        hash_and_chain_micros_per_event,
        local_sign_micros_per_seal,
        verify_events_per_second,
        every,
    })
}

/// The bytes of an opening event without and with a sealed holder; micros to seal one value and to open one.
async fn personal_data_cost(values: usize) -> anyhow::Result<(usize, usize, f64, f64)> {
    use std::sync::Arc;
    use tributary_store::personal::{open_all, seal_payload, InMemorySubjectKeys, Vault};
    let vault = tributary_ledger::SubjectVault::new(
        Arc::new(InMemorySubjectKeys::default()),
        Arc::new(tributary_ledger::LocalKeyWrap::generate()?),
    );
    let stream = format!("account-{}", uuid::Uuid::new_v4());
    let plain = crate::setup::opened_event(Some("Ada Lovelace"));
    let sealed_payload = seal_payload(Some(&vault), &plain.payload)
        .await?
        .expect("the holder is sealed");
    let mut with_holder = plain.clone();
    with_holder.payload = sealed_payload.clone();
    let size = |event: tributary_store::NewEvent| {
        tributary_dynamodb::to_item(&StoredEvent::committed(&stream, 1, event, None))
            .map(|item| approximate_size(&item))
    };
    let without = size(crate::setup::opened_event(None))?;
    let with = size(with_holder)?;

    let started = Instant::now();
    for _ in 0..values {
        seal_payload(Some(&vault), &plain.payload).await?;
    }
    let seal = started.elapsed().as_secs_f64() * 1e6 / values as f64;

    let one: serde_json::Value = serde_json::from_str(&sealed_payload)?;
    let rounds = (values / 100).max(1);
    let started = Instant::now();
    for _ in 0..rounds {
        let mut answer = vec![one.clone(); 100];
        open_all(Some(&vault as &dyn Vault), &mut answer).await?;
    }
    let open = started.elapsed().as_secs_f64() * 1e6 / (rounds * 100) as f64;
    Ok((without, with, seal, open))
}
