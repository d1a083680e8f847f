//! Invitations (S2-I, S2-M, S1-F2): the service behind `/v1/invitations`. The rules are
//! `callside_core::invitation`; this module finds the invitee's devices, keeps invitations durable,
//! creates or opens the session on acceptance, and tells everyone involved.

use crate::app::{now_ms, AppState};
use crate::error::ApiError;
use crate::hub::Outbound;
use crate::mapping;
use callside_core::invitation::{Invitation, InvitationState};
use callside_core::ratelimit::{Limiter, Rate};
use callside_core::relay::choose_path;
use callside_core::session::{Event, Origin, Session};
use callside_core::{Millis, PhoneNumber, Principal, PrincipalId, PrincipalKind, SessionKey};
use callside_proto as proto;
use callside_store::{InvitationRecord, ParticipantRecord, SessionRecord, Write};
use std::sync::Mutex;

pub(crate) struct Invitations {
    /// Serialises changes of state, so "first accept wins" holds across devices.
    lock: tokio::sync::Mutex<()>,
    per_inviter: Mutex<Limiter<PrincipalId>>,
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
        }
    }

    pub(crate) fn prune(&self, now: Millis) {
        self.per_inviter
            .lock()
            .expect("limiter poisoned")
            .prune(now);
    }

    fn publish(app: &AppState, rec: &InvitationRecord) {
        let frame = mapping::frame_json(&proto::ws::ServerFrame::Invitation(mapping::invitation(
            rec,
        )));
        app.hub
            .publish(&rec.invitation.audience(), &Outbound::Frame(frame));
    }

    /// Invites every device of `req.to` (S2-I/M). Unknown numbers get `not_registered`.
    pub(crate) async fn create(
        &self,
        app: &AppState,
        inviter: &Principal,
        req: proto::invitation::CreateInvitation,
    ) -> Result<proto::invitation::Invitation, ApiError> {
        if inviter.is_admin() {
            return Err(ApiError::Forbidden(
                "admin_only",
                "the operator takes part in no session; invite from a device or account".into(),
            ));
        }
        check_offer(&req.connection)?;
        let now = now_ms();
        let region = Some(app.config.default_region);
        let invitee = PhoneNumber::parse(&req.to, region)?;
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
                let rec = app.sessions.record_for(app, &key, &inviter.id).await?;
                rec.session.check_access(&inviter.id)?;
                Some(key)
            }
            None => None,
        };
        self.per_inviter
            .lock()
            .expect("limiter poisoned")
            .check(inviter.id.clone(), now)?;
        let devices: Vec<PrincipalId> = app
            .store
            .devices_owning(invitee.clone())
            .await?
            .into_iter()
            .filter(|d| d != &inviter.id)
            .collect();
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
                state: InvitationState::Pending,
                answered_by: None,
                created_at: now,
                expires_at: now + app.config.invitation_ttl.as_millis() as Millis,
            },
            inviter_name: inviter.name.clone(),
            offer: json(&req.connection),
            answer: None,
            path: None,
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
        app: &AppState,
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
        app: &AppState,
        who: &PrincipalId,
        id: String,
    ) -> Result<proto::invitation::Invitation, ApiError> {
        Ok(mapping::invitation(&self.load(app, id, who).await?))
    }

    /// Invitations ringing on this device.
    pub(crate) async fn ringing(
        &self,
        app: &AppState,
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
        app: &AppState,
        device: &Principal,
        id: String,
        req: proto::invitation::AcceptInvitation,
    ) -> Result<proto::invitation::Invitation, ApiError> {
        check_offer(&req.connection)?;
        let _serial = self.lock.lock().await;
        let mut rec = self.load(app, id, &device.id).await?;
        let now = now_ms();
        rec.invitation.accept(&device.id, now)?;
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
            number: Some(rec.invitation.invitee.clone()),
            acked_seq: 0,
        };
        match rec.invitation.session.clone() {
            Some(key) => {
                app.sessions
                    .transition(
                        app,
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
                let session = Session::new(
                    key,
                    Origin::Invitation,
                    app.config.lifecycle,
                    vec![inviter.principal.clone(), joiner.principal.clone()],
                    now,
                );
                let record = SessionRecord {
                    session,
                    call_id: None,
                    participants: vec![inviter, joiner],
                    last_seq: 0,
                    last_activity: now,
                };
                let commit = app
                    .sessions
                    .create(app, record, vec![Write::Invitation(rec.clone())])
                    .await?;
                commit.await.map_err(|_| ApiError::Unavailable)??;
            }
        }
        Self::publish(app, &rec);
        Ok(mapping::invitation(&rec))
    }

    /// Declined by a device of the invitee, or withdrawn by the inviter.
    pub(crate) async fn end(
        &self,
        app: &AppState,
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
    pub(crate) async fn expire_due(&self, app: &AppState) {
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
            if let Err(e) = app.store.apply(vec![Write::Invitation(rec.clone())]).await {
                tracing::warn!(error = %e, invitation = %rec.invitation.id, "could not expire an invitation");
                return;
            }
            Self::publish(app, &rec);
        }
    }
}
