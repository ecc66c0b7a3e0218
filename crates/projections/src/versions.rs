//! Versions of a read model: which one reads are served from, which are being built, which are retired.
//!
//! A read model whose fold changes gets a new version ([`tributary_core::Projection::version`]) beside the old one:
//! its items live under its own keys ([`crate::ProjectionStore::at`]), its denormaliser runs as its own consumer
//! group, and it is filled from the event store ([`crate::rebuild`]). Each read model has one catalog item in the
//! projections table (`read-model#<name>` / `versions`) saying which version is served and what state each
//! recorded version is in. Every change to it is one conditional write on its revision, so a promotion is atomic:
//! a reader sees the old version or the new one, never a mix, and two operators cannot both win.
//!
//! Readers find the served version through [`serving`], which reads the catalog through the store's short memory
//! ([`crate::ProjectionStore::remembered`], one second unless configured): a promotion reaches every query container
//! within that time. A read model with no catalog serves version 1 (every read model before its first new version).
//!
//! | state | meaning | may be promoted | its denormaliser |
//! |---|---|---|---|
//! | `building` | a build from the event store is running (or was interrupted) | no | follows live |
//! | `built` | a build completed; the version is whole | yes | follows live |
//! | `retiring` | being deleted | no | writes nothing |
//! | `retired` | deleted (its consumer can be removed) | no | writes nothing |
//!
//! Version 1 of a read model that has no record counts as `built`: it was deployed before versions existed, fed
//! from its first event.

use crate::store::{ProjectionStore, StoreError};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tributary_core::ItemKey;

/// How long a container trusts a catalog it read: the longest a promotion or a retirement takes to reach it.
pub const DEFAULT_CATALOG_TTL: std::time::Duration = crate::store::REMEMBERED_FOR;

/// Where a read model's catalog lives.
pub fn catalog_key(name: &str) -> ItemKey {
    ItemKey::new(format!("read-model#{name}"), "versions")
}

/// The state of one version of a read model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersionState {
    Building,
    Built,
    Retiring,
    Retired,
}

impl VersionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Building => "building",
            Self::Built => "built",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }

    /// Whether its denormaliser may still write (it is not being deleted).
    pub fn writes(self) -> bool {
        matches!(self, Self::Building | Self::Built)
    }
}

/// What the catalog records of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub state: VersionState,
    /// When it entered that state (RFC 3339).
    pub since: String,
}

/// One read model's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// The version reads are served from.
    pub serving: u32,
    /// Every version an operator has built, promoted or retired.
    #[serde(default)]
    pub versions: BTreeMap<u32, VersionRecord>,
    /// When `serving` last changed (RFC 3339), if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<String>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self {
            serving: 1,
            versions: BTreeMap::new(),
            promoted_at: None,
        }
    }
}

impl Catalog {
    /// The state of `version` (an unrecorded version 1 is `built`; any other unrecorded version has none).
    pub fn state(&self, version: u32) -> Option<VersionState> {
        match self.versions.get(&version) {
            Some(record) => Some(record.state),
            None if version == 1 => Some(VersionState::Built),
            None => None,
        }
    }

    /// Whether the denormaliser of `version` may write.
    pub fn writes(&self, version: u32) -> bool {
        self.state(version).is_none_or(VersionState::writes)
    }

    fn set(&mut self, version: u32, state: VersionState) {
        self.versions.insert(
            version,
            VersionRecord {
                state,
                since: now(),
            },
        );
    }
}

/// A change the catalog refused.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{label} is {state}: {why}")]
    Refused {
        label: String,
        state: &'static str,
        why: &'static str,
    },
    #[error("{label} is served: promote another version first")]
    Served { label: String },
    #[error("the catalog of {name} kept changing under this change; try again")]
    Contention { name: String },
}

/// The catalog of read model `name`, read consistently (the default when it has none).
pub async fn catalog(store: &ProjectionStore, name: &str) -> Result<Catalog, StoreError> {
    Ok(read(store, name).await?.0)
}

/// Record that a build of `name` version `version` begins (or resumes). Refused for a version being retired or
/// retired: its consumer is gone or going.
pub async fn begin_build(
    store: &ProjectionStore,
    name: &str,
    version: u32,
) -> Result<Catalog, VersionError> {
    change(store, name, |catalog| match catalog.state(version) {
        Some(state @ (VersionState::Retiring | VersionState::Retired)) => Err(refused(
            name,
            version,
            state,
            "a retired version is not built again",
        )),
        Some(VersionState::Built) => Ok(()),
        _ => {
            catalog.set(version, VersionState::Building);
            Ok(())
        }
    })
    .await
}

/// Record that a build of `name` version `version` completed: it may be promoted.
pub async fn finish_build(
    store: &ProjectionStore,
    name: &str,
    version: u32,
) -> Result<Catalog, VersionError> {
    change(store, name, |catalog| match catalog.state(version) {
        Some(state @ (VersionState::Retiring | VersionState::Retired)) => Err(refused(
            name,
            version,
            state,
            "it was retired during the build",
        )),
        _ => {
            catalog.set(version, VersionState::Built);
            Ok(())
        }
    })
    .await
}

/// Serve `name` version `version` from now on (atomically: one conditional write). Only a built version.
pub async fn promote(
    store: &ProjectionStore,
    name: &str,
    version: u32,
) -> Result<Catalog, VersionError> {
    change(store, name, |catalog| match catalog.state(version) {
        Some(VersionState::Built) => {
            if catalog.serving != version {
                catalog.serving = version;
                catalog.promoted_at = Some(now());
            }
            Ok(())
        }
        Some(state) => Err(refused(
            name,
            version,
            state,
            "only a built version is served",
        )),
        None => Err(VersionError::Refused {
            label: crate::model::label(name, version),
            state: "not built",
            why: "build it first (tributary read-models build)",
        }),
    })
    .await
}

