//! The command function: the kit's command shell (configuration, clients once per container, Lambda or local) over
//! every domain's command routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tributary_http::shell::serve_commands(app::command_router).await
}
