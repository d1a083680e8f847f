//! Invitations (S2-I, S2-M, S1-F2, S1-F7): ringing every device of a number or address, the
//! first to accept joining a session (a new one, or the one it was invited into), declining and
//! cancelling, expiry; and offers for calls only one app reported (`offers`). The rules are
//! `callside_core::invitation`; this service finds the invitee's devices, keeps invitations
//! durable, opens or joins the session on acceptance, and tells everyone involved.
//!
//! May touch: the store, sessions, calls (a one-sided call's leg), components (one riding on an
//! invitation), the hub, the push waker, the SMS adapter. It listens to settled legs and proven
//! numbers on bounded channels (supervised loops call [`Invitations::leg_settled`] and
//! [`Invitations::number_bound`]).

pub(crate) mod http;
mod offers;

use crate::adapters::sms::SmsSender;
use crate::calls::Calls;
use crate::clock::now_ms;
use crate::components::{self, Components};
use crate::hub::{Hub, Outbound};
use crate::metrics::Metrics;
use crate::push::{Reason, Waker};
use crate::sessions::{self, NewSession, Sessions};
use crate::supervisor::Tasks;
use crate::Store;
use callside_core::email::{Email, Endpoint};
use callside_core::invitation::{Invitation, InvitationError, InvitationState};
use callside_core::ratelimit::{Limited, Limiter, Rate};
use callside_core::relay::{choose_path, NatType};
use callside_core::session::{Event, Lifecycle, Origin};
use callside_core::{
    LegId, Millis, NumberError, PhoneNumber, Principal, PrincipalId, PrincipalKind, SessionKey,
};
use callside_store::{InvitationRecord, ParticipantRecord, StoreError, Write};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MAX_CANDIDATES: usize = 32;
const MAX_CANDIDATE_LEN: usize = 512;

