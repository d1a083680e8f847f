//! Calls: leg reports from devices and automated systems, calls from network elements, and the
//! matcher that turns them into sessions (S0-F1–F5, S1-F1, S1-F3–F5, F23); the call composer and
//! post-call notes (`composer`); signed caller data (`passports`).
//!
//! One lock guards the matcher and the pending legs. Decisions are made and their writes queued
//! under it (so a leg's "pending" row always commits before its outcome); commits are awaited
//! after it is released. Events about one network call are serialised by a striped lock.
//!
//! May touch: the store, sessions (to open and move sessions), the hub (a leg's reporter hears
//! its outcome), metrics. Tells invitations that a leg settled through a bounded channel
//! ([`LegSettled`]); calls no other service.

pub(crate) mod composer;
mod conferences;
pub(crate) mod http;
mod network;
pub(crate) mod passports;
pub(crate) mod proxy;
mod systems;

pub(crate) use network::{CallEvent, DivertReason, NetworkEvent};

use crate::clock::now_ms;
use crate::hub::{Hub, Outbound};
use crate::identity::systems::Systems;
use crate::metrics::Metrics;
use crate::numbers::NumberCache;
use crate::sessions::{self, NewSession, Sessions};
use crate::Store;
use callside_core::leg::{Direction, Leg, LegId};
use callside_core::matching::{CallId, Expired, Matcher, NoMatchReason, Outcome};
use callside_core::principal::Principal;
use callside_core::session::{Event, Lifecycle, Origin, SessionError};
use callside_core::{Millis, NumberError, PhoneNumber, PrincipalId, PrincipalKind, SessionKey};
use callside_store::{LegRecord, LegState, ParticipantRecord, SessionRecord, StoreError, Write};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// Legs one device may have waiting for a match at once (a phone is on a few calls at most; a
/// device holding many could claim other people's withheld-caller calls).
const MAX_PENDING_PER_DEVICE: usize = 8;
/// The same for automated systems, which answer many calls at once.
const MAX_PENDING_PER_SERVICE: usize = 10_000;

/// How a leg looks to its reporter on the wire, a format only the HTTP edge knows (implemented in
/// `http.rs`).
pub(crate) trait Wire: Send + Sync {
    /// The `leg` frame: the leg and, once matched, the session as its reporter sees it.
    fn leg_frame(&self, leg: &LegRecord, session: Option<&SessionRecord>) -> Arc<str>;
}

