//! The bank's HTTP contract shared by the command and query functions: how its refusals read as problems
//! ([`problems`]), and the OpenAPI and AsyncAPI documents.

pub mod problems;

/// The OpenAPI 3.1 document of the whole HTTP API (command and query routes), served at `GET /openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The AsyncAPI 3 document of the Kafka topics (events, rejections, dead letters), served at `GET /asyncapi.json`.
pub const ASYNCAPI: &str = include_str!("../asyncapi.json");

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
