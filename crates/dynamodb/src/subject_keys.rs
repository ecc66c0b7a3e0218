//! The personal-data vault's key store on DynamoDB ([`crate::tables::SUBJECT_KEYS`]): one item per data subject
//! holding their wrapped data key. Reads are strongly consistent and never cached, so that a key destroyed by
//! `tributary forget` is gone for every process at once. Forgetting replaces the key with the erasure's record (who,
//! when, why); a subject seen again later gets a new key beside that record.

use crate::errors::classify;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use tributary_store::personal::{Erasure, SubjectKeyStore, VaultError, WrappedKey};
use tributary_store::EventStoreError;

const SUBJECT: &str = "subject";
const KEY_ID: &str = "key_id";
const WRAPPED: &str = "wrapped";
const WRAPPED_BY: &str = "wrapped_by";
const CREATED_AT: &str = "created_at";
/// The erasures of the subject, oldest first: each `{at, by, reason}`.
const ERASURES: &str = "erasures";

/// BatchGetItem's limit on keys per request.
const BATCH: usize = 100;

/// Wrapped subject keys in one DynamoDB table. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DynamoDbSubjectKeys {
    client: Client,
    table: String,
}

impl DynamoDbSubjectKeys {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn vault_error(error: EventStoreError) -> VaultError {
    match error {
        EventStoreError::Transient(reason) => VaultError::Unavailable(reason),
        other => VaultError::Refused(other.to_string()),
    }
}

fn key_of(item: &HashMap<String, AttributeValue>) -> Result<WrappedKey, VaultError> {
    let text = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| VaultError::Refused(format!("a subject key item has no {name}")))
    };
    let wrapped = item
        .get(WRAPPED)
        .and_then(|v| v.as_b().ok())
        .map(|b| b.as_ref().to_vec())
        .ok_or_else(|| VaultError::Refused("a subject key item has no wrapped key".into()))?;
    Ok(WrappedKey {
        subject: text(SUBJECT)?,
        key_id: text(KEY_ID)?,
        wrapped,
        wrapped_by: text(WRAPPED_BY)?,
    })
}

#[async_trait::async_trait]
impl SubjectKeyStore for DynamoDbSubjectKeys {
    async fn get(&self, subjects: &[&str]) -> Result<Vec<WrappedKey>, VaultError> {
        let mut unique: Vec<&str> = subjects.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let mut found = Vec::new();
        for chunk in unique.chunks(BATCH) {
            let mut keys = KeysAndAttributes::builder().consistent_read(true);
            for subject in chunk {
                keys = keys.keys(HashMap::from([(
                    SUBJECT.to_owned(),
                    AttributeValue::S((*subject).to_owned()),
                )]));
            }
            let mut request = HashMap::from([(
                self.table.clone(),
                keys.build()
                    .map_err(|e| VaultError::Refused(e.to_string()))?,
            )]);
            // Unprocessed keys (throttling) are asked again, with a pause that grows, a bounded number of times.
            let mut pauses = tributary_runtime::retry::pauses(
                std::time::Duration::from_millis(20),
                std::time::Duration::from_secs(1),
            )
            .take(8);
            loop {
                let answer = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(request))
                    .send()
                    .await
                    .map_err(|e| vault_error(classify(&e)))?;
                // An item without a key is an erasure's record: the subject has no key.
                for item in answer
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                    .filter(|item| item.contains_key(WRAPPED))
                {
                    found.push(key_of(item)?);
                }
                match answer.unprocessed_keys().filter(|u| !u.is_empty()) {
                    Some(unprocessed) => {
                        let pause = pauses.next().ok_or_else(|| {
                            VaultError::Unavailable("the key store kept throttling".into())
                        })?;
                        tokio::time::sleep(pause).await;
                        request = unprocessed.clone();
                    }
                    None => break,
                }
            }
        }
        Ok(found)
    }

    async fn insert(&self, key: &WrappedKey) -> Result<bool, VaultError> {
        // An update, so that the record of an earlier erasure of the subject stays beside their new key.
        let put = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(SUBJECT, AttributeValue::S(key.subject.clone()))
            .update_expression("SET #key_id = :key_id, #wrapped = :wrapped, #wrapped_by = :wrapped_by, #created_at = :created_at")
            .condition_expression("attribute_not_exists(#wrapped)")
            .expression_attribute_names("#key_id", KEY_ID)
            .expression_attribute_names("#wrapped", WRAPPED)
            .expression_attribute_names("#wrapped_by", WRAPPED_BY)
            .expression_attribute_names("#created_at", CREATED_AT)
            .expression_attribute_values(":key_id", AttributeValue::S(key.key_id.clone()))
            .expression_attribute_values(":wrapped", AttributeValue::B(Blob::new(key.wrapped.clone())))
            .expression_attribute_values(":wrapped_by", AttributeValue::S(key.wrapped_by.clone()))
            .expression_attribute_values(":created_at", AttributeValue::S(chrono::Utc::now().to_rfc3339()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(false)
            }
            Err(e) => Err(vault_error(classify(&e))),
        }
    }

    async fn erase(
        &self,
        subject: &str,
        record: &Erasure,
    ) -> Result<Option<WrappedKey>, VaultError> {
        let erased = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(SUBJECT, AttributeValue::S(subject.to_owned()))
            // Every erasure kept, in order (a subject forgotten, seen again and forgotten again has two).
            .update_expression("REMOVE #key_id, #wrapped, #wrapped_by, #created_at SET #erasures = list_append(if_not_exists(#erasures, :none), :erasure)")
            .expression_attribute_names("#key_id", KEY_ID)
            .expression_attribute_names("#wrapped", WRAPPED)
            .expression_attribute_names("#wrapped_by", WRAPPED_BY)
            .expression_attribute_names("#created_at", CREATED_AT)
            .expression_attribute_names("#erasures", ERASURES)
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(
                ":erasure",
                AttributeValue::L(vec![AttributeValue::M(HashMap::from([
                    ("at".to_owned(), AttributeValue::S(record.at.clone())),
                    ("by".to_owned(), AttributeValue::S(record.by.clone())),
                    ("reason".to_owned(), AttributeValue::S(record.reason.clone())),
                ]))]),
            )
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| vault_error(classify(&e)))?;
        erased
            .attributes()
            .filter(|old| old.contains_key(WRAPPED))
            .map(key_of)
            .transpose()
    }
}
