//! The call service: leg reports from devices and automated systems, calls from network
//! elements, and the matcher that turns them into sessions (S0-F1–F5, S1-F1, S1-F3–F5, F23).
//!
//! One lock guards the matcher and the pending legs. Decisions are made and their writes queued
//! under it (so a leg's "pending" row always commits before its outcome); commits are awaited
//! after it is released.

use crate::app::App;
use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::http::wire as mapping;
use crate::hub::Outbound;
use crate::sessions::NewSession;
use callside_core::leg::{Leg, LegId};
use callside_core::matching::{CallAdded, CallId, Expired, Matcher, NoMatchReason, Outcome};
use callside_core::principal::Principal;
use callside_core::session::{CallState, Event, Origin};
use callside_core::{Millis, PhoneNumber, PrincipalId, SessionKey};
use callside_proto as proto;
use callside_proto::ws::ServerFrame;
use callside_store::{CallRecord, LegRecord, LegState, ParticipantRecord, Write};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Legs one device may have waiting for a match at once (a phone is on a few calls at most; a
/// device holding many could claim other people's withheld-caller calls).
const MAX_PENDING_PER_DEVICE: usize = 8;
/// The same for automated systems, which answer many calls at once.
const MAX_PENDING_PER_SERVICE: usize = 10_000;

/// How long a network call stays attachable without an end event (events can be lost).
const CALL_MAX_AGE: Millis = 12 * 3600 * 1000;

/// Events about one network call are handled one at a time (a proxy may send `ringing` and
/// `answered` back to back); events about different calls go in parallel, over this many locks.
const CALL_STRIPES: usize = 64;

pub(crate) struct Calls {
    state: tokio::sync::Mutex<CallsState>,
    watchers: Mutex<HashMap<LegId, Arc<Notify>>>,
    call_stripes: Vec<tokio::sync::Mutex<()>>,
    stripe_hasher: std::collections::hash_map::RandomState,
}

impl Default for Calls {
    fn default() -> Self {
        Calls {
            state: Default::default(),
            watchers: Default::default(),
            call_stripes: (0..CALL_STRIPES).map(|_| Default::default()).collect(),
            stripe_hasher: Default::default(),
        }
    }
}

#[derive(Default)]
struct CallsState {
    matcher: Matcher,
    /// Pending legs with their reporter's display name, and whether the reporter already said
    /// the call was answered (applied when the leg matches).
    pending: HashMap<LegId, (LegRecord, String, bool)>,
    /// Live network calls and their sessions.
    calls: HashMap<CallId, SessionKey>,
    /// Pending legs already offered to the other side as an invitation (S1-F2).
    offered: std::collections::HashSet<LegId>,
}

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
    }
}

impl Calls {
    pub(crate) fn pending_legs(&self) -> usize {
        self.state
            .try_lock()
            .map(|s| s.matcher.pending_legs())
            .unwrap_or(0)
    }

    fn parse(app: &App, n: &str) -> Result<PhoneNumber, ApiError> {
        Ok(app.numbers.parse(n)?)
    }

