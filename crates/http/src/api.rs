//! An HTTP API assembled from domains: each domain adds its route table over its own state (and, for the query
//! side, its part of the OpenAPI document); the API knows every route it serves — what the deployment's checks
//! compare with the template and the documents — and serves them as one router.

use crate::routes::{router_from, Route};
use axum::Router;
use serde_json::Value;

/// The routes of one function (commands, or reads) of every domain a deployment serves.
#[derive(Default)]
pub struct Api {
    router: Router,
    routes: Vec<(&'static str, &'static str)>,
}

impl Api {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a domain's routes, served over `state`. Two domains answering the same method and path is a bug of the
    /// composition: it panics when the API is assembled (at start, before any request).
    pub fn with<S: Clone + Send + Sync + 'static>(
        mut self,
        table: Vec<Route<S>>,
        state: S,
    ) -> Self {
        for route in &table {
            assert!(
                !self.routes.contains(&(route.method, route.path)),
                "two domains serve {} {}",
                route.method,
                route.path
            );
            self.routes.push((route.method, route.path));
        }
        self.router = self.router.merge(router_from(table).with_state(state));
        self
    }

    /// Every route, as (method, path in axum's and OpenAPI's `{param}` syntax), in the order added.
    pub fn routes(&self) -> &[(&'static str, &'static str)] {
        &self.routes
    }

    /// The routes as one router.
    pub fn into_router(self) -> Router {
        self.router
    }
}

/// An OpenAPI (or AsyncAPI) document with a domain's part merged in: `part`'s `paths` (OpenAPI), `channels` and
/// `operations` (AsyncAPI) and every `components` section are added to `document`'s. A name both define is a bug
/// of the composition (two domains documenting one path or one schema differently): it panics, naming it, unless
/// both define it identically (the shared problem and header components).
pub fn merge_document(mut document: Value, part: &Value) -> Value {
    for section in ["paths", "channels", "operations"] {
        if let Some(entries) = part.get(section).and_then(Value::as_object) {
            merge_entries(&mut document, &[section], entries);
        }
    }
    if let Some(components) = part.get("components").and_then(Value::as_object) {
        for (kind, entries) in components {
            if let Some(entries) = entries.as_object() {
                merge_entries(&mut document, &["components", kind], entries);
            }
        }
    }
    document
}

