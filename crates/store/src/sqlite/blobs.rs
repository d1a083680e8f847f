//! Blob metadata and who may read a blob.

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
        "DELETE FROM blobs WHERE id = ?1 AND {}",
        crate::personal::BLOB_UNUSED
    ))?
    .execute([id.as_str()])?;
    Ok(())
}

/// [`Write::CollectBlob`].
pub(super) fn collect(c: &Connection, id: &BlobId, before: i64) -> Result<()> {
    let unreferenced = crate::personal::blob_unreferenced("?1");
    c.prepare_cached(&format!(
        "DELETE FROM blob_uploaders WHERE blob = ?1 AND {unreferenced}
           AND EXISTS (SELECT 1 FROM blobs WHERE id = ?1 AND created_at < ?2)"
    ))?
    .execute(params![id.as_str(), before])?;
    delete_if_unused(c, id)
}

/// Blobs stored before `before` that nothing references.
pub(super) fn unreferenced(c: &Connection, before: i64, limit: u32) -> Result<Vec<BlobId>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT id FROM blobs WHERE created_at < ?1 AND {} ORDER BY created_at, id LIMIT ?2",
        crate::personal::blob_unreferenced("blobs.id")
    ))?;
    let ids = st
        .query_map(params![before, limit], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    ids.iter()
        .map(|id| {
            BlobId::parse(id).map_err(|_| crate::StoreError::Corrupt(format!("bad blob id `{id}`")))
        })
        .collect()
}

/// The blobs a principal uploaded or was granted.
pub(super) fn blobs_of(c: &Connection, principal: &PrincipalId) -> Result<Vec<BlobId>> {
    let mut st =
        c.prepare_cached("SELECT blob FROM blob_uploaders WHERE principal = ?1 ORDER BY blob")?;
    let ids = st
        .query_map([principal.as_str()], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    ids.iter()
        .map(|id| {
            BlobId::parse(id).map_err(|_| crate::StoreError::Corrupt(format!("bad blob id `{id}`")))
        })
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