    /// Reports a leg and matches it. Returns the leg as it stands after matching.
    #[tracing::instrument(skip_all, fields(principal = %who.id))]
    pub(crate) async fn report(
        &self,
        app: &App,
        who: &Principal,
        req: proto::call::ReportLeg,
    ) -> Result<LegRecord, ApiError> {
        let own = Self::parse(app, &req.own)?;
        let other = req
            .other
            .as_deref()
            .map(|o| Self::parse(app, o))
            .transpose()?;
        if !who.may_report_leg(&own) {
            return Err(ApiError::Forbidden(
                "not_your_number",
                format!(
                    "{own} is not a number of {}; report calls on your own numbers",
                    who.id
                ),
            ));
        }
        if other.as_ref() == Some(&own) {
            return Err(ApiError::bad(
                "invalid_leg",
                "the other party cannot be your own number",
            ));
        }
        if let Some(r) = &req.registry {
            if r.is_empty() || r.len() > 253 {
                return Err(ApiError::bad("invalid_leg", "registry must be a host name"));
            }
        }
        let now = now_ms();
        let leg = Leg {
            id: LegId(callside_core::secret::new_id("leg", now)),
            principal: who.id.clone(),
            own,
            other,
            direction: mapping::direction_in(req.direction),
            call_ref: req.call_ref,
            extension: req.extension,
            conference_id: req.conference_id,
            reported_at: now,
            expires_at: now + app.config.match_window.as_millis() as Millis,
        };
        leg.validate()
            .map_err(|e| ApiError::bad("invalid_leg", e))?;
        crate::metrics::Metrics::inc(&app.metrics.legs_reported);
        let rec = LegRecord {
            leg,
            registry: Some(
                req.registry
                    .unwrap_or_else(|| app.config.registry_fqdn.clone()),
            ),
            lifecycle: req.lifecycle.map(mapping::lifecycle_in),
            state: LegState::Pending,
            reason: None,
            session: None,
        };
        let cap = match who.kind {
            callside_core::PrincipalKind::Device { .. } => MAX_PENDING_PER_DEVICE,
            _ => MAX_PENDING_PER_SERVICE,
        };
        self.place(app, rec, who.name.clone(), cap).await
    }

