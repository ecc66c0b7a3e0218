//! `tributary forget <subject>`: erase a data subject's personal data by destroying their data key in the
//! personal-data vault's key table (crypto-shredding). Every value sealed under it — in events, Kafka records,
//! snapshots, projection rows and backups of them — reads as erased from then on, by every process; and the read
//! models' rows are rewritten with the subject's values marked erased. Nothing else changes (balances, owners, the
//! hash chain). Recorded in the key table in the key's place: who, when, why.
//! Idempotent: forgetting a subject again (or one who never had a key) records the erasure and destroys nothing.

use crate::Context;
use serde_json::json;
use std::io::Write;
use tributary_dynamodb::DynamoDbSubjectKeys;
use tributary_store::personal::{Erasure, SubjectKeyStore};

/// Forget `subject` (a pseudonymous subject id: the principal their data was sealed for), for `reason`.
pub(crate) async fn forget(
    ctx: &Context<'_>,
    subject: &str,
    reason: &str,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    anyhow::ensure!(!subject.trim().is_empty(), "name the subject to forget");
    anyhow::ensure!(
        !reason.trim().is_empty(),
        "say why (--reason): the erasure is recorded with it"
    );
    let keys = DynamoDbSubjectKeys::new(ctx.dynamodb.clone(), &ctx.env.subject_keys_table);
    let record = Erasure {
        by: operator(),
        reason: reason.to_owned(),
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    ctx.bar.set_message(format!("forgetting {subject}"));
    let destroyed = keys.erase(subject, &record).await?.is_some();
    // Then what the read models kept of them: their values in projection rows marked erased (a whole-table scan).
    let rewritten = ctx
        .projections
        .unscoped()
        .erase_subject(subject, |scanned, rewritten| {
            ctx.bar.set_message(format!(
                "forgot {subject}; erasing from the read models: {scanned} items scanned, {rewritten} rewritten"
            ))
        })
        .await?;
    ctx.bar.finish_and_clear();
    if ctx.json {
        writeln!(
            out,
            "{}",
            json!({
                "subject": subject,
                "key_destroyed": destroyed,
                "projection_rows_rewritten": rewritten,
                "by": record.by,
                "reason": record.reason,
                "at": record.at,
                "table": ctx.env.subject_keys_table,
            })
        )?;
    } else if destroyed {
        writeln!(
            out,
            "forgot {subject}: their data key is destroyed, {rewritten} read-model rows rewritten; their personal data reads as erased everywhere (recorded in {} by {} at {})",
            ctx.env.subject_keys_table, record.by, record.at
        )?;
    } else {
        writeln!(
            out,
            "{subject} has no data key (never had one, or forgotten before): nothing to destroy, {rewritten} read-model rows rewritten; the erasure is recorded in {}",
            ctx.env.subject_keys_table
        )?;
    }
    Ok(())
}

/// Who runs the CLI, as their shell names them: `TRIBUTARY_OPERATOR`, else `USER`.
fn operator() -> String {
    ["TRIBUTARY_OPERATOR", "USER"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}
