//! Hostile input at the HTTP edge of the local stack, as raw bytes where a well-behaved client cannot send them:
//! every refusal is a 4xx `application/problem+json` — including those the HTTP server makes before any route runs —
//! and nothing is written for a refused request.

mod common;

use common::{post, stack};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_testkit::dynamo;

/// Send `request` as raw bytes (closing our side after it when `close` — a body that ends early), reading the
/// answer meanwhile (a server that refuses a request may close before reading all of it): (status, content type,
/// body).
async fn raw(
    addr: &std::net::SocketAddr,
    request: &[u8],
    close: bool,
) -> (u16, String, serde_json::Value) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let request = request.to_vec();
    let request_head = request[..request.len().min(200)].to_vec();
    let sending = tokio::spawn(async move {
        // The server may stop reading once it has refused: a failed write is expected then.
        let _ = writer.write_all(&request).await;
        if close {
            let _ = writer.shutdown().await;
        } else {
            // Keep our side open until the server has answered and closed.
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    // Until the server closes, or the answer is complete (its Content-Length read: the connection may stay open).
    while !complete(&answer) {
        match tokio::time::timeout_at(deadline, reader.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("no answer in time"),
        }
    }
    sending.abort();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| {
        panic!(
            "an HTTP response to {:?}, got {text:?}",
            String::from_utf8_lossy(&request_head)
        )
    });
    let status = head[9..12].parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (
        status,
        content_type,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Whether `answer` holds a whole response (head and `Content-Length` bytes of body).
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .and_then(|n| n.trim().parse::<usize>().ok())
        })
        .is_some_and(|length| body.len() >= length)
}

fn slug(body: &serde_json::Value) -> &str {
    body["type"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("urn:tributary:problem:")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_http_server_refuses_is_a_problem_too() {
    let stack = stack().await;
    let addr = stack.http_addr;
    let opened = post(
        &reqwest::Client::new(),
        &format!("{}/accounts", stack.base_url()),
        &[],
        Some(r#"{"currency":"EUR"}"#),
    )
    .await;
    let id = opened.body["account_id"].as_str().unwrap().to_owned();
    let store = DynamoDbEventStore::shared(dynamo().client(), &stack.events_table);
    let stream = format!("account-{id}");

    let control = format!(
        "POST /accounts/{id}/deposits HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-note: a\x01b\r\ncontent-length: 12\r\n\r\n{{\"amount\":1}}"
    );
    let long = format!(
        "GET /accounts/{id}?x={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    let two_keys = format!(
        "POST /accounts/{id}/deposits HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nidempotency-key: a\r\nidempotency-key: b\r\ncontent-length: 12\r\n\r\n{{\"amount\":1}}"
    );
    let truncated_close = format!(
        "POST /accounts/{id}/close HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 8\r\n\r\n{{\"memo\":"
    );
    let short_body = format!(
        "POST /accounts/{id}/deposits HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"amount\":1}}"
    );
    for (request, close, status, expected) in [
        (control, false, 400, "malformed-request"),
        (long, false, 414, "uri-too-long"),
        (two_keys, false, 400, "invalid-idempotency-key"),
        (truncated_close, false, 400, "malformed-json"),
        (short_body, true, 400, "incomplete-body"),
    ] {
        let (got, content_type, body) = raw(&addr, request.as_bytes(), close).await;
        assert_eq!(
            (got, content_type.as_str(), slug(&body)),
            (status, "application/problem+json", expected),
            "{}",
            &request[..request.len().min(80)]
        );
    }
    assert_eq!(
        store.load(&stream).await.unwrap().len(),
        1,
        "nothing written"
    );
    stack.stop().await;
}
