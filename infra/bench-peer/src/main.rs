//! The peer comparison of the benchmark harness: the bank domain of `examples/bank/domain` (the same `decide` and `evolve`)
//! as a cqrs-es 0.5 aggregate on dynamo-es 0.5, with and without its snapshot store, every committed event
//! published to Kafka and acknowledged (as the command path does), measured with the harness's own loop
//! (`bench-core`) on the same services. Run by the harness (`infra/bench.sh --peer`) with a JSON plan as its one
//! argument; prints its cells as JSON. Figures go to BENCHMARKS.md through the harness; nothing here asserts.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PutRequest, ScalarAttributeType,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use bank_account::{
    Account, AccountCommand, AccountEvent, AccountRejection, AccountState, Amount, Currency,
    Principal,
};
use bench_core::{run, Cell, Outcome, Workload};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventEnvelope, Query};
use dynamo_es::DynamoEventRepository;
use futures::stream::{self, StreamExt, TryStreamExt};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tributary_core::{Decider, DomainEvent};

/// The harness's plan (see `infra/bench/src/peer.rs`).
#[derive(Debug, Deserialize)]
struct Plan {
    dynamodb_endpoint: String,
    kafka_bootstrap: String,
    topic: String,
    accounts: usize,
    cell_seconds: f64,
    concurrencies: Vec<usize>,
    hot_writers: usize,
    lengths: Vec<u64>,
    deposits_per_length: u64,
    snapshot_every: u64,
}

/// The bank account's state as a cqrs-es aggregate; `handle` and `apply` are the bank decider's.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PeerAccount(AccountState);

/// The bank event as a cqrs-es event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
struct PeerEvent(AccountEvent);

impl cqrs_es::DomainEvent for PeerEvent {
    fn event_type(&self) -> String {
        self.0.event_type().to_owned()
    }
    fn event_version(&self) -> String {
        self.0.schema_version().to_string()
    }
}

impl Aggregate for PeerAccount {
    const TYPE: &'static str = "account";
    type Command = AccountCommand;
    type Event = PeerEvent;
    type Error = AccountRejection;
    type Services = ();

    async fn handle(
        &mut self,
        command: AccountCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), AccountRejection> {
        for event in Account::decide(&self.0, &command)? {
            sink.write(PeerEvent(event), self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: PeerEvent) {
        self.0 = Account::evolve(std::mem::take(&mut self.0), &event.0);
    }
}

/// Publishes every committed event and waits for the acknowledgement, as the command path does after its commit.
struct KafkaPublisher {
    producer: FutureProducer,
    topic: String,
}

#[async_trait]
impl Query<PeerAccount> for KafkaPublisher {
    async fn dispatch(&self, aggregate_id: &str, events: &[EventEnvelope<PeerAccount>]) {
        for envelope in events {
            let payload = serde_json::to_vec(&envelope.payload).expect("events serialise");
            let record = FutureRecord::to(&self.topic)
                .key(aggregate_id)
                .payload(&payload);
            if let Err((e, _)) = self.producer.send(record, Duration::from_secs(2)).await {
                eprintln!("peer: publish failed: {e}");
            }
        }
    }
}

type Framework = CqrsFramework<PeerAccount, PersistedEventStore<DynamoEventRepository, PeerAccount>>;

/// One of the two peers: with or without the snapshot store, on tables of its own.
struct Peer {
    name: &'static str,
    cqrs: Arc<Framework>,
    client: Client,
    events_table: String,
    snapshots_table: String,
    snapshot_every: Option<usize>,
}

fn client(endpoint: &str) -> Client {
    Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "bench"))
            .build(),
    )
}

async fn create_table(client: &Client, name: &str, sort_key: bool) -> anyhow::Result<()> {
    let attribute = |name: &str, kind| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("AggregateTypeAndId", ScalarAttributeType::S)?)
        .key_schema(key("AggregateTypeAndId", KeyType::Hash)?);
    if sort_key {
        request = request
            .attribute_definitions(attribute("AggregateIdSequence", ScalarAttributeType::N)?)
            .key_schema(key("AggregateIdSequence", KeyType::Range)?);
    }
    request
        .send()
        .await
        .with_context(|| format!("creating {name}"))?;
    Ok(())
}

