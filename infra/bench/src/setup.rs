//! What every part of a run shares: the services (the test kit's — embedded dynoxide and mock cluster, or DynamoDB
//! Local and tansu when `AWS_ENDPOINT_URL_DYNAMODB` and `KAFKA_BOOTSTRAP_SERVERS` are set), tables and a topic of the
//! run's own, one DynamoDB client configuration for every system measured, and bank histories written straight into
//! the event store.

use bank_account::{AccountEvent, Amount, Currency, Principal};
use std::time::Duration;
use tributary_core::EventMetadata;
use tributary_dynamodb::tables::{self, TableSpec};
use tributary_kafka::{KafkaConfig, Publisher};
use tributary_store::{NewEvent, StoredEvent};
use tributary_testkit::{dynamo, kafka, seed_history, CallLog};

/// Who owns every account of the run (the caller of every command).
pub const OWNER: &str = "bench";

/// The services and names of one run.
pub struct Services {
    pub endpoint: String,
    pub embedded: bool,
    pub events_table: String,
    pub projections_table: String,
    pub kafka_bootstrap: String,
    pub events_topic: String,
}

impl Services {
    /// Tables without a DynamoDB stream (nothing in the write-side benchmarks reads one, and dynoxide 3.2.0 scans
    /// every stream record so far on each write to a table with a stream, which would slow every system down as
    /// the run goes on), and a fresh topic.
    pub async fn start() -> anyhow::Result<Self> {
        let d = dynamo();
        let k = kafka();
        let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let events_table = format!("bench-events-{run}");
        let projections_table = format!("bench-projections-{run}");
        let client = d.client();
        TableSpec {
            stream_view: None,
            ..tables::EVENTS
        }
        .ensure(&client, &events_table)
        .await?;
        tables::PROJECTIONS
            .ensure(&client, &projections_table)
            .await?;
        Ok(Self {
            endpoint: d.endpoint.clone(),
            embedded: d.embedded,
            events_table,
            projections_table,
            kafka_bootstrap: k.bootstrap.clone(),
            events_topic: k.topic("bench-events", 6).await,
        })
    }

    /// A DynamoDB client (the same configuration for every system measured).
    pub fn client(&self) -> aws_sdk_dynamodb::Client {
        dynamo().client()
    }

    /// A client whose calls, and the items its queries read, are counted.
    pub fn counted_client(&self) -> (aws_sdk_dynamodb::Client, CallLog) {
        dynamo().counted_client()
    }

    /// A producer as the command function has one: idempotent, `acks=all`, the request path's delivery timeout.
    pub async fn publisher(&self) -> anyhow::Result<Publisher> {
        let config = KafkaConfig {
            delivery_timeout: Duration::from_secs(2),
            ..KafkaConfig::plaintext(
                &self.kafka_bootstrap,
                &self.events_topic,
                &self.events_topic,
            )
        };
        Ok(Publisher::connect(&config, &aws_types::SdkConfig::builder().build()).await?)
    }
}

/// Metadata for an event written by the benchmark.
pub fn metadata() -> EventMetadata {
    tributary_testkit::event_metadata(OWNER)
}

/// A deposit of one minor unit, as the command path would store it.
pub fn deposit_event() -> NewEvent {
    NewEvent::from_domain(
        &AccountEvent::MoneyDeposited {
            amount: Amount::new(1).expect("a valid amount"),
            deposited_by: Principal::parse(OWNER).expect("a valid principal"),
        },
        metadata(),
    )
}

/// An account opened by [`OWNER`] in EUR, with `holder` as its holder's name (plain: the store seals it).
pub fn opened_event(holder: Option<&str>) -> NewEvent {
    NewEvent::from_domain(
        &AccountEvent::AccountOpened {
            owner: Principal::parse(OWNER).expect("a valid principal"),
            currency: Currency::parse("EUR").expect("a valid currency"),
            holder: holder.map(|name| tributary_core::Personal::new(OWNER, name)),
        },
        metadata(),
    )
}

/// An account's history of `length` events: opened by [`OWNER`] in EUR, then deposits.
pub fn account_history(length: u64) -> Vec<NewEvent> {
    std::iter::once(opened_event(None))
        .chain((1..length).map(|_| deposit_event()))
        .collect()
}

/// The same history as stored at versions 1.. of `stream`.
pub fn stored_history(stream: &str, length: u64) -> Vec<StoredEvent> {
    StoredEvent::chained(stream, 1, account_history(length), None)
}

/// Write `accounts` account histories of `length` events each into the run's events table; their stream ids.
pub async fn seed_accounts(
    services: &Services,
    accounts: usize,
    length: u64,
) -> anyhow::Result<Vec<String>> {
    let client = services.client();
    let mut streams = Vec::with_capacity(accounts);
    for _ in 0..accounts {
        let stream = format!("account-{}", uuid::Uuid::new_v4());
        seed_history(
            &client,
            &services.events_table,
            &stream,
            1,
            account_history(length),
        )
        .await?;
        streams.push(stream);
    }
    Ok(streams)
}
