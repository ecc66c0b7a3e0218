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

    /// Every answer's personal values opened by `events`' vault ([`crate::personal::revealing`]): what a read API
    /// does, for every domain's routes at once.
    pub fn revealing(mut self, events: std::sync::Arc<dyn tributary_store::EventStore>) -> Self {
        self.router = crate::personal::revealing(self.router, events);
        self
    }

    /// The routes as one router.
    pub fn into_router(self) -> Router {
        self.router
    }
}

/// An OpenAPI or AsyncAPI document with a domain's part merged in, object by object at any depth (its paths, its
/// messages on a channel, its schemas, its entries in an index). Two different values at one place are a bug of the
/// composition (two domains documenting one path, one message or one schema differently): it panics, naming the
/// place; the same value twice (a shared component) is kept once.
pub fn merge_document(mut document: Value, part: &Value) -> Value {
    merge_at(&mut document, part, &mut Vec::new());
    document
}

fn merge_at(target: &mut Value, part: &Value, at: &mut Vec<String>) {
    match (target, part) {
        (Value::Object(target), Value::Object(part)) => {
            for (name, value) in part {
                at.push(name.clone());
                match target.get_mut(name) {
                    Some(existing) => merge_at(existing, value, at),
                    None => {
                        target.insert(name.clone(), value.clone());
                    }
                }
                at.pop();
            }
        }
        (target, part) if *target == *part => {}
        _ => panic!("two domains document {} differently", at.join(".")),
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
    #[should_panic(expected = "two domains document components.schemas.A.type differently")]
    fn a_schema_documented_twice_differently_is_refused() {
        merge_document(
            json!({"components": {"schemas": {"A": {"type": "string"}}}}),
            &json!({"components": {"schemas": {"A": {"type": "integer"}}}}),
        );
    }
}

/// A domain's part of the OpenAPI document, from its route table's shapes and its Rust types: a command or a view
/// is one call, its request and response schemas generated from the types (`schemars`), its path parameters from
/// the path (every `{name}` is an aggregate id: a lowercase hyphenated UUID). The operations name the document's
/// shared components: the `Problem` and `Unauthenticated` responses and the `IdempotencyKey`, `IfMatch`,
/// `CorrelationId`, `TraceParent` and `MinVersion` parameters.
pub mod docs {
    use schemars::{JsonSchema, SchemaGenerator};
    use serde_json::{json, Map, Value};
    use tributary_core::contract::{components_generator, UUID_PATTERN};

    /// The paths and schemas of one domain.
    pub struct Document {
        generator: SchemaGenerator,
        paths: Map<String, Value>,
    }

    impl Default for Document {
        fn default() -> Self {
            Self {
                generator: components_generator(),
                paths: Map::new(),
            }
        }
    }

    impl Document {
        pub fn new() -> Self {
            Self::default()
        }

        /// `POST path` (`operation`: its operation id and summary), a command on an aggregate (`noun`): body `B`
        /// (required or not), answered `status` with `A` and the `ETag` (and a `Location` when it creates: 201), or
        /// a problem.
        pub fn command<B: JsonSchema, A: JsonSchema>(
            &mut self,
            path: &str,
            operation: (&str, &str),
            noun: &str,
            status: u16,
            body_required: bool,
        ) -> &mut Self {
            let mut headers = json!({"ETag": etag(noun)});
            if status == 201 {
                headers["Location"] =
                    json!({"description": format!("The new {noun}"), "schema": {"type": "string"}});
            }
            let mut responses = Map::new();
            responses.insert(status.to_string(), self.success::<A>(headers));
            responses.extend(problems(&[
                400, 401, 404, 409, 412, 413, 415, 422, 429, 500, 503,
            ]));
            let parameters = ["IdempotencyKey", "IfMatch", "CorrelationId", "TraceParent"]
                .map(|p| json!({"$ref": format!("#/components/parameters/{p}")}));
            let body = self.generator.subschema_for::<B>();
            let mut operation = json!({
                "operationId": operation.0,
                "summary": operation.1,
                "tags": ["commands"],
                "parameters": parameters,
                "requestBody": {"required": body_required, "content": {"application/json": {"schema": body}}},
                "responses": responses,
            });
            if status == 201 {
                operation["x-creates"] = json!(noun);
            }
            self.add(path, "post", operation)
        }

        /// `GET path` (`operation`: its operation id and summary), the view `V` of one aggregate (`noun`) with
        /// `min_version`, answered 200 with the `ETag`, or a problem (404 to whoever may not see it).
        pub fn view<V: JsonSchema>(
            &mut self,
            path: &str,
            operation: (&str, &str),
            noun: &str,
        ) -> &mut Self {
            let mut responses = Map::new();
            responses.insert(
                "200".to_owned(),
                self.success::<V>(json!({"ETag": etag(noun)})),
            );
            responses.extend(problems(&[400, 401, 404, 429, 503]));
            let operation = json!({
                "operationId": operation.0,
                "summary": operation.1,
                "tags": ["queries"],
                "parameters": [{"$ref": "#/components/parameters/MinVersion"}],
                "responses": responses,
            });
            self.add(path, "get", operation)
        }

        /// The part: `{"paths", "components": {"schemas"}}`, to merge into the document. A command that creates a
        /// `noun` (201) links to every operation on a path with `{<noun>_id}`, the id from its answer's
        /// `<noun>_id`: a client (and Schemathesis's stateful phase) follows them with real ids.
        pub fn into_part(mut self) -> Value {
            let operations: Vec<(String, String)> = self
                .paths
                .iter()
                .flat_map(|(path, item)| {
                    ["get", "post"].into_iter().filter_map(move |method| {
                        let id = item.get(method)?.get("operationId")?.as_str()?;
                        Some((path.clone(), id.to_owned()))
                    })
                })
                .collect();
            for item in self.paths.values_mut() {
                let Some(post) = item.get_mut("post") else {
                    continue;
                };
                let Some(noun) = post
                    .get("x-creates")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                else {
                    continue;
                };
                if let Some(post) = post.as_object_mut() {
                    post.remove("x-creates");
                }
                let parameter = format!("{noun}_id");
                let links: Map<String, Value> = operations
                    .iter()
                    .filter(|(path, _)| path.contains(&format!("{{{parameter}}}")))
                    .map(|(_, id)| {
                        let mut parameters = Map::new();
                        parameters.insert(
                            parameter.clone(),
                            json!(format!("$response.body#/{parameter}")),
                        );
                        (
                            id.clone(),
                            json!({"operationId": id, "parameters": parameters}),
                        )
                    })
                    .collect();
                post["responses"]["201"]["links"] = Value::Object(links);
            }
            json!({"paths": self.paths, "components": {"schemas": self.generator.take_definitions(true)}})
        }

        fn success<T: JsonSchema>(&mut self, headers: Value) -> Value {
            let schema = self.generator.subschema_for::<T>();
            json!({"description": "Success", "content": {"application/json": {"schema": schema}}, "headers": headers})
        }

        fn add(&mut self, path: &str, method: &str, operation: Value) -> &mut Self {
            let item = self.paths.entry(path.to_owned()).or_insert_with(|| {
                let ids: Vec<Value> = path
                    .split('/')
                    .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                    .map(|name| {
                        json!({"name": name, "in": "path", "required": true,
                        "schema": {"type": "string", "pattern": format!("^{UUID_PATTERN}$")}})
                    })
                    .collect();
                if ids.is_empty() {
                    json!({})
                } else {
                    json!({"parameters": ids})
                }
            });
            item[method] = operation;
            self
        }
    }

    fn etag(noun: &str) -> Value {
        json!({"description": format!("The {noun}'s version, quoted; send it back as If-Match."),
               "schema": {"type": "string", "pattern": "^\"[0-9]+\"$"}})
    }

    fn problems(statuses: &[u16]) -> Map<String, Value> {
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
}
