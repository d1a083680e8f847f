//! Principals, their tokens and numbers, number proofs, and email addresses.

use super::{corrupt, is_constraint};
use crate::{
    EmailValidationRecord, NumberSource, PrincipalRecord, ProofRecord, Result, StoreError,
};
use callside_core::email::Email;
use callside_core::principal::{Principal, PrincipalId, PrincipalKind, Scope};
use callside_core::{Millis, NumberRange, PhoneNumber, TokenHash};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// [`Write::Principal`].
pub(super) fn insert_principal(
    c: &Connection,
    rec: &PrincipalRecord,
    hash: &TokenHash,
) -> Result<()> {
    let p = &rec.principal;
    let (kind, scopes) = match &p.kind {
        PrincipalKind::Device { .. } => ("device", String::new()),
        PrincipalKind::Service { scopes, .. } => (
            "service",
            scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        PrincipalKind::Admin => ("admin", String::new()),
    };
    c.prepare_cached(
        "INSERT INTO principals (id, kind, name, scopes, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![p.id.as_str(), kind, p.name, scopes, rec.created_at])
    .map_err(|e| {
        if is_constraint(&e) {
            StoreError::Duplicate
        } else {
            e.into()
        }
    })?;
    let mut ins = c.prepare_cached(
        "INSERT INTO numbers (principal, number, is_range, bound_at, owned_since)
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )?;
    match &p.kind {
        PrincipalKind::Device { numbers } => {
            for n in numbers {
                ins.execute(params![p.id.as_str(), n.as_str(), 0, rec.created_at])?;
            }
        }
        PrincipalKind::Service { ranges, .. } => {
            for r in ranges {
                ins.execute(params![p.id.as_str(), r.as_str(), 1, rec.created_at])?;
            }
        }
        PrincipalKind::Admin => {}
    }
    insert_token(c, &p.id, hash, rec.created_at)?;
    Ok(())
}

/// [`Write::DeletePrincipal`].
pub(super) fn delete_principal(c: &Connection, id: &PrincipalId) -> Result<()> {
    c.execute(
        "UPDATE principals SET deleted_at = ?2 WHERE id = ?1",
        params![id.as_str(), now_ms()],
    )?;
    retire_tokens(c, id)?;
    Ok(())
}

/// [`Write::RenamePrincipal`](crate::Write::RenamePrincipal).
pub(super) fn rename_principal(c: &Connection, id: &PrincipalId, name: &str) -> Result<()> {
    c.prepare_cached("UPDATE principals SET name = ?2 WHERE id = ?1")?
        .execute(params![id.as_str(), name])?;
    Ok(())
}

/// Moves `id`'s tokens to `retired_tokens`.
pub(super) fn retire_tokens(c: &Connection, id: &PrincipalId) -> Result<()> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO retired_tokens (hash, retired_at)
         SELECT hash, ?2 FROM tokens WHERE principal = ?1",
    )?
    .execute(params![id.as_str(), now_ms()])?;
    c.prepare_cached("DELETE FROM tokens WHERE principal = ?1")?
        .execute(params![id.as_str()])?;
    Ok(())
}

/// When the token whose SHA-256 is `hash` stopped working, if it once worked.
pub(super) fn token_retired_at(c: &Connection, hash: &TokenHash) -> Result<Option<Millis>> {
    Ok(
        c.prepare_cached("SELECT retired_at FROM retired_tokens WHERE hash = ?1")?
            .query_row([&hash.0[..]], |r| r.get(0))
            .optional()?,
    )
}

/// [`Write::TokensUsed`].
pub(super) fn tokens_used(c: &Connection, used: &[(TokenHash, Millis)]) -> Result<()> {
    let mut st = c.prepare_cached(
        "UPDATE tokens SET last_used_at = max(coalesce(last_used_at, 0), ?2) WHERE hash = ?1",
    )?;
    for (hash, at) in used {
        st.execute(params![&hash.0[..], at])?;
    }
    Ok(())
}

