//! Principals, their tokens and numbers, number proofs, and email addresses.

use super::sql::{col, corrupt, exec, exec_insert, row, rows, Db, Row};
use crate::{EmailValidationRecord, NumberSource, PrincipalRecord, ProofRecord, Result};
use callside_core::email::Email;
use callside_core::principal::{Principal, PrincipalId, PrincipalKind, Scope};
use callside_core::{Millis, NumberRange, PhoneNumber, TokenHash};
use tokio_postgres::types::ToSql;

/// [`Write::Principal`].
pub(super) async fn insert_principal(
    c: &impl Db,
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
    exec_insert(
        c,
        "INSERT INTO principals (id, kind, name, scopes, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[&p.id.as_str(), &kind, &p.name, &scopes, &rec.created_at],
    )
    .await?;
    let (numbers, is_range): (Vec<&str>, bool) = match &p.kind {
        PrincipalKind::Device { numbers } => (numbers.iter().map(|n| n.as_str()).collect(), false),
        PrincipalKind::Service { ranges, .. } => {
            (ranges.iter().map(|r| r.as_str()).collect(), true)
        }
        PrincipalKind::Admin => (Vec::new(), false),
    };
    if !numbers.is_empty() {
        // One statement for all of them, in their order (which `ord` keeps).
        exec(
            c,
            "INSERT INTO numbers (principal, number, is_range, bound_at, owned_since)
             SELECT $1::TEXT, u.n, $3::BOOLEAN, $4::BIGINT, $4::BIGINT
             FROM UNNEST($2::TEXT[]) WITH ORDINALITY AS u(n, i) ORDER BY u.i",
            &[&p.id.as_str(), &numbers, &is_range, &rec.created_at],
        )
        .await?;
    }
    insert_token(c, &p.id, hash, rec.created_at).await?;
    Ok(())
}

/// [`Write::DeletePrincipal`].
pub(super) async fn delete_principal(c: &impl Db, id: &PrincipalId) -> Result<()> {
    let now = now_ms();
    exec(
        c,
        "UPDATE principals SET deleted_at = $2 WHERE id = $1",
        &[&id.as_str(), &now],
    )
    .await?;
    retire_tokens(c, id).await?;
    Ok(())
}

/// [`Write::RenamePrincipal`](crate::Write::RenamePrincipal).
pub(super) async fn rename_principal(c: &impl Db, id: &PrincipalId, name: &str) -> Result<()> {
    exec(
        c,
        "UPDATE principals SET name = $2 WHERE id = $1",
        &[&id.as_str(), &name],
    )
    .await?;
    Ok(())
}

/// Moves `id`'s tokens to `retired_tokens`.
pub(super) async fn retire_tokens(c: &impl Db, id: &PrincipalId) -> Result<()> {
    exec(
        c,
        "INSERT INTO retired_tokens (hash, retired_at)
         SELECT hash, $2 FROM tokens WHERE principal = $1 ON CONFLICT (hash) DO NOTHING",
        &[&id.as_str(), &now_ms()],
    )
    .await?;
    exec(
        c,
        "DELETE FROM tokens WHERE principal = $1",
        &[&id.as_str()],
    )
    .await?;
    Ok(())
}

/// When the token whose SHA-256 is `hash` stopped working, if it once worked.
pub(super) async fn token_retired_at(c: &impl Db, hash: &TokenHash) -> Result<Option<Millis>> {
    let hash: &[u8] = &hash.0;
    match row(
        c,
        "SELECT retired_at FROM retired_tokens WHERE hash = $1",
        &[&hash],
    )
    .await?
    {
        Some(r) => Ok(Some(col(&r, 0)?)),
        None => Ok(None),
    }
}

/// [`Write::TokensUsed`].
pub(super) async fn tokens_used(c: &impl Db, used: &[(TokenHash, Millis)]) -> Result<()> {
    for (hash, at) in used {
        let hash: &[u8] = &hash.0;
        exec(
            c,
            "UPDATE tokens SET last_used_at = greatest(coalesce(last_used_at, 0), $2) WHERE hash = $1",
            &[&hash, at],
        )
        .await?;
    }
    Ok(())
}

/// When a working token was issued and last presented.
pub(super) async fn token_times(
    c: &impl Db,
    hash: &TokenHash,
) -> Result<Option<(Millis, Option<Millis>)>> {
    let hash: &[u8] = &hash.0;
    match row(
        c,
        "SELECT created_at, last_used_at FROM tokens WHERE hash = $1",
        &[&hash],
    )
    .await?
    {
        Some(r) => Ok(Some((col(&r, 0)?, col(&r, 1)?))),
        None => Ok(None),
    }
}

