//! Blob metadata and who may read a blob.

use crate::common_sql::{self, BLOB_UNUSED};
use crate::{BlobRecord, Result};
use callside_core::message::BlobId;
use callside_core::principal::PrincipalId;
use rusqlite::{params, Connection, OptionalExtension};

/// [`Write::Blob`].
pub(super) fn insert_blob(c: &Connection, b: &BlobRecord, uploader: &PrincipalId) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO blobs (id, size, mime, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET created_at = max(created_at, excluded.created_at)",
    )?
    .execute(params![b.id.as_str(), b.size as i64, b.mime, b.created_at])?;
    // An upload of bytes the principal was granted before makes them its own.
    c.prepare_cached(
        "INSERT INTO blob_uploaders (blob, principal, granted) VALUES (?1, ?2, 0)
         ON CONFLICT (blob, principal) DO UPDATE SET granted = 0",
    )?
    .execute(params![b.id.as_str(), uploader.as_str()])?;
    Ok(())
}

/// [`Write::BlobGrant`].
pub(super) fn grant(c: &Connection, blob: &BlobId, principal: &PrincipalId) -> Result<()> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO blob_uploaders (blob, principal, granted) VALUES (?1, ?2, 1)",
    )?
    .execute(params![blob.as_str(), principal.as_str()])?;
    Ok(())
}

/// [`Write::DeleteBlobIfUnused`].
pub(super) fn delete_if_unused(c: &Connection, id: &BlobId) -> Result<()> {
    c.prepare_cached(&format!(
        "DELETE FROM blobs WHERE id = ?1 AND {BLOB_UNUSED}"
    ))?
    .execute([id.as_str()])?;
    Ok(())
}

/// [`Write::CollectBlob`].
pub(super) fn collect(c: &Connection, id: &BlobId, before: i64) -> Result<()> {
    c.prepare_cached(&common_sql::collect_uploaders())?
        .execute(params![id.as_str(), before])?;
    delete_if_unused(c, id)
}

/// Blobs stored before `before` that nothing references.
pub(super) fn unreferenced(c: &Connection, before: i64, limit: u32) -> Result<Vec<BlobId>> {
    ids(c, &common_sql::unreferenced_blobs(), params![before, limit])
}

/// The blobs a principal uploaded or was granted.
pub(super) fn blobs_of(c: &Connection, principal: &PrincipalId) -> Result<Vec<BlobId>> {
    ids(
        c,
        "SELECT blob FROM blob_uploaders WHERE principal = ?1 ORDER BY blob",
        params![principal.as_str()],
    )
}

/// The blob ids a query answers in its first column.
fn ids(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Vec<BlobId>> {
    let ids = c
        .prepare_cached(sql)?
        .query_map(p, |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    ids.iter()
        .map(|id| BlobId::parse(id).map_err(|_| super::corrupt("blob id", id)))
        .collect()
}

pub(super) fn blob(c: &Connection, id: &BlobId) -> Result<Option<BlobRecord>> {
    Ok(
        c.prepare_cached("SELECT size, mime, created_at FROM blobs WHERE id = ?1")?
            .query_row([id.as_str()], |r| {
                Ok(BlobRecord {
                    id: id.clone(),
                    size: r.get::<_, i64>(0)? as u64,
                    mime: r.get(1)?,
                    created_at: r.get(2)?,
                })
            })
            .optional()?,
    )
}

pub(super) fn may_read_blob(
    c: &Connection,
    principal: &PrincipalId,
    blob: &BlobId,
) -> Result<bool> {
    Ok(c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM blob_uploaders WHERE blob = ?1 AND principal = ?2)
             OR EXISTS (SELECT 1 FROM blob_refs r JOIN participants pa ON pa.session = r.session
                        WHERE r.blob = ?1 AND pa.principal = ?2 AND r.seq > pa.joined_seq)",
    )?
    .query_row(params![blob.as_str(), principal.as_str()], |r| r.get(0))?)
}
