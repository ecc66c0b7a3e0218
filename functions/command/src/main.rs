//! Command function entry point: configuration, clients (once per container), then serve.

use command_function::{router, CommandConfig, CommandService};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tributary_http::init_tracing();
    let config = CommandConfig::from_env()?;
    let aws = tributary_http::config::aws_config().await;
    let service = CommandService::new(aws_sdk_dynamodb::Client::new(&aws), &config.events_table);
    tributary_http::serve(router(service), config.local_addr).await
}