/// Mark `name` version `version` retiring (its denormaliser stops writing); refused while it is served.
pub async fn begin_retire(
    store: &ProjectionStore,
    name: &str,
    version: u32,
) -> Result<Catalog, VersionError> {
    change(store, name, |catalog| {
        if catalog.serving == version {
            return Err(VersionError::Served {
                label: crate::model::label(name, version),
            });
        }
        if catalog.state(version) != Some(VersionState::Retired) {
            catalog.set(version, VersionState::Retiring);
        }
        Ok(())
    })
    .await
}

/// Mark `name` version `version` retired (its items are deleted).
pub async fn finish_retire(
    store: &ProjectionStore,
    name: &str,
    version: u32,
) -> Result<Catalog, VersionError> {
    change(store, name, |catalog| {
        catalog.set(version, VersionState::Retired);
        Ok(())
    })
    .await
}

fn refused(name: &str, version: u32, state: VersionState, why: &'static str) -> VersionError {
    VersionError::Refused {
        label: crate::model::label(name, version),
        state: state.as_str(),
        why,
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The catalog and its revision (0: none stored).
async fn read(store: &ProjectionStore, name: &str) -> Result<(Catalog, u64), StoreError> {
    decode(name, store.unscoped().checkpoint(&catalog_key(name)).await?)
}

/// The catalog of `name` as read at most the store's remembering time ago.
async fn remembered(store: &ProjectionStore, name: &str) -> Result<Catalog, StoreError> {
    Ok(decode(name, store.unscoped().remembered(&catalog_key(name)).await?)?.0)
}

fn decode(
    name: &str,
    item: Option<(serde_json::Value, u64)>,
) -> Result<(Catalog, u64), StoreError> {
    match item {
        Some((value, revision)) => {
            let catalog = serde_json::from_value(value).map_err(|e| {
                StoreError::Corrupt(format!("the catalog of read model {name}: {e}"))
            })?;
            Ok((catalog, revision))
        }
        None => Ok((Catalog::default(), 0)),
    }
}

/// The version of read model `name` that reads should see now: the one its catalog serves (read at most the
/// store's remembering time ago). Every read of one request should go through the one store this returns, so that
/// a promotion in the middle of the request does not mix versions.
pub async fn serving(store: &ProjectionStore, name: &str) -> Result<ProjectionStore, StoreError> {
    Ok(store.at(name, remembered(store, name).await?.serving))
}

/// Apply `edit` to the catalog and write it on the revision it read, starting over when another change won.
async fn change(
    store: &ProjectionStore,
    name: &str,
    edit: impl Fn(&mut Catalog) -> Result<(), VersionError>,
) -> Result<Catalog, VersionError> {
    for _ in 0..8 {
        let (mut catalog, revision) = read(store, name).await?;
        edit(&mut catalog)?;
        if write(store, name, &catalog, revision).await? {
            store.unscoped().forget(&catalog_key(name));
            return Ok(catalog);
        }
    }
    Err(VersionError::Contention {
        name: name.to_owned(),
    })
}

/// Write `catalog` as revision `revision + 1` if the stored one is still `revision`; `false` if it is not.
async fn write(
    store: &ProjectionStore,
    name: &str,
    catalog: &Catalog,
    revision: u64,
) -> Result<bool, StoreError> {
    let key = catalog_key(name);
    let data = serde_json::to_string(catalog).expect("catalogs serialise");
    let item = HashMap::from([
        ("pk".to_owned(), AttributeValue::S(key.pk)),
        ("sk".to_owned(), AttributeValue::S(key.sk)),
        (
            "version".to_owned(),
            AttributeValue::N((revision + 1).to_string()),
        ),
        ("data".to_owned(), AttributeValue::S(data)),
    ]);
    let mut request = store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .expression_attribute_names("#version", "version");
    request = if revision == 0 {
        request.condition_expression("attribute_not_exists(#version)")
    } else {
        request
            .condition_expression("#version = :expected")
            .expression_attribute_values(":expected", AttributeValue::N(revision.to_string()))
    };
    match request.send().await {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::Unavailable(
            aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
        )),
    }
}

/// Whether the denormaliser of `store`'s version of `name` may write now (not retiring or retired), by the cached
/// catalog.
pub async fn may_write(
    store: &ProjectionStore,
    name: &str,
    version: u32,
) -> Result<bool, StoreError> {
    Ok(remembered(store, name).await?.writes(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unrecorded_first_version_is_built_and_served() {
        let catalog = Catalog::default();
        assert_eq!(catalog.serving, 1);
        assert_eq!(catalog.state(1), Some(VersionState::Built));
        assert_eq!(catalog.state(2), None);
        assert!(catalog.writes(2), "a version nobody recorded follows live");
    }

    #[test]
    fn a_retiring_version_writes_nothing() {
        let mut catalog = Catalog::default();
        catalog.set(1, VersionState::Retiring);
        assert!(!catalog.writes(1));
        catalog.set(1, VersionState::Retired);
        assert!(!catalog.writes(1));
        catalog.set(2, VersionState::Building);
        assert!(catalog.writes(2));
    }

    #[test]
    fn the_catalog_reads_back_as_written() {
        let mut catalog = Catalog::default();
        catalog.set(2, VersionState::Built);
        catalog.serving = 2;
        let json = serde_json::to_value(&catalog).unwrap();
        assert_eq!(json["versions"]["2"]["state"], "built");
        assert_eq!(serde_json::from_value::<Catalog>(json).unwrap(), catalog);
    }
}