impl Peer {
    async fn new(
        name: &'static str,
        plan: &Plan,
        publisher: KafkaPublisher,
        snapshot_every: Option<usize>,
    ) -> anyhow::Result<Self> {
        let client = client(&plan.dynamodb_endpoint);
        let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let (events_table, snapshots_table) =
            (format!("peer-events-{run}"), format!("peer-snapshots-{run}"));
        create_table(&client, &events_table, true).await?;
        create_table(&client, &snapshots_table, false).await?;
        let repo =
            DynamoEventRepository::new(client.clone()).with_tables(&events_table, &snapshots_table);
        let store = match snapshot_every {
            Some(every) => PersistedEventStore::new_snapshot_store(repo, every),
            None => PersistedEventStore::new_event_store(repo),
        };
        let cqrs = CqrsFramework::new(store, vec![Box::new(publisher)], ());
        Ok(Self {
            name,
            cqrs: Arc::new(cqrs),
            client,
            events_table,
            snapshots_table,
            snapshot_every,
        })
    }

    async fn deposit(&self, account: &str) -> Outcome {
        let command = AccountCommand::Deposit {
            amount: Amount::new(1).expect("a valid amount"),
            by: Principal::parse("bench").expect("a valid principal"),
        };
        match self.cqrs.execute(account, command).await {
            Ok(()) => Outcome::Done,
            Err(AggregateError::AggregateConflict) => Outcome::Conflict,
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// Open `accounts` accounts through the framework and bring each to 10 events.
    async fn open_accounts(&self, accounts: usize) -> anyhow::Result<Vec<String>> {
        stream::iter(0..accounts)
            .map(|_| async move {
                let id = uuid::Uuid::new_v4().to_string();
                self.cqrs
                    .execute(
                        &id,
                        AccountCommand::Open {
                            owner: Principal::parse("bench").expect("a valid principal"),
                            currency: Currency::parse("EUR").expect("a valid currency"),
                            holder: None,
                        },
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("open: {e}"))?;
                for _ in 1..10 {
                    if self.deposit(&id).await != Outcome::Done {
                        anyhow::bail!("a seeding deposit failed");
                    }
                }
                Ok(id)
            })
            .buffer_unordered(16)
            .try_collect()
            .await
    }

    /// Write a history of `length` events in dynamo-es's item format (and, with the snapshot store, the snapshot
    /// it would have after them), as if the account had been commanded that often.
    async fn seed(&self, length: u64) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let key = format!("{}:{id}", PeerAccount::TYPE);
        let mut state = AccountState::default();
        let mut requests = Vec::new();
        for sequence in 1..=length {
            let event = if sequence == 1 {
                AccountEvent::AccountOpened {
                    owner: Principal::parse("bench").expect("a valid principal"),
                    currency: Currency::parse("EUR").expect("a valid currency"),
                    holder: None,
                }
            } else {
                AccountEvent::MoneyDeposited {
                    amount: Amount::new(1).expect("a valid amount"),
                    deposited_by: Principal::parse("bench").expect("a valid principal"),
                }
            };
            state = Account::evolve(state, &event);
            let item = PutRequest::builder()
                .item("AggregateTypeAndId", s(&key))
                .item("AggregateIdSequence", n(sequence))
                .item("AggregateType", s(PeerAccount::TYPE))
                .item("AggregateId", s(&id))
                .item("EventVersion", s("1"))
                .item("EventType", s(event.event_type()))
                .item("Payload", blob(&serde_json::to_vec(&PeerEvent(event))?))
                .item("Metadata", blob(b"{}"))
                .build()?;
            requests.push(WriteRequest::builder().put_request(item).build());
        }
        for chunk in requests.chunks(25) {
            let mut batch = chunk.to_vec();
            while !batch.is_empty() {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.events_table, batch)
                    .send()
                    .await?;
                batch = output
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.events_table))
                    .cloned()
                    .unwrap_or_default();
            }
        }
        if let Some(every) = self.snapshot_every {
            self.client
                .put_item()
                .table_name(&self.snapshots_table)
                .item("AggregateTypeAndId", s(&key))
                .item("AggregateType", s(PeerAccount::TYPE))
                .item("AggregateId", s(&id))
                .item("CurrentSequence", n(length))
                .item("CurrentSnapshot", n(length / every as u64))
                .item("Payload", blob(&serde_json::to_vec(&PeerAccount(state))?))
                .send()
                .await?;
        }
        Ok(id)
    }
}

