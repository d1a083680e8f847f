//! Sessions: the ordered, durable log of every session and its lifecycle. Every session source —
//! paired legs, a network element's call, an accepted invitation, and the automated systems and
//! web calls to come — creates its session with [`Sessions::open`]; every participant's message,
//! over HTTP or the WebSocket, goes through [`Sessions::send`]; server-written entries (call
//! state, joins, closing, component offers, "no answer") through [`Sessions::transition`] and
//! [`Sessions::append_notice`].
//!
//! Each open session has a cell in memory holding its record and the client ids it has seen.
//! Appending takes the cell's lock, assigns the next sequence number, queues the write, and lets
//! go; the store commits in queue order and, on its writer thread, fans the message out through
//! the hub and moves the cell's `committed` mark. Callers answer only after the commit: persist,
//! then acknowledge.
//!
//! May touch: the store, the hub, the push waker, metrics. Tells the services above it that a
//! commit landed through bounded channels ([`Listeners`]: card delivery, derived data); calls no
//! other service. What its log entries and frames look like on the wire comes through [`Wire`].

mod cache;
pub(crate) mod client_ids;
pub(crate) mod http;
mod lifecycle;
mod notice;
mod remote;
mod requests;
mod screens;

pub(crate) use notice::Notice;
pub(crate) use remote::RemoteAppend;
pub(crate) use requests::{Asked, Tracking};

use crate::clock::now_ms;
use crate::hub::{Hub, Outbound};
use crate::metrics::Metrics;
use crate::push::{Reason, Waker};
use crate::Store;
use cache::{Cache, Cell};
use callside_core::matching::CallId;
use callside_core::message::{BlobId, MessageKind};
use callside_core::ratelimit::{Limited, Limiter, Rate};
use callside_core::session::{Lifecycle, Origin, Session, SessionError};
use callside_core::{Millis, PrincipalId, SessionKey};
use callside_store::{Commit, MessageRecord, ParticipantRecord, SessionRecord, StoreError, Write};
use client_ids::{ClientIds, Seen};
use requests::Requests;
pub(crate) use screens::ScreenUse;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How many recent client ids are loaded with a session from the store.
const CLIENT_ID_WINDOW: u32 = 10_000;
/// How many client ids a session in memory keeps exactly (older ones go to a Bloom filter).
const CLIENT_IDS_EXACT: usize = 2 * CLIENT_ID_WINDOW as usize;
/// Sessions kept in memory before unused ones are dropped (they reload from the store).
const CACHE_SOFT_LIMIT: usize = 20_000;
/// A session in memory nobody used for this long is dropped by the idle sweep.
const CELL_IDLE_MS: Millis = 120_000;

/// How the log's server-written entries and the live frames look on the wire, a format only the
/// HTTP edge knows (implemented in `http.rs`).
pub(crate) trait Wire: Send + Sync {
    /// The whole `message` frame of a stored message (written once, shared by every socket).
    fn message_frame(&self, m: &MessageRecord) -> Arc<str>;
    /// The `session` frame participants get when a session opens or they join it.
    fn session_frame(&self, s: &SessionRecord) -> Arc<str>;
    /// The body of a server-written entry.
    fn notice(&self, n: &Notice<'_>) -> String;
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("session not found")]
    NotFound,
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("cannot acknowledge {seq}: the newest message is {newest}")]
    InvalidAck { seq: u64, newest: u64 },
    #[error("you have {} location or capability requests waiting for an answer; wait for one to be answered or to time out", requests::MAX_PER_ASKER)]
    TooManyAsked,
    #[error("after = {after} is beyond the log, which ends at {newest}: pass the last sequence number you have (0 for all)")]
    AfterBeyondLog { after: u64, newest: u64 },
    #[error("message body is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    RateLimited(#[from] Limited),
    #[error("only a device hands its place to another device")]
    DevicesOnly,
    #[error("the target device does not own the number this device takes part with")]
    NotSameUser,
    #[error("device not found")]
    NoDevice,
    #[error("no screen `{0}` on this session that you were shown")]
    UnknownScreen(String),
    #[error("screen `{screen}` offers no region `{region}`")]
    UnknownRegion { screen: String, region: String },
    #[error("a screen is acknowledged and acted on by those it was sent to, not by its sender")]
    OwnScreen,
    #[error("only automated systems send screens")]
    SystemsOnly,
    #[error("only a merchant's agent changes a visitor's media")]
    AgentsOnly,
    #[error("the commit did not complete")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// Another node numbered the session first (the session was reloaded; sending again works).
    pub(crate) fn is_conflict(&self) -> bool {
        matches!(self, Error::Store(StoreError::Conflict))
    }
}

