//! Call composer and post-call notes (GSMA RCC.20 parity): what a caller composed before
//! calling reaches the callee's devices while the call rings; a note or picture left after a
//! missed or rejected call lands in the callee's call log. Both are kept in `call_notes`, sent
//! live as `call_note` frames (with a wake-up push), and listed by `GET /v1/me/call-log`.
//!
//! May touch: the store, blobs (a picture must be the caller's to share), the hub and the push
//! waker.

use crate::blobs::Blobs;
use crate::clock::now_ms;
use crate::hub::{Hub, Outbound};
use crate::push::{Reason, Waker};
use crate::Store;
use callside_core::message::BlobId;
use callside_core::{Direction, LegId, PhoneNumber, Principal, PrincipalId, PrincipalKind};
use callside_store::{CallNoteRecord, LegRecord, LegState, StoreError, Write};
use std::sync::Arc;

/// How a note looks to the callee's devices on the wire, a format only the HTTP edge knows
/// (implemented in `http.rs`).
pub(crate) trait Wire: Send + Sync {
    /// The `call_note` frame.
    fn call_note_frame(&self, n: &CallNoteRecord) -> Arc<str>;
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("leg not found")]
    LegNotFound,
    #[error("a note goes with an outgoing call that ended unanswered (no session)")]
    NotMissed,
    #[error(transparent)]
    RateLimited(#[from] callside_core::ratelimit::Limited),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn bad(why: impl ToString) -> Error {
    Error::Invalid(why.to_string())
}

fn check_text(what: &str, t: &str, max: usize) -> Result<(), Error> {
    if t.trim().is_empty()
        || t.chars().count() > max
        || t.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(bad(format!(
            "{what} is 1 to {max} characters without control characters"
        )));
    }
    Ok(())
}

/// What a caller composed, as far as checking it goes.
pub(crate) struct Composed<'a> {
    /// The leg is outgoing and names whom it calls.
    pub(crate) outgoing_to_known: bool,
    pub(crate) subject: Option<&'a str>,
    pub(crate) picture: Option<&'a str>,
    /// Latitude, longitude and accuracy in metres.
    pub(crate) location: Option<(f64, f64, Option<f64>)>,
}

/// A note after a missed call: its text or picture, and its body as stored.
pub(crate) struct Note<'a> {
    pub(crate) text: Option<&'a str>,
    pub(crate) picture: Option<&'a str>,
    pub(crate) body: String,
}

pub(crate) struct Composer {
    store: Store,
    blobs: Arc<Blobs>,
    hub: Arc<Hub>,
    waker: Waker,
    wire: Arc<dyn Wire>,
    /// Composer data and notes ring or wake another number's devices: a few per device.
    rings: std::sync::Mutex<callside_core::ratelimit::Limiter<PrincipalId>>,
    /// And a few per device and number called: past them a note is still kept in the callee's
    /// call log, but does not ring or wake its devices again.
    rings_per_target:
        std::sync::Mutex<callside_core::ratelimit::Limiter<(PrincipalId, PhoneNumber)>>,
}

/// Composer data and notes one device may ring one number with in an hour.
const RINGS_PER_TARGET_HOUR: u32 = 10;

impl Composer {
    pub(crate) fn new(
        store: Store,
        blobs: Arc<Blobs>,
        hub: Arc<Hub>,
        waker: Waker,
        wire: Arc<dyn Wire>,
        per_device_hour: u32,
    ) -> Self {
        Composer {
            store,
            blobs,
            hub,
            waker,
            wire,
            rings: std::sync::Mutex::new(callside_core::ratelimit::Limiter::new(
                callside_core::ratelimit::Rate::per_hour(per_device_hour),
            )),
            rings_per_target: std::sync::Mutex::new(callside_core::ratelimit::Limiter::new(
                callside_core::ratelimit::Rate::per_hour(RINGS_PER_TARGET_HOUR),
            )),
        }
    }

    /// Counts one delivery of composer data or a note by `who`; refused past the hourly limit.
    pub(crate) fn allow(&self, who: &PrincipalId) -> Result<(), Error> {
        let now = crate::clock::now_ms();
        let mut rings = self.rings.lock().expect("limiter poisoned");
        rings.prune(now);
        Ok(rings.check(who.clone(), now)?)
    }

    async fn check_picture(&self, who: &PrincipalId, picture: &str) -> Result<BlobId, Error> {
        let id = BlobId::parse(picture).map_err(|e| bad(e.to_string()))?;
        let unknown = || {
            bad(format!(
                "no picture {id} that you may share; upload it first"
            ))
        };
        let blob = self.blobs.readable(who, &id).await?.ok_or_else(unknown)?;
        if !blob.mime.starts_with("image/") {
            return Err(bad(format!("{id} is {}, not an image", blob.mime)));
        }
        Ok(id)
    }

