//! Sessions, their participants and their message logs.

use super::sql::{col, corrupt, exec, exec_insert, row, rows, Db, Params};
use crate::{MessageRecord, ParticipantRecord, Result, ScreenRecord, SessionRecord, StoreError};
use callside_core::matching::CallId;
use callside_core::principal::PrincipalId;
use callside_core::session::{CallState, CloseReason, HistoryConsent, Lifecycle, Origin, Session};
use callside_core::{Millis, PhoneNumber, SessionKey};

/// [`Write::Session`].
pub(super) async fn insert_session(c: &impl Db, r: &SessionRecord) -> Result<()> {
    let s = &r.session;
    let (origin, call_id) = match &s.origin {
        Origin::PairedLegs => ("paired_legs", r.call_id.as_ref().map(|c| c.0.as_str())),
        Origin::Network(id) => ("network", Some(id.0.as_str())),
        Origin::Invitation => ("invitation", r.call_id.as_ref().map(|c| c.0.as_str())),
        Origin::Conference => ("conference", r.call_id.as_ref().map(|c| c.0.as_str())),
        Origin::Click => ("click", r.call_id.as_ref().map(|c| c.0.as_str())),
    };
    let (closed, closed_by) = close_columns(s.closed.as_ref());
    let last_seq = r.last_seq as i64;
    exec_insert(
        c,
        "INSERT INTO sessions (key, origin, call_id, lifecycle, call_state, created_at, closed,
         closed_by, last_seq, last_activity) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &s.key.as_str(),
            &origin,
            &call_id,
            &s.lifecycle.as_str(),
            &s.call.as_str(),
            &s.created_at,
            &closed,
            &closed_by,
            &last_seq,
            &r.last_activity,
        ],
    )
    .await?;
    if r.participants.is_empty() {
        return Ok(());
    }
    // All of them in one statement, in the list's order (`ord` follows it), each joining when
    // the session was created; one already there is left as it is (as `insert_participant`).
    let principals: Vec<&str> = r
        .participants
        .iter()
        .map(|p| p.principal.as_str())
        .collect();
    let numbers: Vec<Option<&str>> = r
        .participants
        .iter()
        .map(|p| p.number.as_ref().map(|n| n.as_str()))
        .collect();
    let joined_seqs: Vec<i64> = r.participants.iter().map(|p| p.joined_seq as i64).collect();
    exec(
        c,
        "INSERT INTO participants (session, principal, number, joined_at, joined_seq)
         SELECT $1::TEXT, p.principal, p.number, $2::BIGINT, p.joined_seq
         FROM UNNEST($3::TEXT[], $4::TEXT[], $5::BIGINT[])
              WITH ORDINALITY AS p(principal, number, joined_seq, i)
         ORDER BY p.i
         ON CONFLICT DO NOTHING",
        &[
            &s.key.as_str(),
            &s.created_at,
            &principals,
            &numbers,
            &joined_seqs,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::SessionState`].
pub(super) async fn session_state(
    c: &impl Db,
    key: &SessionKey,
    call: &CallState,
    closed: &Option<(String, Option<PrincipalId>)>,
    call_id: &Option<CallId>,
) -> Result<()> {
    let (reason, by) = match closed {
        Some((reason, by)) => (Some(reason.as_str()), by.as_ref().map(|p| p.as_str())),
        None => (None, None),
    };
    let call_id = call_id.as_ref().map(|c| c.0.as_str());
    exec(
        c,
        "UPDATE sessions SET call_state = $2, closed = $3, closed_by = $4,
         call_id = COALESCE($5, call_id) WHERE key = $1",
        &[&key.as_str(), &call.as_str(), &reason, &by, &call_id],
    )
    .await?;
    Ok(())
}

/// [`Write::RemoveParticipant`].
pub(super) async fn remove_participant(
    c: &impl Db,
    session: &SessionKey,
    principal: &PrincipalId,
) -> Result<()> {
    exec(
        c,
        "DELETE FROM participants WHERE session = $1 AND principal = $2",
        &[&session.as_str(), &principal.as_str()],
    )
    .await?;
    Ok(())
}

/// [`Write::Message`].
pub(super) async fn append_message(c: &impl Db, m: &MessageRecord) -> Result<()> {
    let seq = m.seq as i64;
    let statement = c
        .prepare_cached(
            "INSERT INTO messages (session, seq, sender, client_id, kind, body, sent_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    let params: Params<'_> = &[
        &m.session.as_str(),
        &seq,
        &m.sender,
        &m.client_id,
        &m.kind,
        &m.body,
        &m.sent_at,
    ];
    c.execute(&statement, params).await.map_err(|e| {
        let constraint = e.as_db_error().and_then(|d| d.constraint());
        match constraint {
            // Another node took this sequence number first.
            Some("messages_pkey") => StoreError::Conflict,
            Some(_) => StoreError::Duplicate,
            None => e.into(),
        }
    })?;
    // The session's last_seq and activity time are its newest message's (see `session`).
    if let Some(blob) = &m.blob {
        exec(
            c,
            "INSERT INTO blob_refs (blob, session, seq) VALUES ($1, $2, $3)
             ON CONFLICT (blob, session) DO UPDATE SET seq = GREATEST(blob_refs.seq, EXCLUDED.seq)",
            &[&blob.as_str(), &m.session.as_str(), &seq],
        )
        .await?;
    }
    Ok(())
}

/// Consecutive [`Write::Message`]s of one group commit, as one statement for the messages and
/// one for the blobs they name (the writer's fast path; a duplicate fails the statement and the
/// writer runs the batch again request by request).
pub(super) async fn append_messages(c: &impl Db, messages: &[&MessageRecord]) -> Result<()> {
    if let [one] = messages {
        return append_message(c, one).await;
    }
    let n = messages.len();
    let (mut sessions, mut seqs, mut senders, mut client_ids) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut kinds, mut bodies, mut sent_at) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    // One row per (blob, session), with the highest sequence number: an upsert may not touch a
    // row twice in one statement.
    let mut blobs: std::collections::BTreeMap<(&str, &str), i64> = Default::default();
    for m in messages {
        sessions.push(m.session.as_str());
        seqs.push(m.seq as i64);
        senders.push(m.sender.as_str());
        client_ids.push(m.client_id.as_deref());
        kinds.push(m.kind.as_str());
        bodies.push(m.body.as_str());
        sent_at.push(m.sent_at);
        if let Some(blob) = &m.blob {
            let seq = blobs
                .entry((blob.as_str(), m.session.as_str()))
                .or_default();
            *seq = (*seq).max(m.seq as i64);
        }
    }
    exec_insert(
        c,
        "INSERT INTO messages (session, seq, sender, client_id, kind, body, sent_at)
         SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
                              $6::TEXT[], $7::BIGINT[])",
        &[
            &sessions,
            &seqs,
            &senders,
            &client_ids,
            &kinds,
            &bodies,
            &sent_at,
        ],
    )
    .await?;
    if !blobs.is_empty() {
        let (mut ids, mut keys, mut seqs) = (Vec::new(), Vec::new(), Vec::new());
        for ((blob, session), seq) in blobs {
            ids.push(blob);
            keys.push(session);
            seqs.push(seq);
        }
        exec(
            c,
            "INSERT INTO blob_refs (blob, session, seq)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[])
             ON CONFLICT (blob, session) DO UPDATE SET seq = GREATEST(blob_refs.seq, EXCLUDED.seq)",
            &[&ids, &keys, &seqs],
        )
        .await?;
    }
    Ok(())
}

/// [`Write::Ack`].
pub(super) async fn ack(
    c: &impl Db,
    session: &SessionKey,
    principal: &PrincipalId,
    seq: &u64,
) -> Result<()> {
    let seq = *seq as i64;
    exec(
        c,
        "UPDATE participants SET acked_seq = GREATEST(acked_seq, $3)
         WHERE session = $1 AND principal = $2",
        &[&session.as_str(), &principal.as_str(), &seq],
    )
    .await?;
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

pub(super) async fn insert_participant(
    c: &impl Db,
    session: &SessionKey,
    principal: &PrincipalId,
    joined: Joined<'_>,
) -> Result<()> {
    let number = joined.number.map(|n| n.as_str());
    let seq = joined.seq as i64;
    exec(
        c,
        "INSERT INTO participants (session, principal, number, joined_at, joined_seq)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING",
        &[
            &session.as_str(),
            &principal.as_str(),
            &number,
            &joined.at,
            &seq,
        ],
    )
    .await?;
    Ok(())
}

/// [`Write::History`].
pub(super) async fn history(
    c: &impl Db,
    session: &SessionKey,
    principal: &PrincipalId,
    consent: &Option<HistoryConsent>,
) -> Result<()> {
    let consent = consent.map(HistoryConsent::as_str);
    exec(
        c,
        "UPDATE participants SET history = $3 WHERE session = $1 AND principal = $2",
        &[&session.as_str(), &principal.as_str(), &consent],
    )
    .await?;
    Ok(())
}

pub(super) async fn session(c: &impl Db, key: &SessionKey) -> Result<Option<SessionRecord>> {
    let Some(r) = row(
        c,
        "SELECT origin, call_id, lifecycle, call_state, created_at, closed, closed_by, last_seq,
                last_activity
         FROM sessions WHERE key = $1",
        &[&key.as_str()],
    )
    .await?
    else {
        return Ok(None);
    };
    let origin: String = col(&r, 0)?;
    let call_id: Option<String> = col(&r, 1)?;
    let lifecycle: String = col(&r, 2)?;
    let call: String = col(&r, 3)?;
    let created_at: Millis = col(&r, 4)?;
    let closed: Option<String> = col(&r, 5)?;
    let closed_by: Option<String> = col(&r, 6)?;
    let last_seq: i64 = col(&r, 7)?;
    let last_activity: Millis = col(&r, 8)?;
    // The sessions row keeps what was true when it was written; messages appended since (which
    // do not touch the row) move both marks to the newest one's.
    let newest = row(
        c,
        "SELECT seq, sent_at FROM messages WHERE session = $1 ORDER BY seq DESC LIMIT 1",
        &[&key.as_str()],
    )
    .await?;
    let (last_seq, last_activity) = match newest {
        Some(n) => {
            let seq: i64 = col(&n, 0)?;
            let at: Millis = col(&n, 1)?;
            (last_seq.max(seq), last_activity.max(at))
        }
        None => (last_seq, last_activity),
    };
    let participants = rows(
        c,
        "SELECT pa.principal, COALESCE(p.name, ''), pa.number, pa.acked_seq, pa.joined_seq,
                pa.history
         FROM participants pa LEFT JOIN principals p ON p.id = pa.principal
         WHERE pa.session = $1 ORDER BY pa.joined_at, pa.ord",
        &[&key.as_str()],
    )
    .await?
    .iter()
    .map(|r| -> Result<ParticipantRecord> {
        let number: Option<String> = col(r, 2)?;
        let history: Option<String> = col(r, 5)?;
        Ok(ParticipantRecord {
            principal: PrincipalId(col(r, 0)?),
            name: col(r, 1)?,
            number: number.map(PhoneNumber::from_stored),
            acked_seq: col::<i64>(r, 3)? as u64,
            joined_seq: col::<i64>(r, 4)? as u64,
            history: history.as_deref().and_then(HistoryConsent::parse),
        })
    })
    .collect::<Result<Vec<ParticipantRecord>>>()?;
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

pub(super) async fn sessions_of(
    c: &impl Db,
    principal: &PrincipalId,
    include_closed: bool,
) -> Result<Vec<SessionKey>> {
    let sql = if include_closed {
        "SELECT s.key FROM participants pa JOIN sessions s ON s.key = pa.session
         WHERE pa.principal = $1 ORDER BY s.created_at DESC LIMIT 1000"
    } else {
        "SELECT s.key FROM participants pa JOIN sessions s ON s.key = pa.session
         WHERE pa.principal = $1 AND s.closed IS NULL ORDER BY s.created_at DESC LIMIT 1000"
    };
    let found = rows(c, sql, &[&principal.as_str()])
        .await?
        .iter()
        .map(|r| col(r, 0))
        .collect::<Result<Vec<String>>>()?;
    keys(found)
}

pub(super) async fn idle_sessions(c: &impl Db, before: Millis) -> Result<Vec<SessionKey>> {
    let found = rows(
        c,
        "SELECT s.key FROM sessions s WHERE s.closed IS NULL AND s.last_activity < $1
           AND COALESCE((SELECT m.sent_at FROM messages m WHERE m.session = s.key
                         ORDER BY m.seq DESC LIMIT 1), 0) < $1
         LIMIT 10000",
        &[&before],
    )
    .await?
    .iter()
    .map(|r| col(r, 0))
    .collect::<Result<Vec<String>>>()?;
    keys(found)
}

pub(super) async fn messages_after(
    c: &impl Db,
    key: &SessionKey,
    after: u64,
    limit: u32,
) -> Result<Vec<MessageRecord>> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::from(limit);
    rows(
        c,
        "SELECT seq, sender, client_id, kind, body, sent_at FROM messages
         WHERE session = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        &[&key.as_str(), &after, &limit],
    )
    .await?
    .iter()
    .map(|r| -> Result<MessageRecord> {
        Ok(MessageRecord {
            session: key.clone(),
            seq: col::<i64>(r, 0)? as u64,
            sender: col(r, 1)?,
            client_id: col(r, 2)?,
            kind: col(r, 3)?,
            body: col(r, 4)?,
            sent_at: col(r, 5)?,
            blob: None,
        })
    })
    .collect()
}

pub(super) async fn client_id_seq(
    c: &impl Db,
    key: &SessionKey,
    sender: &str,
    client_id: &str,
) -> Result<Option<u64>> {
    let found = row(
        c,
        "SELECT seq FROM messages WHERE session = $1 AND sender = $2 AND client_id = $3",
        &[&key.as_str(), &sender, &client_id],
    )
    .await?;
    found
        .map(|r| col::<i64>(&r, 0).map(|s| s as u64))
        .transpose()
}

pub(super) async fn recent_client_ids(
    c: &impl Db,
    key: &SessionKey,
    limit: u32,
) -> Result<Vec<(String, String, u64)>> {
    let limit = i64::from(limit);
    rows(
        c,
        "SELECT sender, client_id, seq FROM messages WHERE session = $1 AND client_id IS NOT NULL
         ORDER BY seq DESC LIMIT $2",
        &[&key.as_str(), &limit],
    )
    .await?
    .iter()
    .map(|r| -> Result<(String, String, u64)> {
        Ok((col(r, 0)?, col(r, 1)?, col::<i64>(r, 2)? as u64))
    })
    .collect()
}

/// [`Write::Screen`].
pub(super) async fn put_screen(c: &impl Db, s: &ScreenRecord) -> Result<()> {
    let seq = s.seq as i64;
    let regions = s.regions.join("\n");
    exec(
        c,
        "INSERT INTO screens (session, id, sender, seq, regions) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (session, id) DO UPDATE SET sender = $3, seq = $4, regions = $5",
        &[
            &s.session.as_str(),
            &s.id,
            &s.sender.as_str(),
            &seq,
            &regions,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn screen(
    c: &impl Db,
    key: &SessionKey,
    id: &str,
) -> Result<Option<ScreenRecord>> {
    let Some(r) = row(
        c,
        "SELECT sender, seq, regions FROM screens WHERE session = $1 AND id = $2",
        &[&key.as_str(), &id],
    )
    .await?
    else {
        return Ok(None);
    };
    let sender: String = col(&r, 0)?;
    let seq: i64 = col(&r, 1)?;
    let regions: String = col(&r, 2)?;
    Ok(Some(ScreenRecord {
        session: key.clone(),
        id: id.to_owned(),
        sender: PrincipalId(sender),
        seq: seq as u64,
        regions: regions.split('\n').map(str::to_owned).collect(),
    }))
}
