//! Sessions, their participants and their message logs.

use super::{corrupt, is_constraint};
use crate::{MessageRecord, ParticipantRecord, Result, ScreenRecord, SessionRecord, StoreError};
use callside_core::matching::CallId;
use callside_core::principal::PrincipalId;
use callside_core::session::{CallState, CloseReason, HistoryConsent, Lifecycle, Origin, Session};
use callside_core::{Millis, PhoneNumber, SessionKey};
use rusqlite::{params, Connection, OptionalExtension};

/// [`Write::Session`].
pub(super) fn insert_session(c: &Connection, r: &SessionRecord) -> Result<()> {
    let s = &r.session;
    let (origin, call_id) = match &s.origin {
        Origin::PairedLegs => ("paired_legs", r.call_id.as_ref().map(|c| c.0.as_str())),
        Origin::Network(id) => ("network", Some(id.0.as_str())),
        Origin::Invitation => ("invitation", r.call_id.as_ref().map(|c| c.0.as_str())),
        Origin::Conference => ("conference", r.call_id.as_ref().map(|c| c.0.as_str())),
        Origin::Click => ("click", r.call_id.as_ref().map(|c| c.0.as_str())),
    };
    let (closed, closed_by) = close_columns(s.closed.as_ref());
    c.prepare_cached(
        "INSERT INTO sessions (key, origin, call_id, lifecycle, call_state, created_at, closed,
         closed_by, last_seq, last_activity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        s.key.as_str(),
        origin,
        call_id,
        s.lifecycle.as_str(),
        s.call.as_str(),
        s.created_at,
        closed,
        closed_by,
        r.last_seq as i64,
        r.last_activity,
    ])
    .map_err(|e| {
        if is_constraint(&e) {
            StoreError::Duplicate
        } else {
            e.into()
        }
    })?;
    for p in &r.participants {
        let joined = Joined {
            number: p.number.as_ref(),
            at: s.created_at,
            seq: p.joined_seq,
        };
        insert_participant(c, &s.key, &p.principal, joined)?;
    }
    Ok(())
}

/// [`Write::SessionState`].
pub(super) fn session_state(
    c: &Connection,
    key: &SessionKey,
    call: &CallState,
    closed: &Option<(String, Option<PrincipalId>)>,
    call_id: &Option<CallId>,
) -> Result<()> {
    let (reason, by) = match closed {
        Some((reason, by)) => (Some(reason.as_str()), by.as_ref().map(|p| p.as_str())),
        None => (None, None),
    };
    c.prepare_cached(
        "UPDATE sessions SET call_state = ?2, closed = ?3, closed_by = ?4,
         call_id = COALESCE(?5, call_id) WHERE key = ?1",
    )?
    .execute(params![
        key.as_str(),
        call.as_str(),
        reason,
        by,
        call_id.as_ref().map(|c| c.0.as_str())
    ])?;
    Ok(())
}

/// [`Write::RemoveParticipant`].
pub(super) fn remove_participant(
    c: &Connection,
    session: &SessionKey,
    principal: &PrincipalId,
) -> Result<()> {
    c.prepare_cached("DELETE FROM participants WHERE session = ?1 AND principal = ?2")?
        .execute(params![session.as_str(), principal.as_str()])?;
    Ok(())
}

/// [`Write::Message`].
pub(super) fn append_message(c: &Connection, m: &MessageRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO messages (session, seq, sender, client_id, kind, body, sent_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        m.session.as_str(),
        m.seq as i64,
        m.sender,
        m.client_id,
        m.kind,
        m.body,
        m.sent_at
    ])
    .map_err(|e| match &e {
        // Another writer took this sequence number (one process never does).
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict
        }
        _ if is_constraint(&e) => StoreError::Duplicate,
        _ => e.into(),
    })?;
    // The session's last_seq and activity time are its newest message's (see `session`).
    if let Some(blob) = &m.blob {
        c.prepare_cached(
            "INSERT INTO blob_refs (blob, session, seq) VALUES (?1, ?2, ?3)
             ON CONFLICT (blob, session) DO UPDATE SET seq = MAX(seq, excluded.seq)",
        )?
        .execute(params![blob.as_str(), m.session.as_str(), m.seq as i64])?;
    }
    Ok(())
}

/// [`Write::Ack`].
pub(super) fn ack(
    c: &Connection,
    session: &SessionKey,
    principal: &PrincipalId,
    seq: &u64,
) -> Result<()> {
    c.prepare_cached(
        "UPDATE participants SET acked_seq = MAX(acked_seq, ?3) WHERE session = ?1 AND principal = ?2",
    )?
    .execute(params![session.as_str(), principal.as_str(), *seq as i64])?;
    Ok(())
}

