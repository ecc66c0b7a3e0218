//! What the application's functions serve, listed without a server: every route of the command function and of
//! the query function (from `app`'s assembled APIs over clients that are never called), for the checks that the
//! template and the OpenAPI document name exactly those.

use std::sync::Arc;
use tributary_http::commands::Commands;
use tributary_http::cursor::Cursors;
use tributary_http::shell::ReadSide;

/// (method, path) of every route the command function serves.
pub fn command_routes() -> Vec<(&'static str, &'static str)> {
    let commands = Commands::new(Arc::new(tributary_store::InMemoryEventStore::default()));
    app::commands(commands).routes().to_vec()
}

/// (method, path) of every route the query function serves.
pub fn read_routes() -> Vec<(&'static str, &'static str)> {
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("never-called"))
            .build(),
    );
    let side = ReadSide {
        projections: tributary_projections::ProjectionStore::new(client, "never-called"),
        events: Arc::new(tributary_store::InMemoryEventStore::default()),
        cursors: Cursors::new(b"never-called"),
        snapshots: Default::default(),
    };
    app::reads(side).routes().to_vec()
}
