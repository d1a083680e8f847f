//! `/v1/sessions/…`: sessions, their logs over HTTP (send, long-poll, acknowledge), closing and
//! transfer; how a participant's message body is read and checked (shared with the WebSocket);
//! and the wire forms of the log's server-written entries and of the `session` and `message`
//! frames.

use super::{Accepted, Asked, Error, Notice, Outgoing, PendingSend, ScreenUse, Tracking};
use crate::app::{App, AppState};
use crate::http::error::ApiError;
use crate::http::extract::{Caller, Json, Query};
use crate::http::wire::{
    call_state, frame_json, message, message_frame_json, participant, session_info, JsonWire,
};
use crate::http::{check_limit, key, long_poll};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use callside_core::component::Capabilities;
use callside_core::message::{self as msg, BlobId, MessageKind};
use callside_core::principal::{Principal, Scope};
use callside_core::{PhoneNumber, PrincipalId, SessionKey};
use callside_proto as proto;
use callside_store::{MessageRecord, SessionRecord};
use serde::Deserialize;
use std::sync::Arc;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => ApiError::NotFound("session"),
            Error::Session(e) => e.into(),
            Error::InvalidAck { .. } => ApiError::bad("invalid_ack", e),
            Error::AfterBeyondLog { .. } => ApiError::bad("after_beyond_log", e),
            Error::TooManyAsked => ApiError::TooMany("too_many_pending_requests", e.to_string()),
            Error::TooLarge { .. } => ApiError::TooLarge(e.to_string()),
            Error::RateLimited(l) => l.into(),
            Error::DevicesOnly => ApiError::Forbidden("devices_only", e.to_string()),
            Error::NotSameUser => ApiError::Forbidden("not_same_user", e.to_string()),
            Error::NoDevice => ApiError::NotFound("device"),
            Error::UnknownScreen(_) => ApiError::bad("unknown_screen", e),
            Error::UnknownRegion { .. } => ApiError::bad("unknown_region", e),
            Error::OwnScreen => ApiError::bad("own_screen", e),
            Error::SystemsOnly => ApiError::Forbidden("systems_only", e.to_string()),
            Error::AgentsOnly => ApiError::Forbidden("agents_only", e.to_string()),
            Error::Unavailable => ApiError::Unavailable,
            Error::Store(e) => e.into(),
        }
    }
}

impl super::Wire for JsonWire {
    fn message_frame(&self, m: &MessageRecord) -> Arc<str> {
        message_frame_json(m)
    }

    fn session_frame(&self, s: &SessionRecord) -> Arc<str> {
        frame_json(&proto::ws::ServerFrame::Session(session_info(s)))
    }

    fn notice(&self, n: &Notice<'_>) -> String {
        let json = match n {
            Notice::Call(state) => serde_json::to_string(&proto::message::CallBody {
                state: call_state(*state),
            }),
            Notice::Joined(p) => serde_json::to_string(&proto::message::JoinedBody {
                participant: participant(p),
            }),
            Notice::Transferred { from, to } => {
                serde_json::to_string(&proto::message::TransferredBody {
                    from: from.to_string(),
                    to: participant(to),
                })
            }
            Notice::Closed(reason) => serde_json::to_string(&proto::message::ClosedBody {
                reason: reason.code().to_owned(),
                by: match reason {
                    callside_core::session::CloseReason::ClosedBy(p) => Some(p.0.clone()),
                    _ => None,
                },
            }),
            Notice::Unanswered {
                asked: Asked::Location,
                request,
            } => serde_json::to_string(&proto::message::SystemLocationBody {
                request: (*request).to_owned(),
                state: "not_possible".into(),
            }),
            Notice::Unanswered {
                asked: Asked::Capability,
                request,
            } => serde_json::to_string(&proto::component::SystemCapabilityBody {
                request: (*request).to_owned(),
                state: "no_answer".into(),
            }),
            Notice::ComponentOffered {
                offer,
                component,
                by,
                needs_install,
                authorization,
            } => serde_json::to_string(&proto::component::SystemComponentBody {
                offer: (*offer).to_owned(),
                component: crate::components::http::component_out(component),
                by: by.to_string(),
                needs_install: needs_install.to_vec(),
                authorization: authorization.map(|(token, fee)| proto::component::Authorization {
                    token: token.to_owned(),
                    fee: crate::components::http::fee_out(fee),
                }),
            }),
            Notice::Diverted { from, to, reason } => {
                serde_json::to_string(&proto::message::DivertedBody {
                    from: from.to_string(),
                    to: to.to_string(),
                    reason: (*reason).to_owned(),
                })
            }
            Notice::PagePushed { url, code, by } => {
                serde_json::to_string(&proto::message::SystemPageBody {
                    url: (*url).to_owned(),
                    code: (*code).to_owned(),
                    by: by.0.clone(),
                })
            }
            Notice::ComponentInstalled {
                component,
                version,
                by,
            } => serde_json::to_string(&proto::component::SystemInstalledBody {
                component: component.to_string(),
                version: (*version).to_owned(),
                by: by.to_string(),
            }),
        };
        json.expect("server-written bodies serialise")
    }
}