/// Live devices and service accounts whose token was last presented (or, never presented,
/// issued) before `before`, oldest first.
pub(super) async fn unused_tokens(c: &impl Db, before: Millis) -> Result<Vec<crate::UnusedToken>> {
    let found = rows(
        c,
        "SELECT p.id, p.kind, p.name, t.created_at, t.last_used_at FROM tokens t
         JOIN principals p ON p.id = t.principal
         WHERE p.deleted_at IS NULL AND p.kind IN ('device', 'service')
           AND coalesce(t.last_used_at, t.created_at) < $1
         ORDER BY coalesce(t.last_used_at, t.created_at), p.id LIMIT 10000",
        &[&before],
    )
    .await?;
    found
        .iter()
        .map(|r| {
            Ok(crate::UnusedToken {
                principal: PrincipalId(col(r, 0)?),
                kind: col(r, 1)?,
                name: col(r, 2)?,
                issued_at: col(r, 3)?,
                last_used_at: col(r, 4)?,
            })
        })
        .collect()
}

/// [`Write::ReplaceToken`].
pub(super) async fn replace_token(c: &impl Db, id: &PrincipalId, hash: &TokenHash) -> Result<()> {
    retire_tokens(c, id).await?;
    insert_token(c, id, hash, now_ms()).await?;
    Ok(())
}

