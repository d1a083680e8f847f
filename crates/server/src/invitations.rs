//! Invitations (S2-I, S2-M, S1-F2): the service behind `/v1/invitations`. The rules are
//! `callside_core::invitation`; this module finds the invitee's devices, keeps invitations durable,
//! creates or opens the session on acceptance, and tells everyone involved.

use crate::app::{App, AppState};
use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::http::wire as mapping;
use crate::hub::Outbound;
use crate::sessions::NewSession;
use callside_core::email::{Email, Endpoint};
use callside_core::invitation::{Invitation, InvitationState};
use callside_core::ratelimit::{Limiter, Rate};
use callside_core::relay::choose_path;
use callside_core::session::{Event, Origin};
use callside_core::{
    LegId, Millis, PhoneNumber, Principal, PrincipalId, PrincipalKind, SessionKey,
};
use callside_proto as proto;
use callside_store::{InvitationRecord, ParticipantRecord, Write};
use std::sync::Mutex;

pub(crate) struct Invitations {
    /// Serialises changes of state, so "first accept wins" holds across devices.
    lock: tokio::sync::Mutex<()>,
    per_inviter: Mutex<Limiter<PrincipalId>>,
    /// Pending invitations offered for one-sided calls, by leg (S1-F2): when the leg settles
    /// another way (the other app reported after all, or the caller hung up) the invitation is
    /// withdrawn. In memory: after a restart such invitations just ring until they expire.
    by_leg: Mutex<std::collections::HashMap<LegId, String>>,
    /// SMS invitations (S1-F7) per invited number, and for the whole server (they cost money).
    sms_per_number: Mutex<Limiter<PhoneNumber>>,
    sms_overall: Mutex<Limiter<()>>,
    /// Invitations per invited number or address (they ring someone's phone).
    per_target: Mutex<Limiter<String>>,
}

const MAX_CANDIDATES: usize = 32;
const MAX_CANDIDATE_LEN: usize = 512;

fn check_offer(offer: &Option<proto::connect::ConnectionOffer>) -> Result<(), ApiError> {
    if let Some(o) = offer {
        if o.candidates.len() > MAX_CANDIDATES
            || o.candidates.iter().any(|c| c.len() > MAX_CANDIDATE_LEN)
        {
            return Err(ApiError::bad(
                "invalid_connection",
                format!("at most {MAX_CANDIDATES} candidates of at most {MAX_CANDIDATE_LEN} bytes"),
            ));
        }
    }
    Ok(())
}

fn json(offer: &Option<proto::connect::ConnectionOffer>) -> Option<String> {
    offer
        .as_ref()
        .map(|o| serde_json::to_string(o).expect("connection data serialises"))
}

impl Invitations {
    pub(crate) fn new(l: &crate::config::Limits) -> Self {
        Invitations {
            lock: tokio::sync::Mutex::new(()),
            per_inviter: Mutex::new(Limiter::new(Rate::per_hour(l.invitations_per_device_hour))),
            by_leg: Mutex::new(Default::default()),
            sms_per_number: Mutex::new(Limiter::new(Rate::per_day(
                l.sms_invitations_per_number_day,
            ))),
            sms_overall: Mutex::new(Limiter::new(Rate::per_hour(l.sms_invitations_per_hour))),
            per_target: Mutex::new(Limiter::new(Rate::per_hour(l.invitations_per_target_hour))),
        }
    }

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
    pub(crate) async fn restore(&self, app: &App) -> Result<(), ApiError> {
        let pairs = app.store.pending_leg_invitations().await?;
        app.calls
            .mark_offered(pairs.iter().map(|(leg, _)| leg.clone()))
            .await;
        self.by_leg
            .lock()
            .expect("invitations poisoned")
            .extend(pairs);
        Ok(())
    }