    /// Checks composer data before the leg is reported, so bad input changes nothing.
    pub(crate) async fn check(&self, who: &Principal, c: &Composed<'_>) -> Result<(), Error> {
        if !c.outgoing_to_known {
            return Err(bad(
                "composer data goes with an outgoing call to a known number",
            ));
        }
        if let Some(s) = c.subject {
            check_text("the subject", s, 60)?;
        }
        if let Some(p) = c.picture {
            self.check_picture(&who.id, p).await?;
        }
        if let Some((lat, lon, accuracy)) = c.location {
            callside_core::message::check_position(lat, lon, accuracy).map_err(bad)?;
        }
        Ok(())
    }

    /// Stores a note for the callee's devices, lets them read its picture, and tells them
    /// (socket and wake-up push).
    async fn deliver(
        &self,
        caller: &Principal,
        leg: &LegRecord,
        kind: &str,
        body: String,
        picture: Option<BlobId>,
    ) -> Result<CallNoteRecord, Error> {
        let to = leg
            .leg
            .other
            .clone()
            .ok_or_else(|| bad("the call has no known callee"))?;
        let devices: Vec<PrincipalId> = self
            .store
            .devices_owning(to.clone())
            .await?
            .into_iter()
            .filter(|d| d != &caller.id)
            .collect();
        let now = now_ms();
        let rec = CallNoteRecord {
            id: callside_core::secret::new_id("cn", now),
            kind: kind.to_owned(),
            leg: leg.leg.id.clone(),
            sender: caller.id.clone(),
            sender_name: caller.name.clone(),
            from: leg.leg.own.clone(),
            to,
            body,
            created_at: now,
        };
        let mut writes = vec![Write::CallNote(rec.clone())];
        if let Some(blob) = picture {
            writes.extend(devices.iter().map(|d| Write::BlobGrant {
                blob: blob.clone(),
                principal: d.clone(),
            }));
        }
        self.store.apply(writes).await?;
        let may_ring = {
            let mut per_target = self.rings_per_target.lock().expect("limiter poisoned");
            per_target.prune(now);
            per_target
                .check((caller.id.clone(), rec.to.clone()), now)
                .is_ok()
        };
        if may_ring {
            let frame = self.wire.call_note_frame(&rec);
            self.hub.publish(&devices, &Outbound::Frame(frame));
            self.waker.wake(devices, Reason::Ringing(rec.id.clone()));
        } else {
            tracing::debug!(to = %rec.to, "call note kept without ringing: too many to this number");
        }
        Ok(rec)
    }

    /// After the outgoing leg is reported: the composer data and signed caller data (`body`)
    /// go to the callee's devices.
    pub(crate) async fn ring(
        &self,
        caller: &Principal,
        leg: &LegRecord,
        body: String,
        picture: Option<&str>,
    ) {
        let picture = picture.and_then(|p| BlobId::parse(p).ok());
        if let Err(e) = self.deliver(caller, leg, "composer", body, picture).await {
            tracing::warn!(error = %e, "composer data not delivered");
        }
    }

    /// A note or picture after a missed or rejected call: only for the caller's own outgoing leg
    /// that ended without a session.
    pub(crate) async fn leave_note(
        &self,
        caller: &Principal,
        leg: LegId,
        note: Note<'_>,
    ) -> Result<CallNoteRecord, Error> {
        let rec = match self.store.leg(leg).await? {
            Some(r) if r.leg.principal == caller.id => r,
            _ => return Err(Error::LegNotFound),
        };
        if rec.leg.direction != Direction::Outgoing || rec.state != LegState::NoMatch {
            return Err(Error::NotMissed);
        }
        if note.text.is_none() && note.picture.is_none() {
            return Err(bad("give a text, a picture or both"));
        }
        if let Some(t) = note.text {
            check_text("the note", t, 500)?;
        }
        self.allow(&caller.id)?;
        let picture = match note.picture {
            Some(p) => Some(self.check_picture(&caller.id, p).await?),
            None => None,
        };
        self.deliver(caller, &rec, "note", note.body, picture).await
    }

    /// Composer data and notes addressed to this device's numbers since it owns them, newest
    /// first: what reached a number before belongs to its earlier holder.
    pub(crate) async fn call_log(
        &self,
        who: &Principal,
        limit: u32,
    ) -> Result<Vec<CallNoteRecord>, Error> {
        if !matches!(who.kind, PrincipalKind::Device { .. }) {
            return Ok(vec![]);
        }
        Ok(self
            .store
            .call_notes_for(who.id.clone(), limit)
            .await?
            .into_iter()
            .filter(|r| r.sender != who.id)
            .collect())
    }
}