/// [`Write::Proof`].
pub(super) async fn put_proof(c: &impl Db, p: &ProofRecord) -> Result<()> {
    let code_hash: &[u8] = &p.code_hash.0;
    let failures = i64::from(p.failures);
    // SQLite's INSERT OR REPLACE: whatever row holds the id or the code hash (both unique)
    // makes way for this one.
    exec(
        c,
        "DELETE FROM number_proofs WHERE id = $1 OR code_hash = $2",
        &[&p.id, &code_hash],
    )
    .await?;
    exec(
        c,
        "INSERT INTO number_proofs
         (id, device, code_hash, number, nonce, state, failures, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &p.id,
            &p.device.as_str(),
            &code_hash,
            &p.number.as_ref().map(|n| n.as_str()),
            &p.nonce,
            &p.state.as_str(),
            &failures,
            &p.created_at,
            &p.expires_at,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::PurgeProofs`].
pub(super) async fn purge_proofs(c: &impl Db, expired_before: &Millis) -> Result<()> {
    exec(
        c,
        "DELETE FROM number_proofs WHERE expires_at < $1",
        &[expired_before],
    )
    .await?;
    Ok(())
}

/// [`Write::BindNumber`].
pub(super) async fn bind_number(
    c: &impl Db,
    device: &PrincipalId,
    number: &PhoneNumber,
    source: &NumberSource,
    at: &Millis,
    stale_before: &Option<Millis>,
) -> Result<()> {
    if let Some(before) = stale_before {
        exec(
            c,
            "DELETE FROM numbers WHERE number = $1 AND NOT is_range AND source = 'sms'
             AND principal != $2 AND bound_at < $3",
            &[&number.as_str(), &device.as_str(), before],
        )
        .await?;
    }
    exec(
        c,
        "INSERT INTO numbers (principal, number, is_range, source, bound_at, owned_since)
         VALUES ($1, $2, FALSE, $3, $4, $4)
         -- proving it again refreshes the binding; the device has owned it since the first time
         ON CONFLICT (principal, number) DO UPDATE SET bound_at = EXCLUDED.bound_at,
         -- what the operator vouched for stays provisioned (never replaced as stale)
         source = CASE WHEN numbers.source = 'provisioned' THEN 'provisioned'
                       ELSE EXCLUDED.source END",
        &[&device.as_str(), &number.as_str(), &source.as_str(), at],
    )
    .await?;
    Ok(())
}

/// [`Write::UnbindNumber`].
pub(super) async fn unbind_number(
    c: &impl Db,
    device: &PrincipalId,
    number: &PhoneNumber,
) -> Result<()> {
    exec(
        c,
        "DELETE FROM numbers WHERE principal = $1 AND number = $2 AND NOT is_range",
        &[&device.as_str(), &number.as_str()],
    )
    .await?;
    Ok(())
}

/// [`Write::EmailValidation`].
pub(super) async fn put_email_validation(c: &impl Db, v: &EmailValidationRecord) -> Result<()> {
    let token_hash: &[u8] = &v.token_hash.0;
    let failures = i64::from(v.failures);
    exec(
        c,
        "INSERT INTO email_validations
         (id, device, email, token_hash, state, failures, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET device = EXCLUDED.device, email = EXCLUDED.email,
         token_hash = EXCLUDED.token_hash, state = EXCLUDED.state, failures = EXCLUDED.failures,
         created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
        &[
            &v.id,
            &v.device.as_str(),
            &v.email.as_str(),
            &token_hash,
            &v.state,
            &failures,
            &v.created_at,
            &v.expires_at,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::BindEmail`].
pub(super) async fn bind_email(
    c: &impl Db,
    device: &PrincipalId,
    email: &Email,
    at: &Millis,
) -> Result<()> {
    exec(
        c,
        "INSERT INTO emails (principal, email, bound_at) VALUES ($1, $2, $3)
         ON CONFLICT (principal, email) DO UPDATE SET bound_at = EXCLUDED.bound_at",
        &[&device.as_str(), &email.as_str(), at],
    )
    .await?;
    Ok(())
}

/// [`Write::UnbindEmail`].
pub(super) async fn unbind_email(c: &impl Db, device: &PrincipalId, email: &Email) -> Result<()> {
    exec(
        c,
        "DELETE FROM emails WHERE principal = $1 AND email = $2",
        &[&device.as_str(), &email.as_str()],
    )
    .await?;
    Ok(())
}

async fn insert_token(c: &impl Db, id: &PrincipalId, hash: &TokenHash, at: Millis) -> Result<()> {
    let hash: &[u8] = &hash.0;
    exec(
        c,
        "INSERT INTO tokens (hash, principal, created_at) VALUES ($1, $2, $3)",
        &[&hash, &id.as_str(), &at],
    )
    .await?;
    Ok(())
}

fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

async fn load_principal(
    c: &impl Db,
    id: String,
    kind: String,
    name: String,
    scopes: String,
    created_at: Millis,
) -> Result<PrincipalRecord> {
    let rows: Vec<(String, bool)> = rows(
        c,
        "SELECT number, is_range FROM numbers WHERE principal = $1 ORDER BY ord",
        &[&id],
    )
    .await?
    .iter()
    .map(|r| -> Result<(String, bool)> { Ok((col(r, 0)?, col(r, 1)?)) })
    .collect::<Result<_>>()?;
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

fn principal_row(r: &Row) -> Result<PrincipalRow> {
    Ok((col(r, 0)?, col(r, 1)?, col(r, 2)?, col(r, 3)?, col(r, 4)?))
}

pub(super) async fn principal_by_token(
    c: &impl Db,
    hash: &TokenHash,
) -> Result<Option<PrincipalRecord>> {
    let hash: &[u8] = &hash.0;
    let found = row(
        c,
        "SELECT p.id, p.kind, p.name, p.scopes, p.created_at FROM tokens t
         JOIN principals p ON p.id = t.principal WHERE t.hash = $1 AND p.deleted_at IS NULL",
        &[&hash],
    )
    .await?;
    match found {
        None => Ok(None),
        Some(r) => {
            let (id, k, n, s, at) = principal_row(&r)?;
            Ok(Some(load_principal(c, id, k, n, s, at).await?))
        }
    }
}

pub(super) async fn principal(c: &impl Db, id: &PrincipalId) -> Result<Option<PrincipalRecord>> {
    let found = row(
        c,
        "SELECT id, kind, name, scopes, created_at FROM principals WHERE id = $1 AND deleted_at IS NULL",
        &[&id.as_str()],
    )
    .await?;
    match found {
        None => Ok(None),
        Some(r) => {
            let (id, k, n, s, at) = principal_row(&r)?;
            Ok(Some(load_principal(c, id, k, n, s, at).await?))
        }
    }
}

pub(super) async fn principals(c: &impl Db, kind: &str) -> Result<Vec<PrincipalRecord>> {
    let found: Vec<PrincipalRow> = rows(
        c,
        "SELECT id, kind, name, scopes, created_at FROM principals
         WHERE kind = $1 AND deleted_at IS NULL ORDER BY created_at, id",
        &[&kind],
    )
    .await?
    .iter()
    .map(principal_row)
    .collect::<Result<_>>()?;
    let mut out = Vec::with_capacity(found.len());
    for (id, k, n, s, at) in found {
        out.push(load_principal(c, id, k, n, s, at).await?);
    }
    Ok(out)
}

pub(super) async fn devices_owning(c: &impl Db, number: &PhoneNumber) -> Result<Vec<PrincipalId>> {
    rows(
        c,
        "SELECT p.id FROM numbers n JOIN principals p ON p.id = n.principal
             WHERE n.number = $1 AND NOT n.is_range AND p.kind = 'device' AND p.deleted_at IS NULL
             ORDER BY p.created_at, p.id",
        &[&number.as_str()],
    )
    .await?
    .iter()
    .map(|r| Ok(PrincipalId(col(r, 0)?)))
    .collect()
}

/// Devices other than `except` holding an SMS binding of `number` made before `before`.
pub(super) async fn stale_bindings(
    c: &impl Db,
    number: &PhoneNumber,
    except: &PrincipalId,
    before: Millis,
) -> Result<Vec<PrincipalId>> {
    rows(
        c,
        "SELECT principal FROM numbers WHERE number = $1 AND NOT is_range AND source = 'sms'
         AND principal != $2 AND bound_at < $3 ORDER BY principal",
        &[&number.as_str(), &except.as_str(), &before],
    )
    .await?
    .iter()
    .map(|r| Ok(PrincipalId(col(r, 0)?)))
    .collect()
}

/// Live devices' SMS bindings last proven before `before`.
pub(super) async fn lapsed_bindings(
    c: &impl Db,
    before: Millis,
) -> Result<Vec<(PrincipalId, PhoneNumber)>> {
    rows(
        c,
        "SELECT n.principal, n.number FROM numbers n JOIN principals p ON p.id = n.principal
         WHERE NOT n.is_range AND n.source = 'sms' AND n.bound_at < $1 AND p.deleted_at IS NULL
         ORDER BY n.principal, n.number",
        &[&before],
    )
    .await?
    .iter()
    .map(|r| {
        Ok((
            PrincipalId(col(r, 0)?),
            PhoneNumber::from_stored(col(r, 1)?),
        ))
    })
    .collect()
}

pub(super) async fn proof(c: &impl Db, id: &str) -> Result<Option<ProofRecord>> {
    proof_where(c, "id = $1", &id).await
}

pub(super) async fn proof_by_code(c: &impl Db, hash: &TokenHash) -> Result<Option<ProofRecord>> {
    let hash: &[u8] = &hash.0;
    proof_where(c, "code_hash = $1", &hash).await
}

async fn proof_where(
    c: &impl Db,
    condition: &str,
    value: &(dyn ToSql + Sync),
) -> Result<Option<ProofRecord>> {
    let sql = format!(
        "SELECT id, device, code_hash, number, nonce, state, failures, created_at, expires_at
         FROM number_proofs WHERE {condition}"
    );
    let Some(r) = row(c, &sql, &[value]).await? else {
        return Ok(None);
    };
    let id: String = col(&r, 0)?;
    let device: String = col(&r, 1)?;
    let hash: Vec<u8> = col(&r, 2)?;
    let number: Option<String> = col(&r, 3)?;
    let nonce: Option<Vec<u8>> = col(&r, 4)?;
    let state: String = col(&r, 5)?;
    let failures: i64 = col(&r, 6)?;
    let created_at: Millis = col(&r, 7)?;
    let expires_at: Millis = col(&r, 8)?;
    Ok(Some(ProofRecord {
        id,
        device: PrincipalId(device),
        code_hash: TokenHash(
            <[u8; 32]>::try_from(hash.as_slice())
                .map_err(|_| corrupt("proof code hash", "(wrong length)"))?,
        ),
        number: number.map(PhoneNumber::from_stored),
        nonce,
        state: callside_core::proof::ProofState::parse(&state)
            .ok_or_else(|| corrupt("proof state", &state))?,
        failures: u32::try_from(failures)
            .map_err(|_| corrupt("proof failures", &failures.to_string()))?,
        created_at,
        expires_at,
    }))
}

pub(super) async fn email_validation(
    c: &impl Db,
    id: &str,
) -> Result<Option<EmailValidationRecord>> {
    let Some(r) = row(
        c,
        "SELECT id, device, email, token_hash, state, failures, created_at, expires_at
         FROM email_validations WHERE id = $1",
        &[&id],
    )
    .await?
    else {
        return Ok(None);
    };
    let id: String = col(&r, 0)?;
    let device: String = col(&r, 1)?;
    let email: String = col(&r, 2)?;
    let hash: Vec<u8> = col(&r, 3)?;
    let state: String = col(&r, 4)?;
    let failures: i64 = col(&r, 5)?;
    let created_at: Millis = col(&r, 6)?;
    let expires_at: Millis = col(&r, 7)?;
    Ok(Some(EmailValidationRecord {
        id,
        device: PrincipalId(device),
        email: callside_core::email::Email::from_stored(email),
        token_hash: TokenHash(
            <[u8; 32]>::try_from(hash.as_slice())
                .map_err(|_| corrupt("email token hash", "(wrong length)"))?,
        ),
        state,
        failures: u32::try_from(failures)
            .map_err(|_| corrupt("email validation failures", &failures.to_string()))?,
        created_at,
        expires_at,
    }))
}

/// A device's validated addresses, oldest first.
pub(super) async fn emails_of(
    c: &impl Db,
    device: &PrincipalId,
) -> Result<Vec<callside_core::email::Email>> {
    rows(
        c,
        "SELECT email FROM emails WHERE principal = $1 ORDER BY bound_at, email",
        &[&device.as_str()],
    )
    .await?
    .iter()
    .map(|r| Ok(callside_core::email::Email::from_stored(col(r, 0)?)))
    .collect()
}

/// Live devices holding a validated address.
pub(super) async fn devices_with_email(
    c: &impl Db,
    email: &callside_core::email::Email,
) -> Result<Vec<PrincipalId>> {
    rows(
        c,
        "SELECT p.id FROM emails e JOIN principals p ON p.id = e.principal
         WHERE e.email = $1 AND p.deleted_at IS NULL ORDER BY p.created_at, p.id",
        &[&email.as_str()],
    )
    .await?
    .iter()
    .map(|r| Ok(PrincipalId(col(r, 0)?)))
    .collect()
}

pub(super) async fn coupled_devices(
    c: &impl Db,
    number: &PhoneNumber,
    now: Millis,
) -> Result<Vec<PrincipalId>> {
    rows(
        c,
        "SELECT p.id FROM numbers n JOIN principals p ON p.id = n.principal
             LEFT JOIN couplings k ON k.principal = p.id
             WHERE n.number = $1 AND NOT n.is_range AND p.kind = 'device' AND p.deleted_at IS NULL
               AND (k.mode IS NULL OR k.mode = 'always' OR (k.mode = 'when_near' AND k.near_until > $2))
             ORDER BY p.created_at, p.id",
        &[&number.as_str(), &now],
    )
    .await?
    .iter()
    .map(|r| Ok(PrincipalId(col(r, 0)?)))
    .collect()
}

pub(super) async fn coupling(
    c: &impl Db,
    principal: &PrincipalId,
) -> Result<(callside_core::principal::Coupling, Millis)> {
    use callside_core::principal::Coupling;
    let found = row(
        c,
        "SELECT mode, near_until FROM couplings WHERE principal = $1",
        &[&principal.as_str()],
    )
    .await?;
    match found {
        None => Ok((Coupling::Always, 0)),
        Some(r) => {
            let mode: String = col(&r, 0)?;
            let until: Millis = col(&r, 1)?;
            Ok((
                Coupling::parse(&mode).ok_or_else(|| corrupt("coupling", &mode))?,
                until,
            ))
        }
    }
}

/// [`Write::Coupling`](crate::Write::Coupling).
pub(super) async fn set_coupling(
    c: &impl Db,
    principal: &PrincipalId,
    mode: callside_core::principal::Coupling,
) -> Result<()> {
    exec(
        c,
        "INSERT INTO couplings (principal, mode) VALUES ($1, $2)
         ON CONFLICT (principal) DO UPDATE SET mode = $2",
        &[&principal.as_str(), &mode.as_str()],
    )
    .await?;
    Ok(())
}

/// [`Write::Near`](crate::Write::Near).
pub(super) async fn set_near(c: &impl Db, principal: &PrincipalId, until: Millis) -> Result<()> {
    exec(
        c,
        "INSERT INTO couplings (principal, mode, near_until) VALUES ($1, 'always', $2)
         ON CONFLICT (principal) DO UPDATE SET near_until = $2",
        &[&principal.as_str(), &until],
    )
    .await?;
    Ok(())
}
