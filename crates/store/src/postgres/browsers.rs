//! Browsers linked to devices: one-time link codes and the browsers' token hashes (issue 14).

use super::sql::{col, corrupt, exec, exec_insert, row, rows, Db, Row};
use crate::{BrowserLinkRecord, BrowserRecord, Result, StoreError};
use callside_core::{Millis, PrincipalId, TokenHash};

fn hash(bytes: Vec<u8>, what: &str) -> Result<TokenHash> {
    Ok(TokenHash(
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| corrupt(what, "(wrong length)"))?,
    ))
}

/// [`Write::BrowserLink`](crate::Write::BrowserLink).
pub(super) async fn put_link(c: &impl Db, l: &BrowserLinkRecord) -> Result<()> {
    exec(
        c,
        "DELETE FROM browser_links WHERE expires_at <= $1",
        &[&l.created_at],
    )
    .await?;
    let code_hash: &[u8] = &l.code_hash.0;
    exec(
        c,
        "INSERT INTO browser_links (code_hash, device, created_at, expires_at)
         VALUES ($1, $2, $3, $4)",
        &[&code_hash, &l.device.as_str(), &l.created_at, &l.expires_at],
    )
    .await?;
    Ok(())
}

/// [`Write::UseBrowserLink`](crate::Write::UseBrowserLink).
pub(super) async fn use_link(c: &impl Db, code_hash: &TokenHash) -> Result<()> {
    let code_hash: &[u8] = &code_hash.0;
    let n = exec(
        c,
        "DELETE FROM browser_links WHERE code_hash = $1",
        &[&code_hash],
    )
    .await?;
    if n == 0 {
        return Err(StoreError::Gone);
    }
    Ok(())
}

pub(super) async fn link(c: &impl Db, code_hash: &TokenHash) -> Result<Option<BrowserLinkRecord>> {
    let hash: &[u8] = &code_hash.0;
    let Some(r) = row(
        c,
        "SELECT l.device, l.created_at, l.expires_at FROM browser_links l
         JOIN principals p ON p.id = l.device
         WHERE l.code_hash = $1 AND p.deleted_at IS NULL",
        &[&hash],
    )
    .await?
    else {
        return Ok(None);
    };
    let device: String = col(&r, 0)?;
    let created_at: Millis = col(&r, 1)?;
    let expires_at: Millis = col(&r, 2)?;
    Ok(Some(BrowserLinkRecord {
        code_hash: *code_hash,
        device: PrincipalId(device),
        created_at,
        expires_at,
    }))
}

/// [`Write::Browser`](crate::Write::Browser).
pub(super) async fn insert(c: &impl Db, b: &BrowserRecord) -> Result<()> {
    let access_hash: &[u8] = &b.access_hash.0;
    let refresh_hash: &[u8] = &b.refresh_hash.0;
    let previous_refresh_hash: Option<&[u8]> = b.previous_refresh_hash.as_ref().map(|h| &h.0[..]);
    exec_insert(
        c,
        "INSERT INTO browsers (id, device, name, created_at, access_hash, access_expires_at,
         refresh_hash, refresh_expires_at, previous_refresh_hash, refreshed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &b.id,
            &b.device.as_str(),
            &b.name,
            &b.created_at,
            &access_hash,
            &b.access_expires_at,
            &refresh_hash,
            &b.refresh_expires_at,
            &previous_refresh_hash,
            &b.refreshed_at,
        ],
    )
    .await?;
    Ok(())
}

/// The new tokens of [`Write::RefreshBrowser`](crate::Write::RefreshBrowser).
pub(super) struct Refresh<'a> {
    pub(super) access_hash: &'a TokenHash,
    pub(super) access_expires_at: Millis,
    pub(super) refresh_hash: &'a TokenHash,
    pub(super) refresh_expires_at: Millis,
    pub(super) at: Millis,
}

