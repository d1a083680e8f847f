//! Cards, audiences, receiving policies and the card ledger.

use super::sql::{col, corrupt, exec, row, rows, Db};
use crate::Result;
use callside_core::card::{Audience, Card, ReceivePolicy};
use callside_core::principal::PrincipalId;
use callside_core::{Millis, NumberRange, PhoneNumber};
use std::collections::{HashMap, HashSet};

/// The entries of a list written with SQLite's `INSERT OR REPLACE`, one per key: an entry whose
/// key comes again later is replaced by the later one, which keeps its later place.
fn last_wins<'a, T>(items: &'a [T], key: impl Fn(&'a T) -> &'a str) -> Vec<&'a T> {
    let mut seen = HashSet::new();
    let mut kept: Vec<&'a T> = items
        .iter()
        .rev()
        .filter(|t| seen.insert(key(*t)))
        .collect();
    kept.reverse();
    kept
}

/// [`Write::Card`].
pub(super) async fn replace_card(c: &impl Db, principal: &PrincipalId, card: &Card) -> Result<()> {
    use callside_core::card::FieldValue;
    exec(
        c,
        "DELETE FROM card_fields WHERE principal = $1",
        &[&principal.as_str()],
    )
    .await?;
    if card.fields.is_empty() {
        return Ok(());
    }
    let n = card.fields.len();
    let mut ids: Vec<&str> = Vec::with_capacity(n);
    let mut positions: Vec<i64> = Vec::with_capacity(n);
    let mut kinds: Vec<&str> = Vec::with_capacity(n);
    let mut values: Vec<String> = Vec::with_capacity(n);
    let mut labels: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut versions: Vec<i64> = Vec::with_capacity(n);
    let mut updated_ats: Vec<i64> = Vec::with_capacity(n);
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
        ids.push(f.id.as_str());
        positions.push(i as i64);
        kinds.push(f.kind.as_str());
        values.push(value);
        labels.push(f.label.as_deref());
        versions.push(f.version as i64);
        updated_ats.push(f.updated_at);
    }
    exec(
        c,
        "INSERT INTO card_fields (principal, id, position, kind, value, label, version, updated_at)
         SELECT $1::TEXT, u.id, u.position, u.kind, u.value, u.label, u.version, u.updated_at
         FROM UNNEST($2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::BIGINT[],
         $8::BIGINT[]) AS u(id, position, kind, value, label, version, updated_at)",
        &[
            &principal.as_str(),
            &ids,
            &positions,
            &kinds,
            &values,
            &labels,
            &versions,
            &updated_ats,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::Audiences`].
pub(super) async fn replace_audiences(
    c: &impl Db,
    principal: &PrincipalId,
    audiences: &[Audience],
) -> Result<()> {
    exec(
        c,
        "DELETE FROM audiences WHERE principal = $1",
        &[&principal.as_str()],
    )
    .await?;
    if audiences.is_empty() {
        return Ok(());
    }
    let n = audiences.len();
    let mut names: Vec<&str> = Vec::with_capacity(n);
    let mut positions: Vec<i64> = Vec::with_capacity(n);
    let mut all_members: Vec<String> = Vec::with_capacity(n);
    let mut all_fields: Vec<String> = Vec::with_capacity(n);
    for (i, a) in audiences.iter().enumerate() {
        let members: Vec<&str> = a.members.iter().map(|m| m.as_str()).collect();
        let fields: Vec<&str> = a.fields.iter().map(|f| f.as_str()).collect();
        names.push(a.name.as_str());
        positions.push(i as i64);
        all_members.push(members.join(","));
        all_fields.push(fields.join(","));
    }
    exec(
        c,
        "INSERT INTO audiences (principal, name, position, members, fields)
         SELECT $1::TEXT, u.name, u.position, u.members, u.fields
         FROM UNNEST($2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[])
         AS u(name, position, members, fields)",
        &[
            &principal.as_str(),
            &names,
            &positions,
            &all_members,
            &all_fields,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::ReceivePolicy`].
pub(super) async fn replace_receive_policy(
    c: &impl Db,
    principal: &PrincipalId,
    policy: &ReceivePolicy,
) -> Result<()> {
    let default_mode = if policy.known_only {
        "known_only"
    } else {
        "accept"
    };
    exec(
        c,
        "INSERT INTO card_policies (principal, default_mode) VALUES ($1, $2)
         ON CONFLICT (principal) DO UPDATE SET default_mode = EXCLUDED.default_mode",
        &[&principal.as_str(), &default_mode],
    )
    .await?;
    exec(
        c,
        "DELETE FROM card_policy_contacts WHERE principal = $1",
        &[&principal.as_str()],
    )
    .await?;
    // SQLite inserted each contact with `INSERT OR REPLACE`: a number listed twice keeps its
    // last policy, in its last place.
    let contacts = last_wins(&policy.contacts, |(n, _)| n.as_str());
    if contacts.is_empty() {
        return Ok(());
    }
    let numbers: Vec<&str> = contacts.iter().map(|(n, _)| n.as_str()).collect();
    let policies: Vec<&str> = contacts.iter().map(|(_, p)| p.as_str()).collect();
    exec(
        c,
        "INSERT INTO card_policy_contacts (principal, number, policy)
         SELECT $1::TEXT, u.number, u.policy
         FROM UNNEST($2::TEXT[], $3::TEXT[]) WITH ORDINALITY AS u(number, policy, i)
         ORDER BY u.i",
        &[&principal.as_str(), &numbers, &policies],
    )
    .await?;
    Ok(())
}

/// [`Write::ForgetContactRule`].
pub(super) async fn forget_contact_rule(
    c: &impl Db,
    principal: &PrincipalId,
    number: &PhoneNumber,
) -> Result<()> {
    exec(
        c,
        "DELETE FROM card_policy_contacts WHERE principal = $1 AND number = $2",
        &[&principal.as_str(), &number.as_str()],
    )
    .await?;
    Ok(())
}

/// [`Write::ResetLedger`].
pub(super) async fn reset_ledger(
    c: &impl Db,
    sender: &PrincipalId,
    receiver: &PrincipalId,
    has: &[(String, u64)],
    at: &Millis,
) -> Result<()> {
    exec(
        c,
        "DELETE FROM card_ledger WHERE sender = $1 AND receiver = $2",
        &[&sender.as_str(), &receiver.as_str()],
    )
    .await?;
    // SQLite inserted each entry with `INSERT OR REPLACE`: a field listed twice keeps its last
    // version.
    let has = last_wins(has, |(field, _)| field.as_str());
    if has.is_empty() {
        return Ok(());
    }
    let fields: Vec<&str> = has.iter().map(|(field, _)| field.as_str()).collect();
    let versions: Vec<i64> = has.iter().map(|(_, version)| *version as i64).collect();
    exec(
        c,
        "INSERT INTO card_ledger (sender, receiver, field, version, delivered_at)
         SELECT $1::TEXT, $2::TEXT, u.field, u.version, $5::BIGINT
         FROM UNNEST($3::TEXT[], $4::BIGINT[]) AS u(field, version)",
        &[&sender.as_str(), &receiver.as_str(), &fields, &versions, at],
    )
    .await?;
    Ok(())
}

/// [`Write::Delivered`].
pub(super) async fn delivered(
    c: &impl Db,
    sender: &PrincipalId,
    receiver: &PrincipalId,
    field: &String,
    version: &u64,
    at: &Millis,
) -> Result<()> {
    let version = *version as i64;
    exec(
        c,
        "INSERT INTO card_ledger (sender, receiver, field, version, delivered_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (sender, receiver, field) DO UPDATE SET
         version = GREATEST(card_ledger.version, EXCLUDED.version),
         delivered_at = EXCLUDED.delivered_at",
        &[&sender.as_str(), &receiver.as_str(), field, &version, at],
    )
    .await?;
    Ok(())
}

pub(super) async fn card_owners(c: &impl Db) -> Result<Vec<PrincipalId>> {
    rows(c, "SELECT DISTINCT principal FROM card_fields", &[])
        .await?
        .iter()
        .map(|r| Ok(PrincipalId(col(r, 0)?)))
        .collect()
}

pub(super) async fn card(
    c: &impl Db,
    principal: &PrincipalId,
) -> Result<callside_core::card::Card> {
    use callside_core::card::{Address, Card, CardField, FieldKind, FieldValue};
    let rows = rows(
        c,
        "SELECT id, kind, value, label, version, updated_at FROM card_fields
         WHERE principal = $1 ORDER BY position",
        &[&principal.as_str()],
    )
    .await?;
    let fields = rows
        .iter()
        .map(|r| {
            let id: String = col(r, 0)?;
            let kind: String = col(r, 1)?;
            let value: String = col(r, 2)?;
            let label: Option<String> = col(r, 3)?;
            let version: i64 = col(r, 4)?;
            let updated_at: Millis = col(r, 5)?;
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

pub(super) async fn audiences(
    c: &impl Db,
    principal: &PrincipalId,
) -> Result<Vec<callside_core::card::Audience>> {
    use callside_core::card::{Audience, FieldKind};
    let rows = rows(
        c,
        "SELECT name, members, fields FROM audiences WHERE principal = $1 ORDER BY position",
        &[&principal.as_str()],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let name: String = col(r, 0)?;
            let members: String = col(r, 1)?;
            let fields: String = col(r, 2)?;
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

pub(super) async fn receive_policy(
    c: &impl Db,
    principal: &PrincipalId,
) -> Result<callside_core::card::ReceivePolicy> {
    use callside_core::card::{ContactPolicy, ReceivePolicy};
    let known_only = match row(
        c,
        "SELECT default_mode FROM card_policies WHERE principal = $1",
        &[&principal.as_str()],
    )
    .await?
    {
        Some(r) => col::<String>(&r, 0)? == "known_only",
        None => false,
    };
    let contacts = rows(
        c,
        "SELECT number, policy FROM card_policy_contacts WHERE principal = $1 ORDER BY ord",
        &[&principal.as_str()],
    )
    .await?
    .iter()
    .map(|r| {
        let n: String = col(r, 0)?;
        let p: String = col(r, 1)?;
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
pub(super) async fn ledger(
    c: &impl Db,
    sender: &PrincipalId,
    receiver: &PrincipalId,
) -> Result<HashMap<String, u64>> {
    rows(
        c,
        "SELECT field, version FROM card_ledger WHERE sender = $1 AND receiver = $2",
        &[&sender.as_str(), &receiver.as_str()],
    )
    .await?
    .iter()
    .map(|r| Ok((col::<String>(r, 0)?, col::<i64>(r, 1)? as u64)))
    .collect()
}
