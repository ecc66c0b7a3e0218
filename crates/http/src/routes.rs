//! Route tables: each API lists its routes once (method, path, handler); the router is built from the list, and
//! the OpenAPI test compares the same list with the document.

use axum::routing::MethodRouter;
use axum::Router;

/// One route of an API.
pub struct Route<S> {
    /// The HTTP method the handler answers (checked against the handler by the OpenAPI test).
    pub method: &'static str,
    /// The path, in axum's `{param}` syntax (the same as OpenAPI's).
    pub path: &'static str,
    pub handler: MethodRouter<S>,
}

impl<S> Route<S> {
    pub fn new(method: &'static str, path: &'static str, handler: MethodRouter<S>) -> Self {
        Self {
            method,
            path,
            handler,
        }
    }
}

/// A router with every route of `table`.
pub fn router_from<S: Clone + Send + Sync + 'static>(table: Vec<Route<S>>) -> Router<S> {
    table.into_iter().fold(Router::new(), |router, route| {
        router.route(route.path, route.handler)
    })
}
