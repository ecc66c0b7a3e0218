//! Erasure end to end, on both server pairs: a data subject (Ada) opens accounts with her name as holder, moves
//! money between them and to someone else's account; her name is shown to her on the summaries, and is nowhere in
//! the clear — not in an event item, a projection row or a Kafka record. Then an operator forgets her
//! (`tributary forget`): her name reads as erased on every summary and in the audit trail, through the kit's reading
//! of the Kafka records, and after a rebuild of the summaries; the ledger still verifies; the balances are the same;
//! her accounts still take deposits; the other holder's name still shows; forgetting again destroys nothing.
//! Data keys are wrapped by a KMS key on the local KMS-compatible endpoint when the test command runs one, by a local
//! key otherwise.

mod common;

use common::{
    client_as, get, get_fresh, money, post, test_config, tributary_cli, tributary_cli_output,
};
use devstack::{Devstack, DevstackConfig};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tributary_ledger::{KeyWrap, KmsKeyWrap, LocalNotary, SubjectVault};
use tributary_store::personal::{open_all, reveal};
use tributary_testkit::{dynamo, kafka, kms};

/// What wraps the data keys: a new KMS symmetric key on the local endpoint, or the test binary's local key.
async fn key_wrap() -> Arc<dyn KeyWrap> {
    match kms() {
        Some(client) => {
            let key = client
                .create_key()
                .key_usage(aws_sdk_kms::types::KeyUsageType::EncryptDecrypt)
                .send()
                .await
                .expect("CreateKey");
            let id = key.key_metadata().unwrap().key_id().to_owned();
            Arc::new(KmsKeyWrap::connect(client, &id).await.unwrap())
        }
        None => common::personal_data_key(),
    }
}

async fn open_with_holder(client: &reqwest::Client, base: &str, holder: &str) -> String {
    let opened = post(
        client,
        &format!("{base}/accounts"),
        &[],
        Some(&serde_json::json!({"currency": "EUR", "holder": holder}).to_string()),
    )
    .await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    opened.body["account_id"].as_str().unwrap().to_owned()
}

/// Every item of `table`, as text (to look for a name in the clear).
async fn table_text(table: &str) -> String {
    let client = dynamo().client();
    let mut text = String::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            text.push_str(&format!("{item:?}\n"));
        }
        match page.last_evaluated_key() {
            Some(key) => start = Some(key.clone()),
            None => return text,
        }
    }
}

