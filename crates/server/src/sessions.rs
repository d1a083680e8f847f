//! The session service: the ordered, durable log of every session, and its lifecycle.
//!
//! Each open session has a cell in memory holding its record and the client ids it has seen.
//! Appending takes the cell's lock, assigns the next sequence number, queues the write, and lets
//! go; the store commits in queue order and, on its writer thread, fans the message out and moves
//! the cell's `committed` mark. Callers answer only after the commit: persist, then acknowledge.

use crate::app::App;
use crate::client_ids::{ClientIds, Seen};
use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::http::wire as mapping;
use crate::hub::Outbound;
use callside_core::message::{self, BlobId, MessageKind};
use callside_core::session::{Change, Event};
use callside_core::{PrincipalId, SessionKey};
use callside_proto as proto;
use callside_proto::ws::ServerFrame;
use callside_store::{MessageRecord, ParticipantRecord, SessionRecord, Write};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// How many recent client ids are loaded with a session from the store.
const CLIENT_ID_WINDOW: u32 = 10_000;
/// How many client ids a session in memory keeps exactly (older ones go to a Bloom filter).
const CLIENT_IDS_EXACT: usize = 2 * CLIENT_ID_WINDOW as usize;
/// Sessions kept in memory before unused ones are dropped (they reload from the store).
const CACHE_SOFT_LIMIT: usize = 20_000;

pub(crate) struct Cell {
    state: tokio::sync::Mutex<CellState>,
    committed: watch::Sender<u64>,
}

struct CellState {
    rec: SessionRecord,
    client_ids: ClientIds,
}

/// The sessions in memory. Each use holds its cell (an `Arc`), so a cell nobody holds is unused
/// and may be dropped: it reloads from the store. Dropping happens when an insert finds the cache
/// at its trim mark, which then moves to twice what was kept (at least the soft limit), so a
/// cache full of sessions in use is not scanned on every insert.
struct Cache<V> {
    map: HashMap<SessionKey, Arc<V>>,
    trim_at: usize,
    soft_limit: usize,
}

impl<V> Cache<V> {
    fn new(soft_limit: usize) -> Self {
        Cache {
            map: HashMap::new(),
            trim_at: soft_limit,
            soft_limit,
        }
    }

    /// Adds `value` under `key` unless a value is there already; returns the one kept.
    fn insert(&mut self, key: SessionKey, value: Arc<V>) -> Arc<V> {
        if self.map.len() >= self.trim_at {
            self.map.retain(|_, v| Arc::strong_count(v) > 1);
            self.trim_at = (2 * self.map.len()).max(self.soft_limit);
        }
        self.map.entry(key).or_insert(value).clone()
    }
}

pub(crate) struct Sessions {
    cells: Mutex<Cache<Cell>>,
    /// Cursors moved since the last flush (acks are written in batches; see [`Sessions::ack`]).
    dirty_acks: Mutex<HashMap<(SessionKey, PrincipalId), u64>>,
    /// Location requests and capability queries waiting for an answer:
    /// (session, what was asked, request id) → (asker, deadline).
    requests: Mutex<HashMap<RequestKey, (PrincipalId, callside_core::Millis)>>,
    /// Live location updates per device: one a second.
    live_locations: Mutex<callside_core::ratelimit::Limiter<PrincipalId>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            cells: Mutex::new(Cache::new(CACHE_SOFT_LIMIT)),
            dirty_acks: Default::default(),
            requests: Default::default(),
            live_locations: Mutex::new(callside_core::ratelimit::Limiter::new(
                callside_core::ratelimit::Rate {
                    count: 1,
                    period_ms: 1000,
                },
            )),
        }
    }
}

/// A `geo:` URI (RFC 5870) for a position.
fn geo_uri(lat: f64, lon: f64, accuracy: Option<f64>) -> String {
    match accuracy {
        Some(u) => format!("geo:{lat},{lon};u={u}"),
        None => format!("geo:{lat},{lon}"),
    }
}

/// What a request waiting for an answer asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Asked {
    /// `location/request`, answered by `location` or `location/decline`.
    Location,
    /// `capability/query`, answered by `capability/answer`.
    Capability,
}

/// A request waiting for an answer: its session, what it asked, the asker's request id.
type RequestKey = (SessionKey, Asked, String);

fn request_id_ok(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A message body of kind `what`, or `400 invalid_message` naming the kind.
fn body<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad("invalid_message", format!("{what} body: {e}")))
}