/// A message accepted onto a log, as the client sees it.
pub(crate) fn accepted_out(a: Accepted) -> proto::message::Accepted {
    proto::message::Accepted {
        session: a.session.to_string(),
        seq: a.seq,
        id: a.id,
        duplicate: a.duplicate,
    }
}

/// A participant's message over HTTP or the WebSocket: participation first (the body's checks
/// must not answer outsiders), then the body by its kind, then onto the log.
pub(crate) async fn submit(
    app: &App,
    who: &Principal,
    key: &SessionKey,
    send: proto::message::SendMessage,
) -> Result<PendingSend, ApiError> {
    app.sessions.check_participant(key, &who.id).await?;
    // A blob the message references is not collected between its check and the message's
    // place in the writer's queue (queue order is commit order): `_hold` lasts until then.
    let (msg, _hold) = outgoing(app, who, send).await?;
    Ok(app.sessions.send(&who.id, key, msg).await?)
}

/// A message body of kind `what`, or `400 invalid_message` naming the kind.
fn body<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad("invalid_message", format!("{what} body: {e}")))
}

fn request_id_ok(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Checks a request id, and the time to wait for an answer when the message asks something.
fn check_request(request: &str, timeout_secs: Option<u32>) -> Result<(), ApiError> {
    match timeout_secs {
        None if !request_id_ok(request) => Err(ApiError::bad(
            "invalid_message",
            "request ids are 1-64 visible characters",
        )),
        Some(t) if !request_id_ok(request) || !(5..=300).contains(&t) => Err(ApiError::bad(
            "invalid_message",
            "request ids are 1-64 visible characters; timeout_secs is 5-300",
        )),
        _ => Ok(()),
    }
}

/// A `geo:` URI (RFC 5870) for a position.
fn geo_uri(lat: f64, lon: f64, accuracy: Option<f64>) -> String {
    match accuracy {
        Some(u) => format!("geo:{lat},{lon};u={u}"),
        None => format!("geo:{lat},{lon}"),
    }
}

fn invalid_component(e: callside_core::component::ComponentError) -> ApiError {
    ApiError::bad("invalid_component", e.to_string())
}

/// Checks a client's message and turns it into what the log stores, with what the session
/// service needs to know of it (the blob a file references, what it asks or answers), and —
/// when it references a blob — a hold that keeps the blob from being collected.
async fn outgoing<'a>(
    app: &'a App,
    sender: &Principal,
    send: proto::message::SendMessage,
) -> Result<(Outgoing, Option<tokio::sync::RwLockReadGuard<'a, ()>>), ApiError> {
    let who = &sender.id;
    let mut hold = None;
    msg::check_client_id(&send.id)?;
    let kind = MessageKind::parse_client(&send.kind)?;
    let mut blob = None;
    let mut tracking = None;
    let mut screen = None;
    let body = match &kind {
        MessageKind::Text => {
            let t: proto::message::TextBody = serde_json::from_value(send.body)
                .map_err(|e| ApiError::bad("invalid_message", format!("text body: {e}")))?;
            if t.text.is_empty() {
                return Err(ApiError::bad("invalid_message", "text must not be empty"));
            }
            serde_json::to_string(&t)
        }
        MessageKind::File => {
            let mut f: proto::message::FileBody = serde_json::from_value(send.body)
                .map_err(|e| ApiError::bad("invalid_message", format!("file body: {e}")))?;
            msg::check_file_name(&f.name)?;
            let id = BlobId::parse(&f.blob)?;
            // Missing and not yours look the same, so content hashes cannot be probed.
            let unknown = || {
                ApiError::bad(
                    "unknown_blob",
                    format!("no blob {id} that you may share; upload it with POST /v1/blobs first"),
                )
            };
            hold = Some(app.blobs.hold().await);
            let stored = app.blobs.readable(who, &id).await?.ok_or_else(unknown)?;
            f.size = stored.size;
            f.mime = stored.mime;
            blob = Some(id);
            serde_json::to_string(&f)
        }
        MessageKind::App(_) => {
            if !send.body.is_object() {
                return Err(ApiError::bad(
                    "invalid_message",
                    "an app/* body must be a JSON object",
                ));
            }
            serde_json::to_string(&send.body)
        }
        MessageKind::Location => {
            let mut l: proto::message::LocationBody = body(send.body, "location")?;
            msg::check_position(l.lat, l.lon, l.accuracy_m)?;
            if let Some(r) = &l.request {
                check_request(r, None)?;
                tracking = Some(Tracking::Answers {
                    asked: Asked::Location,
                    request: r.clone(),
                });
            }
            if l.live {
                app.sessions.allow_live_location(who)?;
            }
            l.geo = Some(geo_uri(l.lat, l.lon, l.accuracy_m));
            serde_json::to_string(&l)
        }
        MessageKind::LocationRequest => {
            let r: proto::message::LocationRequestBody = body(send.body, "location/request")?;
            check_request(&r.request, Some(r.timeout_secs))?;
            tracking = Some(Tracking::Asks {
                asked: Asked::Location,
                request: r.request.clone(),
                timeout_secs: r.timeout_secs,
            });
            serde_json::to_string(&r)
        }
        MessageKind::LocationDecline => {
            let r: proto::message::LocationDeclineBody = body(send.body, "location/decline")?;
            check_request(&r.request, None)?;
            tracking = Some(Tracking::Answers {
                asked: Asked::Location,
                request: r.request.clone(),
            });
            serde_json::to_string(&r)
        }
        MessageKind::CapabilityQuery => {
            let q: proto::component::CapabilityQueryBody = body(send.body, "capability/query")?;
            check_request(&q.request, Some(q.timeout_secs))?;
            if q.features.is_empty() && q.components.is_empty() {
                return Err(ApiError::bad(
                    "invalid_message",
                    "a capability query asks for at least one feature or component",
                ));
            }
            let asked = q
                .components
                .iter()
                .map(|c| (c.clone(), "0".into()))
                .collect();
            Capabilities::new(q.features.clone(), asked).map_err(invalid_component)?;
            tracking = Some(Tracking::Asks {
                asked: Asked::Capability,
                request: q.request.clone(),
                timeout_secs: q.timeout_secs,
            });
            serde_json::to_string(&q)
        }
        MessageKind::CapabilityAnswer => {
            let a: proto::component::CapabilityAnswerBody = body(send.body, "capability/answer")?;
            check_request(&a.request, None)?;
            let declared = a
                .components
                .iter()
                .map(|c| (c.id.clone(), c.version.clone()))
                .collect();
            Capabilities::new(a.features.clone(), declared).map_err(invalid_component)?;
            tracking = Some(Tracking::Answers {
                asked: Asked::Capability,
                request: a.request.clone(),
            });
            serde_json::to_string(&a)
        }
        MessageKind::Screen => {
            if !sender.has_scope(Scope::AutomatedSystem) {
                return Err(Error::SystemsOnly.into());
            }
            let mut b: proto::screen::ScreenBody = body(send.body, "screen")?;
            let region = app.config.regions().of(sender);
            let parse = |n: &str| Ok(PhoneNumber::parse(n, Some(region))?);
            let checked = crate::http::screen_wire::screen_in(sender, &mut b, parse)?;
            if let Some(image) = &b.image {
                let id = BlobId::parse(image)?;
                hold = Some(app.blobs.hold().await);
                app.blobs.readable(who, &id).await?.ok_or_else(|| {
                    ApiError::bad(
                        "unknown_blob",
                        format!(
                            "no blob {id} that you may share; upload it with POST /v1/blobs first"
                        ),
                    )
                })?;
                blob = Some(id);
            }
            screen = Some(ScreenUse::Offer {
                regions: checked.region_ids(),
                id: checked.id,
            });
            serde_json::to_string(&b)
        }
        MessageKind::ScreenAck => {
            let a: proto::screen::ScreenAckBody = body(send.body, "screen/ack")?;
            crate::http::screen_wire::check_about(&a.screen, None)?;
            if a.detail.as_ref().is_some_and(|d| d.chars().count() > 200) {
                return Err(ApiError::bad(
                    "invalid_message",
                    "detail is at most 200 characters",
                ));
            }
            screen = Some(ScreenUse::About {
                id: a.screen.clone(),
                region: None,
            });
            serde_json::to_string(&a)
        }
        MessageKind::ScreenAction => {
            let a: proto::screen::ScreenActionBody = body(send.body, "screen/action")?;
            crate::http::screen_wire::check_about(&a.screen, Some(&a.region))?;
            if a.value.as_ref().is_some_and(|v| !v.is_object()) {
                return Err(ApiError::bad(
                    "invalid_message",
                    "value must be a JSON object",
                ));
            }
            screen = Some(ScreenUse::About {
                id: a.screen.clone(),
                region: Some(a.region.clone()),
            });
            serde_json::to_string(&a)
        }
        MessageKind::Rtc(rtc) => rtc_body(*rtc, send.body)?,
        MessageKind::PageView | MessageKind::MediaControl => {
            web_call_body(&kind, sender, send.body)?
        }
        MessageKind::System(_) | MessageKind::Card => {
            unreachable!("clients cannot send server-written kinds")
        }
    }
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    app.sessions.check_size(&body)?;
    let out = Outgoing {
        client_id: send.id,
        kind,
        body,
        blob,
        tracking,
        screen,
    };
    Ok((out, hold))
}