fn merge_entries(document: &mut Value, at: &[&str], entries: &serde_json::Map<String, Value>) {
    let mut target = &mut *document;
    for key in at {
        target = target
            .as_object_mut()
            .expect("a document section is an object")
            .entry(*key)
            .or_insert_with(|| Value::Object(Default::default()));
    }
    let target = target
        .as_object_mut()
        .expect("a document section is an object");
    for (name, value) in entries {
        match target.get(name) {
            Some(existing) if existing != value => {
                panic!("two domains document {} {name} differently", at.join("."))
            }
            _ => {
                target.insert(name.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use serde_json::json;

    #[test]
    fn an_api_lists_and_serves_every_domains_routes() {
        let api = Api::new()
            .with(vec![Route::new("GET", "/a", get(|| async { "a" }))], ())
            .with(
                vec![Route::new("GET", "/b/{id}", get(|| async { "b" }))],
                7u8,
            );
        assert_eq!(api.routes(), &[("GET", "/a"), ("GET", "/b/{id}")]);
    }

    #[test]
    #[should_panic(expected = "two domains serve GET /a")]
    fn two_domains_may_not_serve_one_route() {
        let _ = Api::new()
            .with(vec![Route::new("GET", "/a", get(|| async { "a" }))], ())
            .with(vec![Route::new("GET", "/a", get(|| async { "b" }))], ());
    }

    #[test]
    fn a_domains_part_joins_the_document() {
        let base = json!({"openapi": "3.1.0", "paths": {"/a": {}}, "components": {"schemas": {"A": {}, "Problem": {"type": "object"}}}});
        let part = json!({"paths": {"/b": {"get": {}}}, "components": {"schemas": {"B": {}, "Problem": {"type": "object"}}, "parameters": {"P": {}}}});
        let merged = merge_document(base, &part);
        assert_eq!(
            merged,
            json!({"openapi": "3.1.0", "paths": {"/a": {}, "/b": {"get": {}}}, "components": {"schemas": {"A": {}, "Problem": {"type": "object"}, "B": {}}, "parameters": {"P": {}}}})
        );
    }

    #[test]
    #[should_panic(expected = "two domains document components.schemas A differently")]
    fn a_schema_documented_twice_differently_is_refused() {
        merge_document(
            json!({"components": {"schemas": {"A": {"type": "string"}}}}),
            &json!({"components": {"schemas": {"A": {"type": "integer"}}}}),
        );
    }
}

/// The OpenAPI operations every domain's routes share the shape of, so that a domain documents its paths in a line
/// each and writes only its own schemas. They name the document's shared components: the `Problem` and
/// `Unauthenticated` responses and the `IdempotencyKey`, `IfMatch`, `CorrelationId`, `TraceParent` and `MinVersion`
/// parameters.
pub mod docs {
    use serde_json::{json, Value};

    fn schema(name: &str) -> Value {
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    fn etag(noun: &str) -> Value {
        json!({"description": format!("The {noun}'s version, quoted; send it back as If-Match."),
               "schema": {"type": "string", "pattern": "^\"[0-9]+\"$"}})
    }

    fn problems(statuses: &[u16]) -> serde_json::Map<String, Value> {
        statuses
            .iter()
            .map(|status| {
                let response = if *status == 401 {
                    "Unauthenticated"
                } else {
                    "Problem"
                };
                (
                    status.to_string(),
                    json!({"$ref": format!("#/components/responses/{response}")}),
                )
            })
            .collect()
    }

    /// A command on an aggregate (`noun`): `POST` with the `body` schema (required or not), answered `status` with
    /// the `accepted` schema and the `ETag` (and a `Location` when it creates: 201), or a problem.
    pub fn command(
        operation_id: &str,
        summary: &str,
        noun: &str,
        body: (&str, bool),
        (status, accepted): (u16, &str),
    ) -> Value {
        let mut headers = json!({"ETag": etag(noun)});
        if status == 201 {
            headers["Location"] =
                json!({"description": format!("The new {noun}"), "schema": {"type": "string"}});
        }
        let mut responses = serde_json::Map::new();
        responses.insert(
            status.to_string(),
            json!({"description": "Success", "content": {"application/json": {"schema": schema(accepted)}}, "headers": headers}),
        );
        responses.extend(problems(&[
            400, 401, 404, 409, 412, 413, 415, 422, 429, 500, 503,
        ]));
        let parameters = ["IdempotencyKey", "IfMatch", "CorrelationId", "TraceParent"]
            .map(|p| json!({"$ref": format!("#/components/parameters/{p}")}));
        json!({
            "operationId": operation_id,
            "summary": summary,
            "tags": ["commands"],
            "parameters": parameters,
            "requestBody": {"required": body.1, "content": {"application/json": {"schema": schema(body.0)}}},
            "responses": responses,
        })
    }

    /// A view of one entity (`noun`): `GET` with `min_version`, answered 200 with the `view` schema and the `ETag`,
    /// or a problem (404 to whoever may not see it).
    pub fn view(operation_id: &str, summary: &str, noun: &str, view: &str) -> Value {
        let mut responses = serde_json::Map::new();
        responses.insert(
            "200".to_owned(),
            json!({"description": "Success", "content": {"application/json": {"schema": schema(view)}}, "headers": {"ETag": etag(noun)}}),
        );
        responses.extend(problems(&[400, 401, 404, 429, 503]));
        json!({
            "operationId": operation_id,
            "summary": summary,
            "tags": ["queries"],
            "parameters": [{"$ref": "#/components/parameters/MinVersion"}],
            "responses": responses,
        })
    }

    /// A path parameter holding an aggregate's id (a lowercase hyphenated UUID).
    pub fn id_parameter(name: &str) -> Value {
        json!({"name": name, "in": "path", "required": true, "schema": {"type": "string",
               "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}})
    }
}
