//! Push subscriptions.

use super::sql::{col, corrupt, exec, rows, Db};
use crate::{PushRecord, Result};
use callside_core::principal::PrincipalId;
use callside_core::Millis;

/// [`Write::Push`].
pub(super) async fn put_subscription(c: &impl Db, p: &PushRecord) -> Result<()> {
    let identity: &[u8] = &p.identity;
    exec(
        c,
        "INSERT INTO push_subscriptions (id, device, provider, identity, data, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (device, identity) DO UPDATE SET id = EXCLUDED.id,
         data = EXCLUDED.data, created_at = EXCLUDED.created_at",
        &[
            &p.id,
            &p.device.as_str(),
            &p.provider,
            &identity,
            &p.data,
            &p.created_at,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::DeletePush`].
pub(super) async fn delete_subscription(c: &impl Db, id: &String) -> Result<()> {
    exec(c, "DELETE FROM push_subscriptions WHERE id = $1", &[id]).await?;
    Ok(())
}

/// A device's push subscriptions, oldest first.
pub(super) async fn push_subscriptions(
    c: &impl Db,
    device: &PrincipalId,
) -> Result<Vec<PushRecord>> {
    let found = rows(
        c,
        "SELECT id, device, provider, identity, data, created_at FROM push_subscriptions
         WHERE device = $1 ORDER BY created_at, id",
        &[&device.as_str()],
    )
    .await?;
    found
        .iter()
        .map(|r| {
            let id: String = col(r, 0)?;
            let device: String = col(r, 1)?;
            let provider: String = col(r, 2)?;
            let identity: Vec<u8> = col(r, 3)?;
            let data: String = col(r, 4)?;
            let created_at: Millis = col(r, 5)?;
            Ok(PushRecord {
                identity: <[u8; 32]>::try_from(identity.as_slice())
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
pub(super) async fn wakes_due(c: &impl Db, since: i64, now: i64) -> Result<crate::WakesDue> {
    let behind = rows(
        c,
        &crate::common_sql::pg(crate::common_sql::BEHIND_DEVICES),
        &[&since],
    )
    .await?
    .iter()
    .map(|r| Ok(PrincipalId(col(r, 0)?)))
    .collect::<Result<_>>()?;
    let ringing = rows(
        c,
        &crate::common_sql::pg(crate::common_sql::RINGING_DEVICES),
        &[&now],
    )
    .await?
    .iter()
    .map(|r| Ok((col(r, 0)?, PrincipalId(col(r, 1)?))))
    .collect::<Result<_>>()?;
    Ok((behind, ringing))
}

pub(super) async fn push_devices(c: &impl Db) -> Result<Vec<PrincipalId>> {
    rows(c, "SELECT DISTINCT device FROM push_subscriptions", &[])
        .await?
        .iter()
        .map(|r| Ok(PrincipalId(col(r, 0)?)))
        .collect()
}
