//! Conferences (S1-F14, S3-F19): a conference id circulates among the parties; each party's
//! device (or the conference bridge, an automated system) reports its leg with that id and the
//! dial-in number, and every one of them joins the one session of that conference. Joiners read
//! from their joining on unless the history is shared (`sessions`), and the server fans out to
//! all. A conference whose session has closed starts a new one.

use super::{participant, settle, Calls, Error};
use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::sessions::NewSession;
use callside_core::principal::{Principal, Scope};
use callside_core::session::{Event, Origin, SessionError};
use callside_core::SessionKey;
use callside_store::{LegRecord, LegState, Write};

impl Calls {
    /// Joins the leg's reporter to the session of the conference its leg names (opening it if
    /// there is none yet). Returns the leg, matched into that session.
    pub(super) async fn join_conference(
        &self,
        who: &Principal,
        mut rec: LegRecord,
    ) -> Result<LegRecord, Error> {
        let id = rec
            .leg
            .conference_id
            .clone()
            .expect("only legs that name a conference come here");
        // The conference's number: the bridge's own when it reports, else the number the party
        // dialled in to (or that called it, for a bridge that dials out).
        let bridge = if who.has_scope(Scope::AutomatedSystem) {
            rec.leg.own.clone()
        } else {
            rec.leg.other.clone().ok_or_else(|| {
                Error::InvalidLeg(
                    "a conference leg names the conference's number as `other`".into(),
                )
            })?
        };
        // One conference's joins one at a time (the first one opens the session).
        use std::hash::BuildHasher as _;
        let stripe = self.stripe_hasher.hash_one(("conference", &bridge, &id)) as usize
            % super::CALL_STRIPES;
        let _one_at_a_time = self.call_stripes[stripe].lock().await;
        let joiner = participant(&who.id, &who.name, Some(&rec.leg.own));
        let open = match self.store.conference(bridge.clone(), id.clone()).await? {
            Some(key) => match self.sessions.record(&key).await {
                Ok(r) if r.session.closed.is_none() => Some(key),
                _ => None,
            },
            None => None,
        };
        let now = now_ms();
        match open {
            Some(key) => {
                settle(&mut rec, LegState::Matched, None, Some(&key));
                let writes = vec![Write::Leg(rec.clone())];
                let joined = self
                    .sessions
                    .transition(
                        &key,
                        Event::Join(who.id.clone()),
                        Some(joiner),
                        writes.clone(),
                    )
                    .await;
                match joined {
                    Ok(_) => {}
                    // Reported again (another call into the same conference): still in it.
                    Err(crate::sessions::Error::Session(SessionError::AlreadyParticipant)) => {
                        self.store.apply(writes).await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            None => {
                let key = SessionKey::generate(now);
                settle(&mut rec, LegState::Matched, None, Some(&key));
                let session = NewSession {
                    key: key.clone(),
                    origin: Origin::Conference,
                    lifecycle: rec.lifecycle.unwrap_or(self.settings.lifecycle),
                    participants: vec![joiner],
                    call_id: None,
                    at: now,
                };
                let writes = vec![
                    Write::Leg(rec.clone()),
                    Write::Conference {
                        bridge,
                        id,
                        session: key,
                        at: now,
                    },
                ];
                let opening = self.sessions.open(session, writes).await?;
                self.sessions.opened(opening).await?;
            }
        }
        Metrics::inc(&self.metrics.legs_matched);
        self.announce(&rec).await;
        Ok(rec)
    }
}
