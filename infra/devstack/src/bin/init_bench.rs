//! `cargo run -p devstack --bin init-bench -- --bin-dir target/release`: cold-start time of each function binary
//! through the Lambda runtime API.
//!
//! For every function it starts the release binary as Lambda would (`AWS_LAMBDA_RUNTIME_API` pointing at a small
//! runtime API served here, 128 MB in the environment), hands it its `events/` fixture as the first invocation, and
//! measures from process start to the first `GET /runtime/invocation/next` (what Lambda reports as "Init Duration")
//! and to the posted response (a cold request), and its peak resident memory then (to size the functions' memory).
//! Each function's environment is its `events/env.json` entry, pointed
//! at an embedded DynamoDB API and Kafka cluster started here. Figures go to BENCHMARKS.md; nothing here asserts a
//! time, but a function that fails to initialise, answers with an invocation error or with HTTP 5xx fails the run.

use anyhow::{bail, Context};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bench_core::stats::{ms, percentile};
use clap::Parser;
use devstack::{Devstack, DevstackConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Mutex};

#[derive(Debug, Parser)]
#[command(about = "Cold start of each function binary through the Lambda runtime API")]
struct Args {
    /// Where the binaries are: `<dir>/<bin>/bootstrap` (cargo lambda's layout) or `<dir>/<bin>`.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Cold starts per function.
    #[arg(long, default_value_t = 10)]
    runs: usize,
}

/// A function to start: its template name (the `events/env.json` key), binary and first invocation.
struct Function {
    name: &'static str,
    binary: &'static str,
    fixture: &'static str,
}

/// Commands run once (untimed) before the cold starts: they open the account and make the deposit that the Kafka
/// batch fixtures name, so the denormaliser finds those versions in the event store and the query fixture (which
/// waits for `min_version=2`) reads the projection instead of timing out with 503.
const SEED: [&str; 2] = ["command-open-account.json", "command-deposit.json"];

/// In this order: the Kafka batch projects the account the query fixture reads.
const FUNCTIONS: [Function; 5] = [
    Function {
        name: "CommandFunction",
        binary: "command",
        fixture: "command-open-account.json",
    },
    Function {
        name: "SummaryDenormaliserFunction",
        binary: "denormaliser",
        fixture: "denormaliser-batch.json",
    },
    Function {
        name: "QueryFunction",
        binary: "query",
        fixture: "query-account.json",
    },
    Function {
        name: "RelayFunction",
        binary: "relay",
        fixture: "relay-stream-batch.json",
    },
    Function {
        name: "TransferProcessFunction",
        binary: "transfers",
        fixture: "transfer-process-batch.json",
    },
];

/// What the runtime API saw the function do.
#[derive(Debug)]
enum Seen {
    /// The function asked for its first invocation: initialisation is over.
    Next(Instant),
    /// The function answered the invocation.
    Response(Instant, Value),
    /// The function reported an invocation or initialisation error.
    Error(String),
}

/// The runtime API's state: the event of its cold start (until taken), and where to report what happened.
struct Runtime {
    event: Mutex<Option<Vec<u8>>>,
    seen: mpsc::UnboundedSender<Seen>,
}

const REQUEST_ID: &str = "00000000-0000-4000-8000-000000000001";

/// `GET /2018-06-01/runtime/invocation/next`: the fixture the first time, then nothing (the process is killed).
async fn next(State(runtime): State<Arc<Runtime>>) -> Response {
    let at = Instant::now();
    let event = runtime.event.lock().await.take();
    let Some(event) = event else {
        return std::future::pending().await;
    };
    let _ = runtime.seen.send(Seen::Next(at));
    let deadline = chrono::Utc::now().timestamp_millis() + 10_000;
    (
        [
            ("lambda-runtime-aws-request-id", REQUEST_ID.to_owned()),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:init-bench".to_owned(),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000001;Sampled=0".to_owned(),
            ),
            ("content-type", "application/json".to_owned()),
        ],
        event,
    )
        .into_response()
}

async fn response(
    State(runtime): State<Arc<Runtime>>,
    UrlPath(_request_id): UrlPath<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let at = Instant::now();
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = runtime.seen.send(Seen::Response(at, value));
    StatusCode::ACCEPTED
}

