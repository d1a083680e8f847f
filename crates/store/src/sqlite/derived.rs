//! Transformer work ([`Write::DerivedJob`](crate::Write::DerivedJob)): queued with its message,
//! deleted when done.

use super::corrupt;
use crate::{DerivedJobRecord, Result};
use callside_core::{Millis, SessionKey};
use rusqlite::{params, Connection, OptionalExtension};

/// [`Write::DerivedJob`](crate::Write::DerivedJob).
pub(super) fn queue(
    c: &Connection,
    key: &SessionKey,
    seq: u64,
    app: &str,
    at: Millis,
) -> Result<()> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO derived_jobs (session, seq, app, queued_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![key.as_str(), seq as i64, app, at])?;
    Ok(())
}

/// [`Write::DerivedDone`](crate::Write::DerivedDone).
pub(super) fn done(c: &Connection, key: &SessionKey, seq: u64) -> Result<()> {
    c.prepare_cached("DELETE FROM derived_jobs WHERE session = ?1 AND seq = ?2")?
        .execute(params![key.as_str(), seq as i64])?;
    Ok(())
}

pub(super) fn jobs(c: &Connection, limit: u32) -> Result<Vec<DerivedJobRecord>> {
    let rows = c
        .prepare_cached(
            "SELECT j.session, j.seq, j.app, j.queued_at, m.sender, m.body
             FROM derived_jobs j JOIN messages m ON m.session = j.session AND m.seq = j.seq
             ORDER BY j.queued_at, j.session, j.seq LIMIT ?1",
        )?
        .query_map([limit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(key, seq, app, queued_at, sender, body)| {
            Ok(DerivedJobRecord {
                session: SessionKey::parse(&key).ok_or_else(|| corrupt("session key", &key))?,
                seq: seq as u64,
                app,
                queued_at,
                sender,
                body,
            })
        })
        .collect()
}

pub(super) fn pending(c: &Connection, key: &SessionKey, seq: u64) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT 1 FROM derived_jobs WHERE session = ?1 AND seq = ?2")?
            .query_row(params![key.as_str(), seq as i64], |_| Ok(()))
            .optional()?
            .is_some(),
    )
}
