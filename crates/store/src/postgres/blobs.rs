//! Blob metadata and who may read a blob.

use super::sql::{col, exec, row, Db};
use crate::common_sql::{self, pg, BLOB_UNUSED};
use crate::{BlobRecord, Result};
use callside_core::message::BlobId;
use callside_core::principal::PrincipalId;

/// [`Write::Blob`].
pub(super) async fn insert_blob(c: &impl Db, b: &BlobRecord, uploader: &PrincipalId) -> Result<()> {
    let size = b.size as i64;
    exec(
        c,
        "INSERT INTO blobs (id, size, mime, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET created_at = GREATEST(blobs.created_at, EXCLUDED.created_at)",
        &[&b.id.as_str(), &size, &b.mime, &b.created_at],
    )
    .await?;
    // An upload of bytes the principal was granted before makes them its own.
    exec(
        c,
        "INSERT INTO blob_uploaders (blob, principal, granted) VALUES ($1, $2, FALSE)
         ON CONFLICT (blob, principal) DO UPDATE SET granted = FALSE",
        &[&b.id.as_str(), &uploader.as_str()],
    )
    .await?;
    Ok(())
}

/// [`Write::BlobGrant`].
pub(super) async fn grant(c: &impl Db, blob: &BlobId, principal: &PrincipalId) -> Result<()> {
    exec(
        c,
        "INSERT INTO blob_uploaders (blob, principal, granted) VALUES ($1, $2, TRUE)
         ON CONFLICT DO NOTHING",
        &[&blob.as_str(), &principal.as_str()],
    )
    .await?;
    Ok(())
}

/// [`Write::DeleteBlobIfUnused`].
pub(super) async fn delete_if_unused(c: &impl Db, id: &BlobId) -> Result<()> {
    let sql = pg(&format!(
        "DELETE FROM blobs WHERE id = ?1 AND {BLOB_UNUSED}"
    ));
    exec(c, &sql, &[&id.as_str()]).await?;
    Ok(())
}

/// [`Write::CollectBlob`].
pub(super) async fn collect(c: &impl Db, id: &BlobId, before: i64) -> Result<()> {
    let sql = pg(&common_sql::collect_uploaders());
    exec(c, &sql, &[&id.as_str(), &before]).await?;
    delete_if_unused(c, id).await
}

/// Blobs stored before `before` that nothing references.
pub(super) async fn unreferenced(c: &impl Db, before: i64, limit: u32) -> Result<Vec<BlobId>> {
    let sql = pg(&common_sql::unreferenced_blobs());
    ids(super::sql::rows(c, &sql, &[&before, &i64::from(limit)]).await?)
}

/// The first column of each row, a blob id.
fn ids(rows: Vec<super::sql::Row>) -> Result<Vec<BlobId>> {
    rows.iter()
        .map(|r| {
            let id: String = col(r, 0)?;
            BlobId::parse(&id).map_err(|_| super::sql::corrupt("blob id", &id))
        })
        .collect()
}

/// The blobs a principal uploaded or was granted.
pub(super) async fn blobs_of(c: &impl Db, principal: &PrincipalId) -> Result<Vec<BlobId>> {
    ids(super::sql::rows(
        c,
        "SELECT blob FROM blob_uploaders WHERE principal = $1 ORDER BY blob",
        &[&principal.as_str()],
    )
    .await?)
}

pub(super) async fn blob(c: &impl Db, id: &BlobId) -> Result<Option<BlobRecord>> {
    let Some(r) = row(
        c,
        "SELECT size, mime, created_at FROM blobs WHERE id = $1",
        &[&id.as_str()],
    )
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(BlobRecord {
        id: id.clone(),
        size: col::<i64>(&r, 0)? as u64,
        mime: col(&r, 1)?,
        created_at: col(&r, 2)?,
    }))
}

pub(super) async fn may_read_blob(
    c: &impl Db,
    principal: &PrincipalId,
    blob: &BlobId,
) -> Result<bool> {
    // A SELECT without FROM answers exactly one row.
    row(
        c,
        "SELECT EXISTS (SELECT 1 FROM blob_uploaders WHERE blob = $1 AND principal = $2)
             OR EXISTS (SELECT 1 FROM blob_refs r JOIN participants pa ON pa.session = r.session
                        WHERE r.blob = $1 AND pa.principal = $2 AND r.seq > pa.joined_seq)",
        &[&blob.as_str(), &principal.as_str()],
    )
    .await?
    .map_or(Ok(false), |r| col(&r, 0))
}