/// When a working token was issued and last presented.
pub(super) fn token_times(
    c: &Connection,
    hash: &TokenHash,
) -> Result<Option<(Millis, Option<Millis>)>> {
    Ok(
        c.prepare_cached("SELECT created_at, last_used_at FROM tokens WHERE hash = ?1")?
            .query_row([&hash.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?,
    )
}

/// Live devices and service accounts whose token was last presented (or, never presented,
/// issued) before `before`, oldest first.
pub(super) fn unused_tokens(c: &Connection, before: Millis) -> Result<Vec<crate::UnusedToken>> {
    Ok(c.prepare_cached(
        "SELECT p.id, p.kind, p.name, t.created_at, t.last_used_at FROM tokens t
             JOIN principals p ON p.id = t.principal
             WHERE p.deleted_at IS NULL AND p.kind IN ('device', 'service')
               AND coalesce(t.last_used_at, t.created_at) < ?1
             ORDER BY coalesce(t.last_used_at, t.created_at), p.id LIMIT 10000",
    )?
    .query_map([before], |r| {
        Ok(crate::UnusedToken {
            principal: PrincipalId(r.get(0)?),
            kind: r.get(1)?,
            name: r.get(2)?,
            issued_at: r.get(3)?,
            last_used_at: r.get(4)?,
        })
    })?
    .collect::<rusqlite::Result<_>>()?)
}

/// [`Write::ReplaceToken`].
pub(super) fn replace_token(c: &Connection, id: &PrincipalId, hash: &TokenHash) -> Result<()> {
    retire_tokens(c, id)?;
    insert_token(c, id, hash, now_ms())?;
    Ok(())
}

/// [`Write::Proof`].
pub(super) fn put_proof(c: &Connection, p: &ProofRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO number_proofs
         (id, device, code_hash, number, nonce, state, failures, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        p.id,
        p.device.as_str(),
        &p.code_hash.0[..],
        p.number.as_ref().map(|n| n.as_str()),
        p.nonce,
        p.state.as_str(),
        p.failures,
        p.created_at,
        p.expires_at
    ])?;
    Ok(())
}

/// [`Write::PurgeProofs`].
pub(super) fn purge_proofs(c: &Connection, expired_before: &Millis) -> Result<()> {
    c.prepare_cached("DELETE FROM number_proofs WHERE expires_at < ?1")?
        .execute([expired_before])?;
    Ok(())
}

/// [`Write::BindNumber`].
pub(super) fn bind_number(
    c: &Connection,
    device: &PrincipalId,
    number: &PhoneNumber,
    source: &NumberSource,
    at: &Millis,
    stale_before: &Option<Millis>,
) -> Result<()> {
    if let Some(before) = stale_before {
        c.prepare_cached(
            "DELETE FROM numbers WHERE number = ?1 AND is_range = 0 AND source = 'sms'
             AND principal != ?2 AND bound_at < ?3",
        )?
        .execute(params![number.as_str(), device.as_str(), before])?;
    }
    c.prepare_cached(
        "INSERT INTO numbers (principal, number, is_range, source, bound_at, owned_since)
         VALUES (?1, ?2, 0, ?3, ?4, ?4)
         -- proving it again refreshes the binding; the device has owned it since the first time
         ON CONFLICT (principal, number) DO UPDATE SET bound_at = excluded.bound_at,
         -- what the operator vouched for stays provisioned (never replaced as stale)
         source = CASE WHEN numbers.source = 'provisioned' THEN 'provisioned'
                       ELSE excluded.source END",
    )?
    .execute(params![
        device.as_str(),
        number.as_str(),
        source.as_str(),
        at
    ])?;
    Ok(())
}

/// [`Write::UnbindNumber`].
pub(super) fn unbind_number(
    c: &Connection,
    device: &PrincipalId,
    number: &PhoneNumber,
) -> Result<()> {
    c.prepare_cached("DELETE FROM numbers WHERE principal = ?1 AND number = ?2 AND is_range = 0")?
        .execute(params![device.as_str(), number.as_str()])?;
    Ok(())
}

/// [`Write::EmailValidation`].
pub(super) fn put_email_validation(c: &Connection, v: &EmailValidationRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO email_validations
         (id, device, email, token_hash, state, failures, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        v.id,
        v.device.as_str(),
        v.email.as_str(),
        &v.token_hash.0[..],
        v.state,
        v.failures,
        v.created_at,
        v.expires_at
    ])?;
    Ok(())
}

