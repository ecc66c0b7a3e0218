//! Command function entry point: the kit's command shell (configuration, clients once per container, Lambda or
//! local) over the bank's command routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tributary_http::shell::serve_commands(|commands| {
        command_function::router(command_function::CommandService::from(commands))
    })
    .await
}
