//! Reading the bank's read models: where each lives is the read model's business (`bank_account::views`), how to
//! read is the projection store's; the query function and the tests read through this.

use bank_account::views::{
    owner_entry_sk, owner_partition, statement_line_sk, statement_partition, summary_key,
    transfer_view_key, AccountSummary, StatementCheckpoint, StatementLine, Statements,
    TransferView,
};
use tributary_core::Projection;
use tributary_projections::{Consistency, Direction, Page, ProjectionStore, StoreError};

/// The bank's read models in a projections table.
#[derive(Debug, Clone)]
pub struct BankReads {
    store: ProjectionStore,
}

impl BankReads {
    pub fn new(store: ProjectionStore) -> Self {
        Self { store }
    }

    /// The table underneath.
    pub fn store(&self) -> &ProjectionStore {
        &self.store
    }

    /// An account's summary.
    pub async fn summary(&self, account_id: &str) -> Result<Option<AccountSummary>, StoreError> {
        self.store.get(&summary_key(account_id)).await
    }

    /// An account's entry in its owner's listing.
    pub async fn owner_entry(
        &self,
        owner: &str,
        account_id: &str,
    ) -> Result<Option<AccountSummary>, StoreError> {
        self.store
            .get(&tributary_core::ItemKey::new(
                owner_partition(owner),
                owner_entry_sk(account_id),
            ))
            .await
    }

    /// The statement in the version served now (its catalog read at most a moment ago): every read of one
    /// request goes through the one this returns, so a promotion in between never mixes versions.
    pub async fn statement(&self) -> Result<StatementReads, StoreError> {
        Ok(StatementReads {
            store: tributary_projections::versions::serving(&self.store, Statements.name()).await?,
        })
    }

    /// Version `version` of the statement, served or not.
    pub fn statement_at(&self, version: u32) -> StatementReads {
        StatementReads {
            store: self.store.at(Statements.name(), version),
        }
    }

    /// An owner's accounts by account id, at most `limit`, after account id `after` when given.
    pub async fn owner_page(
        &self,
        owner: &str,
        limit: i32,
        after: Option<&str>,
    ) -> Result<Page<AccountSummary>, StoreError> {
        // `account#` (no id) sorts before every entry.
        self.store
            .page(
                &owner_partition(owner),
                &owner_entry_sk(after.unwrap_or("")),
                "account$",
                Direction::OldestFirst,
                Consistency::Eventual,
                limit,
            )
            .await
    }

    /// A transfer's view.
    pub async fn transfer(&self, transfer_id: &str) -> Result<Option<TransferView>, StoreError> {
        self.store.get(&transfer_view_key(transfer_id)).await
    }
}

/// One version of the statement.
#[derive(Debug, Clone)]
pub struct StatementReads {
    store: ProjectionStore,
}

impl StatementReads {
    /// Which version this is (`statement`, `statement-v2`).
    pub fn label(&self) -> &str {
        self.store.label().unwrap_or_default()
    }

    /// The statement's checkpoint (default: nothing applied).
    pub async fn checkpoint(&self, account_id: &str) -> Result<StatementCheckpoint, StoreError> {
        Ok(self
            .store
            .get(&Statements.checkpoint_key(account_id))
            .await?
            .unwrap_or_default())
    }

    /// Statement lines newest first, at most `limit`, below version `before` (exclusive) when given. Read
    /// consistently, like the checkpoint: a reader that waited for version N (`min_version`) gets line N.
    pub async fn page(
        &self,
        account_id: &str,
        limit: i32,
        before: Option<u64>,
    ) -> Result<Page<StatementLine>, StoreError> {
        let upper = statement_line_sk(before.map_or(u64::MAX, |v| v.saturating_sub(1)));
        self.store
            .page(
                &statement_partition(account_id),
                "line#",
                &upper,
                Direction::NewestFirst,
                Consistency::Strong,
                limit,
            )
            .await
    }
}
