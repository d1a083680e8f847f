//! Transformer work ([`Write::DerivedJob`](crate::Write::DerivedJob)): queued with its message,
//! deleted when done.

use super::sql::{col, corrupt, exec, row, rows, Db};
use crate::{DerivedJobRecord, Result};
use callside_core::{Millis, SessionKey};

/// [`Write::DerivedJob`](crate::Write::DerivedJob).
pub(super) async fn queue(
    c: &impl Db,
    key: &SessionKey,
    seq: u64,
    app: &str,
    at: Millis,
) -> Result<()> {
    exec(
        c,
        "INSERT INTO derived_jobs (session, seq, app, queued_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        &[&key.as_str(), &(seq as i64), &app, &at],
    )
    .await?;
    Ok(())
}

/// [`Write::DerivedDone`](crate::Write::DerivedDone).
pub(super) async fn done(c: &impl Db, key: &SessionKey, seq: u64) -> Result<()> {
    exec(
        c,
        "DELETE FROM derived_jobs WHERE session = $1 AND seq = $2",
        &[&key.as_str(), &(seq as i64)],
    )
    .await?;
    Ok(())
}

pub(super) async fn jobs(c: &impl Db, limit: u32) -> Result<Vec<DerivedJobRecord>> {
    rows(
        c,
        "SELECT j.session, j.seq, j.app, j.queued_at, m.sender, m.body
         FROM derived_jobs j JOIN messages m ON m.session = j.session AND m.seq = j.seq
         ORDER BY j.queued_at, j.session, j.seq LIMIT $1",
        &[&i64::from(limit)],
    )
    .await?
    .iter()
    .map(|r| {
        let key: String = col(r, 0)?;
        Ok(DerivedJobRecord {
            session: SessionKey::parse(&key).ok_or_else(|| corrupt("session key", &key))?,
            seq: col::<i64>(r, 1)? as u64,
            app: col(r, 2)?,
            queued_at: col(r, 3)?,
            sender: col(r, 4)?,
            body: col(r, 5)?,
        })
    })
    .collect()
}

pub(super) async fn pending(c: &impl Db, key: &SessionKey, seq: u64) -> Result<bool> {
    Ok(row(
        c,
        "SELECT 1 FROM derived_jobs WHERE session = $1 AND seq = $2",
        &[&key.as_str(), &(seq as i64)],
    )
    .await?
    .is_some())
}
