//! The audit log.

use super::sql::{col, exec, rows, Db};
use crate::{AuditRecord, Result};
use callside_core::principal::PrincipalId;

/// [`Write::Audit`].
pub(super) async fn append(c: &impl Db, a: &AuditRecord) -> Result<()> {
    exec(
        c,
        "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
        &[&a.at, &a.actor.as_str(), &a.action, &a.subject, &a.detail],
    )
    .await?;
    Ok(())
}

/// The newest `limit` audit lines, newest first.
pub(super) async fn audit(c: &impl Db, limit: u32) -> Result<Vec<AuditRecord>> {
    let limit = i64::from(limit);
    rows(
        c,
        "SELECT at, actor, action, subject, detail FROM audit_log ORDER BY id DESC LIMIT $1",
        &[&limit],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(AuditRecord {
            at: col(r, 0)?,
            actor: PrincipalId(col(r, 1)?),
            action: col(r, 2)?,
            subject: col(r, 3)?,
            detail: col(r, 4)?,
        })
    })
    .collect()
}
