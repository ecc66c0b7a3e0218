//! The application: which domains this deployment serves, and nothing else. Each domain brings its route tables,
//! its read models and its part of the API document; this crate lists them, and its three binaries are the
//! deployed functions (`command`, `query`, `denormaliser`: one call each into the kit's shells) and the operator
//! CLI (`tributary`, over [`operations`]). A new domain is one line in each list below (and its dependency in
//! `Cargo.toml`); no domain knows another.

pub mod operations;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use std::sync::Arc;
use tributary_http::api::merge_document;
use tributary_http::commands::Commands;
use tributary_http::shell::ReadSide;
use tributary_http::views::Views;
use tributary_http::{Api, Route};
use tributary_projections::ReadModels;

/// Every domain's command routes, over the kit's commands.
pub fn commands(commands: Commands) -> Api {
    Api::new()
        .with(
            command_function::route_table(),
            command_function::CommandService::from(commands.clone()),
        )
        .with(tasks_api::command_routes(), commands)
}

/// Every domain's read routes over the read side, and the API's documents; personal data in their answers opened
/// by the read side's vault.
pub fn reads(side: ReadSide) -> Api {
    let views = Views::new(side.projections.clone(), side.events.clone());
    let events = side.events.clone();
    Api::new()
        .with(
            query_function::route_table(),
            query_function::QueryService::over(side),
        )
        .with(tasks_api::read_routes(), views)
        .with(documents(), Documents::assembled())
        .revealing(events)
}

/// Every domain's read models, each fed by its own denormaliser (consumer group `tributary-<name>`), and the
/// kit's schedules (the scheduler's due index).
pub fn read_models() -> ReadModels {
    let mut models = bank_service::read_models();
    models.push(Arc::new(tasks_domain::TaskViews));
    models.push(Arc::new(tributary_scheduler::ScheduleViews));
    models
}

/// What sends every domain's scheduled commands (the bank's standing orders), over the event store `events`.
pub fn dispatch(
    events: Arc<dyn tributary_store::EventStore>,
    snapshots: tributary_aggregate::SnapshotPolicy,
) -> bank_service::standing_orders::BankDispatch {
    bank_service::standing_orders::BankDispatch::over(events, snapshots)
}

/// The OpenAPI document of the whole HTTP API: the bank's, with every other domain's part merged in.
pub fn openapi() -> Value {
    let bank: Value = serde_json::from_str(bank_api::OPENAPI).expect("the bank's document is JSON");
    merge_document(bank, &tasks_api::openapi())
}

/// Every command route, counted by outcome (to merge with the read routes: the local stack serves both).
pub fn command_routes(commands: Commands) -> Router {
    tributary_http::outcomes::count_outcomes(self::commands(commands).into_router())
}

/// The command function's router: every command route, counted by outcome, with problem answers for unknown
/// routes and methods.
pub fn command_router(commands: Commands) -> Router {
    tributary_http::with_problem_fallbacks(command_routes(commands))
}

/// The query function's router: every read route and the documents, with problem answers for unknown routes and
/// methods.
pub fn read_router(side: ReadSide) -> Router {
    tributary_http::with_problem_fallbacks(reads(side).into_router())
}

/// The AsyncAPI document of the topics: the bank's, with every other domain's events (and the kit's schedules')
/// merged in, and a stream id that is any domain's.
pub fn asyncapi() -> Value {
    let bank: Value =
        serde_json::from_str(bank_api::ASYNCAPI).expect("the bank's document is JSON");
    let mut document = merge_document(bank, &tasks_api::asyncapi());
    document = merge_document(
        document,
        &tributary_core::contract::event_messages::<tributary_scheduler::ScheduleEvent>(
            tributary_scheduler::schedule::STREAM_PREFIX,
            "schedule",
        ),
    );
    let prefixes = tributary_ops::Domain::stream_prefixes(&operations::Operated);
    document["components"]["schemas"]["StreamId"] =
        tributary_core::contract::stream_id_schema(prefixes);
    document
}

/// The documents the query function serves (assembled once per container).
#[derive(Clone)]
struct Documents {
    openapi: Arc<String>,
    asyncapi: Arc<String>,
}

impl Documents {
    fn assembled() -> Self {
        Self {
            openapi: Arc::new(openapi().to_string()),
            asyncapi: Arc::new(asyncapi().to_string()),
        }
    }
}

/// `GET /openapi.json` (the HTTP API) and `GET /asyncapi.json` (the topics).
fn documents() -> Vec<Route<Documents>> {
    let json = |body: String| ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    vec![
        Route::new(
            "GET",
            "/openapi.json",
            get(
                move |axum::extract::State(d): axum::extract::State<Documents>| async move {
                    json(d.openapi.to_string())
                },
            ),
        ),
        Route::new(
            "GET",
            "/asyncapi.json",
            get(
                move |axum::extract::State(d): axum::extract::State<Documents>| async move {
                    json(d.asyncapi.to_string())
                },
            ),
        ),
    ]
}
