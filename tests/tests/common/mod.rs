//! Shared helpers for the end-to-end tests: start the local stack on the test DynamoDB API, speak JSON over HTTP.

#![allow(dead_code)]

use devstack::kafka_mapping::MappingSettings;
use devstack::{Devstack, DevstackConfig, DynamoSource, KafkaSource, TOPIC_PARTITIONS};
use serde_json::Value;
use tributary_aggregate::SnapshotPolicy;
use tributary_runtime::config::SdkPolicy;
use tributary_testkit::{dynamo, kafka};

/// The snapshot policy of the test stacks: a snapshot every 3 events, 16 recent commands remembered.
pub const SNAPSHOTS: SnapshotPolicy = SnapshotPolicy {
    every: 3,
    window: 16,
};

/// A stack configuration over the test binary's DynamoDB API and tables and its Kafka, with fresh topics, HTTP on
/// an ephemeral loopback port.
pub async fn test_config() -> DevstackConfig {
    let d = dynamo();
    let k = kafka();
    DevstackConfig {
        dynamo: DynamoSource::External(d.endpoint.clone()),
        events_table: d.events_table.clone(),
        projections_table: d.projections_table.clone(),
        // One key table and one wrapping key for every stack of the test binary, as a deployment has.
        subject_keys_table: d.subject_keys_table.clone(),
        personal_data: Some(personal_data_key()),
        kafka: KafkaSource::External(k.bootstrap.clone()),
        events_topic: k.topic("events", TOPIC_PARTITIONS).await,
        rejections_topic: k.topic("rejections", TOPIC_PARTITIONS).await,
        dead_letter_topic: k.topic("dead-letters", TOPIC_PARTITIONS).await,
        // Consumer groups of their own: stacks of other tests joining and leaving must not rebalance them.
        mapping: MappingSettings {
            group_prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
            ..MappingSettings::default()
        },
        // The deployed timeouts assume DynamoDB's latency; the tests share two cores and a debug build of the
        // embedded server between many stacks, so calls get the background functions' patience. (The
        // fault-injection suite, infra/devstack/tests/reliability.rs, runs with the deployed ones.)
        request_path_policy: SdkPolicy::BACKGROUND,
        // The same for the command path's publish (the relay's patience): a message timing out on a loaded machine
        // would take tansu's storage down (devstack::DevstackConfig::command_delivery_timeout).
        command_delivery_timeout: std::time::Duration::from_secs(30),
        // Snapshots every few events, so every end-to-end test runs over items that carry them (the relay, the
        // denormalisers, catch-up and rebuilds must see the events and nothing else).
        snapshots: SNAPSHOTS,
        ..DevstackConfig::embedded("127.0.0.1:0".parse().unwrap())
    }
}

/// The key that wraps the test binary's data keys (a local one, made once).
pub fn personal_data_key() -> std::sync::Arc<dyn tributary_ledger::KeyWrap> {
    static KEY: std::sync::OnceLock<std::sync::Arc<dyn tributary_ledger::KeyWrap>> =
        std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        std::sync::Arc::new(tributary_ledger::LocalKeyWrap::generate().expect("a new AES key"))
    })
    .clone()
}

/// Start the stack with [`test_config`].
pub async fn stack() -> Devstack {
    Devstack::start(test_config().await)
        .await
        .expect("devstack starts")
}

/// An HTTP client that calls the local stack as `principal` (an unsigned bearer token naming it).
pub fn client_as(principal: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        tributary_testkit::bearer(principal).parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        // A stack that stopped answering fails the request (and the test, saying so), never hangs it.
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A reply: status, selected headers, JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

/// POST a JSON body (or nothing) with extra headers. A request with an `Idempotency-Key` that is answered `503
/// service-unavailable` (the event store did not answer in time: a loaded machine) or `409 concurrent-modification`
/// (the command's retry budget ran out before its append won: on a loaded machine, against its own earlier attempt
/// landing late) is sent again with the same key after `Retry-After`, as the answer tells clients to, up to
/// [`EVENTUALLY`]: the retry applies it at most once. A request without a key gets its answer, like any client that
/// cannot retry safely.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let keyed = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("idempotency-key"));
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    loop {
        let reply = post_once(client, url, headers, body).await;
        let retry = matches!(
            (reply.status, reply.body["type"].as_str()),
            (503, Some("urn:tributary:problem:service-unavailable"))
                | (409, Some("urn:tributary:problem:concurrent-modification"))
        );
        if !(keyed && retry && tokio::time::Instant::now() < deadline) {
            return reply;
        }
        RETRIED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let seconds = reply.header("retry-after").parse().unwrap_or(1);
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
    }
}

