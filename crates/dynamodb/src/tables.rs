//! Table definitions: the single source of truth for the tables devstack and tests create and `template.yaml`
//! declares (a test in `tests/` parses the template and compares it with these).

use crate::errors::classify;
use crate::item::{STREAM_ID, VERSION};
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use tributary_store::EventStoreError;

/// A key attribute: name and scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAttribute {
    pub name: &'static str,
    pub kind: ScalarType,
}

/// DynamoDB's scalar key types, as spelled in CloudFormation and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarType {
    S,
    N,
}

impl ScalarType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S => "S",
            Self::N => "N",
        }
    }
}

/// A table's shape: logical id in `template.yaml`, partition and sort key. Billing is on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// The resource name in `template.yaml`.
    pub logical_id: &'static str,
    pub partition_key: KeyAttribute,
    pub sort_key: Option<KeyAttribute>,
    /// DynamoDB Streams view type (`NEW_IMAGE`), when the table has a stream.
    pub stream_view: Option<&'static str>,
    /// The attribute DynamoDB's TTL deletes expired items by (epoch seconds), when the table has one.
    pub ttl_attribute: Option<&'static str>,
}

/// The event store: one item per event, keyed by stream and version.
pub const EVENTS: TableSpec = TableSpec {
    logical_id: "EventsTable",
    partition_key: KeyAttribute {
        name: STREAM_ID,
        kind: ScalarType::S,
    },
    sort_key: Some(KeyAttribute {
        name: VERSION,
        kind: ScalarType::N,
    }),
    // The relay publishes every new event from the table's stream (the safety net behind the command path).
    stream_view: Some("NEW_IMAGE"),
    // Receipts of callers' idempotency keys expire (events never carry the attribute).
    ttl_attribute: Some(crate::receipt::EXPIRES_AT),
};

/// The read models: every projection's items, keyed by a partition string and a sort string.
pub const PROJECTIONS: TableSpec = TableSpec {
    logical_id: "ProjectionsTable",
    partition_key: KeyAttribute {
        name: "pk",
        kind: ScalarType::S,
    },
    sort_key: Some(KeyAttribute {
        name: "sk",
        kind: ScalarType::S,
    }),
    stream_view: None,
    ttl_attribute: None,
};

/// The personal-data vault's keys: one item per data subject (their data key, wrapped by KMS), deleted to forget
/// them. No stream: nothing reacts to a key.
pub const SUBJECT_KEYS: TableSpec = TableSpec {
    logical_id: "SubjectKeysTable",
    partition_key: KeyAttribute {
        name: "subject",
        kind: ScalarType::S,
    },
    sort_key: None,
    stream_view: None,
    ttl_attribute: None,
};

/// Every table the system uses.
pub const ALL: &[TableSpec] = &[EVENTS, PROJECTIONS, SUBJECT_KEYS];

/// How long [`TableSpec::ensure`] goes on trying after transient failures.
pub const ENSURE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

impl TableSpec {
    /// Create the table under `name` unless it exists, and wait until it is active. A transient failure (a
    /// throttled or timed-out request, once the SDK's own retries are spent: DynamoDB Local answers "timed out ...
    /// waiting for a lock" when many callers create tables at once on a loaded machine) is tried again, for up to
    /// [`ENSURE_PATIENCE`].
    pub async fn ensure(&self, client: &Client, name: &str) -> Result<(), EventStoreError> {
        let started = std::time::Instant::now();
        let mut pauses = tributary_runtime::retry::pauses(
            std::time::Duration::from_millis(200),
            std::time::Duration::from_secs(5),
        );
        loop {
            match self.ensure_once(client, name).await {
                Err(EventStoreError::Transient(cause)) if started.elapsed() < ENSURE_PATIENCE => {
                    let pause = pauses.next().unwrap_or(std::time::Duration::from_secs(5));
                    tracing::warn!(table = name, %cause, retry_in = ?pause, "table not ensured yet");
                    tokio::time::sleep(pause).await;
                }
                done => return done,
            }
        }
    }

    async fn ensure_once(&self, client: &Client, name: &str) -> Result<(), EventStoreError> {
        let attribute = |key: KeyAttribute| {
            AttributeDefinition::builder()
                .attribute_name(key.name)
                .attribute_type(match key.kind {
                    ScalarType::S => ScalarAttributeType::S,
                    ScalarType::N => ScalarAttributeType::N,
                })
                .build()
                .expect("name and type are set")
        };
        let key = |key: KeyAttribute, key_type| {
            KeySchemaElement::builder()
                .attribute_name(key.name)
                .key_type(key_type)
                .build()
                .expect("name and type are set")
        };
        let mut request = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute(self.partition_key))
            .key_schema(key(self.partition_key, KeyType::Hash));
        if let Some(view) = self.stream_view {
            request = request.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view))
                    .build()
                    .expect("stream_enabled is set"),
            );
        }
        if let Some(sort) = self.sort_key {
            request = request
                .attribute_definitions(attribute(sort))
                .key_schema(key(sort, KeyType::Range));
        }
        match request.send().await {
            Ok(_) => {}
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), CreateTableError::ResourceInUseException(_)) => {}
            Err(e) => return Err(classify(&e)),
        }
        client
            .wait_until_table_exists()
            .table_name(name)
            .wait(std::time::Duration::from_secs(60))
            .await
            .map_err(|e| {
                EventStoreError::Transient(format!("table {name} did not become active: {e}"))
            })?;
        if let Some(attribute) = self.ttl_attribute {
            if !ttl_on(client, name, attribute).await? {
                let updated = client
                    .update_time_to_live()
                    .table_name(name)
                    .time_to_live_specification(
                        TimeToLiveSpecification::builder()
                            .attribute_name(attribute)
                            .enabled(true)
                            .build()
                            .expect("name and flag are set"),
                    )
                    .send()
                    .await;
                // Another caller ensuring the table at the same time may have enabled it in between (DynamoDB
                // Local then refuses this update: "TimeToLive is already enabled"): the table is as wanted.
                if let Err(e) = updated {
                    if !ttl_on(client, name, attribute).await? {
                        return Err(classify(&e));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether the time to live of table `name` is on (or being turned on) for `attribute`.
async fn ttl_on(client: &Client, name: &str, attribute: &str) -> Result<bool, EventStoreError> {
    Ok(client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| classify(&e))?
        .time_to_live_description()
        .and_then(|d| d.attribute_name())
        .is_some_and(|a| a == attribute))
}