/// [`Write::BindEmail`].
pub(super) fn bind_email(
    c: &Connection,
    device: &PrincipalId,
    email: &Email,
    at: &Millis,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO emails (principal, email, bound_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (principal, email) DO UPDATE SET bound_at = excluded.bound_at",
    )?
    .execute(params![device.as_str(), email.as_str(), at])?;
    Ok(())
}

/// [`Write::UnbindEmail`].
pub(super) fn unbind_email(c: &Connection, device: &PrincipalId, email: &Email) -> Result<()> {
    c.prepare_cached("DELETE FROM emails WHERE principal = ?1 AND email = ?2")?
        .execute(params![device.as_str(), email.as_str()])?;
    Ok(())
}

fn insert_token(c: &Connection, id: &PrincipalId, hash: &TokenHash, at: Millis) -> Result<()> {
    c.prepare_cached("INSERT INTO tokens (hash, principal, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![&hash.0[..], id.as_str(), at])?;
    Ok(())
}

fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

fn load_principal(
    c: &Connection,
    id: String,
    kind: String,
    name: String,
    scopes: String,
    created_at: Millis,
) -> Result<PrincipalRecord> {
    let mut stmt = c.prepare_cached(
        "SELECT number, is_range FROM numbers WHERE principal = ?1 ORDER BY rowid",
    )?;
    let rows: Vec<(String, bool)> = stmt
        .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let kind = match kind.as_str() {
        "device" => PrincipalKind::Device {
            numbers: rows
                .into_iter()
                .map(|(n, _)| PhoneNumber::from_stored(n))
                .collect(),
        },
        "service" => PrincipalKind::Service {
            scopes: scopes
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| Scope::parse(s).ok_or_else(|| corrupt("scope", s)))
                .collect::<Result<_>>()?,
            ranges: rows
                .into_iter()
                .map(|(n, _)| NumberRange::parse(&n).map_err(|_| corrupt("range", &n)))
                .collect::<Result<_>>()?,
        },
        "admin" => PrincipalKind::Admin,
        other => return Err(corrupt("principal kind", other)),
    };
    Ok(PrincipalRecord {
        principal: Principal {
            id: PrincipalId(id),
            name,
            kind,
        },
        created_at,
    })
}

type PrincipalRow = (String, String, String, String, Millis);

