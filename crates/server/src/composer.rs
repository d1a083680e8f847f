//! Call composer and post-call notes (GSMA RCC.20 parity): what a caller composed before
//! calling reaches the callee's devices while the call rings; a note or picture left after a
//! missed or rejected call lands in the callee's call log. Both are kept in `call_notes`, sent
//! live as `call_note` frames (with a wake-up push), and listed by `GET /v1/me/call-log`.

use crate::app::App;
use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::http::wire as mapping;
use crate::hub::Outbound;
use callside_core::message::BlobId;
use callside_core::{Direction, LegId, Principal, PrincipalId, PrincipalKind};
use callside_proto as proto;
use callside_proto::call::{CallNote, CallNoteKind, Composer, Place, PostCallNote};
use callside_store::{CallNoteRecord, LegRecord, LegState, Write};

fn bad(why: impl ToString) -> ApiError {
    ApiError::bad("invalid_composer", why)
}

fn check_text(what: &str, t: &str, max: usize) -> Result<(), ApiError> {
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

fn check_place(p: &Place) -> Result<(), ApiError> {
    callside_core::message::check_position(p.lat, p.lon, p.accuracy_m).map_err(bad)
}

async fn check_picture(app: &App, who: &PrincipalId, picture: &str) -> Result<BlobId, ApiError> {
    let id = BlobId::parse(picture).map_err(|e| bad(e.to_string()))?;
    let unknown = || {
        bad(format!(
            "no picture {id} that you may share; upload it first"
        ))
    };
    let blob = app.blobs.readable(who, &id).await?.ok_or_else(unknown)?;
    if !blob.mime.starts_with("image/") {
        return Err(bad(format!("{id} is {}, not an image", blob.mime)));
    }
    Ok(id)
}

/// Checks composer data before the leg is reported, so bad input changes nothing.
pub(crate) async fn check(
    app: &App,
    who: &Principal,
    leg: &proto::call::ReportLeg,
) -> Result<(), ApiError> {
    let Some(c) = &leg.composer else {
        return Ok(());
    };
    if leg.direction != proto::call::Direction::Outgoing || leg.other.is_none() {
        return Err(bad(
            "composer data goes with an outgoing call to a known number",
        ));
    }
    if let Some(s) = &c.subject {
        check_text("the subject", s, 60)?;
    }
    if let Some(p) = &c.picture {
        check_picture(app, &who.id, p).await?;
    }
    if let Some(l) = &c.location {
        check_place(l)?;
    }
    Ok(())
}

fn view(r: &CallNoteRecord) -> CallNote {
    #[derive(serde::Deserialize)]
    struct Ringing {
        composer: Option<Composer>,
        passport: Option<String>,
    }
    let (composer, note, passport) = match r.kind.as_str() {
        "composer" => match serde_json::from_str::<Ringing>(&r.body) {
            Ok(x) => (x.composer, None, x.passport),
            Err(_) => (None, None, None),
        },
        _ => (
            None,
            serde_json::from_str::<PostCallNote>(&r.body).ok(),
            None,
        ),
    };
    CallNote {
        id: r.id.clone(),
        kind: if r.kind == "composer" {
            CallNoteKind::Composer
        } else {
            CallNoteKind::Note
        },
        leg: r.leg.0.clone(),
        from: r.from.to_string(),
        from_name: r.sender_name.clone(),
        to: r.to.to_string(),
        composer,
        note,
        passport,
        created_at: r.created_at,
    }
}

/// Stores a note for the callee's devices, lets them read its picture, and tells them (socket
/// and wake-up push).
async fn deliver(
    app: &App,
    caller: &Principal,
    leg: &LegRecord,
    kind: &str,
    body: String,
    picture: Option<BlobId>,
) -> Result<CallNote, ApiError> {
    let to = leg
        .leg
        .other
        .clone()
        .ok_or_else(|| bad("the call has no known callee"))?;
    let devices: Vec<PrincipalId> = app
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
    app.store.apply(writes).await?;
    let note = view(&rec);
    let frame = mapping::frame_json(&proto::ws::ServerFrame::CallNote(note.clone()));
    app.hub.publish(&devices, &Outbound::Frame(frame));
    app.waker
        .wake(devices, crate::push::Reason::Ringing(rec.id.clone()));
    Ok(note)
}

/// After the outgoing leg is reported: the composer data and signed caller data go to the
/// callee's devices.
pub(crate) async fn ring(
    app: &App,
    caller: &Principal,
    leg: &LegRecord,
    composer: Option<Composer>,
    passport: Option<String>,
) {
    let picture = composer
        .as_ref()
        .and_then(|c| c.picture.as_deref())
        .and_then(|p| BlobId::parse(p).ok());
    let body = serde_json::json!({ "composer": composer, "passport": passport }).to_string();
    if let Err(e) = deliver(app, caller, leg, "composer", body, picture).await {
        tracing::warn!(error = %e, "composer data not delivered");
    }
}

/// A note or picture after a missed or rejected call: only for the caller's own outgoing leg
/// that ended without a session.
pub(crate) async fn leave_note(
    app: &App,
    caller: &Principal,
    leg: LegId,
    note: PostCallNote,
) -> Result<CallNote, ApiError> {
    let rec = match app.store.leg(leg).await? {
        Some(r) if r.leg.principal == caller.id => r,
        _ => return Err(ApiError::NotFound("leg")),
    };
    if rec.leg.direction != Direction::Outgoing || rec.state != LegState::NoMatch {
        return Err(ApiError::Conflict(
            "not_missed",
            "a note goes with an outgoing call that ended unanswered (no session)".into(),
        ));
    }
    if note.text.is_none() && note.picture.is_none() {
        return Err(bad("give a text, a picture or both"));
    }
    if let Some(t) = &note.text {
        check_text("the note", t, 500)?;
    }
    let picture = match &note.picture {
        Some(p) => Some(check_picture(app, &caller.id, p).await?),
        None => None,
    };
    let body = serde_json::to_string(&note).expect("notes serialise");
    deliver(app, caller, &rec, "note", body, picture).await
}

/// Composer data and notes addressed to this device's numbers, newest first.
pub(crate) async fn call_log(
    app: &App,
    who: &Principal,
    limit: u32,
) -> Result<proto::call::CallLog, ApiError> {
    let PrincipalKind::Device { numbers } = &who.kind else {
        return Ok(proto::call::CallLog { notes: vec![] });
    };
    let notes = app
        .store
        .call_notes_to(numbers.clone(), limit)
        .await?
        .iter()
        .filter(|r| r.sender != who.id)
        .map(view)
        .collect();
    Ok(proto::call::CallLog { notes })
}
