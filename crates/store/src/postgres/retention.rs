//! Retention: [`Write::Purge`](crate::Write::Purge) deletes one bounded batch of the oldest
//! records of a kind.

use super::sql::{col, exec, rows, Db};
use crate::{Purge, Result};
use callside_core::Millis;

/// [`Write::Purge`](crate::Write::Purge): deletes at most `limit` records of kind `what` from
/// before `before`, the oldest first (by their time, then their key).
pub(super) async fn purge(c: &impl Db, what: Purge, before: Millis, limit: u32) -> Result<()> {
    let limit = i64::from(limit);
    let sql = match what {
        Purge::Sessions => return purge_sessions(c, before, limit).await,
        Purge::Legs => {
            "DELETE FROM legs WHERE id IN (SELECT id FROM legs
               WHERE state != 'pending' AND reported_at < $1 ORDER BY reported_at, id LIMIT $2)"
        }
        Purge::Calls => {
            "DELETE FROM calls WHERE id IN (SELECT id FROM calls
               WHERE state = 'ended' AND created_at < $1 ORDER BY created_at, id LIMIT $2)"
        }
        Purge::CallNotes => {
            "DELETE FROM call_notes WHERE id IN (SELECT id FROM call_notes
               WHERE created_at < $1 ORDER BY created_at, id LIMIT $2)"
        }
        Purge::Audit => {
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log
               WHERE at < $1 ORDER BY at, id LIMIT $2)"
        }
        Purge::Clicks => {
            "DELETE FROM merchant_clicks WHERE id IN (SELECT id FROM merchant_clicks
               WHERE created_at < $1 ORDER BY created_at, id LIMIT $2)"
        }
    };
    exec(c, sql, &[&before, &limit]).await?;
    Ok(())
}

/// Closed sessions whose newest message (or, with none, whose creation) is from before
/// `before`, with everything naming them. The keys are chosen once and each delete is given the
/// same list: choosing again per statement could choose others once their messages are gone
/// (their activity falls back to their creation).
async fn purge_sessions(c: &impl Db, before: Millis, limit: i64) -> Result<()> {
    let keys: Vec<String> = rows(
        c,
        "SELECT key FROM (
           SELECT s.key,
                  COALESCE((SELECT m.sent_at FROM messages m WHERE m.session = s.key
                            ORDER BY m.seq DESC LIMIT 1), s.created_at) AS active
           FROM sessions s WHERE s.closed IS NOT NULL) AS chosen
         WHERE active < $1 ORDER BY active, key LIMIT $2",
        &[&before, &limit],
    )
    .await?
    .iter()
    .map(|r| col(r, 0))
    .collect::<Result<_>>()?;
    if keys.is_empty() {
        return Ok(());
    }
    // Whatever references a session goes before it.
    for sql in [
        "DELETE FROM conferences WHERE session = ANY($1::TEXT[])",
        "DELETE FROM screens WHERE session = ANY($1::TEXT[])",
        "DELETE FROM blob_refs WHERE session = ANY($1::TEXT[])",
        "DELETE FROM derived_jobs WHERE session = ANY($1::TEXT[])",
        "DELETE FROM messages WHERE session = ANY($1::TEXT[])",
        "DELETE FROM participants WHERE session = ANY($1::TEXT[])",
        "DELETE FROM sessions WHERE key = ANY($1::TEXT[])",
    ] {
        exec(c, sql, &[&keys]).await?;
    }
    Ok(())
}