fn s(value: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(value.to_owned())
}

fn n(value: u64) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::N(value.to_string())
}

fn blob(bytes: &[u8]) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::B(Blob::new(bytes))
}

fn producer(plan: &Plan) -> anyhow::Result<KafkaPublisher> {
    // As the command function's producer: idempotent, acks=all, lz4, 2 ms linger.
    let producer = ClientConfig::new()
        .set("bootstrap.servers", &plan.kafka_bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "2000")
        .create()?;
    Ok(KafkaPublisher {
        producer,
        topic: plan.topic.clone(),
    })
}

fn progress(what: &str) {
    eprintln!("[peer] {what}");
}

/// Every cell of the plan for one peer.
async fn measure(peer: Arc<Peer>, plan: &Plan) -> anyhow::Result<Vec<Cell>> {
    let mut cells = Vec::new();
    let cell = Duration::from_secs_f64(plan.cell_seconds);
    progress(&format!("{}: opening {} accounts", peer.name, plan.accounts));
    let accounts = Arc::new(peer.open_accounts(plan.accounts).await?);
    let scenario = format!("{} accounts", plan.accounts);
    for &concurrency in &plan.concurrencies {
        progress(&format!("{}: {scenario}, concurrency {concurrency}", peer.name));
        let (p, a) = (peer.clone(), accounts.clone());
        let workload = Workload {
            concurrency,
            duration: cell,
            max_ops: None,
        };
        cells.push(
            run(peer.name, &scenario, workload, move |_, _| {
                let (p, a) = (p.clone(), a.clone());
                async move { p.deposit(&a[rand::random_range(0..a.len())]).await }
            })
            .await,
        );
    }
    let hot = Arc::new(peer.open_accounts(1).await?);
    for writers in [1, plan.hot_writers] {
        progress(&format!("{}: hot account, {writers} writer(s)", peer.name));
        let (p, a) = (peer.clone(), hot.clone());
        let workload = Workload {
            concurrency: writers,
            duration: cell,
            max_ops: None,
        };
        cells.push(
            run(peer.name, "hot account", workload, move |_, _| {
                let (p, a) = (p.clone(), a.clone());
                async move { p.deposit(&a[0]).await }
            })
            .await,
        );
    }
    for &length in &plan.lengths {
        progress(&format!("{}: stream of {length} events", peer.name));
        let account = Arc::new(peer.seed(length).await?);
        let p = peer.clone();
        let workload = Workload {
            concurrency: 1,
            duration: Duration::from_secs(120),
            max_ops: Some(plan.deposits_per_length),
        };
        cells.push(
            run(peer.name, &format!("stream of {length} events"), workload, move |_, _| {
                let (p, a) = (p.clone(), account.clone());
                async move { p.deposit(&a).await }
            })
            .await,
        );
    }
    Ok(cells)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let raw = std::env::args()
        .nth(1)
        .context("usage: bench-peer '<plan as JSON>' (the harness passes it)")?;
    let plan: Plan = serde_json::from_str(&raw).context("the plan is not valid JSON")?;
    let plain = Arc::new(Peer::new("cqrs-es", &plan, producer(&plan)?, None).await?);
    let snapshots = Arc::new(
        Peer::new(
            "cqrs-es + snapshots",
            &plan,
            producer(&plan)?,
            Some(plan.snapshot_every as usize),
        )
        .await?,
    );
    let mut cells = measure(plain, &plan).await?;
    cells.extend(measure(snapshots, &plan).await?);
    println!("{}", serde_json::to_string(&cells)?);
    Ok(())
}
