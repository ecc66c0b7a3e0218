//! Query function entry point: the kit's query shell (configuration, clients once per container, Lambda or local)
//! over the bank's query routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tributary_http::shell::serve_reads(|side| {
        query_function::router(query_function::QueryService::over(side))
    })
    .await
}