/// How invitations look on the wire, a format only the HTTP edge knows (implemented in
/// `http.rs`).
pub(crate) trait Wire: Send + Sync {
    /// The `invitation` frame the inviter and the invitee's devices get on every change.
    fn invitation_frame(&self, rec: &InvitationRecord) -> Arc<str>;
    /// What decides the path in stored connection data (the offer as the inviter sent it).
    fn connection(&self, stored: &str) -> Option<Connection>;
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("invitations come from a device that owns a number, or an automated system")]
    MayNotInvite,
    #[error("at most {MAX_CANDIDATES} candidates of at most {MAX_CANDIDATE_LEN} bytes")]
    InvalidConnection,
    #[error("{0}")]
    InvalidEmail(String),
    #[error(transparent)]
    InvalidNumber(#[from] NumberError),
    #[error("{0} is not a number of this device or account")]
    NotYourNumber(PhoneNumber),
    #[error("{0}")]
    NotRegistered(String),
    #[error(transparent)]
    RateLimited(#[from] Limited),
    #[error("invitation not found")]
    NotFound,
    #[error(transparent)]
    Invitation(#[from] InvitationError),
    #[error("the call this invitation was about is no longer waiting")]
    CallSettled,
    #[error("this call is not waiting for the other side any more: it was paired or ended")]
    LegSettled,
    #[error("leg not found")]
    LegNotFound,
    #[error("{0}")]
    CallNotAnswered(String),
    #[error(transparent)]
    Component(#[from] components::Error),
    #[error(transparent)]
    Session(#[from] sessions::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Connection data a device sends with an invitation or an acceptance (S2-I9/I10): what decides
/// between a direct and a relayed path, the number and size of its candidates, and the whole of
/// it as stored and shown to the other side.
pub(crate) struct Connection {
    pub(crate) nat: NatType,
    pub(crate) retry: bool,
    pub(crate) failures: u32,
    pub(crate) candidates: usize,
    pub(crate) longest_candidate: usize,
    pub(crate) json: String,
}

fn check_connection(c: &Option<Connection>) -> Result<(), Error> {
    if let Some(c) = c {
        if c.candidates > MAX_CANDIDATES || c.longest_candidate > MAX_CANDIDATE_LEN {
            return Err(Error::InvalidConnection);
        }
    }
    Ok(())
}

/// An invitation as its sender asks for it.
pub(crate) struct NewInvitation {
    /// A number or an email address.
    pub(crate) to: String,
    pub(crate) from: Option<String>,
    /// A session to invite into (else a new one opens on acceptance).
    pub(crate) session: Option<String>,
    pub(crate) connection: Option<Connection>,
    pub(crate) component: Option<String>,
}

/// What the invitation service needs to know of the deployment.
pub(crate) struct Settings {
    pub(crate) region: crate::numbers::Regions,
    pub(crate) lifecycle: Lifecycle,
    /// How long an invitation rings.
    pub(crate) ttl: Duration,
    /// S1-F7: the link texted to a number without devices (`{invitation}` replaced).
    pub(crate) sms_link: Option<String>,
    pub(crate) sms_link_ttl: Duration,
    pub(crate) limits: crate::config::Limits,
}

pub(crate) struct Invitations {
    store: Store,
    sessions: Arc<Sessions>,
    calls: Arc<Calls>,
    components: Arc<Components>,
    hub: Arc<Hub>,
    waker: Waker,
    sms: Arc<SmsSender>,
    tasks: Tasks,
    wire: Arc<dyn Wire>,
    metrics: Arc<Metrics>,
    settings: Settings,
    /// Serialises changes of state, so "first accept wins" holds across devices.
    lock: tokio::sync::Mutex<()>,
    per_inviter: Mutex<Limiter<PrincipalId>>,
    /// Pending invitations offered for one-sided calls, by leg (S1-F2): when the leg settles
    /// another way (the other app reported after all, or the caller hung up) the invitation is
    /// withdrawn. In memory: after a restart such invitations just ring until they expire.
    by_leg: Mutex<HashMap<LegId, String>>,
    /// SMS invitations (S1-F7) per invited number, and for the whole server (they cost money).
    sms_per_number: Mutex<Limiter<PhoneNumber>>,
    sms_overall: Mutex<Limiter<()>>,
    /// Invitations per invited number or address (they ring someone's phone).
    per_target: Mutex<Limiter<String>>,
}

impl Invitations {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Store,
        sessions: Arc<Sessions>,
        calls: Arc<Calls>,
        components: Arc<Components>,
        hub: Arc<Hub>,
        waker: Waker,
        sms: Arc<SmsSender>,
        tasks: Tasks,
        wire: Arc<dyn Wire>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Self {
        let l = &settings.limits;
        let per_inviter = Limiter::new(Rate::per_hour(l.invitations_per_device_hour));
        let sms_per_number = Limiter::new(Rate::per_day(l.sms_invitations_per_number_day));
        let sms_overall = Limiter::new(Rate::per_hour(l.sms_invitations_per_hour));
        let per_target = Limiter::new(Rate::per_hour(l.invitations_per_target_hour));
        Invitations {
            store,
            sessions,
            calls,
            components,
            hub,
            waker,
            sms,
            tasks,
            wire,
            metrics,
            settings,
            lock: tokio::sync::Mutex::new(()),
            per_inviter: Mutex::new(per_inviter),
            by_leg: Mutex::new(HashMap::new()),
            sms_per_number: Mutex::new(sms_per_number),
            sms_overall: Mutex::new(sms_overall),
            per_target: Mutex::new(per_target),
        }
    }

    /// Forgets rate-limit keys that are idle again (housekeeping).
    pub(crate) fn prune(&self, now: Millis) {
        self.per_inviter
            .lock()
            .expect("limiter poisoned")
            .prune(now);
        self.per_target.lock().expect("limiter poisoned").prune(now);
        self.sms_per_number
            .lock()
            .expect("limiter poisoned")
            .prune(now);
        self.sms_overall
            .lock()
            .expect("limiter poisoned")
            .prune(now);
    }

    /// After a restart: pending offers for one-sided calls are linked to their legs again, so a
    /// leg that settles withdraws its offer and is not offered twice.
    pub(crate) async fn restore(&self) -> Result<(), Error> {
        let pairs = self.store.pending_leg_invitations().await?;
        self.calls
            .mark_offered(pairs.iter().map(|(leg, _)| leg.clone()))
            .await;
        self.by_leg
            .lock()
            .expect("invitations poisoned")
            .extend(pairs);
        Ok(())
    }

    /// Tells everyone involved about an invitation's state, and wakes the devices it rings.
    fn publish(&self, rec: &InvitationRecord) {
        let frame = self.wire.invitation_frame(rec);
        self.hub
            .publish(&rec.invitation.audience(), &Outbound::Frame(frame));
        if rec.invitation.state == InvitationState::Pending {
            self.waker.wake(
                rec.invitation.devices.clone(),
                Reason::Ringing(rec.invitation.id.clone()),
            );
        }
    }

    /// Invites every device of `req.to` (S2-I/M). Unknown numbers get `not_registered`.
    pub(crate) async fn create(
        &self,
        inviter: &Principal,
        req: NewInvitation,
    ) -> Result<InvitationRecord, Error> {
        // Only a principal with a known identity rings someone: a device that owns a number (a
        // freshly enrolled one proves one first), or an automated system.
        let may_invite = match &inviter.kind {
            PrincipalKind::Device { numbers } => !numbers.is_empty(),
            PrincipalKind::Service { .. } => {
                inviter.has_scope(callside_core::Scope::AutomatedSystem)
            }
            PrincipalKind::Admin => false,
        };
        if !may_invite {
            return Err(Error::MayNotInvite);
        }
        check_connection(&req.connection)?;
        let component = match &req.component {
            Some(c) => Some(self.components.for_invitation(c).await?.id.to_string()),
            None => None,
        };
        let now = now_ms();
        let region = Some(self.settings.region.of(inviter));
        // An address or a number: S2-I's endpoint ids.
        let invitee = if req.to.contains('@') {
            Endpoint::Email(Email::parse(&req.to).map_err(|e| Error::InvalidEmail(e.to_string()))?)
        } else {
            Endpoint::Number(PhoneNumber::parse(&req.to, region)?)
        };
        let from = match (&req.from, &inviter.kind) {
            (Some(f), _) => Some(PhoneNumber::parse(f, region)?),
            (None, PrincipalKind::Device { numbers }) => numbers.first().cloned(),
            (None, _) => None,
        };
        if let Some(f) = &from {
            if !inviter.may_report_leg(f) {
                return Err(Error::NotYourNumber(f.clone()));
            }
        }
        let session = match &req.session {
            Some(k) => {
                let key = SessionKey::parse(k).ok_or(sessions::Error::NotFound)?;
                let rec = self.sessions.record_for(&key, &inviter.id).await?;
                rec.session
                    .check_access(&inviter.id)
                    .map_err(sessions::Error::from)?;
                Some(key)
            }
            None => None,
        };
        {
            let mut per_target = self.per_target.lock().expect("limiter poisoned");
            let target = invitee.as_str().to_owned();
            if !per_target.would_allow(&target, now) {
                return Err(per_target.check(target, now).unwrap_err().into());
            }
            self.per_inviter
                .lock()
                .expect("limiter poisoned")
                .check(inviter.id.clone(), now)?;
            per_target.check(target, now)?;
        }
        let devices = match &invitee {
            Endpoint::Number(n) => self.store.devices_owning(n.clone()).await?,
            Endpoint::Email(e) => self.store.devices_with_email(e.clone()).await?,
        };
        let devices: Vec<PrincipalId> = devices.into_iter().filter(|d| d != &inviter.id).collect();
        if devices.is_empty() {
            return Err(Error::NotRegistered(format!(
                "{invitee} has no device registered with callside"
            )));
        }
        let rec = InvitationRecord {
            invitation: Invitation {
                id: callside_core::secret::new_id("inv", now),
                inviter: inviter.id.clone(),
                invitee,
                from,
                devices,
                session,
                leg: None,
                via_sms: false,
                state: InvitationState::Pending,
                answered_by: None,
                created_at: now,
                expires_at: now + self.settings.ttl.as_millis() as Millis,
            },
            inviter_name: inviter.name.clone(),
            offer: req.connection.map(|c| c.json),
            answer: None,
            path: None,
            component,
        };
        let frame = self.wire.invitation_frame(&rec);
        let (hub, waker) = (self.hub.clone(), self.waker.clone());
        let (audience, devices) = (rec.invitation.audience(), rec.invitation.devices.clone());
        let ringing = Reason::Ringing(rec.invitation.id.clone());
        self.store
            .apply_then(
                vec![Write::Invitation(rec.clone())],
                Box::new(move || {
                    hub.publish(&audience, &Outbound::Frame(frame));
                    waker.wake(devices, ringing);
                }),
            )
            .await?;
        Metrics::inc(&self.metrics.invitations);
        Ok(rec)
    }

    async fn load(&self, id: String, who: &PrincipalId) -> Result<InvitationRecord, Error> {
        match self.store.invitation(id).await? {
            Some(r) if r.invitation.may_see(who) => Ok(r),
            _ => Err(Error::NotFound),
        }
    }

    /// An invitation the inviter or one of the invitee's devices asks about.
    pub(crate) async fn get(
        &self,
        who: &PrincipalId,
        id: String,
    ) -> Result<InvitationRecord, Error> {
        self.load(id, who).await
    }

    /// Invitations ringing on this device.
    pub(crate) async fn ringing(&self, who: &PrincipalId) -> Result<Vec<InvitationRecord>, Error> {
        let now = now_ms();
        Ok(self
            .store
            .invitations_for(who.clone())
            .await?
            .into_iter()
            .filter(|r| r.invitation.expires_at > now)
            .collect())
    }

    /// The first device to accept gets the session (a new one, or the one it was invited
    /// into); the inviter and the other devices hear about it.
    pub(crate) async fn accept(
        &self,
        device: &Principal,
        id: String,
        connection: Option<Connection>,
    ) -> Result<InvitationRecord, Error> {
        check_connection(&connection)?;
        let serial = self.lock.lock().await;
        let mut rec = self.load(id, &device.id).await?;
        let now = now_ms();
        rec.invitation.accept(&device.id, now)?;
        // A one-sided call's invitation: take its leg out of matching first; if it settled in
        // the meantime, the call is no longer waiting and the invitation is over.
        let mut leg_outcome = None;
        if let Some(leg) = rec.invitation.leg.clone() {
            self.by_leg
                .lock()
                .expect("invitations poisoned")
                .remove(&leg);
            match self.calls.take_pending(&leg).await {
                Some(pending) => leg_outcome = Some(pending),
                // An SMS invitation outlives the call: the session proceeds without it.
                None if rec.invitation.via_sms => {}
                None => {
                    let mut cancelled = self.load(rec.invitation.id.clone(), &device.id).await?;
                    cancelled.invitation.state = InvitationState::Cancelled;
                    self.store
                        .apply(vec![Write::Invitation(cancelled.clone())])
                        .await?;
                    self.publish(&cancelled);
                    return Err(Error::CallSettled);
                }
            }
        }
        let offer = rec.offer.as_deref().and_then(|o| self.wire.connection(o));
        let nat = |c: &Option<Connection>| c.as_ref().map_or(NatType::Unknown, |c| c.nat);
        let retry =
            offer.as_ref().is_some_and(|o| o.retry) || connection.as_ref().is_some_and(|o| o.retry);
        let failures = offer
            .as_ref()
            .map(|o| o.failures)
            .into_iter()
            .chain(connection.as_ref().map(|o| o.failures))
            .max()
            .unwrap_or(0);
        rec.path = Some(
            match choose_path(nat(&offer), nat(&connection), retry, failures) {
                callside_core::relay::Path::Direct => "direct",
                callside_core::relay::Path::Relay => "relay",
            }
            .to_owned(),
        );
        rec.answer = connection.map(|c| c.json);
        let joiner = ParticipantRecord {
            principal: device.id.clone(),
            name: device.name.clone(),
            number: rec.invitation.invitee.number().cloned(),
            acked_seq: 0,
            joined_seq: 0,
            history: None,
        };
        match rec.invitation.session.clone() {
            Some(key) => {
                self.sessions
                    .transition(
                        &key,
                        Event::Join(device.id.clone()),
                        Some(joiner),
                        vec![Write::Invitation(rec.clone())],
                    )
                    .await?;
            }
            None => {
                let key = SessionKey::generate(now);
                rec.invitation.session = Some(key.clone());
                let inviter = ParticipantRecord {
                    principal: rec.invitation.inviter.clone(),
                    name: rec.inviter_name.clone(),
                    number: rec.invitation.from.clone(),
                    acked_seq: 0,
                    joined_seq: 0,
                    history: None,
                };
                let new = NewSession {
                    key,
                    origin: Origin::Invitation,
                    lifecycle: self.settings.lifecycle,
                    participants: vec![inviter, joiner],
                    call_id: None,
                    at: now,
                };
                let mut writes = vec![Write::Invitation(rec.clone())];
                if let Some((leg, _)) = &mut leg_outcome {
                    writes.push(crate::calls::settle(
                        leg,
                        callside_store::LegState::Matched,
                        None,
                        rec.invitation.session.as_ref(),
                    ));
                }
                let opening = self.sessions.open(new, writes).await?;
                self.sessions.opened(opening).await?;
            }
        }
        self.publish(&rec);
        // Announcing settles the leg, which may withdraw another invitation for it
        // (`leg_settled` takes the lock): release it first.
        drop(serial);
        if let Some((leg, answered)) = &leg_outcome {
            Metrics::inc(&self.metrics.legs_matched);
            if let Some(key) = &rec.invitation.session {
                self.calls.record_pair(leg, key).await;
            }
            self.calls.announce(leg).await;
            if *answered {
                if let Some(key) = &rec.invitation.session {
                    self.sessions
                        .transition(key, Event::CallAnswered, None, vec![])
                        .await?;
                }
            }
        }
        self.components.offer_after_accept(&rec).await;
        Ok(rec)
    }

    /// A device just proved `number`: SMS invitations waiting for that number ring on it too
    /// ("installation confirmation", S1-F7).
    pub(crate) async fn number_bound(&self, device: &PrincipalId, number: &PhoneNumber) {
        let now = now_ms();
        let waiting = match self
            .store
            .pending_invitations_to(Endpoint::Number(number.clone()), now)
            .await
        {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "could not look up SMS invitations");
                return;
            }
        };
        let _serial = self.lock.lock().await;
        for stale in waiting {
            // Read again under the lock: it may have been answered or expired since.
            let Ok(Some(mut rec)) = self.store.invitation(stale.invitation.id).await else {
                continue;
            };
            let i = &rec.invitation;
            if i.state != InvitationState::Pending
                || i.expires_at <= now_ms()
                || !i.via_sms
                || i.devices.contains(device)
                || &i.inviter == device
            {
                continue;
            }
            let write = Write::InvitationDevice {
                invitation: i.id.clone(),
                device: device.clone(),
            };
            if self.store.apply(vec![write]).await.is_ok() {
                rec.invitation.devices.push(device.clone());
                self.publish(&rec);
            }
        }
    }

    /// A leg settled (matched, no match, withdrawn): withdraw the invitation offered for it.
    pub(crate) async fn leg_settled(&self, leg: &LegId) {
        let Some(id) = self
            .by_leg
            .lock()
            .expect("invitations poisoned")
            .remove(leg)
        else {
            return;
        };
        let _serial = self.lock.lock().await;
        let Ok(Some(mut rec)) = self.store.invitation(id).await else {
            return;
        };
        // An SMS invitation outlives the call: the app may be installed later.
        if rec.invitation.state != InvitationState::Pending || rec.invitation.via_sms {
            return;
        }
        rec.invitation.state = InvitationState::Cancelled;
        if self
            .store
            .apply(vec![Write::Invitation(rec.clone())])
            .await
            .is_ok()
        {
            self.publish(&rec);
        }
    }

    /// Declined by a device of the invitee, or withdrawn by the inviter.
    pub(crate) async fn end(
        &self,
        who: &PrincipalId,
        id: String,
        decline: bool,
    ) -> Result<InvitationRecord, Error> {
        let _serial = self.lock.lock().await;
        let mut rec = self.load(id, who).await?;
        let now = now_ms();
        if decline {
            rec.invitation.decline(who, now)?;
        } else {
            rec.invitation.cancel(who, now)?;
        }
        self.store
            .apply(vec![Write::Invitation(rec.clone())])
            .await?;
        self.publish(&rec);
        Ok(rec)
    }

    /// Expires invitations nobody answered in time (housekeeping).
    pub(crate) async fn expire_due(&self) {
        let now = now_ms();
        let due = match self.store.expired_invitations(now).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "invitation expiry sweep failed");
                return;
            }
        };
        if due.is_empty() {
            return;
        }
        let _serial = self.lock.lock().await;
        for rec in due {
            // Re-read: it may have been answered since the sweep's read.
            let mut rec = match self.store.invitation(rec.invitation.id.clone()).await {
                Ok(Some(f)) => f,
                _ => continue,
            };
            if !rec.invitation.expire(now) {
                continue;
            }
            if let Some(leg) = &rec.invitation.leg {
                self.by_leg
                    .lock()
                    .expect("invitations poisoned")
                    .remove(leg);
            }
            if let Err(e) = self.store.apply(vec![Write::Invitation(rec.clone())]).await {
                tracing::warn!(error = %e, invitation = %rec.invitation.id, "could not expire an invitation");
                return;
            }
            self.publish(&rec);
        }
    }
}

/// Withdraws the invitations offered for legs as they settle, until `stop`.
pub(crate) async fn on_legs_settled(
    invitations: Arc<Invitations>,
    mut settled: tokio::sync::mpsc::Receiver<crate::calls::LegSettled>,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        let leg = tokio::select! {
            s = settled.recv() => match s { Some(s) => s.0, None => return },
            _ = stop.cancelled() => return,
        };
        invitations.leg_settled(&leg).await;
    }
}

/// Rings SMS invitations on devices as they prove the invited numbers, until `stop`.
pub(crate) async fn on_numbers_bound(
    invitations: Arc<Invitations>,
    mut bound: tokio::sync::mpsc::Receiver<crate::identity::NumberBound>,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        let b = tokio::select! {
            b = bound.recv() => match b { Some(b) => b, None => return },
            _ = stop.cancelled() => return,
        };
        invitations.number_bound(&b.device, &b.number).await;
    }
}
