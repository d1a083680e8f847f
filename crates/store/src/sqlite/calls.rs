//! Legs, network calls and call notes.

use super::corrupt;
use crate::{CallNoteRecord, CallRecord, LegRecord, LegState, Result};
use callside_core::leg::{Direction, Leg, LegId};
use callside_core::matching::CallId;
use callside_core::principal::PrincipalId;
use callside_core::session::{CallState, Lifecycle};
use callside_core::{Millis, PhoneNumber, SessionKey};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// [`Write::Leg`].
pub(super) fn put_leg(c: &Connection, r: &LegRecord) -> Result<()> {
    let l = &r.leg;
    c.prepare_cached(
        "INSERT OR REPLACE INTO legs (id, principal, own, other, direction, call_ref, extension,
         conference_id, registry, lifecycle, reported_at, expires_at, state, reason, session)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        l.id.0,
        l.principal.as_str(),
        l.own.as_str(),
        l.other.as_ref().map(|n| n.as_str()),
        l.direction.as_str(),
        l.call_ref,
        l.extension,
        l.conference_id,
        r.registry,
        r.lifecycle.map(|x| x.as_str()),
        l.reported_at,
        l.expires_at,
        r.state.as_str(),
        r.reason,
        r.session.as_ref().map(|k| k.as_str()),
    ])?;
    Ok(())
}

/// [`Write::LegOutcome`].
pub(super) fn leg_outcome(
    c: &Connection,
    id: &LegId,
    state: &LegState,
    reason: &Option<String>,
    session: &Option<SessionKey>,
) -> Result<()> {
    c.prepare_cached("UPDATE legs SET state = ?2, reason = ?3, session = ?4 WHERE id = ?1")?
        .execute(params![
            id.0,
            state.as_str(),
            reason,
            session.as_ref().map(|k| k.as_str())
        ])?;
    Ok(())
}

/// [`Write::Call`].
pub(super) fn put_call(c: &Connection, r: &CallRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO calls (id, reporter, call_ref, caller, callee, state, session, created_at,
           expires_at, diverted_to)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at,
           session = excluded.session,
           diverted_to = COALESCE(calls.diverted_to, excluded.diverted_to),
           state = CASE WHEN calls.state = 'ended' OR excluded.state = 'ended' THEN 'ended'
                        WHEN calls.state = 'answered' THEN 'answered'
                        ELSE excluded.state END",
    )?
    .execute(params![
        r.id.0,
        r.reporter.as_str(),
        r.call_ref,
        r.caller.as_str(),
        r.callee.as_str(),
        r.state.as_str(),
        r.session.as_str(),
        r.created_at,
        r.expires_at,
        r.diverted_to.as_ref().map(|n| n.as_str())
    ])?;
    Ok(())
}

/// [`Write::CallNote`].
pub(super) fn put_call_note(c: &Connection, n: &CallNoteRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO call_notes
         (id, kind, leg, sender, sender_name, from_number, to_number, body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        n.id,
        n.kind,
        n.leg.0,
        n.sender.as_str(),
        n.sender_name,
        n.from.as_str(),
        n.to.as_str(),
        n.body,
        n.created_at
    ])?;
    Ok(())
}

/// The newest `limit` call notes addressed to the numbers `device` owns, from when it came to own
/// each, newest first.
pub(super) fn call_notes_for(
    c: &Connection,
    device: &PrincipalId,
    limit: u32,
) -> Result<Vec<CallNoteRecord>> {
    Ok(c.prepare_cached(
        "SELECT c.id, c.kind, c.leg, c.sender, c.sender_name, c.from_number, c.to_number,
                    c.body, c.created_at
             FROM numbers n JOIN call_notes c ON c.to_number = n.number
             WHERE n.principal = ?1 AND n.is_range = 0 AND c.created_at >= n.owned_since
             ORDER BY c.created_at DESC, c.id DESC LIMIT ?2",
    )?
    .query_map(params![device.as_str(), limit], |r| {
        Ok(CallNoteRecord {
            id: r.get(0)?,
            kind: r.get(1)?,
            leg: LegId(r.get(2)?),
            sender: PrincipalId(r.get(3)?),
            sender_name: r.get(4)?,
            from: PhoneNumber::from_stored(r.get(5)?),
            to: PhoneNumber::from_stored(r.get(6)?),
            body: r.get(7)?,
            created_at: r.get(8)?,
        })
    })?
    .collect::<rusqlite::Result<_>>()?)
}

const LEG_COLUMNS: &str =
    "id, principal, own, other, direction, call_ref, extension, conference_id,
    registry, lifecycle, reported_at, expires_at, state, reason, session";

