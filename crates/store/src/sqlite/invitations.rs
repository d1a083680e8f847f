//! Invitations and the devices each one rings.

use super::corrupt;
use crate::{InvitationRecord, Result};
use callside_core::leg::LegId;
use callside_core::principal::PrincipalId;
use callside_core::{Millis, PhoneNumber, SessionKey};
use rusqlite::{params, Connection, Row};

/// [`Write::Invitation`].
pub(super) fn put_invitation(c: &Connection, r: &InvitationRecord) -> Result<()> {
    let i = &r.invitation;
    let inserted = c
        .prepare_cached(
            "INSERT INTO invitations (id, inviter, inviter_name, from_number, invitee, session,
             state, answered_by, offer, answer, path, created_at, expires_at, leg, via_sms,
             component)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT (id) DO UPDATE SET session = excluded.session,
             state = excluded.state, answered_by = excluded.answered_by,
             answer = excluded.answer, path = excluded.path, component = excluded.component",
        )?
        .execute(params![
            i.id,
            i.inviter.as_str(),
            r.inviter_name,
            i.from.as_ref().map(|n| n.as_str()),
            i.invitee.as_str(),
            i.session.as_ref().map(|k| k.as_str()),
            i.state.as_str(),
            i.answered_by.as_ref().map(|p| p.as_str()),
            r.offer,
            r.answer,
            r.path,
            i.created_at,
            i.expires_at,
            i.leg.as_ref().map(|l| l.0.as_str()),
            i.via_sms,
            r.component
        ])?;
    if inserted > 0 {
        let mut ins = c.prepare_cached(
            "INSERT OR IGNORE INTO invitation_devices (invitation, device) VALUES (?1, ?2)",
        )?;
        for d in &i.devices {
            ins.execute(params![i.id, d.as_str()])?;
        }
    }
    Ok(())
}

/// [`Write::InvitationDevice`].
pub(super) fn add_device(c: &Connection, invitation: &String, device: &PrincipalId) -> Result<()> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO invitation_devices (invitation, device) VALUES (?1, ?2)",
    )?
    .execute(params![invitation, device.as_str()])?;
    Ok(())
}

const INVITATION_COLUMNS: &str = "id, inviter, inviter_name, from_number, invitee, session, state,
    answered_by, offer, answer, path, created_at, expires_at, leg, via_sms, component";

fn invitation_row(c: &Connection, r: &Row<'_>) -> Result<InvitationRecord> {
    use callside_core::invitation::{Invitation, InvitationState};
    let id: String = r.get(0)?;
    let state: String = r.get(6)?;
    let devices = c
        .prepare_cached(
            "SELECT device FROM invitation_devices WHERE invitation = ?1 ORDER BY rowid",
        )?
        .query_map([&id], |r| Ok(PrincipalId(r.get(0)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(InvitationRecord {
        invitation: Invitation {
            inviter: PrincipalId(r.get(1)?),
            from: r.get::<_, Option<String>>(3)?.map(PhoneNumber::from_stored),
            invitee: callside_core::email::Endpoint::from_stored(r.get(4)?),
            devices,
            session: r
                .get::<_, Option<String>>(5)?
                .map(|k| SessionKey::parse(&k).ok_or_else(|| corrupt("session key", &k)))
                .transpose()?,
            state: InvitationState::parse(&state)
                .ok_or_else(|| corrupt("invitation state", &state))?,
            answered_by: r.get::<_, Option<String>>(7)?.map(PrincipalId),
            leg: r.get::<_, Option<String>>(13)?.map(LegId),
            via_sms: r.get(14)?,
            created_at: r.get(11)?,
            expires_at: r.get(12)?,
            id,
        },
        inviter_name: r.get(2)?,
        offer: r.get(8)?,
        answer: r.get(9)?,
        path: r.get(10)?,
        component: r.get(15)?,
    })
}

pub(super) fn invitation(c: &Connection, id: &str) -> Result<Option<InvitationRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = ?1"
    ))?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(r) => Ok(Some(invitation_row(c, r)?)),
        None => Ok(None),
    }
}

/// Pending invitations that ring on `device`, oldest first.
pub(super) fn invitations_for(
    c: &Connection,
    device: &PrincipalId,
) -> Result<Vec<InvitationRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE state = 'pending' AND id IN
         (SELECT invitation FROM invitation_devices WHERE device = ?1) ORDER BY created_at, id"
    ))?;
    let mut rows = stmt.query([device.as_str()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(invitation_row(c, r)?);
    }
    Ok(out)
}

/// Pending invitations to `number` still running at `now`.
pub(super) fn pending_invitations_to(
    c: &Connection,
    endpoint: &str,
    now: Millis,
) -> Result<Vec<InvitationRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations
         WHERE state = 'pending' AND invitee = ?1 AND expires_at > ?2 ORDER BY created_at, id"
    ))?;
    let mut rows = stmt.query(params![endpoint, now])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(invitation_row(c, r)?);
    }
    Ok(out)
}

/// Pending invitations offered for one-sided calls on devices (not by SMS): (leg, invitation).
pub(super) fn pending_leg_invitations(c: &Connection) -> Result<Vec<(LegId, String)>> {
    Ok(c.prepare_cached(
        "SELECT leg, id FROM invitations WHERE state = 'pending' AND leg IS NOT NULL AND via_sms = 0",
    )?
    .query_map([], |r| Ok((LegId(r.get(0)?), r.get(1)?)))?
    .collect::<rusqlite::Result<_>>()?)
}

/// Pending invitations whose time ran out by `now`.
pub(super) fn expired_invitations(c: &Connection, now: Millis) -> Result<Vec<InvitationRecord>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE state = 'pending' AND expires_at <= ?1
         ORDER BY expires_at LIMIT 1000"
    ))?;
    let mut rows = stmt.query([now])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(invitation_row(c, r)?);
    }
    Ok(out)
}
