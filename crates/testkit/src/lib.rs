//! Test support: a real DynamoDB API and a real Kafka protocol for tests, with fresh tables and topics.
//!
//! By default an embedded dynoxide server is started once per test binary (on loopback, in memory, on a thread of
//! its own so it outlives each test's runtime). With `AWS_ENDPOINT_URL_DYNAMODB` set (the full run against the
//! official DynamoDB Local), that server is used instead. Each test binary gets its own uniquely named tables.

pub mod batches;
pub mod broker;
mod calls;
pub mod chaos;
pub mod deadline;
pub mod faults;
mod history;
pub mod kafka;
pub mod tally;

pub use batches::{kafka_batch_json, RawRecord};
pub use broker::PrivateBroker;
pub use calls::CallLog;
pub use chaos::{ChaosCounts, ChaosProxy, Faults};
pub use faults::{run_on_own_thread, AfterCall, LoseResponses, RequestLog};
pub use history::{event_metadata, seed_history, seed_history_with_snapshots};
pub use kafka::{kafka, produce_raw, read_topic, ConsumedRecord, TestKafka};

/// How long a test waits for what is eventually consistent (a record on a topic, a read model, a consumer's commit)
/// before it fails with a message naming what did not come: generous, so that a loaded machine is slow but never
/// red. A wait that ends as soon as its condition holds costs nothing more when the machine is fast.
pub const EVENTUALLY: std::time::Duration = std::time::Duration::from_secs(120);

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::Intercept;
use aws_sdk_dynamodb::Client;
use std::sync::OnceLock;
use tributary_dynamodb::local::local_config;
use tributary_dynamodb::tables;

/// The DynamoDB API every test of this binary talks to.
#[derive(Debug)]
pub struct TestDynamo {
    /// Base URL of the server.
    pub endpoint: String,
    /// Whether this is the embedded dynoxide server (as opposed to an external one).
    pub embedded: bool,
    /// The events table created for this test binary.
    pub events_table: String,
    /// The projections table created for this test binary.
    pub projections_table: String,
    /// The personal-data vault's key table created for this test binary.
    pub subject_keys_table: String,
}

static DYNAMO: OnceLock<TestDynamo> = OnceLock::new();

/// The test binary's deadline ([`deadline`]), started by the first service a test uses.
fn start_watchdog() {
    deadline::start_watchdog(|| kafka::kafka_if_started().map(|k| k.bootstrap.as_str()));
}

/// The shared server and tables, started and created on first use.
pub fn dynamo() -> &'static TestDynamo {
    start_watchdog();
    DYNAMO.get_or_init(|| {
        std::thread::spawn(start)
            .join()
            .expect("test DynamoDB setup thread panicked")
    })
}

impl TestDynamo {
    /// A client for this server, for use in the calling test's runtime.
    pub fn client(&self) -> Client {
        Client::from_conf(self.config().build())
    }

    /// A client whose calls are recorded in the returned log.
    pub fn counted_client(&self) -> (Client, CallLog) {
        let log = CallLog::default();
        let client = Client::from_conf(self.config().interceptor(log.clone()).build());
        (client, log)
    }

    /// A client with `interceptor` added (fault injection, request capture), and SDK retries that back off in
    /// milliseconds rather than seconds so retried faults keep tests quick.
    pub fn client_with(&self, interceptor: impl Intercept + 'static) -> Client {
        Client::from_conf(
            self.config()
                .retry_config(fast_retries())
                .interceptor(interceptor)
                .build(),
        )
    }

    /// The SDK configuration of a client of this server (add interceptors before `build()`).
    pub fn config(&self) -> aws_sdk_dynamodb::config::Builder {
        local_config(&self.endpoint)
    }
}

/// A client of the DynamoDB API at `endpoint` (a [`ChaosProxy`] in front of the test server, say), with
/// [`fast_retries`].
pub fn client_at(endpoint: &str) -> Client {
    Client::from_conf(local_config(endpoint).retry_config(fast_retries()).build())
}

/// The SDK's standard retry mode (3 attempts), backing off from 10 ms instead of a second.
pub fn fast_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(std::time::Duration::from_millis(10))
}

fn start() -> TestDynamo {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime for the test DynamoDB");
    let (endpoint, embedded) = match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(url) if !url.is_empty() => (url, false),
        _ => {
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .expect("bind a loopback port for dynoxide");
            let addr = listener.local_addr().expect("local address");
            let db = dynoxide::Database::memory().expect("in-memory dynoxide database");
            runtime.spawn(dynoxide::server::serve_on(listener, db));
            (format!("http://{addr}"), true)
        }
    };
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let mut dynamo = TestDynamo {
        endpoint,
        embedded,
        events_table: format!("test-events-{suffix}"),
        projections_table: format!("test-projections-{suffix}"),
        subject_keys_table: format!("test-subject-keys-{suffix}"),
    };
    runtime.block_on(async {
        let client = dynamo.client();
        for (spec, name) in [
            (tables::EVENTS, &dynamo.events_table),
            (tables::PROJECTIONS, &dynamo.projections_table),
            (tables::SUBJECT_KEYS, &dynamo.subject_keys_table),
        ] {
            spec.ensure(&client, name).await.unwrap_or_else(|e| {
                panic!(
                    "cannot create test table {name} at {}: {e}",
                    dynamo.endpoint
                )
            });
        }
    });
    // Keep the runtime (and the embedded server on it) alive for the rest of the process.
    dynamo.endpoint = dynamo.endpoint.trim_end_matches('/').to_owned();
    std::mem::forget(runtime);
    dynamo
}

/// An `Authorization` header value for the local stack: `Bearer` and an unsigned JWT with these claims (the local
/// API reads the caller from it without checking a signature, as the README explains).
pub fn bearer_with(claims: serde_json::Value) -> String {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    format!(
        "Bearer {}.{}.{}",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes()),
        b64(b"unsigned")
    )
}

/// An `Authorization` header value naming the caller `sub` (see [`bearer_with`]).
pub fn bearer(sub: &str) -> String {
    bearer_with(serde_json::json!({ "sub": sub }))
}

/// A client for the local KMS-compatible endpoint the test command starts (`AWS_ENDPOINT_URL_KMS`, set by
/// `infra/test.sh` from `infra/kms-local.sh`); `None` without one — unless `TRIBUTARY_REQUIRE_KMS` is set (the test
/// command sets it), when a missing endpoint fails the test instead of skipping the KMS path.
pub fn kms() -> Option<aws_sdk_kms::Client> {
    match std::env::var("AWS_ENDPOINT_URL_KMS")
        .ok()
        .filter(|e| !e.is_empty())
    {
        Some(endpoint) => Some(tributary_ledger::local_kms_client(&endpoint)),
        None if std::env::var_os("TRIBUTARY_REQUIRE_KMS").is_some() => {
            panic!("TRIBUTARY_REQUIRE_KMS is set but AWS_ENDPOINT_URL_KMS is not: start infra/kms-local.sh")
        }
        None => {
            eprintln!("no AWS_ENDPOINT_URL_KMS: the KMS path is not exercised here (infra/test.sh starts one)");
            None
        }
    }
}

/// A new signing key (`ECC_NIST_P256`, `SIGN_VERIFY`) on the local KMS endpoint; its key id.
pub async fn kms_signing_key(client: &aws_sdk_kms::Client) -> String {
    let key = client
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .expect("CreateKey on the local KMS endpoint");
    key.key_metadata()
        .expect("a new key's metadata")
        .key_id()
        .to_owned()
}