/// A listener for sessions established or joined, and the counter of what it missed.
pub(crate) struct Established {
    pub(crate) tx: mpsc::Sender<SessionKey>,
    pub(crate) dropped: fn(&Metrics) -> &prometheus_client::metrics::counter::Counter,
}

/// Who hears that a commit landed, besides the participants' sockets.
#[derive(Default)]
pub(crate) struct Listeners {
    /// Sessions established or joined (card delivery, S3-F11; predetermined screens, S1-F11).
    pub(crate) established: Vec<Established>,
    /// Committed `app/<name>` messages whose app has a transformer (derived data, S1-F1).
    pub(crate) app_messages: Option<mpsc::Sender<AppMessage>>,
}

/// A committed `app/*` message for its transformer.
pub(crate) struct AppMessage {
    pub(crate) key: SessionKey,
    pub(crate) seq: u64,
    pub(crate) sender: String,
    pub(crate) app: String,
    pub(crate) body: String,
    /// When its work was queued (`Write::DerivedJob`).
    pub(crate) queued_at: Millis,
}

/// What the session service needs to know of the deployment.
pub(crate) struct Settings {
    /// Largest message body a client may send.
    pub(crate) max_message_bytes: usize,
    /// Apps whose `app/<name>` messages go to a transformer.
    pub(crate) transformed: HashSet<String>,
}

/// A new session, from whichever source: its participants and how it came about.
pub(crate) struct NewSession {
    pub(crate) key: SessionKey,
    pub(crate) origin: Origin,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) participants: Vec<ParticipantRecord>,
    pub(crate) call_id: Option<CallId>,
    pub(crate) at: callside_core::Millis,
}

/// A session queued for its commit ([`Sessions::opened`] waits for it).
pub(crate) struct Opening {
    key: SessionKey,
    commit: Commit,
}

/// A participant's message, checked: its kind, its body as stored, the blob a file references,
/// and what it asks or answers.
pub(crate) struct Outgoing {
    pub(crate) client_id: String,
    pub(crate) kind: MessageKind,
    pub(crate) body: String,
    pub(crate) blob: Option<BlobId>,
    pub(crate) tracking: Option<Tracking>,
    pub(crate) screen: Option<ScreenUse>,
}

/// A message accepted onto a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub(crate) session: SessionKey,
    pub(crate) seq: u64,
    pub(crate) id: String,
    /// The client id was accepted before: this is that message.
    pub(crate) duplicate: bool,
}

/// A message whose sequence number is fixed and whose commit is on its way.
pub(crate) enum PendingSend {
    Written {
        accepted: Accepted,
        commit: Commit,
    },
    /// A re-send of an id accepted before: answer once that first write is committed.
    Duplicate {
        accepted: Accepted,
        committed: watch::Receiver<u64>,
    },
}

impl PendingSend {
    /// Waits until the message is durable.
    pub(crate) async fn wait(self, sessions: &Sessions) -> Result<Accepted, Error> {
        match self {
            PendingSend::Written { accepted, commit } => {
                sessions.committed(&accepted.session, commit).await?;
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
                    _ => Err(Error::Unavailable),
                }
            }
        }
    }
}

/// A page of a session's log.
pub(crate) struct Page {
    pub(crate) messages: Vec<MessageRecord>,
    /// The newest committed sequence number.
    pub(crate) last_seq: u64,
}

pub(crate) struct Sessions {
    store: Store,
    hub: Arc<Hub>,
    wire: Arc<dyn Wire>,
    waker: Waker,
    listeners: Arc<Listeners>,
    metrics: Arc<Metrics>,
    settings: Settings,
    cells: Mutex<Cache<Cell>>,
    /// Cursors moved since the last flush (acks are written in batches; see [`Sessions::ack`]).
    dirty_acks: Mutex<HashMap<(SessionKey, PrincipalId), u64>>,
    requests: Mutex<Requests>,
    /// Live location updates per device: one a second.
    live_locations: Mutex<Limiter<PrincipalId>>,
}

