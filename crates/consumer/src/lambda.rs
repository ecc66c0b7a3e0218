//! The consumers' Lambda entry points, for any domain: a function's `main` names its read models (or builds its
//! process manager) and calls one of these, which read the configuration, build the clients once per container and
//! run the Lambda loop. An error fails the invocation: the MSK event source mapping retries the batch (without a
//! cap); applying and reacting are idempotent.

use crate::reactor::{ProcessManager, Reactor};
use crate::{default_consumer_group, Denormaliser};
use aws_lambda_events::event::kafka::KafkaEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;
use std::time::Duration;
use tributary_dynamodb::DynamoDbEventStore;
use tributary_kafka::{KafkaConfig, LazyPublisher};
use tributary_projections::{ProjectionStore, ReadModels};
use tributary_runtime::config::{env_or, SdkPolicy};
use tributary_store::EventStore;

/// What every consumer function is built on: the AWS configuration (background patience), its DynamoDB client and
/// the events table, and the Kafka configuration (its dead letters).
struct Shell {
    aws: aws_types::SdkConfig,
    dynamodb: aws_sdk_dynamodb::Client,
    events: Arc<dyn EventStore>,
    kafka: KafkaConfig,
}

impl Shell {
    /// `writes`: the function appends events (a process manager), sealed as `tributary_ledger::notary_from_env`
    /// says; a denormaliser only reads them.
    async fn from_env(writes: bool) -> Result<Self, lambda_runtime::Error> {
        let aws =
            tributary_runtime::config::aws_config(SdkPolicy::from_env(SdkPolicy::BACKGROUND)?)
                .await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
        let notary = match writes {
            true => tributary_ledger::notary_from_env(&aws).await?,
            false => None,
        };
        Ok(Self {
            events: Arc::new(
                DynamoDbEventStore::new(
                    dynamodb.clone(),
                    env_or("EVENTS_TABLE", "tributary-events"),
                )
                .with_notary(notary),
            ),
            dynamodb,
            kafka: KafkaConfig::from_env(Duration::from_secs(10))?,
            aws,
        })
    }

    /// Dead letters only: a batch is handled whether or not MSK discovery has answered yet.
    fn dead_letters(&self) -> LazyPublisher {
        LazyPublisher::connect_in_background(self.kafka.clone(), self.aws.clone())
    }
}

/// A denormaliser function: the read model of `read_models` that `PROJECTION` names (its label, e.g.
/// `statement-v2`, or `statement@2`; a clear error for any other name), on `PROJECTIONS_TABLE`, as consumer group `KAFKA_CONSUMER_GROUP` (named on its dead letters; the template
/// sets it to the mapping's `ConsumerGroupId`).
pub async fn serve_denormaliser(read_models: ReadModels) -> Result<(), lambda_runtime::Error> {
    tributary_runtime::init_tracing();
    let name = env_or("PROJECTION", "");
    let projection = crate::cli::read_model(&read_models, &name)
        .map_err(|e| format!("configuration: PROJECTION {name:?}: {e}"))?;
    let shell = Shell::from_env(false).await?;
    let denormaliser = Denormaliser {
        consumer_group: env_or(
            "KAFKA_CONSUMER_GROUP",
            &default_consumer_group(&projection.label()),
        ),
        projection,
        projections: ProjectionStore::new(
            shell.dynamodb.clone(),
            env_or("PROJECTIONS_TABLE", "tributary-projections"),
        ),
        events: shell.events.clone(),
        dead_letters: shell.dead_letters(),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<KafkaEvent>| {
        let denormaliser = denormaliser.clone();
        async move {
            // Boxed: the batch's future is deep (each stream's apply inside), too deep for the compiler to lay
            // out inline within the Lambda loop's.
            let report = Box::pin(denormaliser.handle(&event.payload)).await?;
            tracing::info!(?report, "batch applied");
            Ok::<(), lambda_runtime::Error>(())
        }
    }))
    .await
}

/// A process manager's function: the manager `build` makes over the events table, as consumer group
/// `KAFKA_CONSUMER_GROUP` (default `default_group`).
pub async fn serve_process_manager<M>(
    default_group: &str,
    build: impl FnOnce(Arc<dyn EventStore>) -> Result<M, lambda_runtime::Error>,
) -> Result<(), lambda_runtime::Error>
where
    M: ProcessManager + Clone + 'static,
{
    tributary_runtime::init_tracing();
    let shell = Shell::from_env(true).await?;
    let reactor = Reactor {
        manager: build(shell.events.clone())?,
        consumer_group: env_or("KAFKA_CONSUMER_GROUP", default_group),
        dead_letters: shell.dead_letters(),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<KafkaEvent>| {
        let reactor = reactor.clone();
        async move {
            let report = reactor.handle(&event.payload).await?;
            tracing::info!(?report, "batch reacted to");
            Ok::<(), lambda_runtime::Error>(())
        }
    }))
    .await
}

/// The scheduler function: one sweep (`tributary_scheduler::Scheduler`) at the invocation's wall-clock time, over
/// the events table and the schedules read model in `PROJECTIONS_TABLE`; `build` makes the application's dispatch
/// over the event store (with the command function's `SNAPSHOT_EVERY`). Invoked every minute by EventBridge
/// Scheduler, whatever the payload. Metrics (EMF): `OccurrencesSent`, `OccurrencesRefused`, `OccurrencesLate`,
/// `SchedulesFailed`, and `SchedulerBehind` (milliseconds the oldest occurrence still owed after the sweep has
/// waited; 0 when none). An unreadable due index fails the invocation.
pub async fn serve_scheduler<D: tributary_scheduler::Dispatch>(
    build: impl FnOnce(Arc<dyn EventStore>, tributary_aggregate::SnapshotPolicy) -> D,
) -> Result<(), lambda_runtime::Error> {
    tributary_runtime::init_tracing();
    let shell = Shell::from_env(true).await?;
    let snapshots = tributary_aggregate::SnapshotPolicy::from_env()?;
    let scheduler = tributary_scheduler::Scheduler::new(
        shell.events.clone(),
        snapshots,
        &ProjectionStore::new(
            shell.dynamodb.clone(),
            env_or("PROJECTIONS_TABLE", "tributary-projections"),
        ),
        build(shell.events.clone(), snapshots),
    );
    let scheduler = &scheduler;
    lambda_runtime::run(service_fn(
        // Whatever EventBridge Scheduler sends (the schedule's input; the template sets none) is ignored: the time
        // is the only input.
        |_: LambdaEvent<serde_json::Value>| async move {
            sweep_now(scheduler, chrono::Utc::now()).await?;
            Ok::<(), lambda_runtime::Error>(())
        },
    ))
    .await
}

/// One invocation of the scheduler function: a sweep at `now`, its report logged and recorded as metrics (EMF).
pub async fn sweep_now<D: tributary_scheduler::Dispatch>(
    scheduler: &tributary_scheduler::Scheduler<D>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<tributary_scheduler::SweepReport, tributary_scheduler::SweepError> {
    let report = scheduler.sweep(now).await?;
    let behind = report
        .behind_since
        .map_or(0, |since| (now - since).num_milliseconds());
    use tributary_runtime::metrics::{record, Point};
    record(
        &[
            Point::count("OccurrencesSent", report.sent),
            Point::count("OccurrencesRefused", report.refused),
            Point::count("OccurrencesLate", report.late),
            Point::count("SchedulesFailed", report.failed as u64),
            Point::millis("SchedulerBehind", behind),
        ],
        &[],
    );
    tracing::info!(?report, "swept");
    Ok(report)
}