async fn invocation_error(
    State(runtime): State<Arc<Runtime>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let kind = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("error")
        .to_owned();
    let _ = runtime.seen.send(Seen::Error(format!("{kind}: {body}")));
    StatusCode::ACCEPTED
}

async fn init_error(State(runtime): State<Arc<Runtime>>, body: String) -> StatusCode {
    let _ = runtime
        .seen
        .send(Seen::Error(format!("initialisation error: {body}")));
    StatusCode::ACCEPTED
}

fn binary_path(dir: &Path, binary: &str) -> anyhow::Result<PathBuf> {
    [dir.join(binary).join("bootstrap"), dir.join(binary)]
        .into_iter()
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "no {binary} binary in {} (build it with `cargo build --release --bin {binary}`, or pass --bin-dir)",
                dir.display()
            )
        })
}

/// What one cold start measured.
struct ColdStart {
    /// Process start to the first request for an invocation.
    init: Duration,
    /// Process start to the posted response.
    first_response: Duration,
    /// The response.
    answer: Value,
    /// The process's peak resident memory after answering (Linux `VmHWM`), in MiB.
    peak_memory_mib: Option<f64>,
}

/// Peak resident memory of a running process, in MiB (Linux only).
fn peak_memory_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// A runtime API of its own for one cold start (a new port each time, so a killed process's last request can never
/// reach the next run): it hands out `event` once and reports what the function does.
async fn serve_runtime_api(
    event: Vec<u8>,
) -> anyhow::Result<(
    String,
    mpsc::UnboundedReceiver<Seen>,
    tokio::task::JoinHandle<()>,
)> {
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let runtime = Arc::new(Runtime {
        event: Mutex::new(Some(event)),
        seen: seen_tx,
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/response",
            post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/error",
            post(invocation_error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(runtime);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((address, seen, server))
}

/// One cold start of `binary` with `event` as its first invocation.
async fn cold_start(
    binary: &Path,
    env: &[(String, String)],
    event: Vec<u8>,
    log: &Path,
) -> anyhow::Result<ColdStart> {
    let (runtime_api, mut seen, server) = serve_runtime_api(event).await?;
    let stderr = std::fs::File::create(log)?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let mut init = None;
    let outcome = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(event) = seen.recv().await {
            match event {
                Seen::Next(at) => init = Some(at - started),
                Seen::Response(at, value) => return Ok((at - started, value)),
                Seen::Error(error) => bail!("{error}"),
            }
        }
        bail!("runtime API closed")
    })
    .await;
    let peak_memory_mib = child.id().and_then(peak_memory_mib);
    child.kill().await.ok();
    server.abort();
    let (first_response, answer) = outcome
        .map_err(|_| anyhow::anyhow!("no response within 15 s"))
        .and_then(|result| result)
        .with_context(|| format!("{} (its log: {})", binary.display(), log.display()))?;
    if let Some(status) = answer.get("statusCode").and_then(Value::as_u64) {
        if status >= 500 {
            bail!(
                "{} answered HTTP {status}: {} (its log: {})",
                binary.display(),
                answer["body"],
                log.display()
            );
        }
    }
    Ok(ColdStart {
        init: init.expect("a response follows a next"),
        first_response,
        answer,
        peak_memory_mib,
    })
}

/// The environment of `function` as Lambda would give it: the runtime's variables, then its `events/env.json`
/// entry with the Kafka and DynamoDB endpoints pointed at the embedded servers.
fn function_env(
    env_json: &Value,
    function: &str,
    stack: &Devstack,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut env: Vec<(String, String)> = vec![
        ("AWS_LAMBDA_FUNCTION_NAME".into(), function.into()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "128".into()),
        ("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "local".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "local".into()),
    ];
    let entry = env_json[function]
        .as_object()
        .with_context(|| format!("events/env.json has no {function}"))?;
    for (key, value) in entry {
        let value = match key.as_str() {
            "KAFKA_BOOTSTRAP_SERVERS" => stack.kafka_bootstrap.clone(),
            "AWS_ENDPOINT_URL_DYNAMODB" => stack.dynamo_endpoint.clone(),
            _ => value.as_str().unwrap_or_default().to_owned(),
        };
        env.push((key.clone(), value));
    }
    Ok(env)
}

/// Runs the [`SEED`] commands through the command binary, untimed, with their own idempotency keys (so the
/// account they open is the one the other fixtures name).
async fn seed(
    bin_dir: &Path,
    root: &Path,
    env_json: &Value,
    stack: &Devstack,
    logs: &Path,
) -> anyhow::Result<()> {
    let binary = binary_path(bin_dir, "command")?;
    let env = function_env(env_json, "CommandFunction", stack)?;
    for fixture in SEED {
        let event = std::fs::read(root.join("events").join(fixture))?;
        cold_start(&binary, &env, event, &logs.join("seed.log"))
            .await
            .with_context(|| format!("seeding the event store with {fixture}"))?;
    }
    Ok(())
}

/// The fixture for cold start `run`: an HTTP request gets an idempotency key of its own, so every run's command is
/// decided and appended (and published), not answered as a replay.
fn event_for_run(fixture: &[u8], run: usize) -> anyhow::Result<Vec<u8>> {
    let mut event: Value = serde_json::from_slice(fixture)?;
    if let Some(Value::String(key)) = event.pointer_mut("/headers/idempotency-key") {
        key.push_str(&format!("-init-bench-{}-{run}", std::process::id()));
    }
    Ok(serde_json::to_vec(&event)?)
}

/// A short description of a function's answer: the HTTP status, or the batch outcome.
fn describe(value: &Value) -> String {
    if value.is_null() {
        return "no content".to_owned();
    }
    if let Some(status) = value.get("statusCode") {
        return format!("HTTP {status}");
    }
    if let Some(failures) = value.get("batchItemFailures").and_then(Value::as_array) {
        return format!("{} batch item failures", failures.len());
    }
    value.to_string().chars().take(60).collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let env_json: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("events/env.json")).context("events/env.json")?,
    )?;

    let stack = Devstack::start(DevstackConfig {
        denormalisers: false,
        relay: false,
        ..DevstackConfig::embedded("127.0.0.1:0".parse()?)
    })
    .await?;

    println!(
        "init-bench: {} cold starts per function, binaries from {}",
        args.runs,
        args.bin_dir.display()
    );
    let logs = std::env::temp_dir().join("tributary-init-bench");
    std::fs::create_dir_all(&logs)?;
    seed(&args.bin_dir, &root, &env_json, &stack, &logs).await?;
    let mut failed = false;
    for function in &FUNCTIONS {
        let binary = binary_path(&args.bin_dir, function.binary)?;
        let event = std::fs::read(root.join("events").join(function.fixture))?;
        let env = function_env(&env_json, function.name, &stack)?;
        let log = logs.join(format!("{}.log", function.binary));
        let mut inits = Vec::new();
        let mut responses = Vec::new();
        let mut peak_memory = 0.0_f64;
        let mut answer = String::new();
        for run in 0..args.runs {
            let event = event_for_run(&event, run)?;
            match cold_start(&binary, &env, event, &log).await {
                Ok(run) => {
                    inits.push(run.init);
                    responses.push(run.first_response);
                    peak_memory = peak_memory.max(run.peak_memory_mib.unwrap_or_default());
                    answer = describe(&run.answer);
                }
                Err(error) => {
                    println!("{:<28} FAILED: {error:#}", function.name);
                    failed = true;
                    break;
                }
            }
        }
        if inits.is_empty() {
            continue;
        }
        inits.sort();
        responses.sort();
        println!(
            "{:<28} init p50 {:>6.1} ms  max {:>6.1} ms   first response p50 {:>6.1} ms  max {:>6.1} ms   \
             peak memory {peak_memory:>5.1} MiB   ({answer})",
            function.name,
            ms(percentile(&inits, 0.5)),
            ms(*inits.last().expect("runs")),
            ms(percentile(&responses, 0.5)),
            ms(*responses.last().expect("runs")),
        );
    }
    stack.stop().await;
    if failed {
        bail!("a function failed to start or to answer");
    }
    Ok(())
}