/// Checks a request id, and the time to wait for an answer when the message asks something.
fn check_request(request: &str, timeout_secs: Option<u32>) -> Result<(), ApiError> {
    match timeout_secs {
        None if !request_id_ok(request) => Err(ApiError::bad(
            "invalid_message",
            "request ids are 1-64 visible characters",
        )),
        Some(t) if !request_id_ok(request) || !(5..=300).contains(&t) => Err(ApiError::bad(
            "invalid_message",
            "request ids are 1-64 visible characters; timeout_secs is 5-300",
        )),
        _ => Ok(()),
    }
}

/// A message whose sequence number is fixed and whose commit is on its way.
pub(crate) enum PendingSend {
    Written {
        accepted: proto::message::Accepted,
        commit: oneshot::Receiver<callside_store::Result<()>>,
        key: SessionKey,
    },
    /// A re-send of an id accepted before: answer once that first write is committed.
    Duplicate {
        accepted: proto::message::Accepted,
        committed: watch::Receiver<u64>,
    },
}

impl PendingSend {
    pub(crate) async fn wait(self, app: &App) -> Result<proto::message::Accepted, ApiError> {
        match self {
            PendingSend::Written {
                accepted,
                commit,
                key,
            } => {
                app.sessions.committed(&key, commit).await?;
                Ok(accepted)
            }
            PendingSend::Duplicate {
                accepted,
                mut committed,
            } => {
                let seq = accepted.seq;
                let wait = committed.wait_for(|c| *c >= seq);
                match tokio::time::timeout(Duration::from_secs(30), wait).await {
                    Ok(Ok(_)) => Ok(accepted),
                    _ => Err(ApiError::Unavailable),
                }
            }
        }
    }
}

/// A client's message, checked.
pub(crate) struct Outgoing {
    pub(crate) client_id: String,
    pub(crate) kind: MessageKind,
    pub(crate) body: String,
    pub(crate) blob: Option<BlobId>,
}

/// How a close reason is stored: its code and who closed.
fn close_columns(r: &callside_core::session::CloseReason) -> (String, Option<PrincipalId>) {
    let by = match r {
        callside_core::session::CloseReason::ClosedBy(p) => Some(p.clone()),
        _ => None,
    };
    (r.code().to_owned(), by)
}

impl Sessions {
    /// The cell of a session, loading it from the store if needed.
    pub(crate) async fn cell(&self, app: &App, key: &SessionKey) -> Result<Arc<Cell>, ApiError> {
        if let Some(c) = self
            .cells
            .lock()
            .expect("session cache poisoned")
            .map
            .get(key)
        {
            return Ok(c.clone());
        }
        let rec = app
            .store
            .session(key.clone())
            .await?
            .ok_or(ApiError::NotFound("session"))?;
        let recent = app
            .store
            .recent_client_ids(key.clone(), CLIENT_ID_WINDOW)
            .await?;
        let complete = (recent.len() as u32) < CLIENT_ID_WINDOW;
        let client_ids = ClientIds::loaded(CLIENT_IDS_EXACT, recent, complete);
        let cell = Arc::new(Cell {
            committed: watch::channel(rec.last_seq).0,
            state: tokio::sync::Mutex::new(CellState { rec, client_ids }),
        });
        Ok(self
            .cells
            .lock()
            .expect("session cache poisoned")
            .insert(key.clone(), cell))
    }

