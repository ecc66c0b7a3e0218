//! The cursor secret from Secrets Manager, rotated: cursors are signed with the current value and accepted under
//! the previous one, so a rotation breaks no cursor a client holds; a container that read the secret before the
//! rotation accepts the new value's cursors once it reads again; a cursor two rotations old is refused. Secrets
//! Manager is played by a local endpoint speaking its JSON protocol (`GetSecretValue` by version stage), as the SDK
//! calls it.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tributary_http::cursor::{Cursors, Position};
use tributary_http::cursor_secret::SecretsManagerKeys;

/// The secret's versions by stage: (AWSCURRENT, AWSPREVIOUS).
type Stages = Arc<Mutex<(String, Option<String>)>>;

async fn get_secret_value(
    State(stages): State<Stages>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, Json<Value>) {
    // The SDK sends application/x-amz-json-1.1.
    let request: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        headers["x-amz-target"], "secretsmanager.GetSecretValue",
        "only GetSecretValue is called"
    );
    let (current, previous) = stages.lock().unwrap().clone();
    let value = match request["VersionStage"].as_str() {
        Some("AWSCURRENT") => Some(current),
        Some("AWSPREVIOUS") => previous,
        other => panic!("unexpected stage {other:?}"),
    };
    match value {
        Some(value) => (
            StatusCode::OK,
            Json(json!({
                "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:cursors-AbCdEf",
                "Name": "cursors",
                "SecretString": value,
                "VersionId": uuid::Uuid::new_v4().to_string(),
                "VersionStages": [request["VersionStage"]],
            })),
        ),
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "__type": "ResourceNotFoundException",
                "message": "Secrets Manager can't find the specified secret value for staging label",
            })),
        ),
    }
}

async fn secrets_manager(stages: Stages) -> String {
    let app = Router::new()
        .route("/", post(get_secret_value))
        .with_state(stages);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    endpoint
}

fn client(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(tributary_runtime::http_client::sdk_http_client())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "test"))
            .build(),
    )
}

fn position(after: &str) -> Position {
    Position {
        kind: "statement".into(),
        scope: "a-1".into(),
        after: after.into(),
    }
}

#[tokio::test]
async fn a_rotated_secret_breaks_no_cursor_a_client_holds() {
    let stages: Stages = Arc::new(Mutex::new(("alpha-value".into(), None)));
    let endpoint = secrets_manager(stages.clone()).await;
    let source = SecretsManagerKeys::new(client(&endpoint), "cursors");
    let decode = |cursors: &Cursors, cursor: &str| cursors.decode(cursor, "statement", "a-1");

    // Before any rotation: no previous value (AWSPREVIOUS is not found), cursors round-trip.
    let old_container = Cursors::rotating(source.fetch().await.unwrap());
    let alpha = old_container.encode(&position("1"));
    assert_eq!(decode(&old_container, &alpha), Some(position("1")));

    // Rotated: a container started now signs with the new value and still accepts the old one's cursors.
    *stages.lock().unwrap() = ("beta-value".into(), Some("alpha-value".into()));
    let new_container = Cursors::rotating(source.fetch().await.unwrap());
    let beta = new_container.encode(&position("2"));
    assert_eq!(decode(&new_container, &alpha), Some(position("1")));
    // The container started before does not know the new value until it reads the secret again; then it does.
    assert_eq!(decode(&old_container, &beta), None);
    old_container.replace(source.fetch().await.unwrap());
    assert_eq!(decode(&old_container, &beta), Some(position("2")));
    assert_eq!(decode(&old_container, &alpha), Some(position("1")));

    // Rotated again: the value before the previous one is no longer accepted.
    *stages.lock().unwrap() = ("gamma-value".into(), Some("beta-value".into()));
    new_container.replace(source.fetch().await.unwrap());
    assert_eq!(decode(&new_container, &beta), Some(position("2")));
    assert_eq!(decode(&new_container, &alpha), None);

    // The refresher reads it again by itself; a secret that cannot be read keeps the keys read before.
    let refreshed = Cursors::rotating(source.fetch().await.unwrap());
    *stages.lock().unwrap() = ("delta-value".into(), Some("gamma-value".into()));
    let task = source
        .clone()
        .refresh(refreshed.clone(), std::time::Duration::from_millis(20));
    let delta = Cursors::rotating(source.fetch().await.unwrap()).encode(&position("3"));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while decode(&refreshed, &delta).is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refresher read the new value"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    task.abort();
    let unreachable = SecretsManagerKeys::new(client("http://127.0.0.1:9"), "cursors");
    let error = unreachable.fetch().await.unwrap_err();
    assert!(error.to_string().contains("cursors"), "{error}");
}