/// The summary of `id` once its projection reached `version`.
async fn summary(client: &reqwest::Client, base: &str, id: &str, version: u64) -> Value {
    let reply = get_fresh(
        client,
        &format!("{base}/accounts/{id}?min_version={version}"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_subject_reads_as_erased_everywhere_and_everything_else_still_works() {
    let notary = LocalNotary::generate(4).unwrap();
    let public_key = std::env::temp_dir().join(format!("erasure-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&public_key, notary.public_key_pem()).unwrap();
    let wrap = key_wrap().await;
    let stack = Devstack::start(DevstackConfig {
        ledger: Some(Arc::new(notary)),
        personal_data: Some(wrap.clone()),
        // A snapshot on every event: the one written with an account's opening must hold her name sealed too.
        snapshots: tributary_aggregate::SnapshotPolicy {
            every: 1,
            window: 16,
        },
        ..test_config().await
    })
    .await
    .unwrap();
    let base = stack.base_url();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (ada, bob) = (format!("ada-{run}"), format!("bob-{run}"));
    let (ada_name, bob_name) = (format!("Ada Lovelace {run}"), format!("Bob Marley {run}"));
    let (as_ada, as_bob) = (client_as(&ada), client_as(&bob));

    let savings = open_with_holder(&as_ada, &base, &ada_name).await;
    let current = open_with_holder(&as_ada, &base, &ada_name).await;
    let bobs = open_with_holder(&as_bob, &base, &bob_name).await;
    money(&as_ada, &base, &savings, "deposits", 10_000).await;
    money(&as_ada, &base, &current, "deposits", 500).await;
    for (to, amount) in [(&current, 2_500), (&bobs, 1_000)] {
        let transfer = post(
            &as_ada,
            &format!("{base}/transfers"),
            &[],
            Some(&format!(
                r#"{{"from":"{savings}","to":"{to}","amount":{amount}}}"#
            )),
        )
        .await;
        assert_eq!(transfer.status, 202, "{}", transfer.body);
        let id = transfer.body["transfer_id"].as_str().unwrap();
        let settled = common::settled_transfer(&as_ada, &base, id).await;
        assert_eq!(settled["status"], "completed", "{settled}");
    }
    money(&as_ada, &base, &savings, "withdrawals", 1_500).await;

    // Shown to her, and to nobody else.
    let before = summary(&as_ada, &base, &savings, 5).await;
    assert_eq!(before["holder"], ada_name.as_str(), "{before}");
    let answer = get(&as_ada, &format!("{base}/accounts/{savings}")).await;
    assert_eq!(
        answer.header("cache-control"),
        "private, no-store",
        "no cache keeps a name"
    );
    assert_eq!(before["balance"], 5_000);
    assert_eq!(
        summary(&as_bob, &base, &bobs, 2).await["holder"],
        bob_name.as_str()
    );
    assert_eq!(summary(&as_ada, &base, &current, 3).await["balance"], 3_000);
    // And to the counterparty of her transfer, on his statement.
    let from_ada = |statement: &Value| {
        statement["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|line| line["kind"] == "transfer-in")
            .map(|line| line["counterparty_holder"].clone())
    };
    let statement = get(&as_bob, &format!("{base}/accounts/{bobs}/statement")).await;
    assert_eq!(statement.status, 200, "{}", statement.body);
    assert_eq!(
        from_ada(&statement.body),
        Some(Value::from(ada_name.as_str())),
        "{}",
        statement.body
    );
    let trail = get(
        &as_ada,
        &format!("{base}/accounts/{savings}/events?order=oldest"),
    )
    .await;
    assert_eq!(
        trail.body["items"][0]["payload"]["holder"],
        ada_name.as_str(),
        "{}",
        trail.body
    );

    // Nowhere in the clear at rest or on the wire: only ciphertext under her key was ever written.
    let d = dynamo();
    for table in [
        &d.events_table,
        &d.projections_table,
        &stack.subject_keys_table,
    ] {
        let text = table_text(table).await;
        assert!(
            !text.contains(&ada_name) && !text.contains(&bob_name),
            "a name in the clear in {table}"
        );
    }
    let ours = [savings.clone(), current.clone(), bobs.clone()];
    let wanted = ours.clone();
    let records = tributary_testkit::read_topic(
        &kafka().bootstrap,
        &stack.events_topic,
        Duration::from_secs(60),
        move |records| {
            wanted.iter().all(|id| {
                records.iter().any(|r| {
                    r.key.ends_with(id.as_str()) && r.value["event_type"] == "AccountOpened"
                })
            })
        },
    )
    .await;
    // Every record of ours, in the clear nowhere; then the AccountOpened ones, once each (the command path and the
    // relay may both have published one: at least once).
    for record in records
        .iter()
        .filter(|r| ours.iter().any(|id| r.key.ends_with(id.as_str())))
    {
        let text = record.value.to_string();
        assert!(
            !text.contains(&ada_name) && !text.contains(&bob_name),
            "{text}"
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    let opened: Vec<Value> = records
        .iter()
        .filter(|r| ours.iter().any(|id| r.key.ends_with(id.as_str())))
        .filter(|r| r.value["event_type"] == "AccountOpened")
        .filter(|r| seen.insert(r.key.clone()))
        .map(|r| r.value["payload"].clone())
        .collect();
    assert_eq!(opened.len(), 3, "the three AccountOpened records");
    for payload in &opened {
        let text = payload.to_string();
        assert!(
            !text.contains(&ada_name) && !text.contains(&bob_name),
            "{text}"
        );
    }

    // Forget her.
    let (forgot, said) = tributary_cli_output(
        &stack,
        "unused",
        &[
            "forget",
            &ada,
            "--reason",
            "erasure request #1 (GDPR art. 17)",
        ],
    )
    .await;
    forgot.unwrap();
    assert!(said.starts_with(&format!("forgot {ada}")), "{said}");
    let again = tributary_cli(
        &stack,
        "unused",
        &["--json", "forget", &ada, "--reason", "repeated"],
    )
    .await
    .unwrap();
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["key_destroyed"], false, "idempotent: {again}");
    assert_eq!(again["projection_rows_rewritten"], 0, "{again}");
    // The read models' rows hold none of her values any more, not even sealed: only the erased marks.
    let rows = tributary_projections::ProjectionStore::new(dynamo().client(), &d.projections_table)
        .dump()
        .await
        .unwrap();
    let hers = format!(r#"{{"$personal":{{"subject":"{ada}","#);
    let marks: Vec<&String> = rows
        .iter()
        .map(|(_, _, data)| data)
        .filter(|data| data.contains(&hers))
        .collect();
    assert!(!marks.is_empty());
    for data in marks {
        assert!(!data.contains(&format!(r#"{hers}"sealed""#)), "{data}");
    }

    // Erased on every summary and in the audit trail; the balances as they were; the other holder untouched.
    for (id, balance) in [(&savings, 5_000), (&current, 3_000)] {
        let after = summary(&as_ada, &base, id, 1).await;
        assert_eq!(after["holder"], Value::Null, "{after}");
        assert_eq!(after["balance"], balance, "{after}");
    }
    let statement = get(&as_bob, &format!("{base}/accounts/{bobs}/statement")).await;
    assert_eq!(
        from_ada(&statement.body),
        Some(Value::Null),
        "{}",
        statement.body
    );
    assert_eq!(
        summary(&as_bob, &base, &bobs, 2).await["holder"],
        bob_name.as_str()
    );
    let trail = get(
        &as_ada,
        &format!("{base}/accounts/{savings}/events?order=oldest"),
    )
    .await;
    assert_eq!(trail.status, 200, "{}", trail.body);
    assert_eq!(trail.body["items"][0]["event_type"], "AccountOpened");
    assert_eq!(
        trail.body["items"][0]["payload"]["holder"],
        Value::Null,
        "{}",
        trail.body
    );

    // The Kafka records, read through the kit: erased for her, open for him.
    let vault = SubjectVault::new(
        Arc::new(tributary_dynamodb::DynamoDbSubjectKeys::new(
            dynamo().client(),
            &stack.subject_keys_table,
        )),
        wrap,
    );
    let mut payloads = opened.clone();
    open_all(Some(&vault), &mut payloads).await.unwrap();
    let mut erased = 0;
    for mut payload in payloads {
        let subject = payload["holder"]["$personal"]["subject"]
            .as_str()
            .unwrap()
            .to_owned();
        let is_erased = payload["holder"]["$personal"]["erased"] == true;
        assert_eq!(is_erased, subject == ada, "{payload}");
        erased += usize::from(is_erased);
        reveal(&mut payload);
        if subject == bob {
            assert_eq!(payload["holder"], bob_name.as_str());
        }
    }
    assert_eq!(erased, 2);

    // A rebuild from the events cannot bring her name back.
    let rebuilt = tributary_cli(
        &stack,
        "unused",
        &["--json", "rebuild", "account-summary", "--restart"],
    )
    .await
    .unwrap();
    assert!(rebuilt.contains("\"completed\": true"), "{rebuilt}");
    let after = summary(&as_ada, &base, &savings, 1).await;
    assert_eq!(after["holder"], Value::Null, "{after}");
    assert_eq!(after["balance"], 5_000);
    let rebuilt_rows = table_text(&d.projections_table).await;
    assert!(
        !rebuilt_rows.contains(&ada_name),
        "a rebuilt row holds her name"
    );

    // Her accounts still work, and the ledger still verifies (the chain covers the ciphertext, which is unchanged).
    let version = money(&as_ada, &base, &savings, "deposits", 1).await;
    let after = summary(&as_ada, &base, &savings, version).await;
    assert_eq!(
        (after["balance"].as_u64(), &after["holder"]),
        (Some(5_001), &Value::Null)
    );
    let trust = format!("--public-key={}", public_key.display());
    for id in [&savings, &current, &bobs] {
        let stream = format!("account-{id}");
        let (verified, report) =
            tributary_cli_output(&stack, "unused", &["verify", &stream, &trust]).await;
        assert!(verified.is_ok(), "{stream}: {report}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_name_that_is_not_a_name_is_refused() {
    let stack = Devstack::start(test_config().await).await.unwrap();
    let base = stack.base_url();
    let alice = client_as(&format!("alice-{}", uuid::Uuid::new_v4().simple()));
    for holder in [
        Value::String(String::new()),
        Value::String("a\u{7}b".into()),
        Value::String("x".repeat(101)),
        Value::from(5),
    ] {
        let refused = post(
            &alice,
            &format!("{base}/accounts"),
            &[],
            Some(&serde_json::json!({"currency": "EUR", "holder": holder}).to_string()),
        )
        .await;
        assert_eq!(refused.status, 400, "{holder}: {}", refused.body);
    }
    stack.stop().await;
}
