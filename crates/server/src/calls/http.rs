//! `/v1/legs/…`, `/v1/network/calls`, `/v1/me/call-log`, `/v1/passports`: leg reports and their
//! outcome, network calls, composer data and notes, signed caller data; the wire forms of legs,
//! call notes and PASSporT claims.

use super::composer::{self, Composed, Note};
use super::passports::{self, CallerData, CallerDataRequest};
use super::{CallEvent, DivertReason, Error, LegReport, LegView, NetworkEvent};
use crate::app::{App, AppState};
use crate::http::error::ApiError;
use crate::http::extract::{Caller, Json, Query};
use crate::http::wire::{
    call_state, direction_in, direction_out, frame_json, lifecycle_in, session_info, JsonWire,
};
use crate::http::{check_limit, long_poll, WaitQuery};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use callside_core::principal::Principal;
use callside_core::LegId;
use callside_proto as proto;
use callside_proto::call::{CallNote, CallNoteKind, Composer, PostCallNote};
use callside_store::{CallNoteRecord, LegRecord, LegState, SessionRecord};
use futures_util::StreamExt;
use serde::Deserialize;
use std::sync::Arc;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidNumber(n) => n.into(),
            Error::NotYourNumber { .. } => ApiError::Forbidden("not_your_number", e.to_string()),
            Error::InvalidLeg(_) => ApiError::bad("invalid_leg", e),
            Error::TooManyPending(_) => ApiError::TooMany("too_many_pending_legs", e.to_string()),
            Error::LegNotFound => ApiError::NotFound("leg"),
            Error::NotYourRange => ApiError::Forbidden("not_your_range", e.to_string()),
            Error::InvalidCall => ApiError::bad("invalid_call", e),
            Error::CallNotFound => ApiError::NotFound("call"),
            Error::Internal(why) => ApiError::Internal(why),
            Error::NoProxy => ApiError::Disabled("sip_proxy_not_configured", e.to_string()),
            Error::ProxyDown(_) => ApiError::Disabled("sip_proxy_unavailable", e.to_string()),
            Error::DevicesOnly => ApiError::Forbidden("devices_only", e.to_string()),
            Error::WhichNumber => ApiError::bad("which_number", e),
            Error::SystemsOnly => ApiError::Forbidden("systems_only", e.to_string()),
            Error::NoNetworkCall => ApiError::Conflict("no_network_call", e.to_string()),
            Error::RateLimited(l) => l.into(),
            Error::Unavailable => ApiError::Unavailable,
            Error::Session(e) => e.into(),
            Error::Store(e) => e.into(),
        }
    }
}

impl From<composer::Error> for ApiError {
    fn from(e: composer::Error) -> Self {
        match e {
            composer::Error::Invalid(_) => ApiError::bad("invalid_composer", e),
            composer::Error::LegNotFound => ApiError::NotFound("leg"),
            composer::Error::NotMissed => ApiError::Conflict("not_missed", e.to_string()),
            composer::Error::RateLimited(l) => l.into(),
            composer::Error::Store(e) => e.into(),
        }
    }
}

impl From<passports::Error> for ApiError {
    fn from(e: passports::Error) -> Self {
        match e {
            passports::Error::InvalidNumber(n) => n.into(),
            passports::Error::MayNotSign(_) => ApiError::Forbidden("may_not_sign", e.to_string()),
            passports::Error::Invalid(_) => ApiError::bad("invalid_caller_data", e),
        }
    }
}

impl super::Wire for JsonWire {
    fn leg_frame(&self, leg: &LegRecord, session: Option<&SessionRecord>) -> Arc<str> {
        frame_json(&proto::ws::ServerFrame::Leg(leg_status(leg, session)))
    }
}

impl composer::Wire for JsonWire {
    fn call_note_frame(&self, n: &CallNoteRecord) -> Arc<str> {
        frame_json(&proto::ws::ServerFrame::CallNote(note_view(n)))
    }
}