fn close_columns(closed: Option<&CloseReason>) -> (Option<&'static str>, Option<&str>) {
    match closed {
        None => (None, None),
        Some(CloseReason::ClosedBy(p)) => (Some("closed"), Some(p.as_str())),
        Some(r) => (Some(r.code()), None),
    }
}

/// How a participant came in: with which number, when, and after which message.
pub(super) struct Joined<'a> {
    pub(super) number: Option<&'a PhoneNumber>,
    pub(super) at: Millis,
    pub(super) seq: u64,
}

pub(super) fn insert_participant(
    c: &Connection,
    session: &SessionKey,
    principal: &PrincipalId,
    joined: Joined<'_>,
) -> Result<()> {
    c.prepare_cached(
        "INSERT OR IGNORE INTO participants (session, principal, number, joined_at, joined_seq)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        session.as_str(),
        principal.as_str(),
        joined.number.map(|n| n.as_str()),
        joined.at,
        joined.seq as i64
    ])?;
    Ok(())
}

/// [`Write::History`].
pub(super) fn history(
    c: &Connection,
    session: &SessionKey,
    principal: &PrincipalId,
    consent: &Option<HistoryConsent>,
) -> Result<()> {
    c.prepare_cached("UPDATE participants SET history = ?3 WHERE session = ?1 AND principal = ?2")?
        .execute(params![
            session.as_str(),
            principal.as_str(),
            consent.map(HistoryConsent::as_str)
        ])?;
    Ok(())
}

