//! Retention: [`Write::Purge`](crate::Write::Purge) deletes one bounded batch of the oldest
//! records of a kind.

use crate::{Purge, Result};
use callside_core::Millis;
use rusqlite::{params, Connection};

/// [`Write::Purge`](crate::Write::Purge): deletes at most `limit` records of kind `what` from
/// before `before`, the oldest first (by their time, then their key).
pub(super) fn purge(c: &Connection, what: Purge, before: Millis, limit: u32) -> Result<()> {
    // SQLite's DELETE takes no LIMIT (without a compile-time option): each deletes the rows a
    // bounded, ordered select names by rowid (every table purged here has one).
    let sql = match what {
        Purge::Sessions => return purge_sessions(c, before, limit),
        Purge::Legs => {
            "DELETE FROM legs WHERE rowid IN (SELECT rowid FROM legs
               WHERE state != 'pending' AND reported_at < ?1 ORDER BY reported_at, id LIMIT ?2)"
        }
        Purge::Calls => {
            "DELETE FROM calls WHERE rowid IN (SELECT rowid FROM calls
               WHERE state = 'ended' AND created_at < ?1 ORDER BY created_at, id LIMIT ?2)"
        }
        Purge::CallNotes => {
            "DELETE FROM call_notes WHERE rowid IN (SELECT rowid FROM call_notes
               WHERE created_at < ?1 ORDER BY created_at, id LIMIT ?2)"
        }
        Purge::Audit => {
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log
               WHERE at < ?1 ORDER BY at, id LIMIT ?2)"
        }
        Purge::Clicks => {
            "DELETE FROM merchant_clicks WHERE rowid IN (SELECT rowid FROM merchant_clicks
               WHERE created_at < ?1 ORDER BY created_at, id LIMIT ?2)"
        }
    };
    c.prepare_cached(sql)?.execute(params![before, limit])?;
    Ok(())
}

/// Closed sessions whose newest message (or, with none, whose creation) is from before
/// `before`, with everything naming them. The sessions are chosen once, into a temporary table:
/// choosing them again for each statement could choose others once their messages are gone
/// (their activity falls back to their creation).
fn purge_sessions(c: &Connection, before: Millis, limit: u32) -> Result<()> {
    // Temporary tables live in memory (`temp_store`) and on this connection only; one that a
    // rolled-back transaction created is gone again, hence "if not exists" every time.
    c.execute_batch("CREATE TEMP TABLE IF NOT EXISTS purged_sessions (key TEXT PRIMARY KEY)")?;
    c.prepare_cached("DELETE FROM temp.purged_sessions")?
        .execute([])?;
    let chosen = c
        .prepare_cached(
            "INSERT INTO temp.purged_sessions (key)
             SELECT key FROM (
               SELECT s.key AS key,
                      COALESCE((SELECT m.sent_at FROM messages m WHERE m.session = s.key
                                ORDER BY m.seq DESC LIMIT 1), s.created_at) AS active
               FROM sessions s WHERE s.closed IS NOT NULL)
             WHERE active < ?1 ORDER BY active, key LIMIT ?2",
        )?
        .execute(params![before, limit])?;
    if chosen == 0 {
        return Ok(());
    }
    // Whatever references a session goes before it.
    for sql in [
        "DELETE FROM conferences WHERE session IN (SELECT key FROM temp.purged_sessions)",
        "DELETE FROM screens WHERE session IN (SELECT key FROM temp.purged_sessions)",
        "DELETE FROM blob_refs WHERE session IN (SELECT key FROM temp.purged_sessions)",
        "DELETE FROM derived_jobs WHERE session IN (SELECT key FROM temp.purged_sessions)",
        "DELETE FROM messages WHERE session IN (SELECT key FROM temp.purged_sessions)",
        "DELETE FROM participants WHERE session IN (SELECT key FROM temp.purged_sessions)",
        "DELETE FROM sessions WHERE key IN (SELECT key FROM temp.purged_sessions)",
        "DELETE FROM temp.purged_sessions",
    ] {
        c.prepare_cached(sql)?.execute([])?;
    }
    Ok(())
}
