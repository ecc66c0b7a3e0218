//! The query function: the kit's query shell (configuration, clients once per container, Lambda or local) over every
//! domain's read routes and the API's documents.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tributary_http::shell::serve_reads(app::read_router).await
}
