//! Denormaliser function entry point: one of the bank's read models (`PROJECTION`) on the kit's denormaliser shell.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_consumer::lambda::serve_denormaliser(bank_service::read_models()).await
}