fn principal_row(r: &Row<'_>) -> rusqlite::Result<PrincipalRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

pub(super) fn principal_by_token(
    c: &Connection,
    hash: &TokenHash,
) -> Result<Option<PrincipalRecord>> {
    let row = c
        .prepare_cached(
            "SELECT p.id, p.kind, p.name, p.scopes, p.created_at FROM tokens t
             JOIN principals p ON p.id = t.principal WHERE t.hash = ?1 AND p.deleted_at IS NULL",
        )?
        .query_row([&hash.0[..]], principal_row)
        .optional()?;
    row.map(|(id, k, n, s, at)| load_principal(c, id, k, n, s, at))
        .transpose()
}

pub(super) fn principal(c: &Connection, id: &PrincipalId) -> Result<Option<PrincipalRecord>> {
    let row = c
        .prepare_cached(
            "SELECT id, kind, name, scopes, created_at FROM principals WHERE id = ?1 AND deleted_at IS NULL",
        )?
        .query_row([id.as_str()], principal_row)
        .optional()?;
    row.map(|(id, k, n, s, at)| load_principal(c, id, k, n, s, at))
        .transpose()
}

pub(super) fn principals(c: &Connection, kind: &str) -> Result<Vec<PrincipalRecord>> {
    let rows: Vec<PrincipalRow> = c
        .prepare_cached(
            "SELECT id, kind, name, scopes, created_at FROM principals
             WHERE kind = ?1 AND deleted_at IS NULL ORDER BY created_at, id",
        )?
        .query_map([kind], principal_row)?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(|(id, k, n, s, at)| load_principal(c, id, k, n, s, at))
        .collect()
}

pub(super) fn devices_owning(c: &Connection, number: &PhoneNumber) -> Result<Vec<PrincipalId>> {
    Ok(c.prepare_cached(
        "SELECT p.id FROM numbers n JOIN principals p ON p.id = n.principal
             WHERE n.number = ?1 AND n.is_range = 0 AND p.kind = 'device' AND p.deleted_at IS NULL
             ORDER BY p.created_at, p.id",
    )?
    .query_map([number.as_str()], |r| Ok(PrincipalId(r.get(0)?)))?
    .collect::<rusqlite::Result<_>>()?)
}

/// Devices other than `except` holding an SMS binding of `number` made before `before`.
pub(super) fn stale_bindings(
    c: &Connection,
    number: &PhoneNumber,
    except: &PrincipalId,
    before: Millis,
) -> Result<Vec<PrincipalId>> {
    Ok(c.prepare_cached(
        "SELECT principal FROM numbers WHERE number = ?1 AND is_range = 0 AND source = 'sms'
         AND principal != ?2 AND bound_at < ?3 ORDER BY principal",
    )?
    .query_map(params![number.as_str(), except.as_str(), before], |r| {
        Ok(PrincipalId(r.get(0)?))
    })?
    .collect::<rusqlite::Result<_>>()?)
}

/// Live devices' SMS bindings last proven before `before`.
pub(super) fn lapsed_bindings(
    c: &Connection,
    before: Millis,
) -> Result<Vec<(PrincipalId, PhoneNumber)>> {
    Ok(c.prepare_cached(
        "SELECT n.principal, n.number FROM numbers n JOIN principals p ON p.id = n.principal
         WHERE n.is_range = 0 AND n.source = 'sms' AND n.bound_at < ?1 AND p.deleted_at IS NULL
         ORDER BY n.principal, n.number",
    )?
    .query_map([before], |r| {
        Ok((PrincipalId(r.get(0)?), PhoneNumber::from_stored(r.get(1)?)))
    })?
    .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn proof(c: &Connection, id: &str) -> Result<Option<ProofRecord>> {
    proof_where(c, "id = ?1", rusqlite::types::Value::Text(id.to_owned()))
}

pub(super) fn proof_by_code(c: &Connection, hash: &TokenHash) -> Result<Option<ProofRecord>> {
    proof_where(
        c,
        "code_hash = ?1",
        rusqlite::types::Value::Blob(hash.0.to_vec()),
    )
}

fn proof_where(
    c: &Connection,
    condition: &str,
    value: rusqlite::types::Value,
) -> Result<Option<ProofRecord>> {
    let row = c
        .prepare_cached(&format!(
            "SELECT id, device, code_hash, number, nonce, state, failures, created_at, expires_at
             FROM number_proofs WHERE {condition}"
        ))?
        .query_row([value], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, u32>(6)?,
                r.get::<_, Millis>(7)?,
                r.get::<_, Millis>(8)?,
            ))
        })
        .optional()?;
    let Some((id, device, hash, number, nonce, state, failures, created_at, expires_at)) = row
    else {
        return Ok(None);
    };
    Ok(Some(ProofRecord {
        id,
        device: PrincipalId(device),
        code_hash: TokenHash(
            hash.as_slice()
                .try_into()
                .map_err(|_| corrupt("proof code hash", "(wrong length)"))?,
        ),
        number: number.map(PhoneNumber::from_stored),
        nonce,
        state: callside_core::proof::ProofState::parse(&state)
            .ok_or_else(|| corrupt("proof state", &state))?,
        failures,
        created_at,
        expires_at,
    }))
}