/// [`Write::RefreshBrowser`](crate::Write::RefreshBrowser).
pub(super) async fn refresh(
    c: &impl Db,
    id: &str,
    expected: &TokenHash,
    new: Refresh<'_>,
) -> Result<()> {
    let expected: &[u8] = &expected.0;
    let access_hash: &[u8] = &new.access_hash.0;
    let refresh_hash: &[u8] = &new.refresh_hash.0;
    let n = exec(
        c,
        "UPDATE browsers SET access_hash = $3, access_expires_at = $4, refresh_hash = $5,
         refresh_expires_at = $6, previous_refresh_hash = refresh_hash, refreshed_at = $7
         WHERE id = $1 AND refresh_hash = $2",
        &[
            &id,
            &expected,
            &access_hash,
            &new.access_expires_at,
            &refresh_hash,
            &new.refresh_expires_at,
            &new.at,
        ],
    )
    .await?;
    if n == 0 {
        return Err(StoreError::Gone);
    }
    Ok(())
}

/// [`Write::DeleteBrowser`](crate::Write::DeleteBrowser).
pub(super) async fn delete(c: &impl Db, id: &str) -> Result<()> {
    exec(c, "DELETE FROM browsers WHERE id = $1", &[&id]).await?;
    Ok(())
}

/// Everything of a deleted device's browsers.
pub(super) async fn delete_of(c: &impl Db, device: &PrincipalId) -> Result<()> {
    exec(
        c,
        "DELETE FROM browsers WHERE device = $1",
        &[&device.as_str()],
    )
    .await?;
    exec(
        c,
        "DELETE FROM browser_links WHERE device = $1",
        &[&device.as_str()],
    )
    .await?;
    Ok(())
}

const COLUMNS: &str = "b.id, b.device, b.name, b.created_at, b.access_hash, b.access_expires_at,
    b.refresh_hash, b.refresh_expires_at, b.previous_refresh_hash, b.refreshed_at";

type Columns = (
    String,
    String,
    String,
    Millis,
    Vec<u8>,
    Millis,
    Vec<u8>,
    Millis,
    Option<Vec<u8>>,
    Millis,
);

fn columns(r: &Row) -> Result<Columns> {
    Ok((
        col(r, 0)?,
        col(r, 1)?,
        col(r, 2)?,
        col(r, 3)?,
        col(r, 4)?,
        col(r, 5)?,
        col(r, 6)?,
        col(r, 7)?,
        col(r, 8)?,
        col(r, 9)?,
    ))
}

fn record(row: Columns) -> Result<BrowserRecord> {
    let (id, device, name, created_at, access, access_exp, refresh, refresh_exp, prev, at) = row;
    Ok(BrowserRecord {
        id,
        device: PrincipalId(device),
        name,
        created_at,
        access_hash: hash(access, "browser access hash")?,
        access_expires_at: access_exp,
        refresh_hash: hash(refresh, "browser refresh hash")?,
        refresh_expires_at: refresh_exp,
        previous_refresh_hash: prev
            .map(|p| hash(p, "browser previous refresh hash"))
            .transpose()?,
        refreshed_at: at,
    })
}

/// The browser whose `column` is `h`, if its device is live.
async fn by(c: &impl Db, column: &str, h: &TokenHash) -> Result<Option<BrowserRecord>> {
    let h: &[u8] = &h.0;
    let sql = format!(
        "SELECT {COLUMNS} FROM browsers b JOIN principals p ON p.id = b.device
         WHERE b.{column} = $1 AND p.deleted_at IS NULL"
    );
    row(c, &sql, &[&h])
        .await?
        .map(|r| columns(&r).and_then(record))
        .transpose()
}

pub(super) async fn by_access(c: &impl Db, h: &TokenHash) -> Result<Option<BrowserRecord>> {
    by(c, "access_hash", h).await
}

pub(super) async fn by_refresh(c: &impl Db, h: &TokenHash) -> Result<Option<BrowserRecord>> {
    match by(c, "refresh_hash", h).await? {
        Some(b) => Ok(Some(b)),
        None => by(c, "previous_refresh_hash", h).await,
    }
}

pub(super) async fn of_device(c: &impl Db, device: &PrincipalId) -> Result<Vec<BrowserRecord>> {
    let sql =
        format!("SELECT {COLUMNS} FROM browsers b WHERE b.device = $1 ORDER BY b.created_at, b.id");
    rows(c, &sql, &[&device.as_str()])
        .await?
        .iter()
        .map(|r| columns(r).and_then(record))
        .collect()
}