impl passports::Wire for JsonWire {
    fn passport_claims(&self, c: &CallerData) -> String {
        let claims = proto::rcd::RcdClaims {
            iat: c.iat,
            exp: c.exp,
            orig: proto::rcd::TelephoneNumber {
                tn: c.orig.to_string(),
            },
            dest: proto::rcd::Destinations { tn: c.dest.clone() },
            rcd: proto::rcd::RcdClaim {
                nam: c.name.clone(),
                icn: c.logo.clone(),
                crn: c.reason.clone(),
                jcd: c.jcard.clone(),
            },
            rcdi: c.integrity.clone(),
        };
        serde_json::to_string(&claims).expect("claims serialise")
    }

    fn passport_numbers(&self, claims: serde_json::Value) -> Option<(String, Vec<String>)> {
        let claims: proto::rcd::RcdClaims = serde_json::from_value(claims).ok()?;
        Some((claims.orig.tn, claims.dest.tn))
    }
}

/// A leg as the service takes it.
fn report(req: proto::call::ReportLeg) -> LegReport {
    LegReport {
        own: req.own,
        other: req.other,
        direction: direction_in(req.direction),
        call_ref: req.call_ref,
        extension: req.extension,
        conference_id: req.conference_id,
        registry: req.registry,
        lifecycle: req.lifecycle.map(lifecycle_in),
    }
}

/// A leg as its reporter sees it.
pub(crate) fn leg_status(r: &LegRecord, session: Option<&SessionRecord>) -> proto::call::LegStatus {
    let l = &r.leg;
    proto::call::LegStatus {
        id: l.id.0.clone(),
        state: match r.state {
            LegState::Pending => proto::call::LegState::Pending,
            LegState::Matched => proto::call::LegState::Matched,
            LegState::NoMatch => proto::call::LegState::NoMatch,
        },
        reason: r.reason.clone(),
        session: session.map(session_info),
        own: l.own.to_string(),
        other: l.other.as_ref().map(|n| n.to_string()),
        direction: direction_out(l.direction),
        registry: r.registry.clone(),
        reported_at: l.reported_at,
        expires_at: l.expires_at,
    }
}

/// Composer data or a note as the callee's devices see it (its body is read back).
fn note_view(r: &CallNoteRecord) -> CallNote {
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

/// `POST /v1/legs` — report a call leg; answers 200 once matched (or not), 202 while pending.
#[utoipa::path(post, path = "/v1/legs", tag = "calls", params(WaitQuery), request_body = proto::call::ReportLeg,
    responses((status = 200, body = proto::call::LegStatus), (status = 202, body = proto::call::LegStatus),
              (status = 400, body = proto::Problem), (status = 403, body = proto::Problem), (status = 429, body = proto::Problem)))]
pub(crate) async fn report_leg(
    State(app): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<WaitQuery>,
    Json(req): Json<proto::call::ReportLeg>,
) -> Result<Response, ApiError> {
    let rec = take_report(&app, &p, req).await?;
    let view = if rec.state == LegState::Pending && q.wait.unwrap_or(0) > 0 {
        long_poll(&app, q.wait, |wait| {
            app.calls.status(&p.id, &rec.leg.id, wait)
        })
        .await?
    } else {
        app.calls.view(rec).await?
    };
    Ok(leg_response(view))
}

/// A leg report over a WebSocket (`report` frame): as `POST /v1/legs` without waiting.
pub(crate) async fn report_over_socket(
    app: &App,
    p: &Principal,
    req: proto::call::ReportLeg,
) -> Result<proto::call::LegStatus, ApiError> {
    let rec = take_report(app, p, req).await?;
    let view = app.calls.view(rec).await?;
    Ok(leg_status(&view.leg, view.session.as_ref()))
}

/// A leg report's checks, its composer data and caller data, and the report itself.
async fn take_report(
    app: &App,
    p: &Principal,
    req: proto::call::ReportLeg,
) -> Result<LegRecord, ApiError> {
    if let Some(c) = &req.composer {
        let composed = Composed {
            outgoing_to_known: req.direction == proto::call::Direction::Outgoing
                && req.other.is_some(),
            subject: c.subject.as_deref(),
            picture: c.picture.as_deref(),
            location: c.location.as_ref().map(|l| (l.lat, l.lon, l.accuracy_m)),
        };
        app.composer.check(p, &composed).await?;
    }
    app.passports
        .check_for_leg(p, &req.own, req.other.as_deref(), req.passport.as_deref())?;
    let (composer, passport) = (req.composer.clone(), req.passport.clone());
    if composer.is_some() || passport.is_some() {
        // Composer data rings another number's devices: counted before anything is reported.
        app.composer.allow(&p.id)?;
    }
    let rec = app.calls.report(p, report(req)).await?;
    if composer.is_some() || passport.is_some() {
        let picture = composer.as_ref().and_then(|c| c.picture.clone());
        let body = serde_json::json!({ "composer": composer, "passport": passport }).to_string();
        app.composer.ring(p, &rec, body, picture.as_deref()).await;
    }
    Ok(rec)
}

