//! Calls a network element reports (S1-F3–F5): a SIP proxy or switch says a call between two
//! numbers is ringing, answered or ended. The devices on both numbers take part (a PC coupled to
//! a plain phone's number gets the session the phone cannot have); device legs reported for the
//! same call attach to it. Events of one call are serialised; different calls go in parallel.

use super::{participant, settle, Calls, Error, CALL_STRIPES};
use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::sessions::NewSession;
use callside_core::matching::{CallAdded, CallId};
use callside_core::principal::Principal;
use callside_core::session::{CallState, Event, Lifecycle, Origin};
use callside_core::{Millis, PhoneNumber, SessionKey};
use callside_store::{CallRecord, LegState, ParticipantRecord, Write};

/// How long a network call stays attachable without an end event (events can be lost).
const CALL_MAX_AGE: Millis = 12 * 3600 * 1000;

/// What a network element says happened to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallEvent {
    Ringing,
    Answered,
    Ended,
    /// Not answered, refused or busy (and not diverted).
    Failed,
    /// Forwarded to a voicemail (the event says where).
    Diverted,
}

/// Why the network diverted a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DivertReason {
    NoAnswer,
    Busy,
    Unavailable,
}

impl DivertReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DivertReason::NoAnswer => "no_answer",
            DivertReason::Busy => "busy",
            DivertReason::Unavailable => "unavailable",
        }
    }
}

/// A network element's report about a call, as it sent it.
pub(crate) struct NetworkEvent {
    /// The element's own id of the call (e.g. a SIP dialog's).
    pub(crate) call_ref: String,
    pub(crate) caller: String,
    pub(crate) callee: String,
    pub(crate) event: CallEvent,
    pub(crate) lifecycle: Option<Lifecycle>,
    /// Where the call went instead of the callee (a voicemail), on `Diverted` and every later
    /// event of a diverted call.
    pub(crate) diverted_to: Option<(String, DivertReason)>,
}

impl Calls {
    /// What an event's number is known by when a batch orders its events: the number in E.164,
    /// or as written when it does not parse (that event is then refused anyway).
    pub(crate) fn number_key(&self, raw: &str) -> String {
        self.numbers
            .parse(raw)
            .map(|n| n.to_string())
            .unwrap_or_else(|_| raw.to_owned())
    }

    /// A network element's report about a call; the call as it stands after it.
    #[tracing::instrument(skip_all, fields(principal = %who.id, call_ref = %ev.call_ref))]
    pub(crate) async fn network_event(
        &self,
        who: &Principal,
        ev: NetworkEvent,
    ) -> Result<CallRecord, Error> {
        let caller = self.numbers.parse(&ev.caller)?;
        let callee = self.numbers.parse(&ev.callee)?;
        if !who.may_report_call(Some(&caller), &callee) {
            return Err(Error::NotYourRange);
        }
        let diverted = match &ev.diverted_to {
            Some((to, reason)) => Some((self.numbers.parse(to)?, *reason)),
            None if ev.event == CallEvent::Diverted => return Err(Error::InvalidCall),
            None => None,
        };
        if ev.call_ref.is_empty() || ev.call_ref.len() > callside_core::leg::MAX_REF_LEN {
            return Err(Error::InvalidCall);
        }
        use std::hash::BuildHasher as _;
        let stripe = self.stripe_hasher.hash_one((&who.id, &ev.call_ref)) as usize % CALL_STRIPES;
        let _one_at_a_time = self.call_stripes[stripe].lock().await;
        let existing = self
            .store
            .call_by_ref(who.id.clone(), ev.call_ref.clone())
            .await?;
        let now = now_ms();
        let mut call = match existing {
            Some(c) => c,
            None if matches!(ev.event, CallEvent::Ended | CallEvent::Failed) => {
                return Err(Error::CallNotFound)
            }
            None => {
                let lifecycle = ev.lifecycle.unwrap_or(self.settings.lifecycle);
                let call = NewCall {
                    call_ref: ev.call_ref.clone(),
                    caller,
                    callee,
                    lifecycle,
                };
                self.start_network_call(who, call, now).await?
            }
        };
        // A diversion is applied once, by whichever event first says so (the `diverted` event
        // itself may be lost).
        if let Some((to, reason)) = diverted {
            if call.diverted_to.is_none() && call.state != CallState::Ended {
                call = self.divert(who, call, to, reason, now).await?;
            }
        }
        let event = match ev.event {
            CallEvent::Ringing | CallEvent::Diverted => None,
            CallEvent::Answered => Some((CallState::Answered, Event::CallAnswered)),
            CallEvent::Ended | CallEvent::Failed => Some((CallState::Ended, Event::CallEnded)),
        };
        if let Some((state, event)) = event {
            if call.state != state && call.state != CallState::Ended {
                call.state = state;
                if state == CallState::Ended {
                    let mut st = self.state.lock().await;
                    st.matcher.remove_call(&call.id);
                    st.calls.remove(&call.id);
                }
                self.sessions
                    .transition(&call.session, event, None, vec![Write::Call(call.clone())])
                    .await?;
            }
        }
        Ok(call)
    }