/// Never waits (it runs on the store's writer thread): a listener this far behind misses the
/// session (its cards or screen are not delivered automatically), and the drop is counted.
fn tell_established(to: &[Established], metrics: &Metrics, key: &SessionKey) {
    for l in to {
        if l.tx.try_send(key.clone()).is_err() {
            Metrics::inc((l.dropped)(metrics));
        }
    }
}

impl Sessions {
    pub(crate) fn new(
        store: Store,
        hub: Arc<Hub>,
        wire: Arc<dyn Wire>,
        waker: Waker,
        listeners: Listeners,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Self {
        Sessions {
            store,
            hub,
            wire,
            waker,
            listeners: Arc::new(listeners),
            metrics,
            settings,
            cells: Mutex::new(Cache::new(CACHE_SOFT_LIMIT)),
            dirty_acks: Default::default(),
            requests: Default::default(),
            live_locations: Mutex::new(Limiter::new(Rate {
                count: 1,
                period_ms: 1000,
            })),
        }
    }

    /// The cell of a session, loading it from the store if needed.
    async fn cell(&self, key: &SessionKey) -> Result<Arc<Cell>, Error> {
        if let Some(c) = self
            .cells
            .lock()
            .expect("session cache poisoned")
            .map
            .get(key)
        {
            c.touch();
            return Ok(c.clone());
        }
        let rec = self
            .store
            .session(key.clone())
            .await?
            .ok_or(Error::NotFound)?;
        let recent = self
            .store
            .recent_client_ids(key.clone(), CLIENT_ID_WINDOW)
            .await?;
        let complete = (recent.len() as u32) < CLIENT_ID_WINDOW;
        let cell = Cell::new(rec, ClientIds::loaded(CLIENT_IDS_EXACT, recent, complete));
        Ok(self
            .cells
            .lock()
            .expect("session cache poisoned")
            .insert(key.clone(), cell))
    }

    /// Drops the sessions in memory nobody used for [`CELL_IDLE_MS`] (they reload from the
    /// store when used again): memory follows the sessions in use, not all those ever used.
    pub(crate) fn evict_idle(&self) -> usize {
        let since = now_ms() - CELL_IDLE_MS;
        self.cells
            .lock()
            .expect("session cache poisoned")
            .evict(|c| c.used_since(since))
    }

    /// After `who`'s data was erased: the sessions in memory show it without name or number,
    /// as the store now does, and its unflushed read cursors are dropped.
    pub(crate) async fn forget_participant(&self, who: &PrincipalId) {
        let cells: Vec<Arc<Cell>> = self
            .cells
            .lock()
            .expect("session cache poisoned")
            .map
            .values()
            .cloned()
            .collect();
        for cell in cells {
            let mut state = cell.state.lock().await;
            for p in state
                .rec
                .participants
                .iter_mut()
                .filter(|p| &p.principal == who)
            {
                p.name.clear();
                p.number = None;
            }
        }
        self.dirty_acks
            .lock()
            .expect("acks poisoned")
            .retain(|(_, p), _| p != who);
    }

    /// Waits for a queued commit of `key`. If it failed, sequence numbers and state were moved
    /// in memory but not stored: the cached session is dropped so its next use starts again
    /// from what the store has.
    async fn committed(&self, key: &SessionKey, commit: Commit) -> Result<(), Error> {
        let e = match commit.await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e.into(),
            Err(_) => Error::Unavailable,
        };
        if e.is_conflict() {
            Metrics::inc(&self.metrics.sequence_conflicts);
        }
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
    pub(crate) async fn record(&self, key: &SessionKey) -> Result<SessionRecord, Error> {
        let cell = self.cell(key).await?;
        let st = cell.state.lock().await;
        Ok(st.rec.clone())
    }

    /// The session as `who` may see it.
    pub(crate) async fn record_for(
        &self,
        key: &SessionKey,
        who: &PrincipalId,
    ) -> Result<SessionRecord, Error> {
        self.read_as(key, who, SessionRecord::clone).await
    }

    /// Fails unless `who` takes part in the session (open or ended); copies nothing.
    pub(crate) async fn check_participant(
        &self,
        key: &SessionKey,
        who: &PrincipalId,
    ) -> Result<(), Error> {
        self.read_as(key, who, |_| ()).await
    }

    /// Reads the session record as one of its participants.
    async fn read_as<R>(
        &self,
        key: &SessionKey,
        who: &PrincipalId,
        read: impl FnOnce(&SessionRecord) -> R,
    ) -> Result<R, Error> {
        let cell = self.cell(key).await?;
        let st = cell.state.lock().await;
        if !st.rec.session.is_participant(who) {
            return Err(SessionError::NotParticipant.into());
        }
        Ok(read(&st.rec))
    }

    /// The sessions `who` takes part in, newest first (closed ones too with `all`).
    pub(crate) async fn list(
        &self,
        who: &PrincipalId,
        all: bool,
    ) -> Result<Vec<SessionRecord>, Error> {
        let keys = self.store.sessions_of(who.clone(), all).await?;
        let mut sessions = Vec::with_capacity(keys.len());
        for k in keys {
            sessions.push(self.record_for(&k, who).await?);
        }
        Ok(sessions)
    }

    /// The open sessions `who` takes part in, skipping any it can no longer read (for a
    /// connection's `ready` frame).
    pub(crate) async fn open_of(&self, who: &PrincipalId) -> Result<Vec<SessionRecord>, Error> {
        let keys = self.store.sessions_of(who.clone(), false).await?;
        let mut sessions = Vec::with_capacity(keys.len());
        for k in &keys {
            if let Ok(rec) = self.record_for(k, who).await {
                sessions.push(rec);
            }
        }
        Ok(sessions)
    }

    /// Queues a new session with `extra` writes committed with it; participants hear a `session`
    /// frame after the commit. The caller waits with [`Sessions::opened`] before answering.
    pub(crate) async fn open(&self, new: NewSession, extra: Vec<Write>) -> Result<Opening, Error> {
        self.open_with(new, extra, None).await
    }

    /// [`Sessions::open`] with a server-written first entry on the log, committed with the
    /// session: whoever hears of the session can read it (a voicemail learns whose mailbox the
    /// call is for before anything else).
    pub(crate) async fn open_noticed(
        &self,
        new: NewSession,
        extra: Vec<Write>,
        notice: &Notice<'_>,
    ) -> Result<Opening, Error> {
        let first = (notice.kind(), self.wire.notice(notice));
        self.open_with(new, extra, Some(first)).await
    }

    async fn open_with(
        &self,
        new: NewSession,
        mut extra: Vec<Write>,
        first: Option<(&'static str, String)>,
    ) -> Result<Opening, Error> {
        let key = new.key.clone();
        let participants: Vec<PrincipalId> = new
            .participants
            .iter()
            .map(|p| p.principal.clone())
            .collect();
        let rec = SessionRecord {
            session: Session::new(
                key.clone(),
                new.origin,
                new.lifecycle,
                participants.clone(),
                new.at,
            ),
            call_id: new.call_id,
            participants: new.participants,
            last_seq: 0,
            last_activity: new.at,
        };
        // The session goes first: what commits with it may refer to it.
        extra.insert(0, Write::Session(rec.clone()));
        let first = first.map(|(kind, body)| MessageRecord {
            session: key.clone(),
            seq: 1,
            sender: "system".into(),
            client_id: None,
            kind: kind.to_owned(),
            body,
            sent_at: new.at,
            blob: None,
        });
        let mut rec = rec;
        let mut first_frame = None;
        if let Some(m) = &first {
            rec.last_seq = 1;
            first_frame = Some(Outbound::Message {
                key: key.clone(),
                seq: 1,
                json: self.wire.message_frame(m),
                at: std::time::Instant::now(),
            });
            extra.push(Write::Message(m.clone()));
        }
        let frame = self.wire.session_frame(&rec);
        // The cell goes in first: the commit callback tells participants (and the card
        // delivery task) about the session, and whatever they send at once must find this cell,
        // not load a second one from the store.
        let cell = Cell::new(rec, ClientIds::new(CLIENT_IDS_EXACT));
        // The first entry counts as committed only once it is.
        cell.committed.send_replace(0);
        let committed = cell.clone();
        // Held by the commit callback: an unused cell may be dropped from the cache, but not
        // before its session is in the store to be loaded again.
        let pinned = self
            .cells
            .lock()
            .expect("session cache poisoned")
            .insert(key.clone(), cell);
        let hub = self.hub.clone();
        let listeners = self.listeners.clone();
        let metrics = self.metrics.clone();
        let established_key = key.clone();
        let commit = self
            .store
            .submit(
                extra,
                Some(Box::new(move || {
                    drop(pinned);
                    hub.publish(&participants, &Outbound::Frame(frame));
                    if let Some(m) = first_frame {
                        committed.committed.send_replace(1);
                        hub.publish(&participants, &m);
                    }
                    // Each side's card goes to the others (S3-F11), off the writer thread.
                    tell_established(&listeners.established, &metrics, &established_key);
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
        Metrics::inc(&self.metrics.sessions_created);
        Ok(Opening { key, commit })
    }

    /// Tells the listeners that `key` was established or joined.
    fn established(&self, key: &SessionKey) {
        tell_established(&self.listeners.established, &self.metrics, key);
    }

    /// Waits until an opened session is durable.
    pub(crate) async fn opened(&self, opening: Opening) -> Result<SessionKey, Error> {
        self.committed(&opening.key, opening.commit).await?;
        Ok(opening.key)
    }

    /// Refuses a client's message body over the configured size.
    pub(crate) fn check_size(&self, body: &str) -> Result<(), Error> {
        if body.len() > self.settings.max_message_bytes {
            return Err(Error::TooLarge {
                size: body.len(),
                limit: self.settings.max_message_bytes,
            });
        }
        Ok(())
    }

    /// A live location update from `who` (one a second).
    /// Every node of a cluster counts what the others let through.
    pub(crate) fn allow_live_location(&self, who: &PrincipalId) -> Result<(), Error> {
        self.live_locations
            .lock()
            .expect("limiter poisoned")
            .check(who.clone(), now_ms())?;
        if let Some(peers) = self.hub.peers() {
            peers.counted(crate::hub::Counted::LiveLocation(who.clone()));
        }
        Ok(())
    }

    /// Another node let a live location update from `who` through.
    pub(crate) fn live_location_elsewhere(&self, who: PrincipalId) {
        self.live_locations
            .lock()
            .expect("limiter poisoned")
            .count(who, now_ms());
    }

    /// Appends a participant's message (from a client over HTTP or the WebSocket, or a card the
    /// server delivers on its owner's behalf): fixes its sequence number and queues its write.
    /// A client id accepted before answers with that message instead.
    pub(crate) async fn send(
        &self,
        who: &PrincipalId,
        key: &SessionKey,
        msg: Outgoing,
    ) -> Result<PendingSend, Error> {
        let cell = self.cell(key).await?;
        let mut st = cell.state.lock().await;
        st.rec.session.check_access(who)?;
        let id_key = client_ids::IdKey::of(&who.0, &msg.client_id);
        let seen = match st.client_ids.check(&id_key) {
            Seen::At(seq) => Some(seq),
            Seen::New => None,
            Seen::Ask => {
                self.store
                    .client_id_seq(key.clone(), who.0.clone(), msg.client_id.clone())
                    .await?
            }
        };
        if let Some(seq) = seen {
            return Ok(PendingSend::Duplicate {
                accepted: Accepted {
                    session: key.clone(),
                    seq,
                    id: msg.client_id,
                    duplicate: true,
                },
                committed: cell.committed.subscribe(),
            });
        }
        if matches!(msg.tracking, Some(Tracking::Asks { .. }))
            && !self
                .requests
                .lock()
                .expect("requests poisoned")
                .may_ask(who)
        {
            return Err(Error::TooManyAsked);
        }
        let seq = st.rec.last_seq + 1;
        let mut writes = Vec::new();
        if let Some(used) = &msg.screen {
            let seen_after = st
                .rec
                .participants
                .iter()
                .find(|p| &p.principal == who)
                .map_or(0, |p| p.joined_seq);
            writes.extend(
                self.check_screen_use(key, who, seen_after, seq, used)
                    .await?,
            );
        }
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
        let to = st.rec.session.participants.clone();
        let commit = self.queue(&cell, &to, writes, vec![record], None).await?;
        st.rec.last_seq = seq;
        st.rec.last_activity = now_ms();
        st.client_ids.insert(id_key, seq);
        Metrics::inc(&self.metrics.messages);
        if let Some(t) = msg.tracking {
            if let (Some(peers), Tracking::Answers { asked, request }) = (self.hub.peers(), &t) {
                peers.answered(key, who, asked.as_str(), request);
            }
            self.requests
                .lock()
                .expect("requests poisoned")
                .track(key, who, t, now_ms());
        }
        Ok(PendingSend::Written {
            accepted: Accepted {
                session: key.clone(),
                seq,
                id: msg.client_id,
                duplicate: false,
            },
            commit,
        })
    }

    /// Requests nobody answered in time (housekeeping): a location request gets
    /// `system/location` `not_possible`, a capability query `system/capability` `no_answer`.
    pub(crate) async fn expire_requests(&self) {
        let due = self
            .requests
            .lock()
            .expect("requests poisoned")
            .due(now_ms());
        for (key, asked, request) in due {
            let notice = Notice::Unanswered {
                asked,
                request: &request,
            };
            if let Err(e) = self.append_notice(&key, &notice, vec![]).await {
                tracing::debug!(session = %key, error = %e, "no answer, and the session is gone");
            }
        }
    }

    /// Appends a server-written entry to an open session, with `extra` writes committed in the
    /// same transaction (and not at all when the session is closed); its sequence number, or
    /// `None` when the session is closed.
    pub(crate) async fn append_notice(
        &self,
        key: &SessionKey,
        notice: &Notice<'_>,
        extra: Vec<Write>,
    ) -> Result<Option<u64>, Error> {
        let body = self.wire.notice(notice);
        self.append_system(key, notice.kind().to_owned(), body, extra)
            .await
    }

    /// Appends a server-written message (`system/*`, `derived/*`) whose body is ready, with
    /// `extra` writes; its sequence number, or `None` when the session is closed.
    pub(crate) async fn append_system(
        &self,
        key: &SessionKey,
        kind: String,
        body: String,
        extra: Vec<Write>,
    ) -> Result<Option<u64>, Error> {
        remote::retrying(|| self.append_system_once(key, kind.clone(), body.clone(), extra.clone()))
            .await
    }

    async fn append_system_once(
        &self,
        key: &SessionKey,
        kind: String,
        body: String,
        extra: Vec<Write>,
    ) -> Result<Option<u64>, Error> {
        let cell = self.cell(key).await?;
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
            .queue(&cell, &participants, extra, vec![record], None)
            .await?;
        st.rec.last_seq = seq;
        st.rec.last_activity = now_ms();
        drop(st);
        self.committed(key, commit).await?;
        Ok(Some(seq))
    }

    /// Queues `writes` and `messages` in one transaction; after the commit the messages go to
    /// `to` (plus the `also` frame to one principal), the committed mark moves, participants
    /// away from their sockets are woken, and transformers get their apps' messages.
    async fn queue(
        &self,
        cell: &Arc<Cell>,
        to: &[PrincipalId],
        mut writes: Vec<Write>,
        messages: Vec<MessageRecord>,
        also: Option<(PrincipalId, Arc<str>)>,
    ) -> Result<Commit, Error> {
        let last = messages.last().map(|m| m.seq);
        let queued = std::time::Instant::now();
        let frames: Vec<Outbound> = messages
            .iter()
            .map(|m| Outbound::Message {
                key: m.session.clone(),
                seq: m.seq,
                json: self.wire.message_frame(m),
                at: queued,
            })
            .collect();
        // `app/<name>` messages with an operator transformer also go to it (after the commit).
        let jobs: Vec<AppMessage> = match &self.listeners.app_messages {
            Some(_) => messages
                .iter()
                .filter_map(|m| {
                    let name = m.kind.strip_prefix("app/")?;
                    self.settings
                        .transformed
                        .contains(name)
                        .then(|| AppMessage {
                            key: m.session.clone(),
                            seq: m.seq,
                            sender: m.sender.clone(),
                            app: name.to_owned(),
                            body: m.body.clone(),
                            queued_at: m.sent_at,
                        })
                })
                .collect(),
            None => Vec::new(),
        };
        let transform = (!jobs.is_empty())
            .then(|| self.listeners.app_messages.clone())
            .flatten();
        // Participants who did not write these messages and have no socket get a wake-up push.
        let senders: Vec<String> = messages.iter().map(|m| m.sender.clone()).collect();
        // Other nodes' copies of the session follow a message that changes nothing else.
        let plain = writes.is_empty();
        let client_ids: Vec<Option<String>> = match self.hub.peers() {
            Some(_) => messages.iter().map(|m| m.client_id.clone()).collect(),
            None => Vec::new(),
        };
        // The transformer work commits with its message, so a restart does not lose it.
        writes.extend(jobs.iter().map(|j| Write::DerivedJob {
            session: j.key.clone(),
            seq: j.seq,
            app: j.app.clone(),
            at: j.queued_at,
        }));
        // Exactly: `extend` on an empty vector would round up to four `Write`s (over 1 KiB),
        // a large allocation that makes glibc consolidate its free lists on every message.
        // The fence fails this call if an earlier append of this cell lost its number to another
        // node (see `remote.rs`).
        writes.reserve_exact(messages.len() + 1);
        writes.push(Write::Fence(cell.chain.clone()));
        writes.extend(messages.into_iter().map(Write::Message));
        let hub = self.hub.clone();
        let to = to.to_vec();
        let cell = cell.clone();
        let waker = self.waker.clone();
        let metrics = self.metrics.clone();
        let on_commit = Box::new(move || {
            metrics.commits.observe(queued.elapsed().as_secs_f64());
            if let Some((p, frame)) = also {
                hub.publish([&p], &Outbound::Frame(frame));
            }
            for (i, f) in frames.iter().enumerate() {
                hub.publish_message(&to, f, || crate::hub::Append {
                    sender: senders[i].clone(),
                    client_id: client_ids.get(i).cloned().flatten(),
                    plain,
                });
            }
            if !frames.is_empty() {
                let away: Vec<PrincipalId> = to
                    .iter()
                    .filter(|p| !senders.contains(&p.0) && !hub.is_connected(p))
                    .cloned()
                    .collect();
                if !away.is_empty() {
                    waker.wake(away, Reason::Messages);
                }
            }
            if let Some(seq) = last {
                cell.committed.send_replace(seq);
            }
            if let Some(tx) = transform {
                for job in jobs {
                    if tx.try_send(job).is_err() {
                        Metrics::inc(&metrics.derived_dropped);
                    }
                }
            }
        });
        Ok(self.store.submit(writes, Some(on_commit)).await?)
    }

    /// Records that `who` processed everything up to `seq`.
    pub(crate) async fn ack(
        &self,
        who: &PrincipalId,
        key: &SessionKey,
        seq: u64,
    ) -> Result<(), Error> {
        let cell = self.cell(key).await?;
        let mut st = cell.state.lock().await;
        if !st.rec.session.is_participant(who) {
            return Err(SessionError::NotParticipant.into());
        }
        if seq > st.rec.last_seq {
            return Err(Error::InvalidAck {
                seq,
                newest: st.rec.last_seq,
            });
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
    pub(crate) async fn flush_acks(&self) {
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
        if let Err(e) = self.store.apply(writes).await {
            tracing::warn!(error = %e, "could not store acknowledgements; they will be redelivered");
        }
    }

    /// Messages after `after`, waiting up to `wait` for the first one.
    pub(crate) async fn messages(
        &self,
        who: &PrincipalId,
        key: &SessionKey,
        after: u64,
        limit: u32,
        wait: Duration,
    ) -> Result<Page, Error> {
        let cell = self.cell(key).await?;
        let mut committed = cell.committed.subscribe();
        // What was sent before `who` joined is not its to read.
        let joined = Self::joined_seq(&cell, who).await?;
        let newest = *committed.borrow();
        if after > newest {
            return Err(Error::AfterBeyondLog { after, newest });
        }
        let after = after.max(joined);
        if *committed.borrow_and_update() <= after && !wait.is_zero() {
            let _ = tokio::time::timeout(wait, committed.wait_for(|c| *c > after)).await;
        }
        let last_seq = *committed.borrow();
        let messages = self.store.messages_after(key.clone(), after, limit).await?;
        Ok(Page { messages, last_seq })
    }

    /// Stored messages of `key` after `after` that `who` may read, for a connection catching up.
    pub(crate) async fn replay(
        &self,
        who: &PrincipalId,
        key: &SessionKey,
        after: u64,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, Error> {
        let cell = self.cell(key).await?;
        let newest = *cell.committed.borrow();
        let after = after.max(Self::joined_seq(&cell, who).await?);
        if after > newest {
            return Ok(Vec::new()); // a resume claiming more than the log holds gets nothing
        }
        Ok(self.store.messages_after(key.clone(), after, limit).await?)
    }

    /// The newest message sent before `who` joined (what it may not read), or an error if it
    /// does not take part.
    async fn joined_seq(cell: &Cell, who: &PrincipalId) -> Result<u64, Error> {
        let st = cell.state.lock().await;
        st.rec
            .participants
            .iter()
            .find(|p| &p.principal == who)
            .filter(|_| st.rec.session.is_participant(who))
            .map(|p| p.joined_seq)
            .ok_or_else(|| SessionError::NotParticipant.into())
    }
}
