//! Cards, audiences, receiving policies and the card ledger.

use super::corrupt;
use crate::Result;
use callside_core::card::{Audience, Card, ReceivePolicy};
use callside_core::principal::PrincipalId;
use callside_core::{Millis, NumberRange, PhoneNumber};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

/// [`Write::Card`].
pub(super) fn replace_card(c: &Connection, principal: &PrincipalId, card: &Card) -> Result<()> {
    use callside_core::card::FieldValue;
    c.prepare_cached("DELETE FROM card_fields WHERE principal = ?1")?
        .execute([principal.as_str()])?;
    let mut ins = c.prepare_cached(
        "INSERT INTO card_fields (principal, id, position, kind, value, label, version, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (i, f) in card.fields.iter().enumerate() {
        let value = match &f.value {
            FieldValue::Text(t) => t.clone(),
            FieldValue::Address(a) => [
                &a.street,
                &a.locality,
                &a.region,
                &a.postal_code,
                &a.country,
            ]
            .map(|s| s.as_str())
            .join("\u{1f}"),
        };
        ins.execute(params![
            principal.as_str(),
            f.id,
            i as i64,
            f.kind.as_str(),
            value,
            f.label,
            f.version as i64,
            f.updated_at
        ])?;
    }
    Ok(())
}

/// [`Write::Audiences`].
pub(super) fn replace_audiences(
    c: &Connection,
    principal: &PrincipalId,
    audiences: &[Audience],
) -> Result<()> {
    c.prepare_cached("DELETE FROM audiences WHERE principal = ?1")?
        .execute([principal.as_str()])?;
    let mut ins = c.prepare_cached(
        "INSERT INTO audiences (principal, name, position, members, fields) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (i, a) in audiences.iter().enumerate() {
        let members: Vec<&str> = a.members.iter().map(|m| m.as_str()).collect();
        let fields: Vec<&str> = a.fields.iter().map(|f| f.as_str()).collect();
        ins.execute(params![
            principal.as_str(),
            a.name,
            i as i64,
            members.join(","),
            fields.join(",")
        ])?;
    }
    Ok(())
}

/// [`Write::ReceivePolicy`].
pub(super) fn replace_receive_policy(
    c: &Connection,
    principal: &PrincipalId,
    policy: &ReceivePolicy,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO card_policies (principal, default_mode) VALUES (?1, ?2)
         ON CONFLICT (principal) DO UPDATE SET default_mode = excluded.default_mode",
    )?
    .execute(params![
        principal.as_str(),
        if policy.known_only {
            "known_only"
        } else {
            "accept"
        }
    ])?;
    c.prepare_cached("DELETE FROM card_policy_contacts WHERE principal = ?1")?
        .execute([principal.as_str()])?;
    let mut ins = c.prepare_cached(
        "INSERT OR REPLACE INTO card_policy_contacts (principal, number, policy) VALUES (?1, ?2, ?3)",
    )?;
    for (n, p) in &policy.contacts {
        ins.execute(params![principal.as_str(), n.as_str(), p.as_str()])?;
    }
    Ok(())
}

/// [`Write::ForgetContactRule`].
pub(super) fn forget_contact_rule(
    c: &Connection,
    principal: &PrincipalId,
    number: &PhoneNumber,
) -> Result<()> {
    c.prepare_cached("DELETE FROM card_policy_contacts WHERE principal = ?1 AND number = ?2")?
        .execute(params![principal.as_str(), number.as_str()])?;
    Ok(())
}

/// [`Write::ResetLedger`].
pub(super) fn reset_ledger(
    c: &Connection,
    sender: &PrincipalId,
    receiver: &PrincipalId,
    has: &[(String, u64)],
    at: &Millis,
) -> Result<()> {
    c.prepare_cached("DELETE FROM card_ledger WHERE sender = ?1 AND receiver = ?2")?
        .execute(params![sender.as_str(), receiver.as_str()])?;
    let mut ins = c.prepare_cached(
        "INSERT OR REPLACE INTO card_ledger (sender, receiver, field, version, delivered_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (field, version) in has {
        ins.execute(params![
            sender.as_str(),
            receiver.as_str(),
            field,
            *version as i64,
            at
        ])?;
    }
    Ok(())
}

