//! The ledger end to end, on both server pairs: accounts written through the HTTP API (the command path chains and
//! seals every 4 events; the transfer process writes through the same store), `tributary verify --all` finds them
//! intact; then someone with write access to the events table changes an amount, deletes an event, inserts one
//! (renumbering the rest, hashes computed as the scheme says), swaps two, and replaces a signed checkpoint — and
//! `verify` names each, at its version, in the stream it was done to (a stream whose first event was deleted too),
//! and leaves the untouched account alone.
//! Checkpoints are signed by a KMS key on the local KMS-compatible endpoint when the test command runs one, by a
//! local key otherwise.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{client_as, money, open_account, settled_transfer, test_config, tributary_cli_output};
use devstack::{Devstack, DevstackConfig};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tributary_dynamodb::{from_item, to_item};
use tributary_ledger::{KmsNotary, LocalNotary};
use tributary_store::chain::Notary;
use tributary_store::{NewEvent, StoredEvent};
use tributary_testkit::{dynamo, kms, kms_signing_key};

type Item = HashMap<String, AttributeValue>;

/// The notary the stack seals with (every 4 events), and the `verify` flags that trust it.
async fn notary() -> (Arc<dyn Notary>, Vec<String>) {
    match kms() {
        Some(client) => {
            let id = kms_signing_key(&client).await;
            let notary = KmsNotary::connect(client, &id, 4).await.unwrap();
            (
                Arc::new(notary),
                vec![format!("--kms-key={id}"), "--seal-every=4".into()],
            )
        }
        None => {
            let notary = LocalNotary::generate(4).unwrap();
            let path =
                std::env::temp_dir().join(format!("ledger-test-{}.pem", uuid::Uuid::new_v4()));
            std::fs::write(&path, notary.public_key_pem()).unwrap();
            (
                Arc::new(notary),
                vec![format!("--public-key={}", path.display())],
            )
        }
    }
}

/// Every item of `stream`, by version.
async fn items(stream: &str) -> Vec<Item> {
    let d = dynamo();
    d.client()
        .query()
        .table_name(&d.events_table)
        .consistent_read(true)
        .key_condition_expression("stream_id = :s AND version > :zero")
        .expression_attribute_values(":s", AttributeValue::S(stream.to_owned()))
        .expression_attribute_values(":zero", AttributeValue::N("0".into()))
        .send()
        .await
        .unwrap()
        .items()
        .to_vec()
}

