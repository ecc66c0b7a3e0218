//! The denormaliser function: one read model of any domain (`PROJECTION`) on the kit's denormaliser shell.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_consumer::lambda::serve_denormaliser(app::read_models()).await
}
