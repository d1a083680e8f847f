//! Blob metadata and who may read a blob.

use crate::{BlobRecord, Result};
use callside_core::message::BlobId;
use callside_core::principal::PrincipalId;
use rusqlite::{params, Connection, OptionalExtension};

/// [`Write::Blob`].
pub(super) fn insert_blob(c: &Connection, b: &BlobRecord, uploader: &PrincipalId) -> Result<()> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO blobs (id, size, mime, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![b.id.as_str(), b.size as i64, b.mime, b.created_at])?;
    c.prepare_cached("INSERT OR IGNORE INTO blob_uploaders (blob, principal) VALUES (?1, ?2)")?
        .execute(params![b.id.as_str(), uploader.as_str()])?;
    Ok(())
}

/// [`Write::BlobGrant`].
pub(super) fn grant(c: &Connection, blob: &BlobId, principal: &PrincipalId) -> Result<()> {
    c.prepare_cached("INSERT OR IGNORE INTO blob_uploaders (blob, principal) VALUES (?1, ?2)")?
        .execute(params![blob.as_str(), principal.as_str()])?;
    Ok(())
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