async fn put(item: Item) {
    let d = dynamo();
    d.client()
        .put_item()
        .table_name(&d.events_table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

/// `item` with its version attribute (the key) changed.
fn at_version(mut item: Item, version: u64) -> Item {
    item.insert("version".into(), AttributeValue::N(version.to_string()));
    item
}

async fn verify(stack: &Devstack, trust: &[String], args: &[&str]) -> (anyhow::Result<()>, String) {
    let mut argv: Vec<&str> = args.to_vec();
    argv.extend(trust.iter().map(String::as_str));
    tributary_cli_output(stack, "unused", &argv).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_every_kind_of_tampering_and_passes_a_clean_ledger() {
    let (notary, trust) = notary().await;
    let stack = Devstack::start(DevstackConfig {
        ledger: Some(notary),
        ..test_config().await
    })
    .await
    .unwrap();
    let base = stack.base_url();
    let alice = client_as("alice");
    let mut accounts = Vec::new();
    for _ in 0..7 {
        let id = open_account(&alice, &base, "EUR").await;
        for n in 1..=9 {
            money(&alice, &base, &id, "deposits", 100 * n).await;
        }
        accounts.push(id);
    }
    // A transfer: the process manager's writes (the transfer's stream, the credit) are chained and sealed too.
    let transfer = common::post(
        &alice,
        &format!("{base}/transfers"),
        &[],
        Some(&format!(
            r#"{{"from":"{}","to":"{}","amount":50}}"#,
            accounts[5], accounts[4]
        )),
    )
    .await;
    assert_eq!(transfer.status, 202, "{}", transfer.body);
    let transfer_id = transfer.body["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(
        settled_transfer(&alice, &base, &transfer_id).await["status"],
        "completed"
    );

    let (clean, out) = verify(&stack, &trust, &["verify", "--all"]).await;
    clean.unwrap_or_else(|e| panic!("a clean ledger verifies: {e:#}\n{out}"));
    assert!(out.contains(": intact"), "{out}");
    let (one, out) = verify(&stack, &trust, &["verify", &accounts[5]]).await;
    one.unwrap();
    assert!(out.contains("intact; sealed to event 8"), "{out}");

    let stream = |i: usize| format!("account-{}", accounts[i]);
    // 0: an amount changed in place (event 6 deposited 500).
    let mut item = items(&stream(0)).await.remove(5);
    let payload = item["payload"].as_s().unwrap().replace("500", "500000");
    assert_ne!(
        Some(&payload),
        item["payload"].as_s().ok(),
        "the amount is in the payload"
    );
    item.insert("payload".into(), AttributeValue::S(payload));
    put(item).await;
    // 1: an event deleted.
    let d = dynamo();
    d.client()
        .delete_item()
        .table_name(&d.events_table)
        .key("stream_id", AttributeValue::S(stream(1)))
        .key("version", AttributeValue::N("5".into()))
        .send()
        .await
        .unwrap();
    // 2: an event inserted at 5, the rest moved up one, the forged one chained as the scheme says.
    let all = items(&stream(2)).await;
    for item in all[4..].iter().rev() {
        let version: u64 = item["version"].as_n().unwrap().parse().unwrap();
        put(at_version(item.clone(), version + 1)).await;
    }
    let previous = from_item(&all[3]).unwrap();
    let template = from_item(&all[4]).unwrap();
    let forged = StoredEvent::committed(
        &stream(2),
        5,
        NewEvent {
            event_type: template.event_type.clone(),
            schema_version: template.schema_version,
            payload: template.payload.replace("400", "400000"),
            metadata: template.metadata.clone(),
        },
        previous.chain(),
    );
    put(to_item(&forged).unwrap()).await;
    // 3: events 6 and 7 swapped (everything but the key).
    let all = items(&stream(3)).await;
    put(at_version(all[6].clone(), 6)).await;
    put(at_version(all[5].clone(), 7)).await;
    // 4: the checkpoint on event 8 replaced by the one on event 4.
    let all = items(&stream(4)).await;
    let mut item = all[7].clone();
    for name in ["seal_key", "seal_every", "seal_signature"] {
        item.insert(name.into(), all[3][name].clone());
    }
    put(item).await;
    // 6: its first event deleted (`--all` must still find the stream).
    d.client()
        .delete_item()
        .table_name(&d.events_table)
        .key("stream_id", AttributeValue::S(stream(6)))
        .key("version", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();

    let (result, out) = verify(&stack, &trust, &["--json", "verify", "--all"]).await;
    let error = result.expect_err("a tampered ledger fails verify");
    assert!(
        error.to_string().contains("findings in 6 streams"),
        "{error:#}\n{out}"
    );
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let findings = |i: usize| -> Vec<Value> {
        report["damaged"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["stream_id"] == stream(i).as_str())
            .map(|r| r["findings"].as_array().unwrap().clone())
            .unwrap_or_default()
    };
    let expected = [
        serde_json::json!([{"finding": "modified", "version": 6}]),
        serde_json::json!([{"finding": "deleted", "from": 5, "to": 5}]),
        serde_json::json!([{"finding": "inserted", "version": 5}]),
        serde_json::json!([{"finding": "reordered", "version": 6, "with": 7}]),
    ];
    for (i, expected) in expected.iter().enumerate() {
        assert_eq!(&Value::Array(findings(i)), expected, "account {i}: {out}");
    }
    let replaced = findings(4);
    assert!(
        replaced.len() == 1 && replaced[0]["finding"] == "bad_seal" && replaced[0]["version"] == 8,
        "{replaced:?}"
    );
    assert_eq!(
        Value::Array(findings(6)),
        serde_json::json!([{"finding": "deleted", "from": 1, "to": 1}]),
        "{out}"
    );
    assert!(findings(5).is_empty(), "the untouched account: {out}");
    assert_eq!(report["damaged"].as_array().unwrap().len(), 6, "{out}");
    stack.stop().await;
}
