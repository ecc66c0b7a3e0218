//! The scheduler function: the kit's sweep (every minute, by EventBridge Scheduler) sending every domain's
//! scheduled commands through the application's dispatch.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tributary_consumer::lambda::serve_scheduler(app::dispatch).await
}
