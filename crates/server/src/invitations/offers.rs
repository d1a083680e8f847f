//! Offers for calls only one app reported (S1-F2): after a grace period, or when the reporter
//! offers a component for the call (S1-F6), the other number's devices are invited; a number
//! without devices is texted a link when the operator allows it (S1-F7), and its devices join
//! the invitation as they prove the number.

use super::{Error, Invitations};
use crate::calls::PendingLeg;
use crate::clock::now_ms;
use crate::metrics::Metrics;
use callside_core::component::Component;
use callside_core::email::Endpoint;
use callside_core::invitation::{Invitation, InvitationState};
use callside_core::{LegId, Millis, PhoneNumber, Principal, PrincipalId};
use callside_store::{AuditRecord, InvitationRecord, LegRecord, Write};

impl Invitations {
    /// S1-F2: only one side's app reported this call a while ago. If the other number has
    /// devices, ask them whether to start a data session with the party they are speaking to.
    pub(crate) async fn offer_for_leg(&self, pending: PendingLeg) {
        let PendingLeg {
            rec,
            name,
            answered,
        } = pending;
        match self.offer_leg(rec, name, answered, None).await {
            Ok(_)
            | Err(Error::NotRegistered(_))
            | Err(Error::CallNotAnswered(_))
            | Err(Error::RateLimited(_)) => {}
            Err(e) => tracing::warn!(error = %e, "could not offer a session for a one-sided call"),
        }
    }

    /// `POST /v1/legs/{id}/component` (S1-F6/F7): the reporter of a one-sided call offers a
    /// component to the other party. An offer already ringing for the call takes the component
    /// on; otherwise the other number's devices are invited now (or texted a link).
    pub(crate) async fn component_for_leg(
        &self,
        who: &Principal,
        leg: LegId,
        component: &str,
    ) -> Result<InvitationRecord, Error> {
        let component = self.components.for_invitation(component).await?;
        // One offer per call at a time: two requests for the same leg do not make two.
        let _serial = self.lock.lock().await;
        let ringing = self
            .by_leg
            .lock()
            .expect("invitations poisoned")
            .get(&leg)
            .cloned();
        if let Some(id) = ringing {
            if let Some(mut rec) = self.store.invitation(id).await? {
                if rec.invitation.inviter == who.id
                    && rec.invitation.state == InvitationState::Pending
                {
                    rec.component = Some(component.id.to_string());
                    self.store
                        .apply(vec![Write::Invitation(rec.clone())])
                        .await?;
                    self.publish(&rec);
                    return Ok(rec);
                }
            }
        }
        let Some(PendingLeg {
            rec,
            name,
            answered,
        }) = self.calls.claim_for_offer(&leg, &who.id).await
        else {
            return match self.store.leg(leg).await? {
                Some(l) if l.leg.principal == who.id => Err(Error::LegSettled),
                _ => Err(Error::LegNotFound),
            };
        };
        match self.offer_leg(rec, name, answered, Some(component)).await {
            Ok(invitation) => Ok(invitation),
            Err(e) => {
                // Nothing was offered: the call may still be offered later (when answered, or
                // automatically after the grace period).
                self.calls.release_offer(&leg).await;
                Err(e)
            }
        }
    }

