//! The systems a deposit is measured through.
//!
//! * [`Floor`]: the least any event-sourced deposit must do, with the same clients: a consistent `Query` of the
//!   whole stream (following `LastEvaluatedKey`), a conditional `PutItem` of the next version, the record published
//!   and acknowledged (the same producer as the command function). No decision, no retry: a lost race is a conflict.
//! * [`CommandPath`]: the command function's real HTTP handler (the axum router the Lambda function serves), called
//!   in process: authentication, validation, load, decide, conditional append with snapshots, publish, response.

use crate::setup::{deposit_event, Services, OWNER};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use axum::Router;
use bench_core::Outcome;
use command_function::{router, CommandService, PublishFaults};
use tower::ServiceExt;
use tributary_aggregate::SnapshotPolicy;
use tributary_dynamodb::to_item;
use tributary_kafka::{LazyPublisher, Publisher};
use tributary_store::StoredEvent;
use tributary_testkit::CallLog;

/// A system deposits go through.
#[derive(Clone)]
pub enum System {
    Floor(Floor),
    CommandPath(CommandPath),
}

impl System {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Floor(_) => "floor",
            Self::CommandPath(path) if path.keyed => "command path, keyed",
            Self::CommandPath(_) => "command path",
        }
    }

    pub async fn deposit(&self, stream: &str) -> Outcome {
        match self {
            Self::Floor(floor) => floor.deposit(stream).await,
            Self::CommandPath(path) => path.deposit(stream).await,
        }
    }
}

/// Raw SDK calls and a raw publish.
#[derive(Clone)]
pub struct Floor {
    client: Client,
    table: String,
    publisher: Publisher,
}

impl Floor {
    pub async fn new(services: &Services) -> anyhow::Result<Self> {
        Ok(Self {
            client: services.client(),
            table: services.events_table.clone(),
            publisher: services.publisher().await?,
        })
    }

    /// Read the whole stream, append the next version if it is still free, publish it.
    pub async fn deposit(&self, stream: &str) -> Outcome {
        let mut head = 0u64;
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("stream_id = :s")
            .expression_attribute_values(":s", AttributeValue::S(stream.to_owned()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => {
                    for item in page.items() {
                        if let Some(v) = item.get("version").and_then(|v| v.as_n().ok()) {
                            head = head.max(v.parse().unwrap_or(0));
                        }
                    }
                }
                Err(e) => return Outcome::Failed(format!("query: {e}")),
            }
        }
        // Hashed like the store's items (the same bytes), but not chained: the floor reads no previous event.
        let event = StoredEvent::committed(stream, head + 1, deposit_event(), None);
        let item = match to_item(&event) {
            Ok(item) => item,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(version)")
            .send()
            .await;
        match put {
            Ok(_) => {}
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                return Outcome::Conflict
            }
            Err(e) => return Outcome::Failed(format!("put: {e}")),
        }
        match self.publisher.publish_events(&[event]).await {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Failed(format!("publish: {e}")),
        }
    }
}

/// The command function's router, with a client whose calls are counted.
#[derive(Clone)]
pub struct CommandPath {
    router: Router,
    pub calls: CallLog,
    authorization: String,
    /// Send every deposit with an `Idempotency-Key` of its own (its receipt written with its events).
    pub keyed: bool,
}

impl CommandPath {
    pub async fn new(services: &Services, snapshots: SnapshotPolicy) -> anyhow::Result<Self> {
        let (client, calls) = services.counted_client();
        let service = CommandService::new(client, &services.events_table)
            .with_snapshots(snapshots)
            .with_publisher(
                LazyPublisher::ready(services.publisher().await?),
                PublishFaults::default(),
            );
        Ok(Self {
            router: router(service),
            calls,
            authorization: tributary_testkit::bearer(OWNER),
            keyed: false,
        })
    }

    /// The same router, `limit` in front of it (a budget per principal).
    pub fn limited(mut self, limit: tributary_http::RateLimit) -> Self {
        self.router = tributary_http::with_rate_limit(self.router, Some(limit));
        self
    }

    /// `POST /accounts/{id}/deposits` as `caller`; the HTTP status (0: no answer).
    pub async fn deposit_as(&self, caller: &str, stream: &str) -> u16 {
        let id = stream.strip_prefix("account-").unwrap_or(stream);
        let request = http::Request::post(format!("/accounts/{id}/deposits"))
            .header("content-type", "application/json")
            .header("authorization", tributary_testkit::bearer(caller))
            .body(axum::body::Body::from(r#"{"amount":1}"#))
            .expect("a valid request");
        match self.router.clone().oneshot(request).await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// `POST /accounts/{id}/deposits {"amount":1}` as the account's owner; 409 is a conflict.
    pub async fn deposit(&self, stream: &str) -> Outcome {
        let id = stream.strip_prefix("account-").unwrap_or(stream);
        let mut request = http::Request::post(format!("/accounts/{id}/deposits"))
            .header("content-type", "application/json")
            .header("authorization", &self.authorization);
        if self.keyed {
            request = request.header("idempotency-key", uuid::Uuid::new_v4().to_string());
        }
        let request = request
            .body(axum::body::Body::from(r#"{"amount":1}"#))
            .expect("a valid request");
        match self.router.clone().oneshot(request).await {
            Ok(response) if response.status() == http::StatusCode::OK => Outcome::Done,
            Ok(response) if response.status() == http::StatusCode::CONFLICT => Outcome::Conflict,
            Ok(response) => Outcome::Failed(format!("HTTP {}", response.status())),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}
