//! Legs, network calls and call notes.

use super::sql::{col, corrupt, exec, row, rows, Db, Row};
use crate::{CallNoteRecord, CallRecord, LegRecord, LegState, Result};
use callside_core::leg::{Direction, Leg, LegId};
use callside_core::matching::CallId;
use callside_core::principal::PrincipalId;
use callside_core::session::{CallState, Lifecycle};
use callside_core::{Millis, PhoneNumber, SessionKey};

/// [`Write::Leg`].
pub(super) async fn put_leg(c: &impl Db, r: &LegRecord) -> Result<()> {
    let l = &r.leg;
    let other = l.other.as_ref().map(|n| n.as_str());
    let lifecycle = r.lifecycle.map(|x| x.as_str());
    let session = r.session.as_ref().map(|k| k.as_str());
    // One statement (a leg report is the matching hot path); replacing moves the leg to the end
    // of the insertion order (a new `ord`), as SQLite's OR REPLACE does.
    exec(
        c,
        "INSERT INTO legs (id, principal, own, other, direction, call_ref, extension,
         conference_id, registry, lifecycle, reported_at, expires_at, state, reason, session)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (id) DO UPDATE SET principal = EXCLUDED.principal, own = EXCLUDED.own,
         other = EXCLUDED.other, direction = EXCLUDED.direction, call_ref = EXCLUDED.call_ref,
         extension = EXCLUDED.extension, conference_id = EXCLUDED.conference_id,
         registry = EXCLUDED.registry, lifecycle = EXCLUDED.lifecycle,
         reported_at = EXCLUDED.reported_at, expires_at = EXCLUDED.expires_at,
         state = EXCLUDED.state, reason = EXCLUDED.reason, session = EXCLUDED.session,
         ord = DEFAULT",
        &[
            &l.id.0,
            &l.principal.as_str(),
            &l.own.as_str(),
            &other,
            &l.direction.as_str(),
            &l.call_ref,
            &l.extension,
            &l.conference_id,
            &r.registry,
            &lifecycle,
            &l.reported_at,
            &l.expires_at,
            &r.state.as_str(),
            &r.reason,
            &session,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::LegOutcome`].
pub(super) async fn leg_outcome(
    c: &impl Db,
    id: &LegId,
    state: &LegState,
    reason: &Option<String>,
    session: &Option<SessionKey>,
) -> Result<()> {
    let session = session.as_ref().map(|k| k.as_str());
    exec(
        c,
        "UPDATE legs SET state = $2, reason = $3, session = $4 WHERE id = $1",
        &[&id.0, &state.as_str(), reason, &session],
    )
    .await?;
    Ok(())
}

/// [`Write::Call`].
pub(super) async fn put_call(c: &impl Db, r: &CallRecord) -> Result<()> {
    let diverted_to = r.diverted_to.as_ref().map(|n| n.as_str());
    exec(
        c,
        "INSERT INTO calls (id, reporter, call_ref, caller, callee, state, session, created_at,
           expires_at, diverted_to)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at,
           session = EXCLUDED.session,
           diverted_to = COALESCE(calls.diverted_to, EXCLUDED.diverted_to),
           state = CASE WHEN calls.state = 'ended' OR EXCLUDED.state = 'ended' THEN 'ended'
                        WHEN calls.state = 'answered' THEN 'answered'
                        ELSE EXCLUDED.state END",
        &[
            &r.id.0,
            &r.reporter.as_str(),
            &r.call_ref,
            &r.caller.as_str(),
            &r.callee.as_str(),
            &r.state.as_str(),
            &r.session.as_str(),
            &r.created_at,
            &r.expires_at,
            &diverted_to,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::CallNote`].
pub(super) async fn put_call_note(c: &impl Db, n: &CallNoteRecord) -> Result<()> {
    exec(
        c,
        "INSERT INTO call_notes
         (id, kind, leg, sender, sender_name, from_number, to_number, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, leg = EXCLUDED.leg,
           sender = EXCLUDED.sender, sender_name = EXCLUDED.sender_name,
           from_number = EXCLUDED.from_number, to_number = EXCLUDED.to_number,
           body = EXCLUDED.body, created_at = EXCLUDED.created_at",
        &[
            &n.id,
            &n.kind,
            &n.leg.0,
            &n.sender.as_str(),
            &n.sender_name,
            &n.from.as_str(),
            &n.to.as_str(),
            &n.body,
            &n.created_at,
        ],
    )
    .await?;
    Ok(())
}

/// The newest `limit` call notes addressed to the numbers `device` owns, from when it came to own
/// each, newest first.
pub(super) async fn call_notes_for(
    c: &impl Db,
    device: &PrincipalId,
    limit: u32,
) -> Result<Vec<CallNoteRecord>> {
    let limit = i64::from(limit);
    rows(
        c,
        "SELECT c.id, c.kind, c.leg, c.sender, c.sender_name, c.from_number, c.to_number,
                c.body, c.created_at
         FROM numbers n JOIN call_notes c ON c.to_number = n.number
         WHERE n.principal = $1 AND NOT n.is_range AND c.created_at >= n.owned_since
         ORDER BY c.created_at DESC, c.id DESC LIMIT $2",
        &[&device.as_str(), &limit],
    )
    .await?
    .iter()
    .map(|r| -> Result<CallNoteRecord> {
        Ok(CallNoteRecord {
            id: col(r, 0)?,
            kind: col(r, 1)?,
            leg: LegId(col(r, 2)?),
            sender: PrincipalId(col(r, 3)?),
            sender_name: col(r, 4)?,
            from: PhoneNumber::from_stored(col(r, 5)?),
            to: PhoneNumber::from_stored(col(r, 6)?),
            body: col(r, 7)?,
            created_at: col(r, 8)?,
        })
    })
    .collect()
}

const LEG_COLUMNS: &str =
    "id, principal, own, other, direction, call_ref, extension, conference_id,
    registry, lifecycle, reported_at, expires_at, state, reason, session";

fn leg_row(r: &Row) -> Result<LegRecord> {
    let direction: String = col(r, 4)?;
    let lifecycle: Option<String> = col(r, 9)?;
    let state: String = col(r, 12)?;
    let session: Option<String> = col(r, 14)?;
    let other: Option<String> = col(r, 3)?;
    let leg = Leg {
        id: LegId(col(r, 0)?),
        principal: PrincipalId(col(r, 1)?),
        own: PhoneNumber::from_stored(col(r, 2)?),
        other: other.map(PhoneNumber::from_stored),
        direction: Direction::parse(&direction).ok_or_else(|| corrupt("direction", &direction))?,
        call_ref: col(r, 5)?,
        extension: col(r, 6)?,
        conference_id: col(r, 7)?,
        reported_at: col(r, 10)?,
        expires_at: col(r, 11)?,
    };
    let state = match state.as_str() {
        "pending" => LegState::Pending,
        "matched" => LegState::Matched,
        "no_match" => LegState::NoMatch,
        other => return Err(corrupt("leg state", other)),
    };
    Ok(LegRecord {
        leg,
        registry: col(r, 8)?,
        lifecycle: lifecycle.as_deref().and_then(Lifecycle::parse),
        state,
        reason: col(r, 13)?,
        session: session.and_then(|s| SessionKey::parse(&s)),
    })
}

pub(super) async fn leg(c: &impl Db, id: &LegId) -> Result<Option<LegRecord>> {
    row(
        c,
        &format!("SELECT {LEG_COLUMNS} FROM legs WHERE id = $1"),
        &[&id.0],
    )
    .await?
    .as_ref()
    .map(leg_row)
    .transpose()
}

pub(super) async fn pending_legs(c: &impl Db) -> Result<Vec<LegRecord>> {
    rows(
        c,
        &format!(
            "SELECT {LEG_COLUMNS} FROM legs WHERE state = 'pending' ORDER BY reported_at, ord"
        ),
        &[],
    )
    .await?
    .iter()
    .map(leg_row)
    .collect()
}

const CALL_COLUMNS: &str =
    "id, reporter, call_ref, caller, callee, state, session, created_at, expires_at, diverted_to";

fn call_row(r: &Row) -> Result<CallRecord> {
    let state: String = col(r, 5)?;
    let session: String = col(r, 6)?;
    let Some(state) = CallState::parse(&state) else {
        return Err(corrupt("call state", &state));
    };
    let Some(session) = SessionKey::parse(&session) else {
        return Err(corrupt("session key", &session));
    };
    Ok(CallRecord {
        id: CallId(col(r, 0)?),
        reporter: PrincipalId(col(r, 1)?),
        call_ref: col(r, 2)?,
        caller: PhoneNumber::from_stored(col(r, 3)?),
        callee: PhoneNumber::from_stored(col(r, 4)?),
        state,
        session,
        diverted_to: col::<Option<String>>(r, 9)?.map(PhoneNumber::from_stored),
        created_at: col(r, 7)?,
        expires_at: col(r, 8)?,
    })
}

pub(super) async fn call(c: &impl Db, id: &CallId) -> Result<Option<CallRecord>> {
    row(
        c,
        &format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = $1"),
        &[&id.0.as_str()],
    )
    .await?
    .as_ref()
    .map(call_row)
    .transpose()
}

/// [`Write::Conference`](crate::Write::Conference).
pub(super) async fn put_conference(
    c: &impl Db,
    bridge: &PhoneNumber,
    id: &str,
    session: &SessionKey,
    at: Millis,
) -> Result<()> {
    exec(
        c,
        "INSERT INTO conferences (bridge, id, session, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (bridge, id) DO UPDATE SET session = $3, created_at = $4",
        &[&bridge.as_str(), &id, &session.as_str(), &at],
    )
    .await?;
    Ok(())
}

pub(super) async fn conference(
    c: &impl Db,
    bridge: &PhoneNumber,
    id: &str,
) -> Result<Option<SessionKey>> {
    let key: Option<String> = row(
        c,
        "SELECT session FROM conferences WHERE bridge = $1 AND id = $2",
        &[&bridge.as_str(), &id],
    )
    .await?
    .map(|r| col(&r, 0))
    .transpose()?;
    key.map(|k| SessionKey::parse(&k).ok_or_else(|| corrupt("session key", &k)))
        .transpose()
}

pub(super) async fn call_by_ref(
    c: &impl Db,
    reporter: &PrincipalId,
    call_ref: &str,
) -> Result<Option<CallRecord>> {
    row(
        c,
        &format!("SELECT {CALL_COLUMNS} FROM calls WHERE reporter = $1 AND call_ref = $2"),
        &[&reporter.as_str(), &call_ref],
    )
    .await?
    .as_ref()
    .map(call_row)
    .transpose()
}

pub(super) async fn live_calls(c: &impl Db) -> Result<Vec<CallRecord>> {
    rows(
        c,
        &format!("SELECT {CALL_COLUMNS} FROM calls WHERE state != 'ended' ORDER BY created_at"),
        &[],
    )
    .await?
    .iter()
    .map(call_row)
    .collect()
}
