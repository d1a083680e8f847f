//! Browsers linked to devices: one-time link codes and the browsers' token hashes (issue 14).

use super::corrupt;
use crate::{BrowserLinkRecord, BrowserRecord, Result, StoreError};
use callside_core::{Millis, PrincipalId, TokenHash};
use rusqlite::{params, Connection, OptionalExtension, Row};

fn hash(bytes: Vec<u8>, what: &str) -> Result<TokenHash> {
    Ok(TokenHash(
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| corrupt(what, "(wrong length)"))?,
    ))
}

/// [`Write::BrowserLink`](crate::Write::BrowserLink).
pub(super) fn put_link(c: &Connection, l: &BrowserLinkRecord) -> Result<()> {
    c.prepare_cached("DELETE FROM browser_links WHERE expires_at <= ?1")?
        .execute([l.created_at])?;
    c.prepare_cached(
        "INSERT INTO browser_links (code_hash, device, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        &l.code_hash.0[..],
        l.device.as_str(),
        l.created_at,
        l.expires_at
    ])?;
    Ok(())
}

/// [`Write::UseBrowserLink`](crate::Write::UseBrowserLink).
pub(super) fn use_link(c: &Connection, code_hash: &TokenHash) -> Result<()> {
    let n = c
        .prepare_cached("DELETE FROM browser_links WHERE code_hash = ?1")?
        .execute([&code_hash.0[..]])?;
    if n == 0 {
        return Err(StoreError::Gone);
    }
    Ok(())
}

pub(super) fn link(c: &Connection, code_hash: &TokenHash) -> Result<Option<BrowserLinkRecord>> {
    let row = c
        .prepare_cached(
            "SELECT l.device, l.created_at, l.expires_at FROM browser_links l
             JOIN principals p ON p.id = l.device
             WHERE l.code_hash = ?1 AND p.deleted_at IS NULL",
        )?
        .query_row([&code_hash.0[..]], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Millis>(1)?,
                r.get::<_, Millis>(2)?,
            ))
        })
        .optional()?;
    Ok(
        row.map(|(device, created_at, expires_at)| BrowserLinkRecord {
            code_hash: *code_hash,
            device: PrincipalId(device),
            created_at,
            expires_at,
        }),
    )
}

/// [`Write::Browser`](crate::Write::Browser).
pub(super) fn insert(c: &Connection, b: &BrowserRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO browsers (id, device, name, created_at, access_hash, access_expires_at,
         refresh_hash, refresh_expires_at, previous_refresh_hash, refreshed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        b.id,
        b.device.as_str(),
        b.name,
        b.created_at,
        &b.access_hash.0[..],
        b.access_expires_at,
        &b.refresh_hash.0[..],
        b.refresh_expires_at,
        b.previous_refresh_hash.as_ref().map(|h| h.0.to_vec()),
        b.refreshed_at,
    ])
    .map_err(|e| {
        if super::is_constraint(&e) {
            StoreError::Duplicate
        } else {
            e.into()
        }
    })?;
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
pub(super) fn refresh(
    c: &Connection,
    id: &str,
    expected: &TokenHash,
    new: Refresh<'_>,
) -> Result<()> {
    let n = c
        .prepare_cached(
            "UPDATE browsers SET access_hash = ?3, access_expires_at = ?4, refresh_hash = ?5,
             refresh_expires_at = ?6, previous_refresh_hash = refresh_hash, refreshed_at = ?7
             WHERE id = ?1 AND refresh_hash = ?2",
        )?
        .execute(params![
            id,
            &expected.0[..],
            &new.access_hash.0[..],
            new.access_expires_at,
            &new.refresh_hash.0[..],
            new.refresh_expires_at,
            new.at
        ])?;
    if n == 0 {
        return Err(StoreError::Gone);
    }
    Ok(())
}

/// [`Write::DeleteBrowser`](crate::Write::DeleteBrowser).
pub(super) fn delete(c: &Connection, id: &str) -> Result<()> {
    c.prepare_cached("DELETE FROM browsers WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Everything of a deleted device's browsers.
pub(super) fn delete_of(c: &Connection, device: &PrincipalId) -> Result<()> {
    c.prepare_cached("DELETE FROM browsers WHERE device = ?1")?
        .execute([device.as_str()])?;
    c.prepare_cached("DELETE FROM browser_links WHERE device = ?1")?
        .execute([device.as_str()])?;
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

fn columns(r: &Row<'_>) -> rusqlite::Result<Columns> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
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
fn by(c: &Connection, column: &str, h: &TokenHash) -> Result<Option<BrowserRecord>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM browsers b JOIN principals p ON p.id = b.device
         WHERE b.{column} = ?1 AND p.deleted_at IS NULL"
    ))?
    .query_row([&h.0[..]], columns)
    .optional()?
    .map(record)
    .transpose()
}

pub(super) fn by_access(c: &Connection, h: &TokenHash) -> Result<Option<BrowserRecord>> {
    by(c, "access_hash", h)
}

pub(super) fn by_refresh(c: &Connection, h: &TokenHash) -> Result<Option<BrowserRecord>> {
    match by(c, "refresh_hash", h)? {
        Some(b) => Ok(Some(b)),
        None => by(c, "previous_refresh_hash", h),
    }
}

pub(super) fn of_device(c: &Connection, device: &PrincipalId) -> Result<Vec<BrowserRecord>> {
    let rows: Vec<Columns> = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM browsers b WHERE b.device = ?1 ORDER BY b.created_at, b.id"
        ))?
        .query_map([device.as_str()], columns)?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter().map(record).collect()
}