fn leg_response(view: LegView) -> Response {
    let status = leg_status(&view.leg, view.session.as_ref());
    let code = if status.state == proto::call::LegState::Pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (code, axum::Json(status)).into_response()
}

/// `GET /v1/legs/{id}` — a leg you reported; long-polls while pending.
#[utoipa::path(get, path = "/v1/legs/{id}", tag = "calls", params(WaitQuery),
    responses((status = 200, body = proto::call::LegStatus), (status = 202, body = proto::call::LegStatus), (status = 404, body = proto::Problem)))]
pub(crate) async fn get_leg(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Response, ApiError> {
    let id = LegId(id);
    let view = long_poll(&app, q.wait, |wait| app.calls.status(&p.id, &id, wait)).await?;
    Ok(leg_response(view))
}

/// `POST /v1/legs/{id}/answer` — the call was answered.
#[utoipa::path(post, path = "/v1/legs/{id}/answer", tag = "calls", responses((status = 200, body = proto::call::LegStatus)))]
pub(crate) async fn answer_leg(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(leg_response(
        app.calls.call_event(&p.id, &LegId(id), true).await?,
    ))
}

/// `POST /v1/legs/{id}/end` — hang up: withdraws a pending leg, ends the call of a matched one.
#[utoipa::path(post, path = "/v1/legs/{id}/end", tag = "calls", responses((status = 200, body = proto::call::LegStatus)))]
pub(crate) async fn end_leg(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(leg_response(
        app.calls.call_event(&p.id, &LegId(id), false).await?,
    ))
}

/// `POST /v1/network/calls` — a network element reports a call event.
#[utoipa::path(post, path = "/v1/network/calls", tag = "calls", request_body = proto::call::NetworkCallEvent,
    responses((status = 200, body = proto::call::NetworkCall), (status = 403, body = proto::Problem), (status = 404, body = proto::Problem)))]
pub(crate) async fn network_call(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(ev): Json<proto::call::NetworkCallEvent>,
) -> Result<axum::Json<proto::call::NetworkCall>, ApiError> {
    Ok(axum::Json(take_network_event(&app, &p, ev).await?))
}

/// Most events one batch may carry.
const MAX_BATCH: usize = 1_000;
/// Most events of one batch taken at once.
const BATCH_AT_ONCE: usize = 64;

/// `POST /v1/network/calls/batch` — many call events in one request; each answers for itself
/// (a refused one changes nothing and does not stop the others). Events about the same call or
/// the same number are taken in the order sent; events that share neither run at once, and
/// their writes share commits.
#[utoipa::path(post, path = "/v1/network/calls/batch", tag = "calls", request_body = proto::call::NetworkCallEvents,
    responses((status = 200, body = proto::call::NetworkCallResults), (status = 400, body = proto::Problem),
              (status = 403, body = proto::Problem)))]