    /// Offers a leg to the matcher and carries out the outcome. `cap` bounds the reporter's
    /// pending legs, checked under the same lock as the offer.
    async fn place(
        &self,
        app: &App,
        mut rec: LegRecord,
        name: String,
        cap: usize,
    ) -> Result<LegRecord, ApiError> {
        let mut st = self.state.lock().await;
        if st.matcher.pending_of(&rec.leg.principal) >= cap {
            return Err(ApiError::TooMany(
                "too_many_pending_legs",
                format!("{cap} legs are already waiting for a match; end some first"),
            ));
        }
        let offer = st.matcher.offer(&rec.leg);
        let mut writes = Vec::new();
        let mut settled = Vec::new();
        for (id, reason) in offer.also_ended {
            if let Some((mut r, _, _)) = st.pending.remove(&id) {
                writes.push(settle(&mut r, LegState::NoMatch, Some(reason), None));
                settled.push(r);
            }
        }
        let now = now_ms();
        match offer.outcome {
            Outcome::Pending => {
                writes.push(Write::Leg(rec.clone()));
                st.pending
                    .insert(rec.leg.id.clone(), (rec.clone(), name, false));
                let commit = app.store.submit(writes, None).await?;
                drop(st);
                commit.await.map_err(|_| ApiError::Unavailable)??;
            }
            Outcome::NoMatch(reason) => {
                settle(&mut rec, LegState::NoMatch, Some(reason), None);
                writes.push(Write::Leg(rec.clone()));
                let commit = app.store.submit(writes, None).await?;
                drop(st);
                commit.await.map_err(|_| ApiError::Unavailable)??;
            }
            Outcome::Paired(other_id) => {
                let (mut other, other_name, other_answered) =
                    st.pending.remove(&other_id).ok_or_else(|| {
                        ApiError::Internal(format!("matcher paired unknown leg {other_id}"))
                    })?;
                let key = SessionKey::generate(now);
                let lifecycle = other
                    .lifecycle
                    .or(rec.lifecycle)
                    .unwrap_or(app.config.lifecycle);
                let first = participant(&other.leg.principal, &other_name, Some(&other.leg.own));
                let second = participant(&rec.leg.principal, &name, Some(&rec.leg.own));
                writes.push(settle(&mut other, LegState::Matched, None, Some(&key)));
                settle(&mut rec, LegState::Matched, None, Some(&key));
                writes.push(Write::Leg(rec.clone()));
                if let (Some(caller), callee) =
                    (rec.leg.caller().or(other.leg.caller()), rec.leg.callee())
                {
                    st.matcher.record_pair(caller, callee, key.clone(), now);
                }
                let opening = app
                    .sessions
                    .open(
                        NewSession {
                            key: key.clone(),
                            origin: Origin::PairedLegs,
                            lifecycle,
                            participants: vec![first, second],
                            call_id: None,
                            at: now,
                        },
                        writes,
                    )
                    .await?;
                drop(st);
                app.sessions.opened(opening).await?;
                // Both legs matched.
                app.metrics
                    .legs_matched
                    .fetch_add(2, std::sync::atomic::Ordering::Relaxed);
                if other_answered {
                    app.sessions
                        .transition(&key, Event::CallAnswered, None, vec![])
                        .await?;
                }
                settled.push(other);
            }
            Outcome::Attached(call) => {
                let key = st.calls.get(&call).cloned().ok_or_else(|| {
                    ApiError::Internal(format!("matcher attached to unknown call {call}"))
                })?;
                drop(st);
                let unsettled = rec.clone();
                settle(&mut rec, LegState::Matched, None, Some(&key));
                let mut joined = writes.clone();
                joined.push(Write::Leg(rec.clone()));
                let joiner = participant(&rec.leg.principal, &name, Some(&rec.leg.own));
                let result = app
                    .sessions
                    .transition(
                        &key,
                        Event::Join(rec.leg.principal.clone()),
                        Some(joiner),
                        joined,
                    )
                    .await;
                match result {
                    Ok(_) => crate::metrics::Metrics::inc(&app.metrics.legs_matched),
                    Err(crate::sessions::Error::Session(
                        callside_core::session::SessionError::Closed(_),
                    )) => {
                        // The call's session was closed while the network still reports the
                        // call: it no longer takes legs. Forget it and place the leg again.
                        {
                            let mut st = self.state.lock().await;
                            st.matcher.remove_call(&call);
                            st.calls.remove(&call);
                        }
                        if !writes.is_empty() {
                            app.store.apply(writes).await?;
                        }
                        for r in &settled {
                            self.announce(app, r).await;
                        }
                        return Box::pin(self.place(app, unsettled, name, cap)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        for r in &settled {
            if r.state == LegState::NoMatch {
                crate::metrics::Metrics::inc(&app.metrics.legs_no_match);
            }
            self.announce(app, r).await;
        }
        if rec.state == LegState::NoMatch {
            crate::metrics::Metrics::inc(&app.metrics.legs_no_match);
        }
        Ok(rec)
    }

    /// Pending legs with a known other party reported before `before` and not yet offered to
    /// the other side (S1-F2), with their reporters' names; marks them offered.
    pub(crate) async fn one_sided_due(&self, before: Millis) -> Vec<(LegRecord, String, bool)> {
        let mut st = self.state.lock().await;
        let st = &mut *st;
        let mut due = Vec::new();
        for (id, (rec, name, answered)) in &st.pending {
            if rec.leg.reported_at <= before && rec.leg.other.is_some() && !st.offered.contains(id)
            {
                due.push((rec.clone(), name.clone(), *answered));
            }
        }
        for (rec, _, _) in &due {
            st.offered.insert(rec.leg.id.clone());
        }
        due
    }

    /// A pending leg `who` reported, with its reporter's name and whether the call was answered;
    /// marks it offered (S1-F2 then leaves it alone). `None` if it settled or is not `who`'s.
    /// (Whether an invitation for it is already ringing is the caller's question.)
    pub(crate) async fn claim_for_offer(
        &self,
        id: &LegId,
        who: &PrincipalId,
    ) -> Option<(LegRecord, String, bool)> {
        let mut st = self.state.lock().await;
        let st = &mut *st;
        let (rec, name, answered) = st.pending.get(id)?;
        if &rec.leg.principal != who {
            return None;
        }
        let claimed = (rec.clone(), name.clone(), *answered);
        st.offered.insert(id.clone());
        Some(claimed)
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
        st.pending
            .remove(id)
            .map(|(rec, _, answered)| (rec, answered))
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

    /// Tells a leg's reporter (socket and long-polls) that the leg settled.
    pub(crate) async fn announce(&self, app: &App, rec: &LegRecord) {
        if rec.state != LegState::Pending {
            self.state.lock().await.offered.remove(&rec.leg.id);
            app.invitations.leg_settled(app, &rec.leg.id).await;
        }
        let session = match &rec.session {
            Some(key) => app
                .sessions
                .record_for(key, &rec.leg.principal)
                .await
                .ok()
                .map(|r| mapping::session_info(&r)),
            None => None,
        };
        let frame = mapping::frame_json(&ServerFrame::Leg(mapping::leg_status(rec, session)));
        app.hub
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
        app: &App,
        who: &PrincipalId,
        id: &LegId,
        wait: Duration,
    ) -> Result<proto::call::LegStatus, ApiError> {
        let rec = self.owned_leg(app, who, id).await?;
        if rec.state != LegState::Pending || wait.is_zero() {
            return self.status_of(app, &rec).await;
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
        let mut rec = self.owned_leg(app, who, id).await;
        if matches!(&rec, Ok(r) if r.state == LegState::Pending) {
            let _ = tokio::time::timeout(wait, notified).await;
            rec = self.owned_leg(app, who, id).await;
        }
        // The entry goes when its last waiter does (the map holds one reference, we another).
        {
            let mut watchers = self.watchers.lock().expect("watchers poisoned");
            if watchers.get(id).is_some_and(|n| Arc::strong_count(n) <= 2) {
                watchers.remove(id);
            }
        }
        self.status_of(app, &rec?).await
    }

    pub(crate) async fn status_of(
        &self,
        app: &App,
        rec: &LegRecord,
    ) -> Result<proto::call::LegStatus, ApiError> {
        let session = match &rec.session {
            Some(key) => Some(mapping::session_info(
                &app.sessions.record_for(key, &rec.leg.principal).await?,
            )),
            None => None,
        };
        Ok(mapping::leg_status(rec, session))
    }

    async fn owned_leg(
        &self,
        app: &App,
        who: &PrincipalId,
        id: &LegId,
    ) -> Result<LegRecord, ApiError> {
        match app.store.leg(id.clone()).await? {
            Some(rec) if &rec.leg.principal == who => Ok(rec),
            _ => Err(ApiError::NotFound("leg")),
        }
    }

    /// The reporter answered (`answered = true`) or hung up.
    pub(crate) async fn call_event(
        &self,
        app: &App,
        who: &PrincipalId,
        id: &LegId,
        answered: bool,
    ) -> Result<proto::call::LegStatus, ApiError> {
        let mut rec = self.owned_leg(app, who, id).await?;
        if rec.state == LegState::Pending && answered {
            let remembered = match self.state.lock().await.pending.get_mut(id) {
                Some(entry) => {
                    entry.2 = true;
                    true
                }
                None => false,
            };
            if remembered {
                return self.status_of(app, &rec).await;
            }
            // It matched a moment ago: wait for the match to be stored, then answer below.
            self.status(app, who, id, Duration::from_secs(5)).await?;
            rec = self.owned_leg(app, who, id).await?;
        }
        if rec.state == LegState::Pending && !answered {
            let mut st = self.state.lock().await;
            if st.matcher.withdraw(id) {
                if let Some((mut r, _, _)) = st.pending.remove(id) {
                    let w = settle(
                        &mut r,
                        LegState::NoMatch,
                        Some(NoMatchReason::Withdrawn),
                        None,
                    );
                    let commit = app.store.submit(vec![w], None).await?;
                    drop(st);
                    commit.await.map_err(|_| ApiError::Unavailable)??;
                    crate::metrics::Metrics::inc(&app.metrics.legs_no_match);
                    self.announce(app, &r).await;
                }
            } else {
                // It matched a moment ago and the match is being stored: wait for it, then end
                // the call it belongs to.
                drop(st);
                self.status(app, who, id, Duration::from_secs(5)).await?;
                rec = self.owned_leg(app, who, id).await?;
            }
        }
        if let (LegState::Matched, Some(key)) = (&rec.state, &rec.session) {
            let event = if answered {
                Event::CallAnswered
            } else {
                Event::CallEnded
            };
            app.sessions.transition(key, event, None, vec![]).await?;
        }
        let rec = self.owned_leg(app, who, id).await?;
        self.status_of(app, &rec).await
    }

    /// A network element's report about a call.
    #[tracing::instrument(skip_all, fields(principal = %who.id, call_ref = %ev.call_ref))]
    pub(crate) async fn network_event(
        &self,
        app: &App,
        who: &Principal,
        ev: proto::call::NetworkCallEvent,
    ) -> Result<proto::call::NetworkCall, ApiError> {
        let caller = Self::parse(app, &ev.caller)?;
        let callee = Self::parse(app, &ev.callee)?;
        if !who.may_report_call(Some(&caller), &callee) {
            return Err(ApiError::Forbidden(
                "not_your_range",
                "neither party is within this account's ranges, or it lacks the network_element scope".into(),
            ));
        }
        if ev.call_ref.is_empty() || ev.call_ref.len() > callside_core::leg::MAX_REF_LEN {
            return Err(ApiError::bad(
                "invalid_call",
                "call_ref must be 1–256 characters",
            ));
        }
        use std::hash::BuildHasher as _;
        let stripe = self.stripe_hasher.hash_one((&who.id, &ev.call_ref)) as usize % CALL_STRIPES;
        let _one_at_a_time = self.call_stripes[stripe].lock().await;
        let existing = app
            .store
            .call_by_ref(who.id.clone(), ev.call_ref.clone())
            .await?;
        let now = now_ms();
        let mut call = match existing {
            Some(c) => c,
            None if ev.event == proto::call::CallEventKind::Ended => {
                return Err(ApiError::NotFound("call"));
            }
            None => {
                let lifecycle = ev
                    .lifecycle
                    .map(mapping::lifecycle_in)
                    .unwrap_or(app.config.lifecycle);
                self.start_network_call(
                    app,
                    who,
                    ev.call_ref.clone(),
                    caller,
                    callee,
                    lifecycle,
                    now,
                )
                .await?
            }
        };
        let event = match ev.event {
            proto::call::CallEventKind::Ringing => None,
            proto::call::CallEventKind::Answered => {
                Some((CallState::Answered, Event::CallAnswered))
            }
            proto::call::CallEventKind::Ended => Some((CallState::Ended, Event::CallEnded)),
        };
        if let Some((state, event)) = event {
            if call.state != state && call.state != CallState::Ended {
                call.state = state;
                if state == CallState::Ended {
                    let mut st = self.state.lock().await;
                    st.matcher.remove_call(&call.id);
                    st.calls.remove(&call.id);
                }
                app.sessions
                    .transition(&call.session, event, None, vec![Write::Call(call.clone())])
                    .await?;
            }
        }
        Ok(proto::call::NetworkCall {
            id: call.id.0.clone(),
            call_ref: call.call_ref.clone(),
            caller: call.caller.to_string(),
            callee: call.callee.to_string(),
            state: mapping::call_state(call.state),
            session: Some(call.session.to_string()),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_network_call(
        &self,
        app: &App,
        who: &Principal,
        call_ref: String,
        caller: PhoneNumber,
        callee: PhoneNumber,
        lifecycle: callside_core::session::Lifecycle,
        now: Millis,
    ) -> Result<CallRecord, ApiError> {
        // The devices on both numbers take part (S1-F3: the server maps the number to the
        // coupled PC and notifies it), whether or not they report the call themselves.
        let mut owners = Vec::new();
        for n in [&caller, &callee] {
            for p in app.store.devices_owning(n.clone()).await? {
                let name = app
                    .store
                    .principal(p.clone())
                    .await?
                    .map(|r| r.principal.name)
                    .unwrap_or_default();
                owners.push(participant(&p, &name, Some(n)));
            }
        }
        let id = CallId(callside_core::secret::new_id("call", now));
        let call_for = |session: SessionKey| CallRecord {
            id: id.clone(),
            reporter: who.id.clone(),
            call_ref: call_ref.clone(),
            caller: caller.clone(),
            callee: callee.clone(),
            state: CallState::Ringing,
            session,
            created_at: now,
            expires_at: now + CALL_MAX_AGE,
        };
        let mut st = self.state.lock().await;
        let added = st.matcher.add_call(
            id.clone(),
            &caller,
            &callee,
            now,
            app.config.match_window.as_millis() as Millis,
            now + CALL_MAX_AGE,
        );
        match added {
            CallAdded::BindTo(key) => {
                st.calls.insert(id.clone(), key.clone());
                drop(st);
                let call = call_for(key.clone());
                app.store.apply(vec![Write::Call(call.clone())]).await?;
                app.sessions.bind_call(&key, id).await?;
                Ok(call)
            }
            CallAdded::New { attached } => {
                let key = SessionKey::generate(now);
                let mut participants: Vec<ParticipantRecord> = Vec::new();
                let mut writes = Vec::new();
                let mut settled = Vec::new();
                for leg in attached {
                    if let Some((mut r, name, _)) = st.pending.remove(&leg) {
                        participants.push(participant(&r.leg.principal, &name, Some(&r.leg.own)));
                        writes.push(settle(&mut r, LegState::Matched, None, Some(&key)));
                        settled.push(r);
                    }
                }
                for owner in owners {
                    if !participants.iter().any(|x| x.principal == owner.principal) {
                        participants.push(owner);
                    }
                }
                let call = call_for(key.clone());
                writes.push(Write::Call(call.clone()));
                st.calls.insert(id.clone(), key.clone());
                let opening = app
                    .sessions
                    .open(
                        NewSession {
                            key: key.clone(),
                            origin: Origin::Network(id),
                            lifecycle,
                            participants,
                            call_id: Some(call.id.clone()),
                            at: now,
                        },
                        writes,
                    )
                    .await?;
                drop(st);
                app.sessions.opened(opening).await?;
                for r in &settled {
                    crate::metrics::Metrics::inc(&app.metrics.legs_matched);
                    self.announce(app, r).await;
                }
                Ok(call)
            }
        }
    }

    /// Rebuilds the matcher from the store after a start: live calls, then pending legs in
    /// report order. Legs whose window passed while the server was down end as expired.
    pub(crate) async fn restore(&self, app: &App) -> Result<(), ApiError> {
        let now = now_ms();
        let calls = app.store.live_calls().await?;
        let legs = app.store.pending_legs().await?;
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
                let name = app
                    .store
                    .principal(rec.leg.principal.clone())
                    .await?
                    .map(|r| r.principal.name)
                    .unwrap_or_default();
                st.pending.insert(rec.leg.id.clone(), (rec, name, false));
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
            app.store.apply(writes).await?;
        }
        if restored > 0 {
            tracing::info!(restored, "pending legs restored");
        }
        Ok(())
    }

    /// Ends whatever is due. Returns when the next deadline is (at most a second away).
    pub(crate) async fn expire_due(&self, app: &App) -> Duration {
        let now = now_ms();
        let mut st = self.state.lock().await;
        let expired = st.matcher.expire(now);
        st.matcher
            .forget_pairs_before(now - app.config.match_window.as_millis() as Millis);
        let mut writes = Vec::new();
        let mut settled = Vec::new();
        let mut ended = Vec::new();
        for e in expired {
            match e {
                Expired::Leg(id) => {
                    if let Some((mut r, _, _)) = st.pending.remove(&id) {
                        writes.push(settle(
                            &mut r,
                            LegState::NoMatch,
                            Some(NoMatchReason::Expired),
                            None,
                        ));
                        settled.push(r);
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
            app.store.submit(writes, None).await.ok()
        };
        drop(st);
        if let Some(c) = commit {
            if !matches!(c.await, Ok(Ok(()))) {
                tracing::error!("could not record expired legs");
                return next;
            }
        }
        for r in &settled {
            crate::metrics::Metrics::inc(&app.metrics.legs_no_match);
            self.announce(app, r).await;
        }
        for key in ended {
            if let Err(e) = app
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