/// The longest page address a `page/view` carries.
const MAX_PAGE_URL_BYTES: usize = 2048;

/// The bodies of a web call's page follow and media control (S4), typed and bounded.
fn web_call_body(
    kind: &MessageKind,
    sender: &Principal,
    body_in: serde_json::Value,
) -> Result<serde_json::Result<String>, ApiError> {
    if *kind == MessageKind::MediaControl {
        if !sender.has_scope(Scope::Agent) {
            return Err(Error::AgentsOnly.into());
        }
        let c: proto::message::MediaControlBody = body(body_in, "media/control")?;
        if c.volume.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
            return Err(ApiError::bad("invalid_message", "volume is 0.0 to 1.0"));
        }
        if c.volume.is_none() && c.echo_cancellation.is_none() {
            return Err(ApiError::bad(
                "invalid_message",
                "media/control changes volume, echo_cancellation or both",
            ));
        }
        return Ok(serde_json::to_string(&c));
    }
    let v: proto::message::PageViewBody = body(body_in, "page/view")?;
    let web = url::Url::parse(&v.url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !web || v.url.len() > MAX_PAGE_URL_BYTES {
        return Err(ApiError::bad(
            "invalid_message",
            "url is an http(s) address of at most 2,048 bytes",
        ));
    }
    if v.title.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::bad(
            "invalid_message",
            "title is at most 200 characters",
        ));
    }
    Ok(serde_json::to_string(&v))
}