    fn publish(app: &App, rec: &InvitationRecord) {
        let frame = mapping::frame_json(&proto::ws::ServerFrame::Invitation(mapping::invitation(
            rec,
        )));
        app.hub
            .publish(&rec.invitation.audience(), &Outbound::Frame(frame));
        if rec.invitation.state == InvitationState::Pending {
            app.waker.wake(
                rec.invitation.devices.clone(),
                crate::push::Reason::Ringing(rec.invitation.id.clone()),
            );
        }
    }

    /// Invites every device of `req.to` (S2-I/M). Unknown numbers get `not_registered`.
    pub(crate) async fn create(
        &self,
        app: &AppState,
        inviter: &Principal,
        req: proto::invitation::CreateInvitation,
    ) -> Result<proto::invitation::Invitation, ApiError> {
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
            return Err(ApiError::Forbidden(
                "may_not_invite",
                "invitations come from a device that owns a number, or an automated system".into(),
            ));
        }
        check_offer(&req.connection)?;
        let component = match &req.component {
            Some(c) => Some(app.components.for_invitation(c).await?.id.to_string()),
            None => None,
        };
        let now = now_ms();
        let region = Some(app.config.default_region);
        // An address or a number: S2-I's endpoint ids.
        let invitee = if req.to.contains('@') {
            Endpoint::Email(
                Email::parse(&req.to).map_err(|e| ApiError::bad("invalid_email", e.to_string()))?,
            )
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
                return Err(ApiError::Forbidden(
                    "not_your_number",
                    format!("{f} is not a number of this device or account"),
                ));
            }
        }
        let session = match &req.session {
            Some(k) => {
                let key = SessionKey::parse(k).ok_or(ApiError::NotFound("session"))?;
                let rec = app.sessions.record_for(&key, &inviter.id).await?;
                rec.session.check_access(&inviter.id)?;
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
            Endpoint::Number(n) => app.store.devices_owning(n.clone()).await?,
            Endpoint::Email(e) => app.store.devices_with_email(e.clone()).await?,
        };
        let devices: Vec<PrincipalId> = devices.into_iter().filter(|d| d != &inviter.id).collect();
        if devices.is_empty() {
            return Err(ApiError::Absent(
                "not_registered",
                format!("{invitee} has no device registered with callside"),
            ));
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
                expires_at: now + app.config.invitation_ttl.as_millis() as Millis,
            },
            inviter_name: inviter.name.clone(),
            offer: json(&req.connection),
            answer: None,
            path: None,
            component,
        };
        let published = rec.clone();
        let app2 = app.clone();
        app.store
            .apply_then(
                vec![Write::Invitation(rec.clone())],
                Box::new(move || Self::publish(&app2, &published)),
            )
            .await?;
        crate::metrics::Metrics::inc(&app.metrics.invitations);
        Ok(mapping::invitation(&rec))
    }

    async fn load(
        &self,
        app: &App,
        id: String,
        who: &PrincipalId,
    ) -> Result<InvitationRecord, ApiError> {
        match app.store.invitation(id).await? {
            Some(r) if r.invitation.may_see(who) => Ok(r),
            _ => Err(ApiError::NotFound("invitation")),
        }
    }

    pub(crate) async fn get(
        &self,
        app: &App,
        who: &PrincipalId,
        id: String,
    ) -> Result<proto::invitation::Invitation, ApiError> {
        Ok(mapping::invitation(&self.load(app, id, who).await?))
    }

    /// Invitations ringing on this device.
    pub(crate) async fn ringing(
        &self,
        app: &App,
        who: &PrincipalId,
    ) -> Result<Vec<proto::invitation::Invitation>, ApiError> {
        let now = now_ms();
        Ok(app
            .store
            .invitations_for(who.clone())
            .await?
            .iter()
            .filter(|r| r.invitation.expires_at > now)
            .map(mapping::invitation)
            .collect())
    }

    /// The first device to accept gets the session (a new one, or the one it was invited
    /// into); the inviter and the other devices hear about it.
    pub(crate) async fn accept(
        &self,
        app: &App,
        device: &Principal,
        id: String,
        req: proto::invitation::AcceptInvitation,
    ) -> Result<proto::invitation::Invitation, ApiError> {
        check_offer(&req.connection)?;
        let _serial = self.lock.lock().await;
        let mut rec = self.load(app, id, &device.id).await?;
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
            match app.calls.take_pending(&leg).await {
                Some(pending) => leg_outcome = Some(pending),
                // An SMS invitation outlives the call: the session proceeds without it.
                None if rec.invitation.via_sms => {}
                None => {
                    let mut cancelled = self
                        .load(app, rec.invitation.id.clone(), &device.id)
                        .await?;
                    cancelled.invitation.state = InvitationState::Cancelled;
                    app.store
                        .apply(vec![Write::Invitation(cancelled.clone())])
                        .await?;
                    Self::publish(app, &cancelled);
                    return Err(ApiError::Conflict(
                        "call_settled",
                        "the call this invitation was about is no longer waiting".into(),
                    ));
                }
            }
        }
        let offer: Option<proto::connect::ConnectionOffer> = rec
            .offer
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok());
        let nat = |o: &Option<proto::connect::ConnectionOffer>| {
            mapping::nat_in(o.as_ref().map(|o| o.nat).unwrap_or_default())
        };
        let retry = offer.as_ref().is_some_and(|o| o.retry)
            || req.connection.as_ref().is_some_and(|o| o.retry);
        let failures = offer
            .as_ref()
            .map(|o| o.failures)
            .into_iter()
            .chain(req.connection.as_ref().map(|o| o.failures))
            .max()
            .unwrap_or(0);
        rec.path = Some(
            match choose_path(nat(&offer), nat(&req.connection), retry, failures) {
                callside_core::relay::Path::Direct => "direct",
                callside_core::relay::Path::Relay => "relay",
            }
            .to_owned(),
        );
        rec.answer = json(&req.connection);
        let joiner = ParticipantRecord {
            principal: device.id.clone(),
            name: device.name.clone(),
            number: rec.invitation.invitee.number().cloned(),
            acked_seq: 0,
        };
        match rec.invitation.session.clone() {
            Some(key) => {
                app.sessions
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
                };
                let new = NewSession {
                    key,
                    origin: Origin::Invitation,
                    lifecycle: app.config.lifecycle,
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
                let opening = app.sessions.open(new, writes).await?;
                app.sessions.opened(opening).await?;
            }
        }
        Self::publish(app, &rec);
        // Announcing settles the leg, which may withdraw another invitation for it
        // (`leg_settled` takes the lock): release it first.
        drop(_serial);
        if let Some((leg, answered)) = &leg_outcome {
            crate::metrics::Metrics::inc(&app.metrics.legs_matched);
            if let Some(key) = &rec.invitation.session {
                app.calls.record_pair(leg, key).await;
            }
            app.calls.announce(leg).await;
            if *answered {
                if let Some(key) = &rec.invitation.session {
                    app.sessions
                        .transition(key, Event::CallAnswered, None, vec![])
                        .await?;
                }
            }
        }
        app.components.offer_after_accept(&rec).await;
        Ok(mapping::invitation(&rec))
    }

    /// S1-F2: only one side's app reported this call, `grace` ago. If the other number has
    /// devices, ask them whether to start a data session with the party they are speaking to.
    pub(crate) async fn offer_for_leg(
        &self,
        app: &AppState,
        leg: callside_store::LegRecord,
        name: String,
        answered: bool,
    ) {
        match self.offer_leg(app, leg, name, answered, None).await {
            Ok(_)
            | Err(ApiError::Absent(..))
            | Err(ApiError::Conflict(..))
            | Err(ApiError::RateLimited(_)) => {}
            Err(e) => tracing::warn!(error = %e, "could not offer a session for a one-sided call"),
        }
    }

    /// `POST /v1/legs/{id}/component` (S1-F6/F7): the reporter of a one-sided call offers a
    /// component to the other party. An offer already ringing for the call takes the component
    /// on; otherwise the other number's devices are invited now (or texted a link).
    pub(crate) async fn component_for_leg(
        &self,
        app: &AppState,
        who: &Principal,
        leg: LegId,
        component: &str,
    ) -> Result<proto::invitation::Invitation, ApiError> {
        let component = app.components.for_invitation(component).await?;
        // One offer per call at a time: two requests for the same leg do not make two.
        let _serial = self.lock.lock().await;
        let ringing = self
            .by_leg
            .lock()
            .expect("invitations poisoned")
            .get(&leg)
            .cloned();
        if let Some(id) = ringing {
            if let Some(mut rec) = app.store.invitation(id).await? {
                if rec.invitation.inviter == who.id
                    && rec.invitation.state == InvitationState::Pending
                {
                    rec.component = Some(component.id.to_string());
                    app.store
                        .apply(vec![Write::Invitation(rec.clone())])
                        .await?;
                    Self::publish(app, &rec);
                    return Ok(mapping::invitation(&rec));
                }
            }
        }
        let Some(crate::calls::PendingLeg {
            rec,
            name,
            answered,
        }) = app.calls.claim_for_offer(&leg, &who.id).await
        else {
            return match app.store.leg(leg).await? {
                Some(l) if l.leg.principal == who.id => Err(ApiError::Conflict(
                    "leg_settled",
                    "this call is not waiting for the other side any more: it was paired or ended"
                        .into(),
                )),
                _ => Err(ApiError::NotFound("leg")),
            };
        };
        match self
            .offer_leg(app, rec, name, answered, Some(component))
            .await
        {
            Ok(invitation) => Ok(mapping::invitation(&invitation)),
            Err(e) => {
                // Nothing was offered: the call may still be offered later (when answered, or
                // automatically after the grace period).
                app.calls.release_offer(&leg).await;
                Err(e)
            }
        }
    }

    /// Invites the other number's devices for a one-sided call, or texts it a link when it has
    /// none (S1-F7); the invitation may carry a component to offer once the session is up.
    async fn offer_leg(
        &self,
        app: &AppState,
        leg: callside_store::LegRecord,
        name: String,
        answered: bool,
        component: Option<callside_core::component::Component>,
    ) -> Result<InvitationRecord, ApiError> {
        let Some(other) = leg.leg.other.clone() else {
            // A withheld caller: nobody to ask.
            return Err(ApiError::Absent(
                "not_registered",
                "the other party's number is withheld".into(),
            ));
        };
        let now = now_ms();
        {
            // Spent only on an invitation actually made (below).
            let mut per_inviter = self.per_inviter.lock().expect("limiter poisoned");
            if !per_inviter.would_allow(&leg.leg.principal, now) {
                return Err(per_inviter
                    .check(leg.leg.principal.clone(), now)
                    .unwrap_err()
                    .into());
            }
        }
        let devices: Vec<PrincipalId> = app
            .store
            .devices_owning(other.clone())
            .await?
            .into_iter()
            .filter(|d| d != &leg.leg.principal)
            .collect();
        if devices.is_empty() {
            return self
                .offer_by_sms(app, leg, name, answered, other, now, component)
                .await;
        }
        let rec = InvitationRecord {
            invitation: Invitation {
                id: callside_core::secret::new_id("inv", now),
                inviter: leg.leg.principal.clone(),
                invitee: Endpoint::Number(other),
                from: Some(leg.leg.own.clone()),
                devices,
                session: None,
                leg: Some(leg.leg.id.clone()),
                via_sms: false,
                state: InvitationState::Pending,
                answered_by: None,
                created_at: now,
                expires_at: (now + app.config.invitation_ttl.as_millis() as Millis)
                    .min(leg.leg.expires_at.max(now + 1)),
            },
            inviter_name: name,
            offer: None,
            answer: None,
            path: None,
            component: component.map(|c| c.id.to_string()),
        };
        app.store
            .apply(vec![Write::Invitation(rec.clone())])
            .await?;
        self.made_for_leg(&leg.leg, &rec.invitation.id, now);
        crate::metrics::Metrics::inc(&app.metrics.invitations);
        Self::publish(app, &rec);
        Ok(rec)
    }

    /// An invitation was made for a one-sided call: it counts against the inviter's budget,
    /// and the leg finds it (to withdraw it when the leg settles, or to add a component to it).
    fn made_for_leg(&self, leg: &callside_core::Leg, invitation: &str, now: Millis) {
        let _ = self
            .per_inviter
            .lock()
            .expect("limiter poisoned")
            .check(leg.principal.clone(), now);
        self.by_leg
            .lock()
            .expect("invitations poisoned")
            .insert(leg.id.clone(), invitation.to_owned());
    }

    /// S1-F7 (opt-in): the other number has no device. Text it a link to the app, audited and
    /// rate-limited; its devices join the invitation as they prove the number.
    #[allow(clippy::too_many_arguments)]
    async fn offer_by_sms(
        &self,
        app: &AppState,
        leg: callside_store::LegRecord,
        name: String,
        answered: bool,
        to: PhoneNumber,
        now: Millis,
        component: Option<callside_core::component::Component>,
    ) -> Result<InvitationRecord, ApiError> {
        let Some(template) = app
            .config
            .sms_link
            .as_ref()
            .filter(|_| app.sms.is_configured())
        else {
            return Err(ApiError::Absent(
                "not_registered",
                format!("{to} has no device registered with callside, and this server sends no SMS links"),
            ));
        };
        if !answered {
            // Only for calls the reporter says were answered: a texted stranger was really
            // on the phone with them.
            return Err(ApiError::Conflict(
                "call_not_answered",
                format!("{to} has no device; an SMS link goes only once the call is answered"),
            ));
        }
        {
            let mut overall = self.sms_overall.lock().expect("limiter poisoned");
            let mut per_number = self.sms_per_number.lock().expect("limiter poisoned");
            if !overall.would_allow(&(), now) {
                tracing::info!(number = %to, "SMS invitation skipped: the hourly limit is spent");
                return Err(overall.check((), now).unwrap_err().into());
            }
            if let Err(e) = per_number.check(to.clone(), now) {
                tracing::info!(number = %to, "SMS invitation skipped: the number's limit is spent");
                return Err(e.into());
            }
            let _ = overall.check((), now);
        }
        let rec = InvitationRecord {
            invitation: Invitation {
                id: callside_core::secret::new_id("inv", now),
                inviter: leg.leg.principal.clone(),
                invitee: Endpoint::Number(to.clone()),
                from: Some(leg.leg.own.clone()),
                devices: Vec::new(),
                session: None,
                leg: Some(leg.leg.id.clone()),
                via_sms: true,
                state: InvitationState::Pending,
                answered_by: None,
                created_at: now,
                expires_at: now + app.config.sms_link_ttl.as_millis() as Millis,
            },
            inviter_name: name.clone(),
            offer: None,
            answer: None,
            path: None,
            component: component.as_ref().map(|c| c.id.to_string()),
        };
        let link = template.replace("{invitation}", &rec.invitation.id);
        let audit = callside_store::AuditRecord {
            at: now,
            actor: leg.leg.principal.clone(),
            action: "sms_invitation".into(),
            subject: to.to_string(),
            detail: format!(
                "invitation {} for a call from {}{}",
                rec.invitation.id,
                leg.leg.own,
                component
                    .as_ref()
                    .map(|c| format!(" with component {}", c.id))
                    .unwrap_or_default()
            ),
        };
        app.store
            .apply(vec![Write::Invitation(rec.clone()), Write::Audit(audit)])
            .await?;
        self.made_for_leg(&leg.leg, &rec.invitation.id, now);
        crate::metrics::Metrics::inc(&app.metrics.invitations);
        Self::publish(app, &rec);
        // Only the number and the operator's catalogue name: a device's name is free text its
        // owner chose.
        let text = match &component {
            Some(c) => format!(
                "{} would like to share {} with you. Get the app: {link}",
                leg.leg.own, c.name
            ),
            None => format!(
                "{} would like to share call data with you. Get the app: {link}",
                leg.leg.own
            ),
        };
        let app = app.clone();
        app.supervisor.tasks().spawn(async move {
            match app.sms.send(&to, &text).await {
                Ok(()) => crate::metrics::Metrics::inc(&app.metrics.sms_sent),
                Err(e) => {
                    crate::metrics::Metrics::inc(&app.metrics.sms_failed);
                    tracing::error!(to = %to, error = %e, "the invitation SMS could not be sent");
                }
            }
        });
        Ok(rec)
    }

    /// A device just proved `number`: SMS invitations waiting for that number ring on it too
    /// ("installation confirmation", S1-F7).
    pub(crate) async fn number_bound(&self, app: &App, device: &PrincipalId, number: &PhoneNumber) {
        let now = now_ms();
        let waiting = match app
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
            let Ok(Some(mut rec)) = app.store.invitation(stale.invitation.id).await else {
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
            if app.store.apply(vec![write]).await.is_ok() {
                rec.invitation.devices.push(device.clone());
                Self::publish(app, &rec);
            }
        }
    }

    /// A leg settled (matched, no match, withdrawn): withdraw the invitation offered for it.
    pub(crate) async fn leg_settled(&self, app: &App, leg: &LegId) {
        let Some(id) = self
            .by_leg
            .lock()
            .expect("invitations poisoned")
            .remove(leg)
        else {
            return;
        };
        let _serial = self.lock.lock().await;
        let Ok(Some(mut rec)) = app.store.invitation(id).await else {
            return;
        };
        // An SMS invitation outlives the call: the app may be installed later.
        if rec.invitation.state != InvitationState::Pending || rec.invitation.via_sms {
            return;
        }
        rec.invitation.state = InvitationState::Cancelled;
        if app
            .store
            .apply(vec![Write::Invitation(rec.clone())])
            .await
            .is_ok()
        {
            Self::publish(app, &rec);
        }
    }

    /// Declined by a device of the invitee, or withdrawn by the inviter.
    pub(crate) async fn end(
        &self,
        app: &App,
        who: &PrincipalId,
        id: String,
        decline: bool,
    ) -> Result<proto::invitation::Invitation, ApiError> {
        let _serial = self.lock.lock().await;
        let mut rec = self.load(app, id, who).await?;
        let now = now_ms();
        if decline {
            rec.invitation.decline(who, now)?;
        } else {
            rec.invitation.cancel(who, now)?;
        }
        app.store
            .apply(vec![Write::Invitation(rec.clone())])
            .await?;
        Self::publish(app, &rec);
        Ok(mapping::invitation(&rec))
    }

    /// Expires invitations nobody answered in time (housekeeping).
    pub(crate) async fn expire_due(&self, app: &App) {
        let now = now_ms();
        let due = match app.store.expired_invitations(now).await {
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
        for mut rec in due {
            // Re-read: it may have been answered since the sweep's read.
            let fresh = match app.store.invitation(rec.invitation.id.clone()).await {
                Ok(Some(f)) => f,
                _ => continue,
            };
            rec = fresh;
            if !rec.invitation.expire(now) {
                continue;
            }
            if let Some(leg) = &rec.invitation.leg {
                self.by_leg
                    .lock()
                    .expect("invitations poisoned")
                    .remove(leg);
            }
            if let Err(e) = app.store.apply(vec![Write::Invitation(rec.clone())]).await {
                tracing::warn!(error = %e, invitation = %rec.invitation.id, "could not expire an invitation");
                return;
            }
            Self::publish(app, &rec);
        }
    }
}