pub(crate) async fn network_calls(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(batch): Json<proto::call::NetworkCallEvents>,
) -> Result<axum::Json<proto::call::NetworkCallResults>, ApiError> {
    if batch.events.is_empty() || batch.events.len() > MAX_BATCH {
        return Err(ApiError::bad(
            "invalid_batch",
            format!(
                "{} events: send 1 to {MAX_BATCH} at once",
                batch.events.len()
            ),
        ));
    }
    let waves = waves(&batch.events, |raw| app.calls.number_key(raw));
    let mut results: Vec<Option<proto::call::NetworkCallResult>> = vec![None; waves.len()];
    let mut rounds: Vec<Vec<(usize, proto::call::NetworkCallEvent)>> = Vec::new();
    for (i, (ev, wave)) in batch.events.into_iter().zip(waves).enumerate() {
        if rounds.len() <= wave {
            rounds.resize_with(wave + 1, Vec::new);
        }
        rounds[wave].push((i, ev));
    }
    for round in rounds {
        // The events of one round touch no call and no number another of them touches: they
        // run at once, and their writes share the store's commits.
        let taken: Vec<_> = futures_util::stream::iter(round)
            .map(|(i, ev)| {
                let (app, p) = (&app, &p);
                async move { (i, take_network_event(app, p, ev).await) }
            })
            .buffer_unordered(BATCH_AT_ONCE)
            .collect()
            .await;
        for (i, r) in taken {
            results[i] = Some(match r {
                Ok(call) => proto::call::NetworkCallResult {
                    call: Some(call),
                    error: None,
                },
                Err(e) => proto::call::NetworkCallResult {
                    call: None,
                    error: Some(e.problem()),
                },
            });
        }
    }
    let results = results
        .into_iter()
        .map(|r| r.expect("every event ran"))
        .collect();
    Ok(axum::Json(proto::call::NetworkCallResults { results }))
}

/// The round in which each event of a batch runs: one after the last earlier event that shares
/// its call or one of its numbers (so those are taken in the order sent, as one by one), the
/// first round for an event that shares nothing with those before it.
fn waves(events: &[proto::call::NetworkCallEvent], number: impl Fn(&str) -> String) -> Vec<usize> {
    let mut last_of: std::collections::HashMap<String, usize> = Default::default();
    events
        .iter()
        .map(|ev| {
            let mut keys = vec![
                format!("r:{}", ev.call_ref),
                format!("n:{}", number(&ev.caller)),
                format!("n:{}", number(&ev.callee)),
            ];
            if let Some(to) = &ev.diverted_to {
                keys.push(format!("n:{}", number(to)));
            }
            let wave = keys
                .iter()
                .filter_map(|k| last_of.get(k).map(|w| w + 1))
                .max()
                .unwrap_or(0);
            for k in keys {
                last_of.insert(k, wave);
            }
            wave
        })
        .collect()
}

async fn take_network_event(
    app: &App,
    p: &Principal,
    ev: proto::call::NetworkCallEvent,
) -> Result<proto::call::NetworkCall, ApiError> {
    let event = NetworkEvent {
        call_ref: ev.call_ref,
        caller: ev.caller,
        callee: ev.callee,
        event: match ev.event {
            proto::call::CallEventKind::Ringing => CallEvent::Ringing,
            proto::call::CallEventKind::Answered => CallEvent::Answered,
            proto::call::CallEventKind::Ended => CallEvent::Ended,
            proto::call::CallEventKind::Failed => CallEvent::Failed,
            proto::call::CallEventKind::Diverted => CallEvent::Diverted,
        },
        lifecycle: ev.lifecycle.map(lifecycle_in),
        diverted_to: ev.diverted_to.map(|to| {
            let reason = match ev.reason {
                Some(proto::call::DivertReason::UserBusy) => DivertReason::Busy,
                Some(proto::call::DivertReason::Unavailable) => DivertReason::Unavailable,
                Some(proto::call::DivertReason::NoAnswer) | None => DivertReason::NoAnswer,
            };
            (to, reason)
        }),
    };
    let call = app.calls.network_event(p, event).await?;
    Ok(proto::call::NetworkCall {
        id: call.id.0.clone(),
        call_ref: call.call_ref.clone(),
        caller: call.caller.to_string(),
        callee: call.callee.to_string(),
        state: call_state(call.state),
        session: Some(call.session.to_string()),
    })
}

/// `POST /v1/legs/{id}/note` — leave a note or picture after a missed or rejected call.
#[utoipa::path(post, path = "/v1/legs/{id}/note", tag = "calls", request_body = proto::call::PostCallNote,
    responses((status = 201, body = proto::call::CallNote), (status = 400, body = proto::Problem),
              (status = 409, body = proto::Problem), (status = 429, body = proto::Problem)))]