/// The most failed direct attempts an offer may report (S2's retry counter).
const MAX_RTC_FAILURES: u32 = 100;

/// A WebRTC signalling body, typed and bounded (S1-F1, S2-C).
fn rtc_body(
    kind: callside_core::message::RtcKind,
    body_in: serde_json::Value,
) -> Result<serde_json::Result<String>, ApiError> {
    use callside_core::message::{check_rtc, RtcKind};
    use proto::rtc::{RtcAnswerBody, RtcCandidateBody, RtcEndBody, RtcOfferBody};
    Ok(match kind {
        RtcKind::Offer => {
            let o: RtcOfferBody = body(body_in, "rtc/offer")?;
            check_rtc(&o.call, Some(&o.sdp), None)?;
            if let Some(previous) = &o.replaces {
                check_rtc(previous, None, None)?;
            }
            if o.failures > MAX_RTC_FAILURES {
                return Err(ApiError::bad("invalid_message", "failures is at most 100"));
            }
            serde_json::to_string(&o)
        }
        RtcKind::Answer => {
            let a: RtcAnswerBody = body(body_in, "rtc/answer")?;
            check_rtc(&a.call, Some(&a.sdp), None)?;
            serde_json::to_string(&a)
        }
        RtcKind::Candidate => {
            let c: RtcCandidateBody = body(body_in, "rtc/candidate")?;
            check_rtc(&c.call, None, Some(&c.candidate))?;
            if c.sdp_mid.as_ref().is_some_and(|m| m.len() > 64) {
                return Err(ApiError::bad(
                    "invalid_message",
                    "sdp_mid is at most 64 bytes",
                ));
            }
            serde_json::to_string(&c)
        }
        RtcKind::End => {
            let e: RtcEndBody = body(body_in, "rtc/end")?;
            check_rtc(&e.call, None, None)?;
            if e.reason.as_ref().is_some_and(|r| r.chars().count() > 200) {
                return Err(ApiError::bad(
                    "invalid_message",
                    "reason is at most 200 characters",
                ));
            }
            serde_json::to_string(&e)
        }
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Include closed sessions.
    all: Option<bool>,
}

/// `GET /v1/sessions` — your sessions, newest first.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", params(ListQuery), responses((status = 200, body = proto::session::SessionList)))]
pub(crate) async fn list_sessions(
    State(app): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<proto::session::SessionList>, ApiError> {
    let sessions = app
        .sessions
        .list(&p.id, q.all.unwrap_or(false))
        .await?
        .iter()
        .map(session_info)
        .collect();
    Ok(axum::Json(proto::session::SessionList { sessions }))
}

/// `GET /v1/sessions/{key}`
#[utoipa::path(get, path = "/v1/sessions/{key}", tag = "sessions",
    responses((status = 200, body = proto::session::SessionInfo), (status = 403, body = proto::Problem), (status = 404, body = proto::Problem)))]
pub(crate) async fn get_session(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(k): Path<String>,
) -> Result<axum::Json<proto::session::SessionInfo>, ApiError> {
    let rec = app.sessions.record_for(&key(&k)?, &p.id).await?;
    Ok(axum::Json(session_info(&rec)))
}

/// `POST /v1/sessions/{key}/close` — end the session for everyone.
#[utoipa::path(post, path = "/v1/sessions/{key}/close", tag = "sessions", responses((status = 200, body = proto::session::SessionInfo)))]
pub(crate) async fn close_session(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(k): Path<String>,
) -> Result<axum::Json<proto::session::SessionInfo>, ApiError> {
    let rec = app.sessions.close(&p.id, &key(&k)?).await?;
    Ok(axum::Json(session_info(&rec)))
}

/// `POST /v1/sessions/{key}/transfer` — hand this device's place to another device of the same
/// user (S2-M): one that shares a number with it.
#[utoipa::path(post, path = "/v1/sessions/{key}/transfer", tag = "sessions", request_body = proto::session::Transfer,
    responses((status = 200, body = proto::session::SessionInfo), (status = 403, body = proto::Problem),
              (status = 409, body = proto::Problem), (status = 410, body = proto::Problem)))]
