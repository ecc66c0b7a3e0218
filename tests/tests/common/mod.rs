//! Shared helpers for the end-to-end tests: start the local stack on the test DynamoDB API, speak JSON over HTTP.

#![allow(dead_code)]

use devstack::{Devstack, DevstackConfig, DynamoSource};
use serde_json::Value;
use tributary_testkit::dynamo;

/// Start the stack (HTTP on an ephemeral loopback port) over the test binary's DynamoDB API and tables.
pub async fn stack() -> Devstack {
    let d = dynamo();
    Devstack::start(DevstackConfig {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        dynamo: DynamoSource::External(d.endpoint.clone()),
        events_table: d.events_table.clone(),
    })
    .await
    .expect("devstack starts")
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

/// POST a JSON body (or nothing) with extra headers.
pub async fn post(
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
    let response = request.send().await.expect("request reaches the stack");
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