pub(crate) async fn leave_note(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Json(note): Json<proto::call::PostCallNote>,
) -> Result<(StatusCode, axum::Json<proto::call::CallNote>), ApiError> {
    let body = serde_json::to_string(&note).expect("notes serialise");
    let n = Note {
        text: note.text.as_deref(),
        picture: note.picture.as_deref(),
        body,
    };
    let rec = app.composer.leave_note(&p, LegId(id), n).await?;
    Ok((StatusCode::CREATED, axum::Json(note_view(&rec))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallLogQuery {
    /// At most this many entries, newest first (default and maximum 200).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// `GET /v1/me/call-log` — composer data and notes left for this device's numbers.
#[utoipa::path(get, path = "/v1/me/call-log", tag = "calls", params(CallLogQuery),
    responses((status = 200, body = proto::call::CallLog)))]
pub(crate) async fn call_log(
    State(app): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<CallLogQuery>,
) -> Result<axum::Json<proto::call::CallLog>, ApiError> {
    let limit = check_limit(q.limit, 200)?;
    let notes = app
        .composer
        .call_log(&p, limit)
        .await?
        .iter()
        .map(note_view)
        .collect();
    Ok(axum::Json(proto::call::CallLog { notes }))
}

/// `POST /v1/passports` — sign caller data (RFC 9795) for a `caller_data` account.
#[utoipa::path(post, path = "/v1/passports", tag = "calls", request_body = proto::rcd::SignCallerData,
    responses((status = 201, body = proto::rcd::Passport), (status = 400, body = proto::Problem)))]
pub(crate) async fn sign_passport(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::rcd::SignCallerData>,
) -> Result<(StatusCode, axum::Json<proto::rcd::Passport>), ApiError> {
    let request = CallerDataRequest {
        orig: req.orig,
        dest: req.dest,
        name: req.name,
        logo: req.logo,
        reason: req.reason,
        jcard: req.jcard,
    };
    let (passport, expires_at) = app.passports.sign(&p, request).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(proto::rcd::Passport {
            passport,
            expires_at,
        }),
    ))
}

/// `POST /v1/network/click-to-dial` — a device asks the SIP proxy to call its own number and then
/// connect it to another (S1-F3); the session follows from the proxy's events (202).
#[utoipa::path(post, path = "/v1/network/click-to-dial", tag = "calls", request_body = proto::call::ClickToDial,
    responses((status = 202, body = proto::call::ClickToDialPlaced), (status = 400, body = proto::Problem),
              (status = 403, body = proto::Problem), (status = 429, body = proto::Problem),
              (status = 503, body = proto::Problem)))]
pub(crate) async fn click_to_dial(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::call::ClickToDial>,
) -> Result<(StatusCode, axum::Json<proto::call::ClickToDialPlaced>), ApiError> {
    let (from, to) = app
        .calls
        .click_to_dial(&p, req.from.as_deref(), &req.to)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(proto::call::ClickToDialPlaced {
            from: from.to_string(),
            to: to.to_string(),
        }),
    ))
}

/// `POST /v1/sessions/{key}/end-call` — an automated system taking part ends the session's call
/// through the SIP proxy (the voicemail's "end call", S1-F15); the call's end follows (202).
#[utoipa::path(post, path = "/v1/sessions/{key}/end-call", tag = "calls",
    responses((status = 202), (status = 403, body = proto::Problem), (status = 409, body = proto::Problem),
              (status = 503, body = proto::Problem)))]
pub(crate) async fn end_call(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(k): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.calls.end_call(&p, &crate::http::key(&k)?).await?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_runs_in_waves_that_keep_each_call_and_number_in_order() {
        let ev = |call: &str, caller: &str, callee: &str| proto::call::NetworkCallEvent {
            call_ref: call.into(),
            caller: caller.into(),
            callee: callee.into(),
            event: proto::call::CallEventKind::Ringing,
            lifecycle: None,
            diverted_to: None,
            reason: None,
        };
        let mut diverted = ev("e", "7", "8");
        diverted.diverted_to = Some("2".into());
        let events = [
            ev("a", "1", "2"),
            ev("b", "3", "4"),
            ev("a", "1", "2"),  // the same call: after the first
            ev("c", "4", "5"),  // shares number 4 with b
            ev("d", "6", "0"),  // shares nothing
            ev("f", "9", "02"), // "02" is number 2 as written elsewhere
            diverted,           // diverted to number 2
        ];
        let normalise = |raw: &str| raw.trim_start_matches('0').to_owned();
        assert_eq!(waves(&events, normalise), vec![0, 0, 1, 1, 0, 2, 3]);
    }
}
