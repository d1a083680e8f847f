//! The audit log.

use crate::{AuditRecord, Result};
use callside_core::principal::PrincipalId;
use rusqlite::{params, Connection};

/// [`Write::Audit`].
pub(super) fn append(c: &Connection, a: &AuditRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        a.at,
        a.actor.as_str(),
        a.action,
        a.subject,
        a.detail
    ])?;
    Ok(())
}

/// The newest `limit` audit lines, newest first.
pub(super) fn audit(c: &Connection, limit: u32) -> Result<Vec<AuditRecord>> {
    Ok(c.prepare_cached(
        "SELECT at, actor, action, subject, detail FROM audit_log ORDER BY id DESC LIMIT ?1",
    )?
    .query_map([limit], |r| {
        Ok(AuditRecord {
            at: r.get(0)?,
            actor: PrincipalId(r.get(1)?),
            action: r.get(2)?,
            subject: r.get(3)?,
            detail: r.get(4)?,
        })
    })?
    .collect::<rusqlite::Result<_>>()?)
}