fn leg_row(r: &Row<'_>) -> rusqlite::Result<Result<LegRecord>> {
    let direction: String = r.get(4)?;
    let lifecycle: Option<String> = r.get(9)?;
    let state: String = r.get(12)?;
    let session: Option<String> = r.get(14)?;
    let other: Option<String> = r.get(3)?;
    let leg = Leg {
        id: LegId(r.get(0)?),
        principal: PrincipalId(r.get(1)?),
        own: PhoneNumber::from_stored(r.get(2)?),
        other: other.map(PhoneNumber::from_stored),
        direction: match Direction::parse(&direction) {
            Some(d) => d,
            None => return Ok(Err(corrupt("direction", &direction))),
        },
        call_ref: r.get(5)?,
        extension: r.get(6)?,
        conference_id: r.get(7)?,
        reported_at: r.get(10)?,
        expires_at: r.get(11)?,
    };
    let state = match state.as_str() {
        "pending" => LegState::Pending,
        "matched" => LegState::Matched,
        "no_match" => LegState::NoMatch,
        other => return Ok(Err(corrupt("leg state", other))),
    };
    Ok(Ok(LegRecord {
        leg,
        registry: r.get(8)?,
        lifecycle: lifecycle.as_deref().and_then(Lifecycle::parse),
        state,
        reason: r.get(13)?,
        session: session.and_then(|s| SessionKey::parse(&s)),
    }))
}

pub(super) fn leg(c: &Connection, id: &LegId) -> Result<Option<LegRecord>> {
    c.prepare_cached(&format!("SELECT {LEG_COLUMNS} FROM legs WHERE id = ?1"))?
        .query_row([&id.0], leg_row)
        .optional()?
        .transpose()
}

pub(super) fn pending_legs(c: &Connection) -> Result<Vec<LegRecord>> {
    c.prepare_cached(&format!(
        "SELECT {LEG_COLUMNS} FROM legs WHERE state = 'pending' ORDER BY reported_at, rowid"
    ))?
    .query_map([], leg_row)?
    .map(|r| r?)
    .collect()
}

const CALL_COLUMNS: &str =
    "id, reporter, call_ref, caller, callee, state, session, created_at, expires_at, diverted_to";

fn call_row(r: &Row<'_>) -> rusqlite::Result<Result<CallRecord>> {
    let state: String = r.get(5)?;
    let session: String = r.get(6)?;
    let Some(state) = CallState::parse(&state) else {
        return Ok(Err(corrupt("call state", &state)));
    };
    let Some(session) = SessionKey::parse(&session) else {
        return Ok(Err(corrupt("session key", &session)));
    };
    Ok(Ok(CallRecord {
        id: CallId(r.get(0)?),
        reporter: PrincipalId(r.get(1)?),
        call_ref: r.get(2)?,
        caller: PhoneNumber::from_stored(r.get(3)?),
        callee: PhoneNumber::from_stored(r.get(4)?),
        state,
        session,
        diverted_to: r.get::<_, Option<String>>(9)?.map(PhoneNumber::from_stored),
        created_at: r.get(7)?,
        expires_at: r.get(8)?,
    }))
}

pub(super) fn call(c: &Connection, id: &CallId) -> Result<Option<CallRecord>> {
    c.prepare_cached(&format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = ?1"))?
        .query_row([id.0.as_str()], call_row)
        .optional()?
        .transpose()
}

/// [`Write::Conference`](crate::Write::Conference).
pub(super) fn put_conference(
    c: &Connection,
    bridge: &PhoneNumber,
    id: &str,
    session: &SessionKey,
    at: Millis,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO conferences (bridge, id, session, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (bridge, id) DO UPDATE SET session = ?3, created_at = ?4",
    )?
    .execute(params![bridge.as_str(), id, session.as_str(), at])?;
    Ok(())
}

pub(super) fn conference(
    c: &Connection,
    bridge: &PhoneNumber,
    id: &str,
) -> Result<Option<SessionKey>> {
    let key: Option<String> = c
        .prepare_cached("SELECT session FROM conferences WHERE bridge = ?1 AND id = ?2")?
        .query_row(params![bridge.as_str(), id], |r| r.get(0))
        .optional()?;
    key.map(|k| SessionKey::parse(&k).ok_or_else(|| corrupt("session key", &k)))
        .transpose()
}

pub(super) fn call_by_ref(
    c: &Connection,
    reporter: &PrincipalId,
    call_ref: &str,
) -> Result<Option<CallRecord>> {
    c.prepare_cached(&format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE reporter = ?1 AND call_ref = ?2"
    ))?
    .query_row(params![reporter.as_str(), call_ref], call_row)
    .optional()?
    .transpose()
}

pub(super) fn live_calls(c: &Connection) -> Result<Vec<CallRecord>> {
    c.prepare_cached(&format!(
        "SELECT {CALL_COLUMNS} FROM calls WHERE state != 'ended' ORDER BY created_at"
    ))?
    .query_map([], call_row)?
    .map(|r| r?)
    .collect()
}
