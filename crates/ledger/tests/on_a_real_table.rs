//! The ledger on a real DynamoDB API (dynoxide, or DynamoDB Local in the full run): checkpoints signed by a KMS key
//! through the local KMS-compatible endpoint the test command starts (`AWS_ENDPOINT_URL_KMS`), verified with the
//! key's public key from KMS; and a 50,000-event stream verified a page at a time.

use std::sync::Arc;
use tributary_dynamodb::tables::{self, TableSpec};
use tributary_dynamodb::DynamoDbEventStore;
use tributary_ledger::{verify_stream, KmsNotary, LocalNotary, Progress, TrustedKeys, PAGE};
use tributary_store::chain::Notary;
use tributary_store::verify::{Expected, Finding};
use tributary_store::{EventStore, NewEvent};
use tributary_testkit::{dynamo, event_metadata, kms, kms_signing_key, seed_history};
use uuid::Uuid;

fn deposit(n: u64) -> NewEvent {
    NewEvent {
        event_type: "MoneyDeposited".into(),
        schema_version: 1,
        payload: format!(r#"{{"type":"MoneyDeposited","amount":{n}}}"#),
        metadata: event_metadata("alice"),
    }
}

fn every_4() -> Expected {
    Expected {
        seal_every: Some(4),
        unchained_start: false,
    }
}

/// A KMS signing key of the local endpoint (ECC_NIST_P256, SIGN_VERIFY), by its alias.
async fn signing_key(client: &aws_sdk_kms::Client) -> String {
    let id = kms_signing_key(client).await;
    let alias = format!("alias/tributary-ledger-{}", Uuid::new_v4());
    client
        .create_alias()
        .alias_name(&alias)
        .target_key_id(&id)
        .send()
        .await
        .expect("CreateAlias");
    alias
}

#[tokio::test]
async fn checkpoints_signed_by_kms_verify_and_a_forged_one_does_not() {
    let Some(client) = kms() else { return };
    let alias = signing_key(&client).await;
    let notary = KmsNotary::connect(client.clone(), &alias, 4)
        .await
        .expect("an ECC_NIST_P256 signing key");
    assert!(
        notary.key().starts_with("arn:aws:kms:"),
        "seals name the key's ARN: {}",
        notary.key()
    );
    let d = dynamo();
    let store = DynamoDbEventStore::new(d.client(), &d.events_table)
        .with_notary(Some(Arc::new(notary.clone())));
    let stream = format!("account-{}", Uuid::new_v4());
    // One event at a time, then three in one append (a seal inside a multi-event append).
    for n in 0..5 {
        store.append(&stream, n, &[deposit(n)]).await.unwrap();
    }
    store
        .append(&stream, 5, &[deposit(5), deposit(6), deposit(7)])
        .await
        .unwrap();
    let loaded = store.load(&stream).await.unwrap();
    assert_eq!(
        loaded
            .iter()
            .filter(|e| e.seal.is_some())
            .map(|e| e.version)
            .collect::<Vec<_>>(),
        vec![4, 8]
    );
    // Trusted by the alias: the public key comes from KMS, filed under the key's ARN.
    let mut keys = TrustedKeys::new();
    assert_eq!(keys.add_kms(&client, &alias).await.unwrap(), notary.key());
    let report = verify_stream(
        &store,
        &stream,
        &keys,
        every_4(),
        &mut Progress::new(),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.sealed_to, Some(8));

    // A checkpoint re-signed by another KMS key in the same account: valid signature, untrusted key.
    let other = KmsNotary::connect(client.clone(), &signing_key(&client).await, 4)
        .await
        .unwrap();
    let message = tributary_store::chain::seal_message(&stream, 8, loaded[7].chain().unwrap(), 4);
    let signature = hex::encode(other.sign(&message).await.unwrap());
    d.client()
        .update_item()
        .table_name(&d.events_table)
        .key(
            "stream_id",
            aws_sdk_dynamodb::types::AttributeValue::S(stream.clone()),
        )
        .key(
            "version",
            aws_sdk_dynamodb::types::AttributeValue::N("8".into()),
        )
        .update_expression("SET seal_key = :k, seal_signature = :s")
        .expression_attribute_values(
            ":k",
            aws_sdk_dynamodb::types::AttributeValue::S(other.key().to_owned()),
        )
        .expression_attribute_values(":s", aws_sdk_dynamodb::types::AttributeValue::S(signature))
        .send()
        .await
        .unwrap();
    let report = verify_stream(
        &store,
        &stream,
        &keys,
        every_4(),
        &mut Progress::new(),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(
        matches!(report.findings.as_slice(), [Finding::BadSeal { version: 8, reason }] if reason.contains("not a trusted key")),
        "{report:?}"
    );
    assert_eq!(report.sealed_to, Some(4));
}

#[tokio::test]
async fn a_key_that_cannot_sign_is_refused_with_a_clear_error() {
    let Some(client) = kms() else { return };
    let symmetric = client.create_key().send().await.unwrap();
    let id = symmetric.key_metadata().unwrap().key_id();
    let error = KmsNotary::connect(client.clone(), id, 64)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("ECC_NIST_P256 SIGN_VERIFY"),
        "{error}"
    );
}

#[tokio::test]
async fn a_fifty_thousand_event_stream_verifies_one_page_at_a_time() {
    let d = dynamo();
    // A table of its own without a stream (a DynamoDB stream makes the embedded server's writes slow down as the
    // partition grows: a fifth of this history took 40 s on the shared events table).
    let table = "ledger-long-stream";
    TableSpec {
        stream_view: None,
        ..tables::EVENTS
    }
    .ensure(&d.client(), table)
    .await
    .unwrap();
    let stream = format!("account-{}", Uuid::new_v4());
    let length = 50_000u64;
    let seeding = std::time::Instant::now();
    seed_history(&d.client(), table, &stream, 1, (0..length).map(deposit))
        .await
        .expect("seed the history");
    eprintln!(
        "seeded {length} events in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let store = DynamoDbEventStore::new(d.client(), table);
    let notary = LocalNotary::generate(64).unwrap();
    let mut keys = TrustedKeys::new();
    keys.add_pem(&notary.public_key_pem()).unwrap();
    let mut progress = Progress::new();
    let mut pages = 0u64;
    // Written straight into the table as the store chains (not through a notary): chained, not sealed.
    let unsealed = Expected {
        seal_every: None,
        unchained_start: false,
    };
    let report = verify_stream(&store, &stream, &keys, unsealed, &mut progress, &mut |_| {
        pages += 1
    })
    .await
    .unwrap();
    assert!(report.is_intact(), "{:?}", &report.findings);
    assert_eq!((report.events, report.head), (length, length));
    // Memory: one page of events at a time, whatever the stream's length.
    assert!(progress.peak_events_held <= PAGE as usize, "{progress:?}");
    assert!(pages >= length / PAGE as u64, "{pages} pages");
    eprintln!(
        "verified {length} events in {:.1} s ({:.0} events/s), at most {} held at once",
        progress.started.elapsed().as_secs_f64(),
        progress.rate(),
        progress.peak_events_held
    );
}