/// [`Write::Delivered`].
pub(super) fn delivered(
    c: &Connection,
    sender: &PrincipalId,
    receiver: &PrincipalId,
    field: &String,
    version: &u64,
    at: &Millis,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO card_ledger (sender, receiver, field, version, delivered_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (sender, receiver, field) DO UPDATE SET
         version = max(version, excluded.version), delivered_at = excluded.delivered_at",
    )?
    .execute(params![sender.as_str(), receiver.as_str(), field, *version as i64, at])?;
    Ok(())
}

pub(super) fn card_owners(c: &Connection) -> Result<Vec<PrincipalId>> {
    Ok(
        c.prepare_cached("SELECT DISTINCT principal FROM card_fields")?
            .query_map([], |r| Ok(PrincipalId(r.get(0)?)))?
            .collect::<rusqlite::Result<_>>()?,
    )
}

pub(super) fn card(c: &Connection, principal: &PrincipalId) -> Result<callside_core::card::Card> {
    use callside_core::card::{Address, Card, CardField, FieldKind, FieldValue};
    let rows: Vec<(String, String, String, Option<String>, i64, Millis)> = c
        .prepare_cached(
            "SELECT id, kind, value, label, version, updated_at FROM card_fields
             WHERE principal = ?1 ORDER BY position",
        )?
        .query_map([principal.as_str()], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let fields = rows
        .into_iter()
        .map(|(id, kind, value, label, version, updated_at)| {
            let kind = FieldKind::parse(&kind).ok_or_else(|| corrupt("card field kind", &kind))?;
            let value = if kind == FieldKind::Address {
                let mut parts = value.split('\u{1f}').map(str::to_owned);
                let mut next = || parts.next().unwrap_or_default();
                FieldValue::Address(Address {
                    street: next(),
                    locality: next(),
                    region: next(),
                    postal_code: next(),
                    country: next(),
                })
            } else {
                FieldValue::Text(value)
            };
            Ok(CardField {
                id,
                kind,
                value,
                label,
                version: version as u64,
                updated_at,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Card { fields })
}

pub(super) fn audiences(
    c: &Connection,
    principal: &PrincipalId,
) -> Result<Vec<callside_core::card::Audience>> {
    use callside_core::card::{Audience, FieldKind};
    let rows: Vec<(String, String, String)> = c
        .prepare_cached(
            "SELECT name, members, fields FROM audiences WHERE principal = ?1 ORDER BY position",
        )?
        .query_map([principal.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.into_iter()
        .map(|(name, members, fields)| {
            Ok(Audience {
                name,
                members: members
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(|m| NumberRange::parse(m).map_err(|_| corrupt("audience member", m)))
                    .collect::<Result<_>>()?,
                fields: fields
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(|f| FieldKind::parse(f).ok_or_else(|| corrupt("audience field", f)))
                    .collect::<Result<_>>()?,
            })
        })
        .collect()
}

pub(super) fn receive_policy(
    c: &Connection,
    principal: &PrincipalId,
) -> Result<callside_core::card::ReceivePolicy> {
    use callside_core::card::{ContactPolicy, ReceivePolicy};
    let known_only = c
        .prepare_cached("SELECT default_mode FROM card_policies WHERE principal = ?1")?
        .query_row([principal.as_str()], |r| r.get::<_, String>(0))
        .optional()?
        .is_some_and(|m| m == "known_only");
    let contacts = c
        .prepare_cached(
            "SELECT number, policy FROM card_policy_contacts WHERE principal = ?1 ORDER BY rowid",
        )?
        .query_map([principal.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .map(|(n, p)| {
            Ok((
                PhoneNumber::from_stored(n),
                ContactPolicy::parse(&p).ok_or_else(|| corrupt("contact policy", &p))?,
            ))
        })
        .collect::<Result<_>>()?;
    Ok(ReceivePolicy {
        known_only,
        contacts,
    })
}

/// Field id → version of `sender`'s card that `receiver` has.
pub(super) fn ledger(
    c: &Connection,
    sender: &PrincipalId,
    receiver: &PrincipalId,
) -> Result<HashMap<String, u64>> {
    Ok(c.prepare_cached(
        "SELECT field, version FROM card_ledger WHERE sender = ?1 AND receiver = ?2",
    )?
    .query_map(params![sender.as_str(), receiver.as_str()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })?
    .collect::<rusqlite::Result<_>>()?)
}