pub(crate) async fn transfer_session(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(k): Path<String>,
    Json(req): Json<proto::session::Transfer>,
) -> Result<axum::Json<proto::session::SessionInfo>, ApiError> {
    let k = key(&k)?;
    let rec = app.sessions.transfer(&p, &k, PrincipalId(req.to)).await?;
    Ok(axum::Json(session_info(&rec)))
}

/// `PUT /v1/sessions/{key}/history` — this participant's word on showing the messages sent so
/// far to those who join later (`share`, `withhold`, or `null` to say nothing).
#[utoipa::path(put, path = "/v1/sessions/{key}/history", tag = "sessions", request_body = proto::session::SetHistory,
    responses((status = 200, body = proto::session::SessionInfo), (status = 400, body = proto::Problem),
              (status = 403, body = proto::Problem), (status = 404, body = proto::Problem)))]
pub(crate) async fn set_history(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(k): Path<String>,
    Json(req): Json<proto::session::SetHistory>,
) -> Result<axum::Json<proto::session::SessionInfo>, ApiError> {
    let consent = req.consent.map(crate::http::wire::history_in);
    let rec = app.sessions.set_history(&p.id, &key(&k)?, consent).await?;
    Ok(axum::Json(session_info(&rec)))
}

/// `POST /v1/sessions/{key}/messages` — append to the log (201; 200 for a repeated id).
#[utoipa::path(post, path = "/v1/sessions/{key}/messages", tag = "sessions", request_body = proto::message::SendMessage,
    responses((status = 201, body = proto::message::Accepted), (status = 200, body = proto::message::Accepted),
              (status = 400, body = proto::Problem), (status = 403, body = proto::Problem), (status = 410, body = proto::Problem), (status = 413, body = proto::Problem)))]
