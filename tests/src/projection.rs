//! What each projection must hold for an account: a pure fold of its events in the store.

use bank_account::views::{statement_step, AccountSummary, StatementCheckpoint, StatementLine};
use bank_account::AccountEvent;
use bank_service::reads::BankReads;
use tributary_projections::ProjectionStore;
use tributary_store::{EventStore, StoredEvent};

/// The summary and the statement (newest first) a pure fold of `events` gives.
pub fn expected_views(
    account: &str,
    events: &[StoredEvent],
) -> (AccountSummary, Vec<StatementLine>) {
    let mut summary = None;
    let mut checkpoint = StatementCheckpoint::default();
    let mut lines = Vec::new();
    for e in events {
        let event: AccountEvent = e.decode().expect("stored account events decode").event;
        let at = e.metadata.occurred_at.to_rfc3339();
        summary = AccountSummary::evolve(summary, account, e.version, &at, &event);
        let (line, next) = statement_step(checkpoint, e.version, &at, &event);
        lines.extend(line);
        checkpoint = next;
    }
    lines.reverse();
    (summary.expect("the account was opened"), lines)
}

/// Every statement line of `account`, newest first (all pages).
pub async fn statement(projections: &ProjectionStore, account: &str) -> Vec<StatementLine> {
    let reads = BankReads::new(projections.clone());
    let mut lines = Vec::new();
    let mut before = None;
    loop {
        let page = reads
            .statement_at(1)
            .page(account, 100, before)
            .await
            .expect("statement page");
        before = page.items.last().map(|l| l.version);
        lines.extend(page.items);
        if page.next.is_none() {
            return lines;
        }
    }
}

/// The version each projection has applied for `account`: summary, statement, owner listing.
pub async fn applied_versions(projections: &ProjectionStore, account: &str) -> [u64; 3] {
    let reads = BankReads::new(projections.clone());
    let summary = reads.summary(account).await.expect("summary read");
    let owner_entry = match &summary {
        Some(s) => reads
            .owner_entry(&s.owner, account)
            .await
            .expect("owner entry read"),
        None => None,
    };
    [
        summary.map_or(0, |s| s.version),
        reads
            .statement_at(1)
            .checkpoint(account)
            .await
            .expect("checkpoint read")
            .version,
        owner_entry.map_or(0, |s| s.version),
    ]
}

/// Assert every projection equals the fold of the event store, for every account.
pub async fn assert_projections_match_the_store(
    projections: &ProjectionStore,
    store: &dyn EventStore,
    accounts: &[String],
) {
    let reads = BankReads::new(projections.clone());
    for account in accounts {
        let events = store
            .load(&format!("account-{account}"))
            .await
            .expect("stream load");
        let (summary, lines) = expected_views(account, &events);
        assert_eq!(
            reads.summary(account).await.unwrap().as_ref(),
            Some(&summary),
            "summary of {account}"
        );
        assert_eq!(
            reads
                .owner_entry(&summary.owner, account)
                .await
                .unwrap()
                .as_ref(),
            Some(&summary),
            "owner entry of {account}"
        );
        assert_eq!(
            statement(reads.store(), account).await,
            lines,
            "statement of {account}"
        );
        assert_eq!(
            reads
                .statement_at(1)
                .checkpoint(account)
                .await
                .unwrap()
                .version,
            summary.version,
            "statement checkpoint of {account}"
        );
    }
}