pub(super) fn email_validation(c: &Connection, id: &str) -> Result<Option<EmailValidationRecord>> {
    let row = c
        .prepare_cached(
            "SELECT id, device, email, token_hash, state, failures, created_at, expires_at
             FROM email_validations WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, u32>(5)?,
                r.get::<_, Millis>(6)?,
                r.get::<_, Millis>(7)?,
            ))
        })
        .optional()?;
    let Some((id, device, email, hash, state, failures, created_at, expires_at)) = row else {
        return Ok(None);
    };
    Ok(Some(EmailValidationRecord {
        id,
        device: PrincipalId(device),
        email: callside_core::email::Email::from_stored(email),
        token_hash: TokenHash(
            hash.as_slice()
                .try_into()
                .map_err(|_| corrupt("email token hash", "(wrong length)"))?,
        ),
        state,
        failures,
        created_at,
        expires_at,
    }))
}

/// A device's validated addresses, oldest first.
pub(super) fn emails_of(
    c: &Connection,
    device: &PrincipalId,
) -> Result<Vec<callside_core::email::Email>> {
    Ok(
        c.prepare_cached("SELECT email FROM emails WHERE principal = ?1 ORDER BY bound_at, email")?
            .query_map([device.as_str()], |r| {
                Ok(callside_core::email::Email::from_stored(r.get(0)?))
            })?
            .collect::<rusqlite::Result<_>>()?,
    )
}

/// Live devices holding a validated address.
pub(super) fn devices_with_email(
    c: &Connection,
    email: &callside_core::email::Email,
) -> Result<Vec<PrincipalId>> {
    Ok(c.prepare_cached(
        "SELECT p.id FROM emails e JOIN principals p ON p.id = e.principal
         WHERE e.email = ?1 AND p.deleted_at IS NULL ORDER BY p.created_at, p.id",
    )?
    .query_map([email.as_str()], |r| Ok(PrincipalId(r.get(0)?)))?
    .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn coupled_devices(
    c: &Connection,
    number: &PhoneNumber,
    now: Millis,
) -> Result<Vec<PrincipalId>> {
    Ok(c.prepare_cached(
        "SELECT p.id FROM numbers n JOIN principals p ON p.id = n.principal
             LEFT JOIN couplings k ON k.principal = p.id
             WHERE n.number = ?1 AND n.is_range = 0 AND p.kind = 'device' AND p.deleted_at IS NULL
               AND (k.mode IS NULL OR k.mode = 'always' OR (k.mode = 'when_near' AND k.near_until > ?2))
             ORDER BY p.created_at, p.id",
    )?
    .query_map(rusqlite::params![number.as_str(), now], |r| Ok(PrincipalId(r.get(0)?)))?
    .collect::<rusqlite::Result<_>>()?)
}

pub(super) fn coupling(
    c: &Connection,
    principal: &PrincipalId,
) -> Result<(callside_core::principal::Coupling, Millis)> {
    use callside_core::principal::Coupling;
    let row: Option<(String, Millis)> = c
        .prepare_cached("SELECT mode, near_until FROM couplings WHERE principal = ?1")?
        .query_row([principal.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        None => Ok((Coupling::Always, 0)),
        Some((mode, until)) => Ok((
            Coupling::parse(&mode).ok_or_else(|| super::corrupt("coupling", &mode))?,
            until,
        )),
    }
}

/// [`Write::Coupling`](crate::Write::Coupling).
pub(super) fn set_coupling(
    c: &Connection,
    principal: &PrincipalId,
    mode: callside_core::principal::Coupling,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO couplings (principal, mode) VALUES (?1, ?2)
         ON CONFLICT (principal) DO UPDATE SET mode = ?2",
    )?
    .execute(rusqlite::params![principal.as_str(), mode.as_str()])?;
    Ok(())
}

/// [`Write::Near`](crate::Write::Near).
pub(super) fn set_near(c: &Connection, principal: &PrincipalId, until: Millis) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO couplings (principal, mode, near_until) VALUES (?1, 'always', ?2)
         ON CONFLICT (principal) DO UPDATE SET near_until = ?2",
    )?
    .execute(rusqlite::params![principal.as_str(), until])?;
    Ok(())
}