/// A leg settled (matched, no match, withdrawn): an invitation offered for it is withdrawn.
#[derive(Debug, Clone)]
pub(crate) struct LegSettled(pub(crate) LegId);

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    InvalidNumber(#[from] NumberError),
    #[error("{own} is not a number of {who}; report calls on your own numbers")]
    NotYourNumber { own: PhoneNumber, who: PrincipalId },
    #[error("{0}")]
    InvalidLeg(String),
    #[error("{0} legs are already waiting for a match; end some first")]
    TooManyPending(usize),
    #[error("leg not found")]
    LegNotFound,
    #[error(
        "neither party is within this account's ranges, or it lacks the network_element scope"
    )]
    NotYourRange,
    #[error("call_ref must be 1–256 characters")]
    InvalidCall,
    #[error("call not found")]
    CallNotFound,
    #[error("{0}")]
    Internal(String),
    #[error("no SIP proxy is configured ([kamailio] rpc_url)")]
    NoProxy,
    #[error("the SIP proxy {0}")]
    ProxyDown(String),
    #[error("click-to-dial is for devices")]
    DevicesOnly,
    #[error("this device has several numbers: say which one to call from")]
    WhichNumber,
    #[error("only automated systems end calls through the network")]
    SystemsOnly,
    #[error("this session's call is not a live call through the SIP proxy")]
    NoNetworkCall,
    #[error(transparent)]
    RateLimited(#[from] callside_core::ratelimit::Limited),
    #[error("the commit did not complete")]
    Unavailable,
    #[error(transparent)]
    Session(#[from] sessions::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A leg as its reporter tells it.
pub(crate) struct LegReport {
    pub(crate) own: String,
    pub(crate) other: Option<String>,
    pub(crate) direction: Direction,
    pub(crate) call_ref: Option<String>,
    pub(crate) extension: Option<String>,
    pub(crate) conference_id: Option<String>,
    pub(crate) registry: Option<String>,
    pub(crate) lifecycle: Option<Lifecycle>,
}

/// A leg with, once matched, its session as the leg's reporter sees it.
pub(crate) struct LegView {
    pub(crate) leg: LegRecord,
    pub(crate) session: Option<SessionRecord>,
}

/// What the call service needs to know of the deployment.
pub(crate) struct Settings {
    /// How long a reported leg waits for its counterpart.
    pub(crate) match_window: Duration,
    /// The registry's name as devices know it, echoed on leg reports.
    pub(crate) registry_fqdn: String,
    /// A new session's lifecycle when neither leg asks for one.
    pub(crate) lifecycle: Lifecycle,
}

/// Events about one network call are handled one at a time (a proxy may send `ringing` and
/// `answered` back to back); events about different calls go in parallel, over this many locks.
const CALL_STRIPES: usize = 64;

pub(crate) struct Calls {
    store: Store,
    sessions: Arc<Sessions>,
    /// Which automated systems answer which numbers.
    systems: Arc<Systems>,
    /// The SIP proxy, when callside may ask it things.
    proxy: Option<proxy::Proxy>,
    hub: Arc<Hub>,
    wire: Arc<dyn Wire>,
    numbers: NumberCache,
    metrics: Arc<Metrics>,
    settings: Settings,
    /// Tells invitations about settled legs.
    settled: mpsc::Sender<LegSettled>,
    state: tokio::sync::Mutex<CallsState>,
    watchers: Mutex<HashMap<LegId, Arc<Notify>>>,
    call_stripes: Vec<tokio::sync::Mutex<()>>,
    stripe_hasher: std::collections::hash_map::RandomState,
}

/// A pending leg, with its reporter's display name and whether the reporter already said the
/// call was answered (applied when the leg matches).
pub(crate) struct PendingLeg {
    pub(crate) rec: LegRecord,
    pub(crate) name: String,
    pub(crate) answered: bool,
}

#[derive(Default)]
struct CallsState {
    matcher: Matcher,
    pending: HashMap<LegId, PendingLeg>,
    /// Live network calls and their sessions.
    calls: HashMap<CallId, SessionKey>,
    /// Pending legs already offered to the other side as an invitation (S1-F2).
    offered: HashSet<LegId>,
}

/// Settles a leg in memory and returns the write that settles it in the store.
pub(crate) fn settle(
    rec: &mut LegRecord,
    state: LegState,
    reason: Option<NoMatchReason>,
    session: Option<&SessionKey>,
) -> Write {
    rec.state = state;
    rec.reason = reason.map(|r| r.as_str().to_owned());
    rec.session = session.cloned();
    Write::LegOutcome {
        id: rec.leg.id.clone(),
        state,
        reason: rec.reason.clone(),
        session: rec.session.clone(),
    }
}

fn participant(
    principal: &PrincipalId,
    name: &str,
    number: Option<&PhoneNumber>,
) -> ParticipantRecord {
    ParticipantRecord {
        principal: principal.clone(),
        name: name.to_owned(),
        number: number.cloned(),
        acked_seq: 0,
        joined_seq: 0,
        history: None,
    }
}

/// Whether an error from sessions says the session is closed.
fn closed(e: &sessions::Error) -> bool {
    matches!(e, sessions::Error::Session(SessionError::Closed(_)))
}

impl Calls {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Store,
        sessions: Arc<Sessions>,
        systems: Arc<Systems>,
        proxy: Option<proxy::Proxy>,
        hub: Arc<Hub>,
        wire: Arc<dyn Wire>,
        numbers: NumberCache,
        metrics: Arc<Metrics>,
        settings: Settings,
        settled: mpsc::Sender<LegSettled>,
    ) -> Self {
        Calls {
            store,
            sessions,
            systems,
            proxy,
            hub,
            wire,
            numbers,
            metrics,
            settings,
            settled,
            state: Default::default(),
            watchers: Default::default(),
            call_stripes: (0..CALL_STRIPES).map(|_| Default::default()).collect(),
            stripe_hasher: Default::default(),
        }
    }

    pub(crate) fn pending_legs(&self) -> usize {
        self.state
            .try_lock()
            .map(|s| s.matcher.pending_legs())
            .unwrap_or(0)
    }

    fn match_window(&self) -> Millis {
        self.settings.match_window.as_millis() as Millis
    }

    /// Reports a leg and matches it. Returns the leg as it stands after matching.
    #[tracing::instrument(skip_all, fields(principal = %who.id))]
    pub(crate) async fn report(&self, who: &Principal, req: LegReport) -> Result<LegRecord, Error> {
        let own = self.numbers.parse_for(&req.own, who)?;
        let other = req
            .other
            .as_deref()
            .map(|o| self.numbers.parse_for(o, who))
            .transpose()?;
        if !who.may_report_leg(&own) {
            return Err(Error::NotYourNumber {
                own,
                who: who.id.clone(),
            });
        }
        if other.as_ref() == Some(&own) {
            return Err(Error::InvalidLeg(
                "the other party cannot be your own number".into(),
            ));
        }
        if let Some(r) = &req.registry {
            if r.is_empty() || r.len() > 253 {
                return Err(Error::InvalidLeg("registry must be a host name".into()));
            }
        }
        let now = now_ms();
        let leg = Leg {
            id: LegId(callside_core::secret::new_id("leg", now)),
            principal: who.id.clone(),
            own,
            other,
            direction: req.direction,
            call_ref: req.call_ref,
            extension: req.extension,
            conference_id: req.conference_id,
            reported_at: now,
            expires_at: now + self.match_window(),
        };
        leg.validate()
            .map_err(|e| Error::InvalidLeg(e.to_string()))?;
        Metrics::inc(&self.metrics.legs_reported);
        let rec = LegRecord {
            leg,
            registry: Some(
                req.registry
                    .unwrap_or_else(|| self.settings.registry_fqdn.clone()),
            ),
            lifecycle: req.lifecycle,
            state: LegState::Pending,
            reason: None,
            session: None,
        };
        let cap = match who.kind {
            PrincipalKind::Device { .. } => MAX_PENDING_PER_DEVICE,
            _ => MAX_PENDING_PER_SERVICE,
        };
        if rec.leg.conference_id.is_some() {
            return self.join_conference(who, rec).await;
        }
        let rec = match self.already_answered(who, rec).await? {
            Ok(answered) => return Ok(answered),
            Err(rec) => rec,
        };
        let system = self.answering_system(who, &rec.leg).await?;
        let placed = self.place(rec, who.name.clone(), cap).await?;
        match system {
            Some(system) if placed.state == LegState::Pending => {
                self.answer_for(system, placed).await
            }
            _ => Ok(placed),
        }
    }

    /// Offers a leg to the matcher and carries out the outcome. `cap` bounds the reporter's
    /// pending legs, checked under the same lock as the offer.
    async fn place(
        &self,
        mut rec: LegRecord,
        name: String,
        cap: usize,
    ) -> Result<LegRecord, Error> {
        let mut st = self.state.lock().await;
        let mut writes = Vec::new();
        let mut settled = Vec::new();
        // A device's newer outgoing leg to a number supersedes its older pending one: that call
        // was abandoned, and left ringing it would pair with the other side's next call.
        if rec.leg.direction == Direction::Outgoing && rec.leg.other.is_some() {
            let stale: Vec<LegId> = st
                .pending
                .iter()
                .filter(|(_, p)| {
                    let l = &p.rec.leg;
                    l.principal == rec.leg.principal
                        && l.direction == Direction::Outgoing
                        && l.own == rec.leg.own
                        && l.other == rec.leg.other
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in stale {
                st.matcher.withdraw(&id);
                if let Some(mut p) = st.pending.remove(&id) {
                    writes.push(settle(
                        &mut p.rec,
                        LegState::NoMatch,
                        Some(NoMatchReason::Superseded),
                        None,
                    ));
                    settled.push(p.rec);
                }
            }
        }
        if st.matcher.pending_of(&rec.leg.principal) >= cap {
            if !writes.is_empty() {
                let commit = self.store.submit(writes, None).await?;
                drop(st);
                commit.await.map_err(|_| Error::Unavailable)??;
                for r in &settled {
                    self.announce(r).await;
                }
            }
            return Err(Error::TooManyPending(cap));
        }
        let offer = st.matcher.offer(&rec.leg);
        for (id, reason) in offer.also_ended {
            if let Some(mut p) = st.pending.remove(&id) {
                writes.push(settle(&mut p.rec, LegState::NoMatch, Some(reason), None));
                settled.push(p.rec);
            }
        }
        let now = now_ms();
        match offer.outcome {
            Outcome::Pending => {
                writes.push(Write::Leg(rec.clone()));
                let pending = PendingLeg {
                    rec: rec.clone(),
                    name,
                    answered: false,
                };
                st.pending.insert(rec.leg.id.clone(), pending);
                let commit = self.store.submit(writes, None).await?;
                drop(st);
                commit.await.map_err(|_| Error::Unavailable)??;
            }
            Outcome::NoMatch(reason) => {
                settle(&mut rec, LegState::NoMatch, Some(reason), None);
                writes.push(Write::Leg(rec.clone()));
                let commit = self.store.submit(writes, None).await?;
                drop(st);
                commit.await.map_err(|_| Error::Unavailable)??;
            }
            Outcome::Paired(other_id) => {
                let mut other = st.pending.remove(&other_id).ok_or_else(|| {
                    Error::Internal(format!("matcher paired unknown leg {other_id}"))
                })?;
                let key = SessionKey::generate(now);
                let lifecycle = other
                    .rec
                    .lifecycle
                    .or(rec.lifecycle)
                    .unwrap_or(self.settings.lifecycle);
                let first = participant(
                    &other.rec.leg.principal,
                    &other.name,
                    Some(&other.rec.leg.own),
                );
                let second = participant(&rec.leg.principal, &name, Some(&rec.leg.own));
                writes.push(settle(&mut other.rec, LegState::Matched, None, Some(&key)));
                settle(&mut rec, LegState::Matched, None, Some(&key));
                writes.push(Write::Leg(rec.clone()));
                if let (Some(caller), callee) = (
                    rec.leg.caller().or(other.rec.leg.caller()),
                    rec.leg.callee(),
                ) {
                    st.matcher.record_pair(caller, callee, key.clone(), now);
                }
                let new = NewSession {
                    key: key.clone(),
                    origin: Origin::PairedLegs,
                    lifecycle,
                    participants: vec![first, second],
                    call_id: None,
                    at: now,
                };
                let opening = self.sessions.open(new, writes).await?;
                drop(st);
                self.sessions.opened(opening).await?;
                // Both legs matched.
                self.metrics.legs_matched.inc_by(2);
                if other.answered {
                    self.sessions
                        .transition(&key, Event::CallAnswered, None, vec![])
                        .await?;
                }
                settled.push(other.rec);
            }
            Outcome::Attached(call) => {
                let key = st.calls.get(&call).cloned().ok_or_else(|| {
                    Error::Internal(format!("matcher attached to unknown call {call}"))
                })?;
                drop(st);
                let unsettled = rec.clone();
                settle(&mut rec, LegState::Matched, None, Some(&key));
                let mut joined = writes.clone();
                joined.push(Write::Leg(rec.clone()));
                let joiner = participant(&rec.leg.principal, &name, Some(&rec.leg.own));
                let result = self
                    .sessions
                    .transition(
                        &key,
                        Event::Join(rec.leg.principal.clone()),
                        Some(joiner),
                        joined,
                    )
                    .await;
                match result {
                    Ok(_) => Metrics::inc(&self.metrics.legs_matched),
                    Err(e) if closed(&e) => {
                        // The call's session was closed while the network still reports the
                        // call: it no longer takes legs. Forget it and place the leg again.
                        {
                            let mut st = self.state.lock().await;
                            st.matcher.remove_call(&call);
                            st.calls.remove(&call);
                        }
                        if !writes.is_empty() {
                            self.store.apply(writes).await?;
                        }
                        for r in &settled {
                            self.announce(r).await;
                        }
                        return Box::pin(self.place(unsettled, name, cap)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for r in &settled {
            if r.state == LegState::NoMatch {
                Metrics::inc(&self.metrics.legs_no_match);
            }
            self.announce(r).await;
        }
        if rec.state == LegState::NoMatch {
            Metrics::inc(&self.metrics.legs_no_match);
        }
        Ok(rec)
    }

    /// Pending legs with a known other party reported before `before` and not yet offered to
    /// the other side (S1-F2); marks them offered.
    pub(crate) async fn one_sided_due(&self, before: Millis) -> Vec<PendingLeg> {
        let mut st = self.state.lock().await;
        let st = &mut *st;
        let mut due = Vec::new();
        for (id, p) in &st.pending {
            if p.rec.leg.reported_at <= before
                && p.rec.leg.other.is_some()
                && !st.offered.contains(id)
            {
                due.push(PendingLeg {
                    rec: p.rec.clone(),
                    name: p.name.clone(),
                    answered: p.answered,
                });
            }
        }
        for p in &due {
            st.offered.insert(p.rec.leg.id.clone());
        }
        due
    }

    /// A pending leg `who` reported; marks it offered (S1-F2 then leaves it alone). `None` if it
    /// settled or is not `who`'s. (Whether an invitation for it is already ringing is the
    /// caller's question.)
    pub(crate) async fn claim_for_offer(
        &self,
        id: &LegId,
        who: &PrincipalId,
    ) -> Option<PendingLeg> {
        let mut st = self.state.lock().await;
        let st = &mut *st;
        let p = st.pending.get(id)?;
        if &p.rec.leg.principal != who {
            return None;
        }
        let claimed = PendingLeg {
            rec: p.rec.clone(),
            name: p.name.clone(),
            answered: p.answered,
        };
        st.offered.insert(id.clone());
        Some(claimed)
    }

    /// Drops every pending leg of `who` from matching, writing nothing (its device is being
    /// erased, rows and all); how many there were.
    pub(crate) async fn forget_principal(&self, who: &PrincipalId) -> usize {
        let mut st = self.state.lock().await;
        let ids: Vec<LegId> = st
            .pending
            .iter()
            .filter(|(_, p)| &p.rec.leg.principal == who)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            st.matcher.withdraw(id);
            st.pending.remove(id);
            st.offered.remove(id);
        }
        ids.len()
    }

    /// Undoes [`Calls::claim_for_offer`] when the offer could not be made.
    pub(crate) async fn release_offer(&self, id: &LegId) {
        self.state.lock().await.offered.remove(id);
    }

    /// Takes a pending leg out of matching so a session made another way (an accepted
    /// invitation) can settle it, with whether its reporter said the call was answered; `None`
    /// if it settled already.
    pub(crate) async fn take_pending(&self, id: &LegId) -> Option<(LegRecord, bool)> {
        let mut st = self.state.lock().await;
        st.offered.remove(id);
        if !st.matcher.withdraw(id) {
            return None;
        }
        st.pending.remove(id).map(|p| (p.rec, p.answered))
    }

    /// Remembers that the call of `leg` has the session `key` (made by an accepted invitation), so
    /// a network element reporting the same call shortly after binds to it instead of making
    /// another.
    pub(crate) async fn record_pair(&self, leg: &LegRecord, key: &SessionKey) {
        if let (Some(caller), callee) = (leg.leg.caller(), leg.leg.callee()) {
            self.state
                .lock()
                .await
                .matcher
                .record_pair(caller, callee, key.clone(), now_ms());
        }
    }

    /// Marks legs as already offered to the other side (restored invitations, after a restart).
    pub(crate) async fn mark_offered(&self, legs: impl IntoIterator<Item = LegId>) {
        self.state.lock().await.offered.extend(legs);
    }

    /// Tells a leg's reporter (socket and long-polls) that the leg settled, and invitations that
    /// it is no longer waiting.
    pub(crate) async fn announce(&self, rec: &LegRecord) {
        if rec.state != LegState::Pending {
            self.state.lock().await.offered.remove(&rec.leg.id);
            if self
                .settled
                .send(LegSettled(rec.leg.id.clone()))
                .await
                .is_err()
            {
                tracing::debug!("nobody listens for settled legs (shutting down)");
            }
        }
        let session = match &rec.session {
            Some(key) => self.sessions.record_for(key, &rec.leg.principal).await.ok(),
            None => None,
        };
        let frame = self.wire.leg_frame(rec, session.as_ref());
        self.hub
            .publish([&rec.leg.principal], &Outbound::Frame(frame));
        if let Some(n) = self
            .watchers
            .lock()
            .expect("watchers poisoned")
            .remove(&rec.leg.id)
        {
            n.notify_waiters();
        }
    }

    /// A leg as its reporter sees it, waiting up to `wait` while it is pending.
    pub(crate) async fn status(
        &self,
        who: &PrincipalId,
        id: &LegId,
        wait: Duration,
    ) -> Result<LegView, Error> {
        let rec = self.owned_leg(who, id).await?;
        if rec.state != LegState::Pending || wait.is_zero() {
            return self.view(rec).await;
        }
        let notify = self
            .watchers
            .lock()
            .expect("watchers poisoned")
            .entry(id.clone())
            .or_default()
            .clone();
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Read again now that the waiter is registered: the leg may have settled in between.
        let mut rec = self.owned_leg(who, id).await;
        if matches!(&rec, Ok(r) if r.state == LegState::Pending) {
            let _ = tokio::time::timeout(wait, notified).await;
            rec = self.owned_leg(who, id).await;
        }
        // The entry goes when its last waiter does (the map holds one reference, we another).
        {
            let mut watchers = self.watchers.lock().expect("watchers poisoned");
            if watchers.get(id).is_some_and(|n| Arc::strong_count(n) <= 2) {
                watchers.remove(id);
            }
        }
        self.view(rec?).await
    }

    /// A leg with its session as the leg's reporter sees it.
    pub(crate) async fn view(&self, leg: LegRecord) -> Result<LegView, Error> {
        let session = match &leg.session {
            Some(key) => Some(self.sessions.record_for(key, &leg.leg.principal).await?),
            None => None,
        };
        Ok(LegView { leg, session })
    }

    /// A leg `who` reported (anyone else's is not found).
    pub(crate) async fn owned_leg(
        &self,
        who: &PrincipalId,
        id: &LegId,
    ) -> Result<LegRecord, Error> {
        match self.store.leg(id.clone()).await? {
            Some(rec) if &rec.leg.principal == who => Ok(rec),
            _ => Err(Error::LegNotFound),
        }
    }

    /// The reporter answered (`answered = true`) or hung up.
    pub(crate) async fn call_event(
        &self,
        who: &PrincipalId,
        id: &LegId,
        answered: bool,
    ) -> Result<LegView, Error> {
        let mut rec = self.owned_leg(who, id).await?;
        if rec.state == LegState::Pending && answered {
            let remembered = match self.state.lock().await.pending.get_mut(id) {
                Some(entry) => {
                    entry.answered = true;
                    true
                }
                None => false,
            };
            if remembered {
                return self.view(rec).await;
            }
            // It matched a moment ago: wait for the match to be stored, then answer below.
            self.status(who, id, Duration::from_secs(5)).await?;
            rec = self.owned_leg(who, id).await?;
        }
        if rec.state == LegState::Pending && !answered {
            let mut st = self.state.lock().await;
            if st.matcher.withdraw(id) {
                if let Some(mut p) = st.pending.remove(id) {
                    let w = settle(
                        &mut p.rec,
                        LegState::NoMatch,
                        Some(NoMatchReason::Withdrawn),
                        None,
                    );
                    let commit = self.store.submit(vec![w], None).await?;
                    drop(st);
                    commit.await.map_err(|_| Error::Unavailable)??;
                    Metrics::inc(&self.metrics.legs_no_match);
                    self.announce(&p.rec).await;
                }
            } else {
                // It matched a moment ago and the match is being stored: wait for it, then end
                // the call it belongs to.
                drop(st);
                self.status(who, id, Duration::from_secs(5)).await?;
                rec = self.owned_leg(who, id).await?;
            }
        }
        if let (LegState::Matched, Some(key)) = (&rec.state, &rec.session) {
            let event = if answered {
                Event::CallAnswered
            } else {
                Event::CallEnded
            };
            self.sessions.transition(key, event, None, vec![]).await?;
        }
        let rec = self.owned_leg(who, id).await?;
        self.view(rec).await
    }

    /// Rebuilds the matcher from the store after a start: live calls, then pending legs in
    /// report order. Legs whose window passed while the server was down end as expired.
    pub(crate) async fn restore(&self) -> Result<(), Error> {
        let now = now_ms();
        let calls = self.store.live_calls().await?;
        let legs = self.store.pending_legs().await?;
        let mut st = self.state.lock().await;
        for c in calls {
            st.matcher
                .add_call(c.id.clone(), &c.caller, &c.callee, now, 0, c.expires_at);
            st.calls.insert(c.id, c.session);
        }
        let mut writes = Vec::new();
        let mut restored = 0;
        for mut rec in legs {
            let outcome = if rec.leg.expires_at <= now {
                None
            } else {
                Some(st.matcher.offer(&rec.leg).outcome)
            };
            if outcome == Some(Outcome::Pending) {
                let name = self
                    .store
                    .principal(rec.leg.principal.clone())
                    .await?
                    .map(|r| r.principal.name)
                    .unwrap_or_default();
                let pending = PendingLeg {
                    rec,
                    name,
                    answered: false,
                };
                st.pending.insert(pending.rec.leg.id.clone(), pending);
                restored += 1;
            } else {
                st.matcher.withdraw(&rec.leg.id);
                writes.push(settle(
                    &mut rec,
                    LegState::NoMatch,
                    Some(NoMatchReason::Expired),
                    None,
                ));
            }
        }
        drop(st);
        if !writes.is_empty() {
            tracing::info!(
                expired = writes.len(),
                "legs expired while the server was down"
            );
            self.store.apply(writes).await?;
        }
        if restored > 0 {
            tracing::info!(restored, "pending legs restored");
        }
        Ok(())
    }

    /// Ends whatever is due. Returns when the next deadline is (at most a second away).
    pub(crate) async fn expire_due(&self) -> Duration {
        let now = now_ms();
        let mut st = self.state.lock().await;
        let expired = st.matcher.expire(now);
        st.matcher.forget_pairs_before(now - self.match_window());
        let mut writes = Vec::new();
        let mut settled = Vec::new();
        let mut ended = Vec::new();
        for e in expired {
            match e {
                Expired::Leg(id) => {
                    if let Some(mut p) = st.pending.remove(&id) {
                        writes.push(settle(
                            &mut p.rec,
                            LegState::NoMatch,
                            Some(NoMatchReason::Expired),
                            None,
                        ));
                        settled.push(p.rec);
                    }
                }
                Expired::Call(id) => {
                    if let Some(key) = st.calls.remove(&id) {
                        ended.push(key);
                    }
                }
            }
        }
        let next = st
            .matcher
            .next_deadline()
            .map(|d| Duration::from_millis((d - now).clamp(1, 1000) as u64))
            .unwrap_or(Duration::from_secs(1));
        let commit = if writes.is_empty() {
            None
        } else {
            self.store.submit(writes, None).await.ok()
        };
        drop(st);
        if let Some(c) = commit {
            if !matches!(c.await, Ok(Ok(()))) {
                tracing::error!("could not record expired legs");
                return next;
            }
        }
        for r in &settled {
            Metrics::inc(&self.metrics.legs_no_match);
            self.announce(r).await;
        }
        for key in ended {
            if let Err(e) = self
                .sessions
                .transition(&key, Event::CallEnded, None, vec![])
                .await
            {
                tracing::warn!(session = %key, error = %e, "could not end a stale network call");
            }
        }
        next
    }
}
