//! A cold start while the MSK control plane does not answer: the command function is wired as deployed
//! (`CommandService::connect`, brokers from `GetBootstrapBrokers`), against a real DynamoDB API, with the Kafka
//! control-plane endpoint failing. Commands must be served meanwhile (the relay publishes their events), and the
//! publisher must connect once discovery answers.

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use command_function::{router, CommandService};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_kafka::KafkaConfig;
use tributary_store::EventStore;
use tributary_testkit::dynamo;

/// A stand-in for the MSK control plane's `GetBootstrapBrokers`: 500 while `failing`, then an answer.
async fn control_plane(failing: Arc<AtomicBool>, calls: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move || {
        let (failing, calls) = (failing.clone(), calls.clone());
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            if failing.load(Ordering::SeqCst) {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [("x-amzn-errortype", "InternalServerErrorException")],
                    r#"{"message":"injected: the control plane is down"}"#,
                )
                    .into_response()
            } else {
                (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    r#"{"bootstrapBrokerStringSaslIam":"127.0.0.1:9098"}"#,
                )
                    .into_response()
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn post(app: &axum::Router, path: &str, body: &str) -> (StatusCode, serde_json::Value) {
    let response = app
        .clone()
        .oneshot(
            Request::post(path)
                .header("content-type", "application/json")
                .body(Body::from(body.to_owned()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_served_while_msk_discovery_fails() {
    let (failing, calls) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicUsize::new(0)),
    );
    let endpoint = control_plane(failing.clone(), calls.clone()).await;
    let aws = aws_types::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(tributary_runtime::http_client::sdk_http_client())
        .region(Region::new("eu-west-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "test",
            )),
        )
        .endpoint_url(endpoint)
        .build();
    let kafka = KafkaConfig::from_lookup(
        |name| {
            (name == "MSK_CLUSTER_ARN").then(|| {
                "arn:aws:kafka:eu-west-1:123456789012:cluster/tributary/abcd-1234".to_owned()
            })
        },
        Duration::from_secs(2),
    )
    .unwrap();
    let d = dynamo();
    let service =
        CommandService::connect(d.client(), &d.events_table, kafka, aws, Default::default());
    let app = router(service.clone());

    // The container serves at once, although discovery keeps failing.
    let (status, opened) = post(&app, "/accounts", r#"{"currency":"EUR"}"#).await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let id = opened["account_id"].as_str().unwrap();
    let (status, deposited) = post(
        &app,
        &format!("/accounts/{id}/deposits"),
        r#"{"amount":500}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{deposited}");
    let stored = DynamoDbEventStore::shared(d.client(), &d.events_table)
        .load(&format!("account-{id}"))
        .await
        .unwrap();
    assert_eq!(stored.len(), 2, "both commands committed");
    assert!(calls.load(Ordering::SeqCst) >= 1, "discovery was tried");
    assert!(
        !service.publisher_connected(),
        "no publisher while discovery fails"
    );

    // Discovery answers: the publisher connects in the background, without a restart.
    failing.store(false, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + tributary_testkit::EVENTUALLY;
    while !service.publisher_connected() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the publisher connected after discovery recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
