//! Calls that reach an automated system (S1-F11–F21): a voicemail, an IVR, a contact centre.
//! The server knows their service numbers, so a device's report of an outgoing call to one is
//! enough: the system answers it at once (a leg is placed on its behalf and pairs with the
//! device's), and it takes part in network calls to its numbers. A system that reports its own
//! leg of a call answered this way gets that session rather than a second one.

use super::{settle, Calls, Error, MAX_PENDING_PER_SERVICE};
use crate::clock::now_ms;
use callside_core::leg::{Direction, Leg, LegId};
use callside_core::principal::{Principal, Scope};
use callside_core::{PhoneNumber, PrincipalKind};
use callside_store::{LegRecord, LegState, ParticipantRecord, Write};

impl Calls {
    /// The automated system that answers a device's outgoing call to `other`, if any.
    pub(super) async fn answering_system(
        &self,
        who: &Principal,
        leg: &Leg,
    ) -> Result<Option<Principal>, Error> {
        let (PrincipalKind::Device { .. }, Direction::Outgoing, Some(other)) =
            (&who.kind, leg.direction, &leg.other)
        else {
            return Ok(None);
        };
        Ok(self.systems.holding(other).await?.into_iter().next())
    }

    /// `system` answers the device's pending leg `device`: a leg on its behalf pairs with it.
    /// Returns the device's leg as it stands after.
    pub(super) async fn answer_for(
        &self,
        system: Principal,
        mut device: LegRecord,
    ) -> Result<LegRecord, Error> {
        let now = now_ms();
        let caller = &device.leg;
        let leg = Leg {
            id: LegId(callside_core::secret::new_id("leg", now)),
            principal: system.id.clone(),
            own: caller
                .other
                .clone()
                .expect("an outgoing leg to a system names it"),
            other: Some(caller.own.clone()),
            direction: Direction::Incoming,
            call_ref: caller.call_ref.clone(),
            extension: caller.extension.clone(),
            conference_id: caller.conference_id.clone(),
            reported_at: now,
            expires_at: now + self.match_window(),
        };
        let rec = LegRecord {
            leg,
            registry: device.registry.clone(),
            lifecycle: device.lifecycle,
            state: LegState::Pending,
            reason: None,
            session: None,
        };
        let answered = self
            .place(rec, system.name.clone(), MAX_PENDING_PER_SERVICE)
            .await?;
        if answered.state == LegState::Matched {
            device.state = LegState::Matched;
            device.session = answered.session;
        } else if let Some((mut left, _)) = self.take_pending(&answered.leg.id).await {
            // The device's leg settled another way meanwhile: nothing to answer.
            let outcome = settle(&mut left, LegState::NoMatch, None, None);
            self.store.apply(vec![outcome]).await?;
        }
        Ok(device)
    }

    /// A system reporting its own leg of a call the server already answered on its behalf gets
    /// that session: the leg is stored as matched into it.
    pub(super) async fn already_answered(
        &self,
        who: &Principal,
        mut rec: LegRecord,
    ) -> Result<Result<LegRecord, LegRecord>, Error> {
        let (true, Direction::Incoming, Some(caller)) = (
            who.has_scope(Scope::AutomatedSystem),
            rec.leg.direction,
            rec.leg.other.clone(),
        ) else {
            return Ok(Err(rec));
        };
        let key = {
            let st = self.state.lock().await;
            st.matcher
                .recent_pair(&caller, &rec.leg.own, now_ms(), self.match_window())
                .cloned()
        };
        let Some(key) = key else {
            return Ok(Err(rec));
        };
        let taking_part = self
            .sessions
            .record(&key)
            .await
            .is_ok_and(|s| s.session.is_participant(&who.id));
        if !taking_part {
            return Ok(Err(rec));
        }
        settle(&mut rec, LegState::Matched, None, Some(&key));
        self.store.apply(vec![Write::Leg(rec.clone())]).await?;
        Ok(Ok(rec))
    }

    /// The automated systems holding `number`, as participants of a network call's session.
    pub(super) async fn systems_on(
        &self,
        number: &PhoneNumber,
    ) -> Result<Vec<ParticipantRecord>, Error> {
        Ok(self
            .systems
            .holding(number)
            .await?
            .into_iter()
            .map(|s| super::participant(&s.id, &s.name, Some(number)))
            .collect())
    }
}
