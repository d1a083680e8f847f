//! Push subscriptions.

use super::corrupt;
use crate::{PushRecord, Result};
use callside_core::principal::PrincipalId;
use callside_core::Millis;
use rusqlite::{params, Connection};

/// [`Write::Push`].
pub(super) fn put_subscription(c: &Connection, p: &PushRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO push_subscriptions (id, device, provider, identity, data, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (device, identity) DO UPDATE SET id = excluded.id,
         data = excluded.data, created_at = excluded.created_at",
    )?
    .execute(params![
        p.id,
        p.device.as_str(),
        p.provider,
        &p.identity[..],
        p.data,
        p.created_at
    ])?;
    Ok(())
}

/// [`Write::DeletePush`].
pub(super) fn delete_subscription(c: &Connection, id: &String) -> Result<()> {
    c.prepare_cached("DELETE FROM push_subscriptions WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// A device's push subscriptions, oldest first.
pub(super) fn push_subscriptions(c: &Connection, device: &PrincipalId) -> Result<Vec<PushRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, device, provider, identity, data, created_at FROM push_subscriptions
         WHERE device = ?1 ORDER BY created_at, id",
    )?;
    let rows = stmt
        .query_map([device.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Millis>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(id, device, provider, identity, data, created_at)| {
            Ok(PushRecord {
                identity: identity
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt("push identity", "(wrong length)"))?,
                id,
                device: PrincipalId(device),
                provider,
                data,
                created_at,
            })
        })
        .collect()
}

/// [`crate::PushStore::wakes_due`].
pub(super) fn wakes_due(c: &Connection, since: i64, now: i64) -> Result<crate::WakesDue> {
    let behind = c
        .prepare_cached(crate::common_sql::BEHIND_DEVICES)?
        .query_map([since], |r| Ok(PrincipalId(r.get(0)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let ringing = c
        .prepare_cached(crate::common_sql::RINGING_DEVICES)?
        .query_map([now], |r| Ok((r.get(0)?, PrincipalId(r.get(1)?))))?
        .collect::<rusqlite::Result<_>>()?;
    Ok((behind, ringing))
}

pub(super) fn push_devices(c: &Connection) -> Result<Vec<PrincipalId>> {
    Ok(
        c.prepare_cached("SELECT DISTINCT device FROM push_subscriptions")?
            .query_map([], |r| Ok(PrincipalId(r.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?,
    )
}
