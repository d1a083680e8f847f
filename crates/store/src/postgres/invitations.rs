//! Invitations and the devices each one rings.

use super::sql::{col, corrupt, exec, row, rows, Db, Row};
use crate::{InvitationRecord, Result};
use callside_core::leg::LegId;
use callside_core::principal::PrincipalId;
use callside_core::{Millis, PhoneNumber, SessionKey};

/// [`Write::Invitation`].
pub(super) async fn put_invitation(c: &impl Db, r: &InvitationRecord) -> Result<()> {
    let i = &r.invitation;
    let from = i.from.as_ref().map(|n| n.as_str());
    let session = i.session.as_ref().map(|k| k.as_str());
    let answered_by = i.answered_by.as_ref().map(|p| p.as_str());
    let leg = i.leg.as_ref().map(|l| l.0.as_str());
    let inserted = exec(
        c,
        "INSERT INTO invitations (id, inviter, inviter_name, from_number, invitee, session,
         state, answered_by, offer, answer, path, created_at, expires_at, leg, via_sms,
         component)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         ON CONFLICT (id) DO UPDATE SET session = EXCLUDED.session,
         state = EXCLUDED.state, answered_by = EXCLUDED.answered_by,
         answer = EXCLUDED.answer, path = EXCLUDED.path, component = EXCLUDED.component",
        &[
            &i.id,
            &i.inviter.as_str(),
            &r.inviter_name,
            &from,
            &i.invitee.as_str(),
            &session,
            &i.state.as_str(),
            &answered_by,
            &r.offer,
            &r.answer,
            &r.path,
            &i.created_at,
            &i.expires_at,
            &leg,
            &i.via_sms,
            &r.component,
        ],
    )
    .await?;
    if inserted > 0 && !i.devices.is_empty() {
        let devices: Vec<&str> = i.devices.iter().map(|d| d.as_str()).collect();
        exec(
            c,
            "INSERT INTO invitation_devices (invitation, device)
             SELECT $1::TEXT, u.device FROM UNNEST($2::TEXT[]) WITH ORDINALITY AS u(device, i)
             ORDER BY u.i
             ON CONFLICT DO NOTHING",
            &[&i.id, &devices],
        )
        .await?;
    }
    Ok(())
}

/// [`Write::InvitationDevice`].
pub(super) async fn add_device(
    c: &impl Db,
    invitation: &String,
    device: &PrincipalId,
) -> Result<()> {
    exec(
        c,
        "INSERT INTO invitation_devices (invitation, device) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
        &[invitation, &device.as_str()],
    )
    .await?;
    Ok(())
}

const INVITATION_COLUMNS: &str = "id, inviter, inviter_name, from_number, invitee, session, state,
    answered_by, offer, answer, path, created_at, expires_at, leg, via_sms, component";

async fn invitation_row(c: &impl Db, r: &Row) -> Result<InvitationRecord> {
    use callside_core::invitation::{Invitation, InvitationState};
    let id: String = col(r, 0)?;
    let state: String = col(r, 6)?;
    let devices = rows(
        c,
        "SELECT device FROM invitation_devices WHERE invitation = $1 ORDER BY ord",
        &[&id],
    )
    .await?
    .iter()
    .map(|d| Ok(PrincipalId(col(d, 0)?)))
    .collect::<Result<_>>()?;
    Ok(InvitationRecord {
        invitation: Invitation {
            inviter: PrincipalId(col(r, 1)?),
            from: col::<Option<String>>(r, 3)?.map(PhoneNumber::from_stored),
            invitee: callside_core::email::Endpoint::from_stored(col(r, 4)?),
            devices,
            session: col::<Option<String>>(r, 5)?
                .map(|k| SessionKey::parse(&k).ok_or_else(|| corrupt("session key", &k)))
                .transpose()?,
            state: InvitationState::parse(&state)
                .ok_or_else(|| corrupt("invitation state", &state))?,
            answered_by: col::<Option<String>>(r, 7)?.map(PrincipalId),
            leg: col::<Option<String>>(r, 13)?.map(LegId),
            via_sms: col(r, 14)?,
            created_at: col(r, 11)?,
            expires_at: col(r, 12)?,
            id,
        },
        inviter_name: col(r, 2)?,
        offer: col(r, 8)?,
        answer: col(r, 9)?,
        path: col(r, 10)?,
        component: col(r, 15)?,
    })
}

pub(super) async fn invitation(c: &impl Db, id: &str) -> Result<Option<InvitationRecord>> {
    match row(
        c,
        &format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE id = $1"),
        &[&id],
    )
    .await?
    {
        Some(r) => Ok(Some(invitation_row(c, &r).await?)),
        None => Ok(None),
    }
}

/// Pending invitations that ring on `device`, oldest first.
pub(super) async fn invitations_for(
    c: &impl Db,
    device: &PrincipalId,
) -> Result<Vec<InvitationRecord>> {
    let rows = rows(
        c,
        &format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE state = 'pending' AND id IN
             (SELECT invitation FROM invitation_devices WHERE device = $1) ORDER BY created_at, id"
        ),
        &[&device.as_str()],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(invitation_row(c, r).await?);
    }
    Ok(out)
}

/// Pending invitations to `number` still running at `now`.
pub(super) async fn pending_invitations_to(
    c: &impl Db,
    endpoint: &str,
    now: Millis,
) -> Result<Vec<InvitationRecord>> {
    let rows = rows(
        c,
        &format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations
             WHERE state = 'pending' AND invitee = $1 AND expires_at > $2 ORDER BY created_at, id"
        ),
        &[&endpoint, &now],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(invitation_row(c, r).await?);
    }
    Ok(out)
}

/// Pending invitations offered for one-sided calls on devices (not by SMS): (leg, invitation).
pub(super) async fn pending_leg_invitations(c: &impl Db) -> Result<Vec<(LegId, String)>> {
    rows(
        c,
        "SELECT leg, id FROM invitations WHERE state = 'pending' AND leg IS NOT NULL AND NOT via_sms",
        &[],
    )
    .await?
    .iter()
    .map(|r| Ok((LegId(col(r, 0)?), col(r, 1)?)))
    .collect()
}

/// Pending invitations whose time ran out by `now`.
pub(super) async fn expired_invitations(c: &impl Db, now: Millis) -> Result<Vec<InvitationRecord>> {
    let rows = rows(
        c,
        &format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE state = 'pending' AND expires_at <= $1
             ORDER BY expires_at LIMIT 1000"
        ),
        &[&now],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(invitation_row(c, r).await?);
    }
    Ok(out)
}