pub(super) fn session(c: &Connection, key: &SessionKey) -> Result<Option<SessionRecord>> {
    type SessionRow = (
        String,
        Option<String>,
        String,
        String,
        Millis,
        Option<String>,
        Option<String>,
        i64,
        Millis,
    );
    let row: Option<SessionRow> = c
        .prepare_cached(
            "SELECT origin, call_id, lifecycle, call_state, created_at, closed, closed_by, last_seq, last_activity
             FROM sessions WHERE key = ?1",
        )?
        .query_row([key.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
        })
        .optional()?;
    let Some((
        origin,
        call_id,
        lifecycle,
        call,
        created_at,
        closed,
        closed_by,
        last_seq,
        last_activity,
    )) = row
    else {
        return Ok(None);
    };
    // The sessions row keeps what was true when it was written; messages appended since (which
    // do not touch the row) move both marks to the newest one's.
    let newest: Option<(i64, Millis)> = c
        .prepare_cached(
            "SELECT seq, sent_at FROM messages WHERE session = ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([key.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (last_seq, last_activity) = match newest {
        Some((seq, at)) => (last_seq.max(seq), last_activity.max(at)),
        None => (last_seq, last_activity),
    };
    let participants: Vec<ParticipantRecord> = c
        .prepare_cached(
            "SELECT pa.principal, COALESCE(p.name, ''), pa.number, pa.acked_seq, pa.joined_seq,
                    pa.history
             FROM participants pa LEFT JOIN principals p ON p.id = pa.principal
             WHERE pa.session = ?1 ORDER BY pa.joined_at, pa.rowid",
        )?
        .query_map([key.as_str()], |r| {
            let number: Option<String> = r.get(2)?;
            let history: Option<String> = r.get(5)?;
            Ok(ParticipantRecord {
                principal: PrincipalId(r.get(0)?),
                name: r.get(1)?,
                number: number.map(PhoneNumber::from_stored),
                acked_seq: r.get::<_, i64>(3)? as u64,
                joined_seq: r.get::<_, i64>(4)? as u64,
                history: history.as_deref().and_then(HistoryConsent::parse),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let call_id = call_id.map(CallId);
    let origin = match origin.as_str() {
        "paired_legs" => Origin::PairedLegs,
        "invitation" => Origin::Invitation,
        "conference" => Origin::Conference,
        "click" => Origin::Click,
        "network" => Origin::Network(
            call_id
                .clone()
                .ok_or_else(|| corrupt("origin", "network without call"))?,
        ),
        other => return Err(corrupt("origin", other)),
    };
    let closed = match (closed.as_deref(), closed_by) {
        (None, _) => None,
        (Some("call_ended"), _) => Some(CloseReason::CallEnded),
        (Some("idle"), _) => Some(CloseReason::Idle),
        (Some("closed"), by) => Some(CloseReason::ClosedBy(PrincipalId(by.unwrap_or_default()))),
        (Some(other), _) => return Err(corrupt("close reason", other)),
    };
    let session = Session {
        key: key.clone(),
        origin,
        lifecycle: Lifecycle::parse(&lifecycle).ok_or_else(|| corrupt("lifecycle", &lifecycle))?,
        call: CallState::parse(&call).ok_or_else(|| corrupt("call state", &call))?,
        participants: participants.iter().map(|p| p.principal.clone()).collect(),
        created_at,
        closed,
    };
    Ok(Some(SessionRecord {
        session,
        call_id,
        participants,
        last_seq: last_seq as u64,
        last_activity,
    }))
}

fn keys(rows: Vec<String>) -> Result<Vec<SessionKey>> {
    rows.into_iter()
        .map(|k| SessionKey::parse(&k).ok_or_else(|| corrupt("session key", &k)))
        .collect()
}

pub(super) fn sessions_of(
    c: &Connection,
    principal: &PrincipalId,
    include_closed: bool,
) -> Result<Vec<SessionKey>> {
    let sql = if include_closed {
        "SELECT s.key FROM participants pa JOIN sessions s ON s.key = pa.session
         WHERE pa.principal = ?1 ORDER BY s.created_at DESC LIMIT 1000"
    } else {
        "SELECT s.key FROM participants pa JOIN sessions s ON s.key = pa.session
         WHERE pa.principal = ?1 AND s.closed IS NULL ORDER BY s.created_at DESC LIMIT 1000"
    };
    let rows = c
        .prepare_cached(sql)?
        .query_map([principal.as_str()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    keys(rows)
}

pub(super) fn idle_sessions(c: &Connection, before: Millis) -> Result<Vec<SessionKey>> {
    let rows = c
        .prepare_cached(
            "SELECT s.key FROM sessions s WHERE s.closed IS NULL AND s.last_activity < ?1
               AND COALESCE((SELECT m.sent_at FROM messages m WHERE m.session = s.key
                             ORDER BY m.seq DESC LIMIT 1), 0) < ?1
             LIMIT 10000",
        )?
        .query_map([before], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    keys(rows)
}

pub(super) fn messages_after(
    c: &Connection,
    key: &SessionKey,
    after: u64,
    limit: u32,
) -> Result<Vec<MessageRecord>> {
    let rows = c
        .prepare_cached(
            "SELECT seq, sender, client_id, kind, body, sent_at FROM messages
             WHERE session = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?
        .query_map(
            params![
                key.as_str(),
                i64::try_from(after).unwrap_or(i64::MAX),
                limit
            ],
            |r| {
                Ok(MessageRecord {
                    session: key.clone(),
                    seq: r.get::<_, i64>(0)? as u64,
                    sender: r.get(1)?,
                    client_id: r.get(2)?,
                    kind: r.get(3)?,
                    body: r.get(4)?,
                    sent_at: r.get(5)?,
                    blob: None,
                })
            },
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub(super) fn client_id_seq(
    c: &Connection,
    key: &SessionKey,
    sender: &str,
    client_id: &str,
) -> Result<Option<u64>> {
    Ok(c.prepare_cached(
        "SELECT seq FROM messages WHERE session = ?1 AND sender = ?2 AND client_id = ?3",
    )?
    .query_row(params![key.as_str(), sender, client_id], |r| {
        r.get::<_, i64>(0)
    })
    .optional()?
    .map(|s| s as u64))
}

pub(super) fn recent_client_ids(
    c: &Connection,
    key: &SessionKey,
    limit: u32,
) -> Result<Vec<(String, String, u64)>> {
    Ok(c.prepare_cached(
        "SELECT sender, client_id, seq FROM messages WHERE session = ?1 AND client_id IS NOT NULL
             ORDER BY seq DESC LIMIT ?2",
    )?
    .query_map(params![key.as_str(), limit], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
    })?
    .collect::<rusqlite::Result<_>>()?)
}

/// [`Write::Screen`].
pub(super) fn put_screen(c: &Connection, s: &ScreenRecord) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO screens (session, id, sender, seq, regions) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (session, id) DO UPDATE SET sender = ?3, seq = ?4, regions = ?5",
    )?
    .execute(params![
        s.session.as_str(),
        s.id,
        s.sender.as_str(),
        s.seq as i64,
        s.regions.join("\n")
    ])?;
    Ok(())
}

pub(super) fn screen(c: &Connection, key: &SessionKey, id: &str) -> Result<Option<ScreenRecord>> {
    Ok(
        c.prepare_cached(
            "SELECT sender, seq, regions FROM screens WHERE session = ?1 AND id = ?2",
        )?
        .query_row(params![key.as_str(), id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()?
        .map(|(sender, seq, regions)| ScreenRecord {
            session: key.clone(),
            id: id.to_owned(),
            sender: PrincipalId(sender),
            seq: seq as u64,
            regions: regions.split('\n').map(str::to_owned).collect(),
        }),
    )
}