    /// Drops a cell so the next use reloads it (after a failed commit).
    /// Waits for a queued commit of `key`. If it failed, sequence numbers and state were moved
    /// in memory but not stored: the cached session is dropped so its next use starts again
    /// from what the store has.
    async fn committed(
        &self,
        key: &SessionKey,
        commit: oneshot::Receiver<callside_store::Result<()>>,
    ) -> Result<(), ApiError> {
        let e = match commit.await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e.into(),
            Err(_) => ApiError::Unavailable,
        };
        self.forget(key);
        Err(e)
    }

    fn forget(&self, key: &SessionKey) {
        self.cells
            .lock()
            .expect("session cache poisoned")
            .map
            .remove(key);
    }

    /// The session as the server has it (for the server's own tasks; no access check).
    pub(crate) async fn record(
        &self,
        app: &App,
        key: &SessionKey,
    ) -> Result<SessionRecord, ApiError> {
        let cell = self.cell(app, key).await?;
        let st = cell.state.lock().await;
        Ok(st.rec.clone())
    }

    /// The session as `who` may see it.
    pub(crate) async fn record_for(
        &self,
        app: &App,
        key: &SessionKey,
        who: &PrincipalId,
    ) -> Result<SessionRecord, ApiError> {
        self.read_as(app, key, who, SessionRecord::clone).await
    }

    /// Fails unless `who` takes part in the session (open or ended); copies nothing.
    pub(crate) async fn check_participant(
        &self,
        app: &App,
        key: &SessionKey,
        who: &PrincipalId,
    ) -> Result<(), ApiError> {
        self.read_as(app, key, who, |_| ()).await
    }

    /// Reads the session record as one of its participants.
    async fn read_as<R>(
        &self,
        app: &App,
        key: &SessionKey,
        who: &PrincipalId,
        read: impl FnOnce(&SessionRecord) -> R,
    ) -> Result<R, ApiError> {
        let cell = self.cell(app, key).await?;
        let st = cell.state.lock().await;
        if !st.rec.session.is_participant(who) {
            return Err(callside_core::session::SessionError::NotParticipant.into());
        }
        Ok(read(&st.rec))
    }

    /// Queues a new session; `extra` is committed with it. Participants hear a `session` frame
    /// after the commit. The caller awaits the returned commit before answering.
    pub(crate) async fn create(
        &self,
        app: &App,
        rec: SessionRecord,
        mut extra: Vec<Write>,
    ) -> Result<oneshot::Receiver<callside_store::Result<()>>, ApiError> {
        let key = rec.session.key.clone();
        let frame = mapping::frame_json(&ServerFrame::Session(mapping::session_info(&rec)));
        let to = rec.session.participants.clone();
        extra.push(Write::Session(rec.clone()));
        // The cell goes in first: the commit callback tells participants (and the card
        // delivery task) about the session, and whatever they send at once must find this cell,
        // not load a second one from the store.
        let cell = Arc::new(Cell {
            committed: watch::channel(rec.last_seq).0,
            state: tokio::sync::Mutex::new(CellState {
                rec,
                client_ids: ClientIds::new(CLIENT_IDS_EXACT),
            }),
        });
        // Held by the commit callback: an unused cell may be dropped from the cache, but not
        // before its session is in the store to be loaded again.
        let pinned = self
            .cells
            .lock()
            .expect("session cache poisoned")
            .insert(key.clone(), cell);
        let hub = app.hub.clone();
        let cards = app.cards.sender();
        let card_key = key.clone();
        let commit = app
            .store
            .submit(
                extra,
                Some(Box::new(move || {
                    drop(pinned);
                    hub.publish(&to, &Outbound::Frame(frame));
                    // Each side's card goes to the others (S3-F11), off the writer thread.
                    let _ = cards.send(card_key);
                })),
            )
            .await;
        let commit = match commit {
            Ok(c) => c,
            Err(e) => {
                self.forget(&key);
                return Err(e.into());
            }
        };
        crate::metrics::Metrics::inc(&app.metrics.sessions_created);
        Ok(commit)
    }

    /// Fixes the next sequence number for a client's message and queues its write.
    pub(crate) async fn prepare_send(
        &self,
        app: &App,
        who: &PrincipalId,
        key: &SessionKey,
        msg: Outgoing,
    ) -> Result<PendingSend, ApiError> {
        let cell = self.cell(app, key).await?;
        let mut st = cell.state.lock().await;
        st.rec.session.check_access(who)?;
        let id_key = (who.0.clone(), msg.client_id.clone());
        let seen = match st.client_ids.check(&id_key) {
            Seen::At(seq) => Some(seq),
            Seen::New => None,
            Seen::Ask => {
                app.store
                    .client_id_seq(key.clone(), who.0.clone(), msg.client_id.clone())
                    .await?
            }
        };
        if let Some(seq) = seen {
            return Ok(PendingSend::Duplicate {
                accepted: proto::message::Accepted {
                    session: key.to_string(),
                    seq,
                    id: msg.client_id,
                    duplicate: true,
                },
                committed: cell.committed.subscribe(),
            });
        }
        let seq = st.rec.last_seq + 1;
        let kind = msg.kind.clone();
        let body_for_tracking = match kind {
            MessageKind::Location
            | MessageKind::LocationRequest
            | MessageKind::LocationDecline
            | MessageKind::CapabilityQuery
            | MessageKind::CapabilityAnswer => msg.body.clone(),
            _ => String::new(),
        };
        let record = MessageRecord {
            session: key.clone(),
            seq,
            sender: who.0.clone(),
            client_id: Some(msg.client_id.clone()),
            kind: msg.kind.to_string(),
            body: msg.body,
            sent_at: now_ms(),
            blob: msg.blob,
        };
        let commit = self
            .queue(
                app,
                &cell,
                &st.rec.session.participants,
                vec![],
                vec![record],
                None,
            )
            .await?;
        st.rec.last_seq = seq;
        st.rec.last_activity = now_ms();
        st.client_ids.insert(id_key, seq);
        crate::metrics::Metrics::inc(&app.metrics.messages);
        self.track_requests(key, who, &kind, &body_for_tracking);
        Ok(PendingSend::Written {
            accepted: proto::message::Accepted {
                session: key.to_string(),
                seq,
                id: msg.client_id,
                duplicate: false,
            },
            commit,
            key: key.clone(),
        })
    }

    /// Remembers location requests and capability queries, and crosses off the ones answered
    /// or declined.
    fn track_requests(&self, key: &SessionKey, who: &PrincipalId, kind: &MessageKind, body: &str) {
        let request = |b: &str| -> Option<String> {
            serde_json::from_str::<serde_json::Value>(b)
                .ok()?
                .get("request")?
                .as_str()
                .map(str::to_owned)
        };
        let asked = |request: String, timeout_secs: u32| {
            (
                request,
                (who.clone(), now_ms() + i64::from(timeout_secs) * 1000),
            )
        };
        let (asked, opened) = match kind {
            MessageKind::LocationRequest => (
                Asked::Location,
                serde_json::from_str::<proto::message::LocationRequestBody>(body)
                    .ok()
                    .map(|r| asked(r.request, r.timeout_secs)),
            ),
            MessageKind::CapabilityQuery => (
                Asked::Capability,
                serde_json::from_str::<proto::component::CapabilityQueryBody>(body)
                    .ok()
                    .map(|r| asked(r.request, r.timeout_secs)),
            ),
            MessageKind::Location | MessageKind::LocationDecline => (Asked::Location, None),
            MessageKind::CapabilityAnswer => (Asked::Capability, None),
            _ => return,
        };
        let mut pending = self.requests.lock().expect("requests poisoned");
        match opened {
            Some((request, waiting)) => {
                if pending.len() < 100_000 {
                    pending.insert((key.clone(), asked, request), waiting);
                }
            }
            None => {
                if let Some(r) = request(body) {
                    // Only someone other than the asker answers a request.
                    let k = (key.clone(), asked, r);
                    if pending.get(&k).is_some_and(|(asker, _)| asker != who) {
                        pending.remove(&k);
                    }
                }
            }
        }
    }

    /// Requests nobody answered in time (housekeeping): a location request gets
    /// `system/location` `not_possible`, a capability query `system/capability` `no_answer`.
    pub(crate) async fn expire_requests(&self, app: &App) {
        let now = now_ms();
        let due: Vec<RequestKey> = {
            let mut pending = self.requests.lock().expect("requests poisoned");
            let due: Vec<_> = pending
                .iter()
                .filter(|(_, (_, deadline))| *deadline <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for k in &due {
                pending.remove(k);
            }
            due
        };
        for (key, asked, request) in due {
            let (kind, body) = match asked {
                Asked::Location => (
                    message::SYSTEM_LOCATION,
                    serde_json::to_string(&proto::message::SystemLocationBody {
                        request,
                        state: "not_possible".into(),
                    }),
                ),
                Asked::Capability => (
                    message::SYSTEM_CAPABILITY,
                    serde_json::to_string(&proto::component::SystemCapabilityBody {
                        request,
                        state: "no_answer".into(),
                    }),
                ),
            };
            let body = body.expect("serialises");
            if let Err(e) = self.append_system(app, &key, kind.into(), body).await {
                tracing::debug!(session = %key, error = %e, "no answer, and the session is gone");
            }
        }
    }

    /// Appends a server-written message (`system/*`, `derived/*`) to an open session; its
    /// sequence number, or `None` when the session is closed.
    pub(crate) async fn append_system(
        &self,
        app: &App,
        key: &SessionKey,
        kind: String,
        body: String,
    ) -> Result<Option<u64>, ApiError> {
        self.append_system_with(app, key, kind, body, vec![]).await
    }

    /// [`Sessions::append_system`] with `extra` writes committed in the same transaction (and
    /// not at all when the session is closed).
    pub(crate) async fn append_system_with(
        &self,
        app: &App,
        key: &SessionKey,
        kind: String,
        body: String,
        extra: Vec<Write>,
    ) -> Result<Option<u64>, ApiError> {
        let cell = self.cell(app, key).await?;
        let mut st = cell.state.lock().await;
        if st.rec.session.closed.is_some() {
            return Ok(None);
        }
        let seq = st.rec.last_seq + 1;
        let record = MessageRecord {
            session: key.clone(),
            seq,
            sender: "system".into(),
            client_id: None,
            kind,
            body,
            sent_at: now_ms(),
            blob: None,
        };
        let participants = st.rec.session.participants.clone();
        let commit = self
            .queue(app, &cell, &participants, extra, vec![record], None)
            .await?;
        st.rec.last_seq = seq;
        st.rec.last_activity = now_ms();
        drop(st);
        self.committed(key, commit).await?;
        Ok(Some(seq))
    }

    /// Queues `writes` and `messages` in one transaction; after the commit the messages go to
    /// `to` (plus `also` frames) and the committed mark moves.
    async fn queue(
        &self,
        app: &App,
        cell: &Arc<Cell>,
        to: &[PrincipalId],
        mut writes: Vec<Write>,
        messages: Vec<MessageRecord>,
        also: Option<(PrincipalId, Arc<str>)>,
    ) -> Result<oneshot::Receiver<callside_store::Result<()>>, ApiError> {
        let last = messages.last().map(|m| m.seq);
        let frames: Vec<Outbound> = messages
            .iter()
            .map(|m| Outbound::Message {
                key: m.session.clone(),
                seq: m.seq,
                json: mapping::message_frame_json(m),
            })
            .collect();
        // `app/<name>` messages with an operator transformer also go to it (after the commit).
        let jobs: Vec<crate::transform::Job> = messages
            .iter()
            .filter_map(|m| {
                let name = m.kind.strip_prefix("app/")?;
                app.config
                    .transformers
                    .contains_key(name)
                    .then(|| crate::transform::Job {
                        key: m.session.clone(),
                        seq: m.seq,
                        sender: m.sender.clone(),
                        app: name.to_owned(),
                        body: m.body.clone(),
                    })
            })
            .collect();
        let transform = (!jobs.is_empty()).then(|| app.transformers.sender());
        // Participants who did not write these messages and have no socket get a wake-up push.
        let senders: Vec<String> = messages.iter().map(|m| m.sender.clone()).collect();
        // Exactly: `extend` on an empty vector would round up to four `Write`s (over 1 KiB),
        // a large allocation that makes glibc consolidate its free lists on every message.
        writes.reserve_exact(messages.len());
        writes.extend(messages.into_iter().map(Write::Message));
        let hub = app.hub.clone();
        let to = to.to_vec();
        let cell2 = cell.clone();
        let waker = app.waker.clone();
        let on_commit = Box::new(move || {
            if let Some((p, frame)) = also {
                hub.publish([&p], &Outbound::Frame(frame));
            }
            for f in &frames {
                hub.publish(&to, f);
            }
            if !frames.is_empty() {
                let away: Vec<PrincipalId> = to
                    .iter()
                    .filter(|p| !senders.contains(&p.0) && !hub.is_connected(p))
                    .cloned()
                    .collect();
                if !away.is_empty() {
                    waker.wake(away, crate::push::Reason::Messages);
                }
            }
            if let Some(seq) = last {
                cell2.committed.send_replace(seq);
            }
            if let Some(tx) = transform {
                for job in jobs {
                    let _ = tx.send(job);
                }
            }
        });
        Ok(app.store.submit(writes, Some(on_commit)).await?)
    }

    /// Applies a lifecycle event: the state change, its `system/*` messages and `extra` writes
    /// commit together. Returns the session after the event.
    pub(crate) async fn transition(
        &self,
        app: &App,
        key: &SessionKey,
        event: Event,
        joiner: Option<ParticipantRecord>,
        extra: Vec<Write>,
    ) -> Result<SessionRecord, ApiError> {
        let cell = self.cell(app, key).await?;
        let mut st = cell.state.lock().await;
        let mut session = st.rec.session.clone();
        let changes = session.apply(event)?;
        if changes.is_empty() && extra.is_empty() {
            return Ok(st.rec.clone());
        }
        let mut rec = st.rec.clone();
        let mut writes = extra;
        let mut messages = Vec::new();
        let now = now_ms();
        let mut also = None;
        // Participants who left in this transition still hear of it.
        let mut leaving: Vec<PrincipalId> = Vec::new();
        for change in &changes {
            let (kind, body) = match change {
                Change::Call(state) => (
                    message::SYSTEM_CALL,
                    serde_json::to_string(&proto::message::CallBody {
                        state: mapping::call_state(*state),
                    }),
                ),
                Change::Joined(p) => {
                    let joined = joiner.clone().unwrap_or(ParticipantRecord {
                        principal: p.clone(),
                        name: String::new(),
                        number: None,
                        acked_seq: 0,
                    });
                    writes.push(Write::Participant {
                        session: key.clone(),
                        principal: p.clone(),
                        number: joined.number.clone(),
                        joined_at: now,
                    });
                    rec.participants.push(joined.clone());
                    (
                        message::SYSTEM_JOINED,
                        serde_json::to_string(&proto::message::JoinedBody {
                            participant: mapping::participant(&joined),
                        }),
                    )
                }
                Change::Transferred { from, to } => {
                    let number = rec
                        .participants
                        .iter()
                        .find(|p| &p.principal == from)
                        .and_then(|p| p.number.clone());
                    let took = ParticipantRecord {
                        number,
                        ..joiner.clone().unwrap_or(ParticipantRecord {
                            principal: to.clone(),
                            name: String::new(),
                            number: None,
                            acked_seq: 0,
                        })
                    };
                    writes.push(Write::RemoveParticipant {
                        session: key.clone(),
                        principal: from.clone(),
                    });
                    writes.push(Write::Participant {
                        session: key.clone(),
                        principal: to.clone(),
                        number: took.number.clone(),
                        joined_at: now,
                    });
                    rec.participants.retain(|p| &p.principal != from);
                    rec.participants.push(took.clone());
                    leaving.push(from.clone());
                    (
                        message::SYSTEM_TRANSFERRED,
                        serde_json::to_string(&proto::message::TransferredBody {
                            from: from.to_string(),
                            to: mapping::participant(&took),
                        }),
                    )
                }
                Change::Closed(reason) => {
                    crate::metrics::Metrics::inc(&app.metrics.sessions_closed);
                    let by = match reason {
                        callside_core::session::CloseReason::ClosedBy(p) => Some(p.0.clone()),
                        _ => None,
                    };
                    (
                        message::SYSTEM_CLOSED,
                        serde_json::to_string(&proto::message::ClosedBody {
                            reason: reason.code().to_owned(),
                            by,
                        }),
                    )
                }
            };
            rec.last_seq += 1;
            messages.push(MessageRecord {
                session: key.clone(),
                seq: rec.last_seq,
                sender: "system".into(),
                client_id: None,
                kind: kind.to_owned(),
                body: body.map_err(|e| ApiError::Internal(e.to_string()))?,
                sent_at: now,
                blob: None,
            });
        }
        rec.session = session;
        if let Some(j) = changes.iter().find_map(|c| match c {
            Change::Joined(p) | Change::Transferred { to: p, .. } => Some(p.clone()),
            _ => None,
        }) {
            also = Some((
                j,
                mapping::frame_json(&ServerFrame::Session(mapping::session_info(&rec))),
            ));
        }
        writes.push(Write::SessionState {
            key: key.clone(),
            call: rec.session.call,
            closed: rec.session.closed.as_ref().map(close_columns),
            call_id: rec.call_id.clone(),
        });
        let mut participants = rec.session.participants.clone();
        participants.extend(leaving);
        let commit = self
            .queue(app, &cell, &participants, writes, messages, also)
            .await?;
        st.rec = rec.clone();
        drop(st);
        self.committed(key, commit).await?;
        if changes
            .iter()
            .any(|c| matches!(c, Change::Joined(_) | Change::Transferred { .. }))
        {
            app.cards.request(key.clone());
        }
        Ok(rec)
    }

    /// Binds a session to a network call (no message: participants see the call's state).
    pub(crate) async fn bind_call(
        &self,
        app: &App,
        key: &SessionKey,
        call: callside_core::matching::CallId,
    ) -> Result<(), ApiError> {
        let cell = self.cell(app, key).await?;
        let mut st = cell.state.lock().await;
        st.rec.call_id = Some(call.clone());
        app.store
            .apply(vec![Write::SessionState {
                key: key.clone(),
                call: st.rec.session.call,
                closed: st.rec.session.closed.as_ref().map(close_columns),
                call_id: Some(call),
            }])
            .await?;
        Ok(())
    }

    /// Records that `who` processed everything up to `seq`.
    pub(crate) async fn ack(
        &self,
        app: &App,
        who: &PrincipalId,
        key: &SessionKey,
        seq: u64,
    ) -> Result<(), ApiError> {
        let cell = self.cell(app, key).await?;
        let mut st = cell.state.lock().await;
        if !st.rec.session.is_participant(who) {
            return Err(callside_core::session::SessionError::NotParticipant.into());
        }
        if seq > st.rec.last_seq {
            return Err(ApiError::bad(
                "invalid_ack",
                format!(
                    "cannot acknowledge {seq}: the newest message is {}",
                    st.rec.last_seq
                ),
            ));
        }
        if let Some(p) = st.rec.participants.iter_mut().find(|p| &p.principal == who) {
            if seq <= p.acked_seq {
                return Ok(());
            }
            p.acked_seq = seq;
        }
        drop(st);
        // The cursor in memory is what reconnects use; the store gets it with the next flush.
        // A crash loses at most the cursors of the last flush interval, which only means a
        // redelivery that clients de-duplicate by sequence number.
        let mut dirty = self.dirty_acks.lock().expect("ack map poisoned");
        let entry = dirty.entry((key.clone(), who.clone())).or_default();
        *entry = (*entry).max(seq);
        Ok(())
    }

    /// Writes the cursors moved since the last flush, in one transaction.
    pub(crate) async fn flush_acks(&self, app: &App) {
        let dirty = std::mem::take(&mut *self.dirty_acks.lock().expect("ack map poisoned"));
        if dirty.is_empty() {
            return;
        }
        let writes = dirty
            .into_iter()
            .map(|((session, principal), seq)| Write::Ack {
                session,
                principal,
                seq,
            })
            .collect();
        if let Err(e) = app.store.apply(writes).await {
            tracing::warn!(error = %e, "could not store acknowledgements; they will be redelivered");
        }
    }

    /// Messages after `after`, waiting up to `wait` for the first one.
    pub(crate) async fn messages(
        &self,
        app: &App,
        who: &PrincipalId,
        key: &SessionKey,
        after: u64,
        limit: u32,
        wait: Duration,
    ) -> Result<proto::message::MessagePage, ApiError> {
        let cell = self.cell(app, key).await?;
        let mut committed = cell.committed.subscribe();
        {
            let st = cell.state.lock().await;
            if !st.rec.session.is_participant(who) {
                return Err(callside_core::session::SessionError::NotParticipant.into());
            }
        }
        if *committed.borrow_and_update() <= after && !wait.is_zero() {
            let _ = tokio::time::timeout(wait, committed.wait_for(|c| *c > after)).await;
        }
        let last_seq = *committed.borrow();
        let messages = app.store.messages_after(key.clone(), after, limit).await?;
        Ok(proto::message::MessagePage {
            messages: messages.iter().map(mapping::message).collect(),
            last_seq,
        })
    }

    /// Checks a client's message and turns it into what the log stores.
    pub(crate) async fn check(
        &self,
        app: &App,
        who: &PrincipalId,
        send: proto::message::SendMessage,
    ) -> Result<Outgoing, ApiError> {
        message::check_client_id(&send.id)?;
        let kind = MessageKind::parse_client(&send.kind)?;
        let mut blob = None;
        let body = match &kind {
            MessageKind::Text => {
                let t: proto::message::TextBody = serde_json::from_value(send.body)
                    .map_err(|e| ApiError::bad("invalid_message", format!("text body: {e}")))?;
                if t.text.is_empty() {
                    return Err(ApiError::bad("invalid_message", "text must not be empty"));
                }
                serde_json::to_string(&t)
            }
            MessageKind::File => {
                let mut f: proto::message::FileBody = serde_json::from_value(send.body)
                    .map_err(|e| ApiError::bad("invalid_message", format!("file body: {e}")))?;
                message::check_file_name(&f.name)?;
                let id = BlobId::parse(&f.blob)?;
                // Missing and not yours look the same, so content hashes cannot be probed.
                let unknown = || {
                    ApiError::bad(
                        "unknown_blob",
                        format!(
                            "no blob {id} that you may share; upload it with POST /v1/blobs first"
                        ),
                    )
                };
                let stored = app.blobs.readable(who, &id).await?.ok_or_else(unknown)?;
                f.size = stored.size;
                f.mime = stored.mime;
                blob = Some(id);
                serde_json::to_string(&f)
            }
            MessageKind::App(_) => {
                if !send.body.is_object() {
                    return Err(ApiError::bad(
                        "invalid_message",
                        "an app/* body must be a JSON object",
                    ));
                }
                serde_json::to_string(&send.body)
            }
            MessageKind::Location => {
                let mut l: proto::message::LocationBody = body(send.body, "location")?;
                message::check_position(l.lat, l.lon, l.accuracy_m)?;
                if let Some(r) = &l.request {
                    check_request(r, None)?;
                }
                if l.live {
                    self.live_locations
                        .lock()
                        .expect("limiter poisoned")
                        .check(who.clone(), crate::clock::now_ms())?;
                }
                l.geo = Some(geo_uri(l.lat, l.lon, l.accuracy_m));
                serde_json::to_string(&l)
            }
            MessageKind::LocationRequest => {
                let r: proto::message::LocationRequestBody = body(send.body, "location/request")?;
                check_request(&r.request, Some(r.timeout_secs))?;
                serde_json::to_string(&r)
            }
            MessageKind::LocationDecline => {
                let r: proto::message::LocationDeclineBody = body(send.body, "location/decline")?;
                check_request(&r.request, None)?;
                serde_json::to_string(&r)
            }
            MessageKind::CapabilityQuery => {
                let q: proto::component::CapabilityQueryBody = body(send.body, "capability/query")?;
                check_request(&q.request, Some(q.timeout_secs))?;
                if q.features.is_empty() && q.components.is_empty() {
                    return Err(ApiError::bad(
                        "invalid_message",
                        "a capability query asks for at least one feature or component",
                    ));
                }
                crate::components::check_asked(&q.features, q.components.iter().cloned())?;
                serde_json::to_string(&q)
            }
            MessageKind::CapabilityAnswer => {
                let a: proto::component::CapabilityAnswerBody =
                    body(send.body, "capability/answer")?;
                check_request(&a.request, None)?;
                crate::components::check_declared(&a.features, &a.components)?;
                serde_json::to_string(&a)
            }
            MessageKind::System(_) | MessageKind::Card => {
                unreachable!("clients cannot send server-written kinds")
            }
        }
        .map_err(|e| ApiError::Internal(e.to_string()))?;
        if body.len() > app.config.max_message_bytes {
            return Err(ApiError::TooLarge(format!(
                "message body is {} bytes; the limit is {}",
                body.len(),
                app.config.max_message_bytes
            )));
        }
        Ok(Outgoing {
            client_id: send.id,
            kind,
            body,
            blob,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> SessionKey {
        SessionKey::parse(&format!("sk_{n:012x}{}", "a".repeat(24))).unwrap()
    }

    #[test]
    fn the_cache_drops_unused_sessions_and_keeps_those_in_use() {
        let mut cache = Cache::new(4);
        let held: Vec<Arc<u32>> = (0..2).map(|n| cache.insert(key(n), Arc::new(0))).collect();
        for n in 2..4 {
            cache.insert(key(n), Arc::new(0));
        }
        assert_eq!(cache.map.len(), 4);
        // At the mark: the two unused ones go, the held ones stay, the new one is added.
        let newest = key(99);
        cache.insert(newest.clone(), Arc::new(7));
        assert_eq!(cache.map.len(), 3);
        assert!(cache.map.contains_key(&key(0)) && cache.map.contains_key(&key(1)));
        assert_eq!(*cache.map[&newest], 7);
        drop(held);
    }

    #[test]
    fn a_cache_full_of_sessions_in_use_is_not_scanned_on_every_insert() {
        let mut cache = Cache::new(4);
        let held: Vec<Arc<u32>> = (0..4).map(|n| cache.insert(key(n), Arc::new(0))).collect();
        // All in use: the trim keeps the four and the next one waits until eight.
        cache.insert(key(4), Arc::new(0));
        assert_eq!(cache.trim_at, 8);
        for n in 5..8 {
            cache.insert(key(n), Arc::new(0));
        }
        assert_eq!(cache.map.len(), 8);
        // The ninth insert trims: the four unused ones go.
        cache.insert(key(8), Arc::new(0));
        assert_eq!(cache.map.len(), 5);
        assert_eq!(cache.trim_at, 8);
        drop(held);
    }

    #[test]
    fn inserting_a_known_key_keeps_the_cell_already_there() {
        let mut cache = Cache::new(4);
        let first = cache.insert(key(1), Arc::new(1));
        let second = cache.insert(key(1), Arc::new(2));
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(*second, 1);
    }
}