    /// A call the network reports for the first time: bound to the session of the legs that
    /// paired a moment ago, or a new session with the legs waiting for it and the devices of
    /// both numbers.
    async fn start_network_call(
        &self,
        who: &Principal,
        new: NewCall,
        now: Millis,
    ) -> Result<CallRecord, Error> {
        let owners = self.owners_of(who, &[&new.caller, &new.callee]).await?;
        let id = CallId(callside_core::secret::new_id("call", now));
        let call_for = |session: SessionKey| CallRecord {
            id: id.clone(),
            reporter: who.id.clone(),
            call_ref: new.call_ref.clone(),
            caller: new.caller.clone(),
            callee: new.callee.clone(),
            state: CallState::Ringing,
            session,
            diverted_to: None,
            created_at: now,
            expires_at: now + CALL_MAX_AGE,
        };
        let mut st = self.state.lock().await;
        let added = st.matcher.add_call(
            id.clone(),
            &new.caller,
            &new.callee,
            now,
            self.match_window(),
            now + CALL_MAX_AGE,
        );
        match added {
            CallAdded::BindTo(key) => {
                st.calls.insert(id.clone(), key.clone());
                drop(st);
                let call = call_for(key.clone());
                self.store.apply(vec![Write::Call(call.clone())]).await?;
                self.sessions.bind_call(&key, id).await?;
                Ok(call)
            }
            CallAdded::New { attached } => {
                let key = SessionKey::generate(now);
                let mut participants: Vec<ParticipantRecord> = Vec::new();
                let mut writes = Vec::new();
                let mut settled = Vec::new();
                for leg in attached {
                    if let Some(mut p) = st.pending.remove(&leg) {
                        participants.push(participant(
                            &p.rec.leg.principal,
                            &p.name,
                            Some(&p.rec.leg.own),
                        ));
                        writes.push(settle(&mut p.rec, LegState::Matched, None, Some(&key)));
                        settled.push(p.rec);
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
                let session = NewSession {
                    key,
                    origin: Origin::Network(id),
                    lifecycle: new.lifecycle,
                    participants,
                    call_id: Some(call.id.clone()),
                    at: now,
                };
                let opening = self.sessions.open(session, writes).await?;
                drop(st);
                self.sessions.opened(opening).await?;
                for r in &settled {
                    Metrics::inc(&self.metrics.legs_matched);
                    self.announce(r).await;
                }
                Ok(call)
            }
        }
    }
}

impl Calls {
    /// The devices on these numbers coupled to their line (S1-F0/F3: the server maps the number to
    /// the coupled PC and notifies it; a device coupled `when_near` only while it is near, one
    /// coupled `never` not at all), whether or not they report the call themselves, and the
    /// automated systems whose service numbers they are (a call to voicemail or an IVR).
    /// Devices are put in only for numbers within the `reporter`'s ranges: an element that
    /// serves one party cannot put the other party's devices into a session; those join by
    /// reporting their own leg of the call.
    async fn owners_of(
        &self,
        reporter: &Principal,
        numbers: &[&PhoneNumber],
    ) -> Result<Vec<ParticipantRecord>, Error> {
        let mut owners = Vec::new();
        let now = now_ms();
        for n in numbers {
            let devices = if reporter.holds(n) {
                self.store.coupled_devices((*n).clone(), now).await?
            } else {
                Vec::new()
            };
            for p in devices {
                let name = self
                    .store
                    .principal(p.clone())
                    .await?
                    .map(|r| r.principal.name)
                    .unwrap_or_default();
                owners.push(participant(&p, &name, Some(n)));
            }
            owners.extend(self.systems_on(n).await?);
        }
        Ok(owners)
    }

    /// The network forwarded `call` to `to` (a voicemail) instead of its callee: the callee's
    /// side has missed it (its session hears the call end), and the caller goes on in a new
    /// session with the system holding `to`, told by a `system/diverted` entry whose mailbox it
    /// reached. Later events of the call apply to that session.
    async fn divert(
        &self,
        who: &Principal,
        mut call: CallRecord,
        to: PhoneNumber,
        reason: DivertReason,
        now: Millis,
    ) -> Result<CallRecord, Error> {
        let missed = call.session.clone();
        let mut participants = self.owners_of(who, &[&call.caller, &to]).await?;
        // The caller's devices that were on the call's session (by their own leg, when the
        // element does not serve the caller's number) go on with it.
        let before = self.sessions.record(&missed).await?;
        for p in before.participants {
            if p.number.as_ref() == Some(&call.caller)
                && !participants.iter().any(|x| x.principal == p.principal)
            {
                participants.push(participant(&p.principal, &p.name, Some(&call.caller)));
            }
        }
        participants.dedup_by(|a, b| a.principal == b.principal);
        let key = SessionKey::generate(now);
        call.session = key.clone();
        call.diverted_to = Some(to.clone());
        call.state = CallState::Ringing;
        let session = NewSession {
            key: key.clone(),
            origin: Origin::Network(call.id.clone()),
            lifecycle: self.settings.lifecycle,
            participants,
            call_id: Some(call.id.clone()),
            at: now,
        };
        {
            let mut st = self.state.lock().await;
            st.calls.insert(call.id.clone(), key.clone());
        }
        let notice = crate::sessions::Notice::Diverted {
            from: &call.callee,
            to: &to,
            reason: reason.as_str(),
        };
        let opening = self
            .sessions
            .open_noticed(session, vec![Write::Call(call.clone())], &notice)
            .await?;
        self.sessions.opened(opening).await?;
        if let Err(e) = self
            .sessions
            .transition(&missed, Event::CallEnded, None, vec![])
            .await
        {
            tracing::debug!(session = %missed, error = %e, "the diverted call's first session");
        }
        tracing::debug!(reporter = %who.id, call = %call.id, "call diverted");
        Ok(call)
    }
}

/// A network call about to start.
struct NewCall {
    call_ref: String,
    caller: PhoneNumber,
    callee: PhoneNumber,
    lifecycle: Lifecycle,
}