    /// Invites the other number's devices for a one-sided call, or texts it a link when it has
    /// none (S1-F7); the invitation may carry a component to offer once the session is up.
    async fn offer_leg(
        &self,
        leg: LegRecord,
        name: String,
        answered: bool,
        component: Option<Component>,
    ) -> Result<InvitationRecord, Error> {
        let Some(other) = leg.leg.other.clone() else {
            // A withheld caller: nobody to ask.
            return Err(Error::NotRegistered(
                "the other party's number is withheld".into(),
            ));
        };
        let now = now_ms();
        {
            // Spent on every try, whatever the answer: "not registered" tells the inviter
            // something too (otherwise one device could probe which numbers use callside), and
            // the number asked for has its own budget, as for any invitation.
            let mut per_target = self.per_target.lock().expect("limiter poisoned");
            let mut per_inviter = self.per_inviter.lock().expect("limiter poisoned");
            let target = other.as_str().to_owned();
            if !per_target.would_allow(&target, now) {
                return Err(per_target.check(target, now).unwrap_err().into());
            }
            per_inviter.check(leg.leg.principal.clone(), now)?;
            per_target.check(target, now)?;
        }
        let devices: Vec<PrincipalId> = self
            .store
            .devices_owning(other.clone())
            .await?
            .into_iter()
            .filter(|d| d != &leg.leg.principal)
            .collect();
        if devices.is_empty() {
            let offer = SmsOffer {
                leg,
                name,
                answered,
                to: other,
                component,
            };
            return self.offer_by_sms(offer, now).await;
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
                expires_at: (now + self.settings.ttl.as_millis() as Millis)
                    .min(leg.leg.expires_at.max(now + 1)),
            },
            inviter_name: name,
            offer: None,
            answer: None,
            path: None,
            component: component.map(|c| c.id.to_string()),
        };
        self.store
            .apply(vec![Write::Invitation(rec.clone())])
            .await?;
        self.made_for_leg(&leg.leg, &rec.invitation.id, now);
        Metrics::inc(&self.metrics.invitations);
        self.publish(&rec);
        Ok(rec)
    }

    /// An invitation was made for a one-sided call (its budgets were spent when it was tried):
    /// the leg finds it (to withdraw it when the leg settles, or to add a component to it).
    fn made_for_leg(&self, leg: &callside_core::Leg, invitation: &str, _now: Millis) {
        self.by_leg
            .lock()
            .expect("invitations poisoned")
            .insert(leg.id.clone(), invitation.to_owned());
    }

    /// S1-F7 (opt-in): the other number has no device. Text it a link to the app, audited and
    /// rate-limited; its devices join the invitation as they prove the number.
    async fn offer_by_sms(&self, offer: SmsOffer, now: Millis) -> Result<InvitationRecord, Error> {
        let SmsOffer {
            leg,
            name,
            answered,
            to,
            component,
        } = offer;
        let Some(template) = self
            .settings
            .sms_link
            .as_ref()
            .filter(|_| self.sms.is_configured())
        else {
            return Err(Error::NotRegistered(format!(
                "{to} has no device registered with callside, and this server sends no SMS links"
            )));
        };
        if !answered {
            // Only for calls the reporter says were answered: a texted stranger was really
            // on the phone with them.
            return Err(Error::CallNotAnswered(format!(
                "{to} has no device; an SMS link goes only once the call is answered"
            )));
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
                expires_at: now + self.settings.sms_link_ttl.as_millis() as Millis,
            },
            inviter_name: name,
            offer: None,
            answer: None,
            path: None,
            component: component.as_ref().map(|c| c.id.to_string()),
        };
        let link = template.replace("{invitation}", &rec.invitation.id);
        let audit = AuditRecord {
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
        self.store
            .apply(vec![Write::Invitation(rec.clone()), Write::Audit(audit)])
            .await?;
        self.made_for_leg(&leg.leg, &rec.invitation.id, now);
        Metrics::inc(&self.metrics.invitations);
        self.publish(&rec);
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
        let (sms, metrics) = (self.sms.clone(), self.metrics.clone());
        self.tasks.spawn(async move {
            match sms.send(&to, &text).await {
                Ok(()) => Metrics::inc(&metrics.sms_sent),
                Err(e) => {
                    Metrics::inc(&metrics.sms_failed);
                    tracing::error!(to = %to, error = %e, "the invitation SMS could not be sent");
                }
            }
        });
        Ok(rec)
    }
}

/// A one-sided call to be offered to a number without devices.
struct SmsOffer {
    leg: LegRecord,
    name: String,
    answered: bool,
    to: PhoneNumber,
    component: Option<Component>,
}