/// How many times [`post`] sent a request again (in this test binary). Such a command may have been committed
/// without its fast-path publish (the store's answer was lost, so the handler never got to publish): the relay's
/// copy is then its only one.
pub static RETRIED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// POST once: whatever the stack answers.
async fn post_once(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut request = client.post(url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap_or_else(|e| {
        panic!("POST {url}: the stack does not answer ({e}); is it still running?")
    });
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// How long a test waits for what is eventually consistent (a read model, a transfer's process) before it fails
/// with a message naming what did not come: generous, so that a loaded machine is slow but never red.
pub const EVENTUALLY: std::time::Duration = std::time::Duration::from_secs(120);

/// GET `url`: status, headers, JSON body (`null` when there is none).
pub async fn get(client: &reqwest::Client, url: &str) -> Reply {
    let response = client.get(url).send().await.unwrap_or_else(|e| {
        panic!("GET {url}: the stack does not answer ({e}); is it still running?")
    });
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

/// GET `url` as a client would when the answer is `503 not-yet-visible`: wait as long as `Retry-After` says and ask
/// again, up to [`EVENTUALLY`]; then fail, naming the read model's version and the one asked for. Any other answer
/// is returned.
pub async fn get_fresh(client: &reqwest::Client, url: &str) -> Reply {
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    loop {
        let reply = get(client, url).await;
        if reply.status != 503 || reply.body["type"] != "urn:tributary:problem:not-yet-visible" {
            return reply;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "GET {url}: still not visible after {EVENTUALLY:?}: {}",
            reply.body
        );
        let seconds = reply.header("retry-after").parse().unwrap_or(1);
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
    }
}

/// Poll `url` (a GET) until `done` accepts the reply, up to [`EVENTUALLY`]; then fail, saying `what` did not happen
/// and showing the last reply.
pub async fn eventually(
    client: &reqwest::Client,
    url: &str,
    what: &str,
    done: impl Fn(&Reply) -> bool,
) -> Reply {
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    loop {
        let reply = get(client, url).await;
        if done(&reply) {
            return reply;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not after {EVENTUALLY:?}; GET {url} answers {} {}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Open an account in `currency` owned by `client`'s caller; its id.
pub async fn open_account(client: &reqwest::Client, base: &str, currency: &str) -> String {
    let opened = post(
        client,
        &format!("{base}/accounts"),
        &[],
        Some(&format!(r#"{{"currency":"{currency}"}}"#)),
    )
    .await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    opened.body["account_id"].as_str().unwrap().to_owned()
}

/// A deposit or withdrawal (`kind`: `deposits` or `withdrawals`) by `client`'s caller; the account's new version.
pub async fn money(client: &reqwest::Client, base: &str, id: &str, kind: &str, amount: u64) -> u64 {
    let reply = post(
        client,
        &format!("{base}/accounts/{id}/{kind}"),
        &[],
        Some(&format!(r#"{{"amount":{amount}}}"#)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["version"].as_u64().unwrap()
}

/// A transfer's view once it is no longer pending (read by `client`: its requester or an operator).
pub async fn settled_transfer(client: &reqwest::Client, base: &str, id: &str) -> Value {
    eventually(
        client,
        &format!("{base}/transfers/{id}"),
        &format!("transfer {id} settles"),
        |reply| reply.status == 200 && reply.body["status"] != "pending",
    )
    .await
    .body
}

/// Many transfers at once (each with the client of someone who may read it): poll them until none is pending.
/// Fails only when none of those still pending has moved for [`EVENTUALLY`] — a loaded machine works through a
/// long queue slowly, which is not a failure; a transfer that stops moving is — naming what is still pending.
#[allow(dead_code)]
pub async fn settled_transfers(base: &str, transfers: &[(reqwest::Client, String)]) -> Vec<Value> {
    let mut settled: Vec<Option<Value>> = vec![None; transfers.len()];
    let mut versions = vec![0u64; transfers.len()];
    let mut moved = tokio::time::Instant::now();
    loop {
        let replies = futures::future::join_all(
            transfers
                .iter()
                .enumerate()
                .filter(|(i, _)| settled[*i].is_none())
                .map(|(i, (client, id))| async move {
                    (i, id, get(client, &format!("{base}/transfers/{id}")).await)
                }),
        )
        .await;
        let mut pending = Vec::new();
        for (i, id, reply) in replies {
            let version = reply.body["version"].as_u64().unwrap_or(0);
            if reply.status == 200 && version > versions[i] {
                versions[i] = version;
                moved = tokio::time::Instant::now();
            }
            if reply.status == 200 && reply.body["status"] != "pending" {
                settled[i] = Some(reply.body);
            } else {
                pending.push(format!("{id}: {} {}", reply.status, reply.body));
            }
        }
        if pending.is_empty() {
            return settled
                .into_iter()
                .map(|view| view.expect("settled"))
                .collect();
        }
        assert!(
            moved.elapsed() < EVENTUALLY,
            "{} transfers still pending, none moved for {EVENTUALLY:?}; the first: {}",
            pending.len(),
            pending[0]
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// An HTTP client that calls the local stack as an operator (the local stack's operator scope).
pub fn operator_client(principal: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        tributary_testkit::bearer_with(
            serde_json::json!({"sub": principal, "scope": "tributary/operator"}),
        )
        .parse()
        .unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Run the operator CLI, `tributary <args>`, in process against `stack` (consumer groups `<prefix>-<consumer>`);
/// its stdout, or the error.
pub async fn tributary_cli(
    stack: &Devstack,
    prefix: &str,
    args: &[&str],
) -> anyhow::Result<String> {
    let (result, out) = tributary_cli_output(stack, prefix, args).await;
    result.map(|()| out)
}

/// [`tributary_cli`], its stdout whether or not it failed (a command that reports findings and exits non-zero).
pub async fn tributary_cli_output(
    stack: &Devstack,
    prefix: &str,
    args: &[&str],
) -> (anyhow::Result<()>, String) {
    let mut argv = vec![
        "tributary".to_owned(),
        format!("--dynamodb-endpoint={}", stack.dynamo_endpoint),
        format!("--events-table={}", stack.events_table),
        format!("--projections-table={}", stack.projections_table),
        format!("--subject-keys-table={}", stack.subject_keys_table),
        format!("--kafka-bootstrap={}", stack.kafka_bootstrap),
        format!("--events-topic={}", stack.events_topic),
        format!("--dead-letter-topic={}", stack.dead_letter_topic),
        format!("--group-prefix={prefix}"),
    ];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let cli = match <tributary_ops::Cli as clap::Parser>::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => return (Err(e.into()), String::new()),
    };
    let mut out = Vec::new();
    let result = tributary_ops::run(&app::operations::Operated, cli, &mut out).await;
    (result, String::from_utf8_lossy(&out).into_owned())
}

/// An account's statement lines, newest first (up to 100: the tests' statements are shorter).
pub async fn statement_lines(client: &reqwest::Client, base: &str, account: &str) -> Vec<Value> {
    let reply = get(
        client,
        &format!("{base}/accounts/{account}/statement?limit=100"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

/// How many of `lines` (statement lines) are of `kind`.
pub fn count_kind(lines: &[Value], kind: &str) -> u32 {
    lines.iter().filter(|l| l["kind"] == kind).count() as u32
}