pub(crate) async fn send_message(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(k): Path<String>,
    Json(req): Json<proto::message::SendMessage>,
) -> Result<(StatusCode, axum::Json<proto::message::Accepted>), ApiError> {
    let k = key(&k)?;
    let accepted = submit(&app, &p, &k, req).await?.wait(&app.sessions).await?;
    let accepted = accepted_out(accepted);
    let code = if accepted.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((code, axum::Json(accepted)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessagesQuery {
    /// Return messages with a sequence number above this (default 0).
    after: Option<u64>,
    /// At most this many (default and maximum 500).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Seconds to wait for a first message (long-poll).
    wait: Option<u64>,
}

/// `GET /v1/sessions/{key}/messages` — the log after a sequence number; long-polls.
#[utoipa::path(get, path = "/v1/sessions/{key}/messages", tag = "sessions", params(MessagesQuery), responses((status = 200, body = proto::message::MessagePage)))]
pub(crate) async fn list_messages(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(k): Path<String>,
    Query(q): Query<MessagesQuery>,
) -> Result<axum::Json<proto::message::MessagePage>, ApiError> {
    let limit = check_limit(q.limit, 500)?;
    let key = key(&k)?;
    let page = long_poll(&app, q.wait, |wait| {
        app.sessions
            .messages(&p.id, &key, q.after.unwrap_or(0), limit, wait)
    })
    .await?;
    Ok(axum::Json(proto::message::MessagePage {
        messages: page.messages.iter().map(message).collect(),
        last_seq: page.last_seq,
    }))
}

/// `POST /v1/sessions/{key}/ack` — everything up to `seq` was processed.
#[utoipa::path(post, path = "/v1/sessions/{key}/ack", tag = "sessions", request_body = proto::message::AckRequest, responses((status = 204)))]
pub(crate) async fn ack(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(k): Path<String>,
    Json(req): Json<proto::message::AckRequest>,
) -> Result<StatusCode, ApiError> {
    app.sessions.ack(&p.id, &key(&k)?, req.seq).await?;
    Ok(StatusCode::NO_CONTENT)
}
