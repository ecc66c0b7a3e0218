//! The bank HTTP contract shared by the command and query functions: path parameters, validated so that no
//! caller can address another key space (a malformed id is a 400 problem, never a lookup).

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use bank_account::{AccountId, TransferId};
use std::collections::HashMap;
use tributary_http::Problem;

/// The OpenAPI 3.1 document of the whole HTTP API (command and query routes), served at `GET /openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The AsyncAPI 3 document of the Kafka topics (events, rejections, dead letters), served at `GET /asyncapi.json`.
pub const ASYNCAPI: &str = include_str!("../asyncapi.json");

/// The `{account_id}` path segment: a canonical UUID.
pub struct AccountPath(pub AccountId);

/// The `{transfer_id}` path segment: a canonical UUID.
pub struct TransferPath(pub TransferId);

/// The raw value of path parameter `name`.
async fn raw_param<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    name: &str,
) -> Result<String, String> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|e| e.body_text())?;
    params
        .get(name)
        .cloned()
        .ok_or_else(|| format!("missing path parameter {name}"))
}

impl<S: Send + Sync> FromRequestParts<S> for AccountPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let invalid = |detail: String| {
            Problem::bad_request("invalid-account-id", "Invalid account id", detail)
        };
        let raw = raw_param(parts, state, "account_id")
            .await
            .map_err(invalid)?;
        AccountId::parse(&raw)
            .map(Self)
            .map_err(|e| invalid(e.to_string()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TransferPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let invalid = |detail: String| {
            Problem::bad_request("invalid-transfer-id", "Invalid transfer id", detail)
        };
        let raw = raw_param(parts, state, "transfer_id")
            .await
            .map_err(invalid)?;
        TransferId::parse(&raw)
            .map(Self)
            .map_err(|e| invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    /// The document declares exactly the currencies the server accepts (so a client generating requests from it,
    /// such as Schemathesis, never sends a schema-valid code that is refused).
    #[test]
    fn the_documented_currencies_are_the_accepted_ones() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        let documented: Vec<&str> = doc["components"]["schemas"]["Currency"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert!(documented.len() > 150);
        let letters = b'A'..=b'Z';
        for a in letters.clone() {
            for b in letters.clone() {
                for c in letters.clone() {
                    let code = String::from_utf8(vec![a, b, c]).unwrap();
                    assert_eq!(
                        bank_account::Currency::parse(&code).is_ok(),
                        documented.contains(&code.as_str()),
                        "{code}: accepted exactly when documented"
                    );
                }
            }
        }
    }
}
