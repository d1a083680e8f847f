//! HTTP handlers: extract, call one service method, map the result. Each names its route.

use crate::app::AppState;
use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::http::extract::{Caller, GatewayCaller, Source};
use crate::http::extract::{Json, Query};
use crate::http::wire as mapping;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use callside_core::principal::{Principal, PrincipalKind};
use callside_core::{LegId, NumberRange, PhoneNumber, PrincipalId, SessionKey, Token};
use callside_proto as proto;
use callside_store::{PrincipalRecord, Write};
use serde::Deserialize;
use std::time::Duration;

pub(crate) fn key(s: &str) -> Result<SessionKey, ApiError> {
    SessionKey::parse(s).ok_or(ApiError::NotFound("session"))
}

/// A page size: 1 to `max` (default `max`); anything else is refused, not silently clamped.
fn check_limit(limit: Option<u32>, max: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(max),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad(
            "invalid_query",
            format!("limit {n} is out of range: give 1 to {max}"),
        )),
    }
}

fn wait(app: &AppState, secs: Option<u64>) -> Duration {
    Duration::from_secs(secs.unwrap_or(0)).min(app.config.long_poll_max)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaitQuery {
    /// Seconds to wait for a change (long-poll), capped by the server.
    wait: Option<u64>,
}

/// `GET /v1/me` — who the token belongs to.
#[utoipa::path(get, path = "/v1/me", tag = "identity", responses((status = 200, body = proto::admin::Me)))]
pub(crate) async fn me(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<proto::admin::Me>, ApiError> {
    let mut me = mapping::me(&p);
    if matches!(p.kind, PrincipalKind::Device { .. }) {
        me.emails = app
            .store
            .emails_of(p.id.clone())
            .await?
            .iter()
            .map(|e| e.to_string())
            .collect();
    }
    Ok(axum::Json(me))
}

/// `POST /v1/admin/devices` — provision a device bound to numbers.
#[utoipa::path(post, path = "/v1/admin/devices", tag = "admin", request_body = proto::admin::CreateDevice,
    responses((status = 201, body = proto::admin::CreatedDevice), (status = 400, body = proto::Problem)))]
pub(crate) async fn create_device(
    State(app): State<AppState>,
    caller: Caller,
    Json(req): Json<proto::admin::CreateDevice>,
) -> Result<(StatusCode, axum::Json<proto::admin::CreatedDevice>), ApiError> {
    caller.require_admin()?;
    let name = check_name(&req.name)?;
    if req.numbers.is_empty() || req.numbers.len() > 16 {
        return Err(ApiError::bad(
            "invalid_device",
            "a device needs 1 to 16 numbers",
        ));
    }
    let mut numbers: Vec<PhoneNumber> = Vec::new();
    for n in &req.numbers {
        let n = PhoneNumber::parse(n, Some(app.config.default_region))?;
        if !numbers.contains(&n) {
            numbers.push(n);
        }
    }
    let (rec, token) = new_principal(name, "dev", PrincipalKind::Device { numbers });
    app.store
        .apply(vec![Write::Principal(rec.clone(), token.hash())])
        .await?;
    let device = mapping::device(&rec).expect("a device");
    Ok((
        StatusCode::CREATED,
        axum::Json(proto::admin::CreatedDevice {
            device,
            token: token.expose().to_owned(),
        }),
    ))
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad(
            "invalid_name",
            "name must be 1–100 printable characters",
        ));
    }
    Ok(name.to_owned())
}

pub(crate) fn new_principal(
    name: String,
    prefix: &str,
    kind: PrincipalKind,
) -> (PrincipalRecord, Token) {
    let now = now_ms();
    let rec = PrincipalRecord {
        principal: Principal {
            id: PrincipalId(callside_core::secret::new_id(prefix, now)),
            name,
            kind,
        },
        created_at: now,
    };
    (rec, Token::generate(prefix))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct DeviceList {
    devices: Vec<proto::admin::Device>,
}

/// `GET /v1/admin/devices`
#[utoipa::path(get, path = "/v1/admin/devices", tag = "admin", responses((status = 200, body = DeviceList)))]
pub(crate) async fn list_devices(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<DeviceList>, ApiError> {
    caller.require_admin()?;
    let devices = app
        .store
        .principals("device")
        .await?
        .iter()
        .filter_map(mapping::device)
        .collect();
    Ok(axum::Json(DeviceList { devices }))
}

/// `POST /v1/admin/service-accounts` — a network element or automated system.
#[utoipa::path(post, path = "/v1/admin/service-accounts", tag = "admin", request_body = proto::admin::CreateServiceAccount,
    responses((status = 201, body = proto::admin::CreatedServiceAccount), (status = 400, body = proto::Problem)))]
pub(crate) async fn create_service_account(
    State(app): State<AppState>,
    caller: Caller,
    Json(req): Json<proto::admin::CreateServiceAccount>,
) -> Result<(StatusCode, axum::Json<proto::admin::CreatedServiceAccount>), ApiError> {
    caller.require_admin()?;
    let name = check_name(&req.name)?;
    if req.scopes.is_empty() {
        return Err(ApiError::bad("invalid_account", "give at least one scope"));
    }
    let only_enrollment = req
        .scopes
        .iter()
        .all(|s| *s == proto::admin::Scope::DeviceEnrollment);
    if (req.ranges.is_empty() && !only_enrollment) || req.ranges.len() > 256 {
        return Err(ApiError::bad(
            "invalid_account",
            "give 1 to 256 number ranges (only a device_enrollment account needs none)",
        ));
    }
    let ranges = req
        .ranges
        .iter()
        .map(|r| NumberRange::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    let mut scopes: Vec<_> = req.scopes.iter().copied().map(mapping::scope_in).collect();
    scopes.dedup();
    let (rec, token) = new_principal(name, "svc", PrincipalKind::Service { scopes, ranges });
    app.store
        .apply(vec![Write::Principal(rec.clone(), token.hash())])
        .await?;
    let account = mapping::service_account(&rec).expect("a service account");
    Ok((
        StatusCode::CREATED,
        axum::Json(proto::admin::CreatedServiceAccount {
            account,
            token: token.expose().to_owned(),
        }),
    ))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct AccountList {
    accounts: Vec<proto::admin::ServiceAccount>,
}

/// `GET /v1/admin/service-accounts`
#[utoipa::path(get, path = "/v1/admin/service-accounts", tag = "admin", responses((status = 200, body = AccountList)))]
pub(crate) async fn list_service_accounts(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<AccountList>, ApiError> {
    caller.require_admin()?;
    let accounts = app
        .store
        .principals("service")
        .await?
        .iter()
        .filter_map(mapping::service_account)
        .collect();
    Ok(axum::Json(AccountList { accounts }))
}

async fn principal_of_kind(
    app: &AppState,
    id: &str,
    kind: &'static str,
) -> Result<PrincipalRecord, ApiError> {
    let rec = app.store.principal(PrincipalId(id.to_owned())).await?;
    match rec {
        Some(r)
            if matches!(
                (&r.principal.kind, kind),
                (PrincipalKind::Device { .. }, "device")
                    | (PrincipalKind::Service { .. }, "service")
            ) =>
        {
            Ok(r)
        }
        _ => Err(ApiError::NotFound(if kind == "device" {
            "device"
        } else {
            "service account"
        })),
    }
}

/// `DELETE /v1/admin/devices/{id}` — the device's tokens stop working at once.
#[utoipa::path(delete, path = "/v1/admin/devices/{id}", tag = "admin", responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn delete_device(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_principal(app, caller, id, "device").await
}

/// `DELETE /v1/admin/service-accounts/{id}`
#[utoipa::path(delete, path = "/v1/admin/service-accounts/{id}", tag = "admin", responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn delete_service_account(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_principal(app, caller, id, "service").await
}

async fn delete_principal(
    app: AppState,
    caller: Caller,
    id: String,
    kind: &'static str,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let rec = principal_of_kind(&app, &id, kind).await?;
    app.store
        .apply(vec![Write::DeletePrincipal(rec.principal.id.clone())])
        .await?;
    revoke(&app, &rec.principal.id, "the device or account was deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Forgets cached tokens of `id` and closes its open sockets.
fn revoke(app: &AppState, id: &PrincipalId, why: &str) {
    app.auth.evict(id);
    let frame = proto::ws::ServerFrame::Error {
        code: "token_revoked".into(),
        detail: why.into(),
        id: None,
        session: None,
    };
    app.hub.disconnect(id, mapping::frame_json(&frame));
}

/// `POST /v1/admin/devices/{id}/token` — a new token; the old one stops working.
#[utoipa::path(post, path = "/v1/admin/devices/{id}/token", tag = "admin", responses((status = 200, body = proto::admin::RotatedToken)))]
pub(crate) async fn rotate_device_token(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::admin::RotatedToken>, ApiError> {
    rotate(app, caller, id, "device", "dev").await
}

/// `POST /v1/admin/service-accounts/{id}/token`
#[utoipa::path(post, path = "/v1/admin/service-accounts/{id}/token", tag = "admin", responses((status = 200, body = proto::admin::RotatedToken)))]
pub(crate) async fn rotate_service_token(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::admin::RotatedToken>, ApiError> {
    rotate(app, caller, id, "service", "svc").await
}

async fn rotate(
    app: AppState,
    caller: Caller,
    id: String,
    kind: &'static str,
    prefix: &str,
) -> Result<axum::Json<proto::admin::RotatedToken>, ApiError> {
    caller.require_admin()?;
    let rec = principal_of_kind(&app, &id, kind).await?;
    let token = Token::generate(prefix);
    app.store
        .apply(vec![Write::ReplaceToken(
            rec.principal.id.clone(),
            token.hash(),
        )])
        .await?;
    revoke(
        &app,
        &rec.principal.id,
        "the token was replaced; reconnect with the new one",
    );
    Ok(axum::Json(proto::admin::RotatedToken {
        token: token.expose().to_owned(),
    }))
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
    crate::composer::check(&app, &p, &req).await?;
    crate::rcd::check_for_leg(&app, &req)?;
    let (composer, passport) = (req.composer.clone(), req.passport.clone());
    let rec = app.calls.report(&app, &p, req).await?;
    if composer.is_some() || passport.is_some() {
        crate::composer::ring(&app, &p, &rec, composer, passport).await;
    }
    let status = if rec.state == callside_store::LegState::Pending && q.wait.unwrap_or(0) > 0 {
        app.calls
            .status(&app, &p.id, &rec.leg.id, wait(&app, q.wait))
            .await?
    } else {
        app.calls.status_of(&app, &rec).await?
    };
    Ok(leg_response(status))
}

fn leg_response(status: proto::call::LegStatus) -> Response {
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
    let status = app
        .calls
        .status(&app, &p.id, &LegId(id), wait(&app, q.wait))
        .await?;
    Ok(leg_response(status))
}

/// `POST /v1/legs/{id}/answer` — the call was answered.
#[utoipa::path(post, path = "/v1/legs/{id}/answer", tag = "calls", responses((status = 200, body = proto::call::LegStatus)))]
pub(crate) async fn answer_leg(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(leg_response(
        app.calls.call_event(&app, &p.id, &LegId(id), true).await?,
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
        app.calls.call_event(&app, &p.id, &LegId(id), false).await?,
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
    Ok(axum::Json(app.calls.network_event(&app, &p, ev).await?))
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
    let keys = app
        .store
        .sessions_of(p.id.clone(), q.all.unwrap_or(false))
        .await?;
    let mut sessions = Vec::with_capacity(keys.len());
    for k in keys {
        sessions.push(mapping::session_info(
            &app.sessions.record_for(&app, &k, &p.id).await?,
        ));
    }
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
    let rec = app.sessions.record_for(&app, &key(&k)?, &p.id).await?;
    Ok(axum::Json(mapping::session_info(&rec)))
}

/// `POST /v1/sessions/{key}/close` — end the session for everyone.
#[utoipa::path(post, path = "/v1/sessions/{key}/close", tag = "sessions", responses((status = 200, body = proto::session::SessionInfo)))]
pub(crate) async fn close_session(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(k): Path<String>,
) -> Result<axum::Json<proto::session::SessionInfo>, ApiError> {
    let k = key(&k)?;
    app.sessions.check_participant(&app, &k, &p.id).await?;
    let rec = app
        .sessions
        .transition(
            &app,
            &k,
            callside_core::session::Event::Close(p.id.clone()),
            None,
            vec![],
        )
        .await?;
    Ok(axum::Json(mapping::session_info(&rec)))
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
    let rec = app.sessions.record_for(&app, &k, &p.id).await?;
    // The number this device takes part with goes with the place: the target must own it.
    let with = rec
        .participants
        .iter()
        .find(|x| x.principal == p.id)
        .and_then(|x| x.number.clone());
    let PrincipalKind::Device { numbers: mine } = &p.kind else {
        return Err(ApiError::Forbidden(
            "devices_only",
            "only a device hands its place to another device".into(),
        ));
    };
    let target = app.store.principal(PrincipalId(req.to.clone())).await?;
    let target = match target {
        Some(t) => match &t.principal.kind {
            PrincipalKind::Device { numbers }
                if match &with {
                    Some(n) => numbers.contains(n),
                    None => numbers.iter().any(|n| mine.contains(n)),
                } =>
            {
                t.principal
            }
            _ => {
                return Err(ApiError::Forbidden(
                    "not_same_user",
                    "the target device does not own the number this device takes part with".into(),
                ))
            }
        },
        None => return Err(ApiError::NotFound("device")),
    };
    let took = callside_store::ParticipantRecord {
        principal: target.id.clone(),
        name: target.name.clone(),
        number: None,
        acked_seq: 0,
    };
    let rec = app
        .sessions
        .transition(
            &app,
            &k,
            callside_core::session::Event::Transfer {
                from: p.id.clone(),
                to: target.id,
            },
            Some(took),
            vec![],
        )
        .await?;
    Ok(axum::Json(mapping::session_info(&rec)))
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
    app.sessions.check_participant(&app, &k, &p.id).await?;
    let msg = app.sessions.check(&app, &p.id, req).await?;
    let accepted = app
        .sessions
        .prepare_send(&app, &p.id, &k, msg)
        .await?
        .wait(&app)
        .await?;
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
    let page = app
        .sessions
        .messages(
            &app,
            &p.id,
            &key(&k)?,
            q.after.unwrap_or(0),
            limit,
            wait(&app, q.wait),
        )
        .await?;
    Ok(axum::Json(page))
}

/// `POST /v1/sessions/{key}/ack` — everything up to `seq` was processed.
#[utoipa::path(post, path = "/v1/sessions/{key}/ack", tag = "sessions", request_body = proto::message::AckRequest, responses((status = 204)))]
pub(crate) async fn ack(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(k): Path<String>,
    Json(req): Json<proto::message::AckRequest>,
) -> Result<StatusCode, ApiError> {
    app.sessions.ack(&app, &p.id, &key(&k)?, req.seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/me/token` — replace the calling device's or account's own token.
#[utoipa::path(post, path = "/v1/me/token", tag = "identity", responses((status = 200, body = proto::admin::RotatedToken)))]
pub(crate) async fn rotate_own_token(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<proto::admin::RotatedToken>, ApiError> {
    let prefix =
        match p.kind {
            PrincipalKind::Device { .. } => "dev",
            PrincipalKind::Service { .. } => "svc",
            PrincipalKind::Admin => return Err(ApiError::Forbidden(
                "admin_token_file",
                "the operator's token lives in its file: delete the file and restart to replace it"
                    .into(),
            )),
        };
    let token = Token::generate(prefix);
    app.store
        .apply(vec![Write::ReplaceToken(p.id.clone(), token.hash())])
        .await?;
    revoke(
        &app,
        &p.id,
        "the token was replaced; reconnect with the new one",
    );
    Ok(axum::Json(proto::admin::RotatedToken {
        token: token.expose().to_owned(),
    }))
}

/// `POST /v1/me/numbers/proofs` — start proving a number by SMS (S2-R).
#[utoipa::path(post, path = "/v1/me/numbers/proofs", tag = "numbers",
    responses((status = 201, body = proto::numbers::NumberProof), (status = 429, body = proto::Problem), (status = 503, body = proto::Problem)))]
pub(crate) async fn start_proof(
    State(app): State<AppState>,
    Caller(p): Caller,
    Source(source): Source,
) -> Result<(StatusCode, axum::Json<proto::numbers::NumberProof>), ApiError> {
    let proof = app.proofs.start(&app, &p, source).await?;
    Ok((StatusCode::CREATED, axum::Json(proof)))
}

/// `GET /v1/me/numbers/proofs/{id}` — where a proof of yours stands.
#[utoipa::path(get, path = "/v1/me/numbers/proofs/{id}", tag = "numbers",
    responses((status = 200, body = proto::numbers::NumberProof), (status = 404, body = proto::Problem)))]
pub(crate) async fn get_proof(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::numbers::NumberProof>, ApiError> {
    Ok(axum::Json(app.proofs.get(&app, &p, id).await?))
}

/// `POST /v1/me/numbers/proofs/{id}/complete` — submit what the proof SMS said.
#[utoipa::path(post, path = "/v1/me/numbers/proofs/{id}/complete", tag = "numbers", request_body = proto::numbers::CompleteProof,
    responses((status = 200, body = proto::numbers::ProvenNumber), (status = 400, body = proto::Problem),
              (status = 409, body = proto::Problem), (status = 410, body = proto::Problem)))]
pub(crate) async fn complete_proof(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Json(req): Json<proto::numbers::CompleteProof>,
) -> Result<axum::Json<proto::numbers::ProvenNumber>, ApiError> {
    Ok(axum::Json(app.proofs.complete(&app, &p, id, req).await?))
}

/// `DELETE /v1/me/numbers/{number}` — the device gives up a number.
#[utoipa::path(delete, path = "/v1/me/numbers/{number}", tag = "numbers",
    responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn unbind_number(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(number): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.proofs.unbind(&app, &p, &number).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/devices` — an enrolment account creates a device with no number yet.
#[utoipa::path(post, path = "/v1/devices", tag = "numbers", request_body = proto::numbers::EnrollDevice,
    responses((status = 201, body = proto::admin::CreatedDevice), (status = 429, body = proto::Problem)))]
pub(crate) async fn enroll_device(
    State(app): State<AppState>,
    Caller(p): Caller,
    Source(source): Source,
    Json(req): Json<proto::numbers::EnrollDevice>,
) -> Result<(StatusCode, axum::Json<proto::admin::CreatedDevice>), ApiError> {
    let name = check_name(&req.name)?;
    let created = app.proofs.enroll(&app, &p, source, name).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct InboundSmsQuery {
    /// The gateway account's token, for gateways that cannot send an `Authorization` header.
    token: Option<String>,
    /// The sender's number (Kannel: `%p`).
    from: String,
    /// The receiving number (Kannel: `%P`).
    to: Option<String>,
    /// The SMS text (Kannel: `%a`).
    text: String,
}

/// `GET /v1/sms/inbound` — a gateway (Kannel's `get-url`) forwards a mobile-originated SMS.
/// Accepted SMS get 200 with an empty body: Kannel counts only 200/202 as delivered (and turns no
/// answer into a reply SMS with `max-messages = 0`).
#[utoipa::path(get, path = "/v1/sms/inbound", tag = "sms", params(InboundSmsQuery),
    responses((status = 200, description = "Accepted; the body is empty."), (status = 400, body = proto::Problem), (status = 409, body = proto::Problem), (status = 429, body = proto::Problem)))]
pub(crate) async fn inbound_sms_query(
    State(app): State<AppState>,
    GatewayCaller(p): GatewayCaller,
    Source(source): Source,
    Query(q): Query<InboundSmsQuery>,
) -> Result<StatusCode, ApiError> {
    let _ = q.token;
    let sms = proto::numbers::InboundSms {
        from: q.from,
        to: q.to,
        text: q.text,
    };
    app.proofs.inbound(&app, &p, source, sms).await?;
    Ok(StatusCode::OK)
}

/// `POST /v1/sms/inbound` — the same as JSON, for SMS providers that post.
#[utoipa::path(post, path = "/v1/sms/inbound", tag = "sms", request_body = proto::numbers::InboundSms,
    responses((status = 200, description = "Accepted; the body is empty."), (status = 400, body = proto::Problem), (status = 409, body = proto::Problem), (status = 429, body = proto::Problem)))]
pub(crate) async fn inbound_sms_json(
    State(app): State<AppState>,
    GatewayCaller(p): GatewayCaller,
    Source(source): Source,
    Json(sms): Json<proto::numbers::InboundSms>,
) -> Result<StatusCode, ApiError> {
    app.proofs.inbound(&app, &p, source, sms).await?;
    Ok(StatusCode::OK)
}

/// `GET /v1/connection-data` — STUN/TURN servers with TURN credentials for this principal.
#[utoipa::path(get, path = "/v1/connection-data", tag = "connect",
    responses((status = 200, body = proto::connect::ConnectionData)))]
pub(crate) async fn connection_data(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> axum::Json<proto::connect::ConnectionData> {
    let turn = &app.config.turn;
    let mut ice_servers = Vec::new();
    if !turn.stun_urls.is_empty() {
        ice_servers.push(proto::connect::IceServer {
            urls: turn.stun_urls.clone(),
            username: None,
            credential: None,
        });
    }
    let mut expires_at = None;
    if let (false, Some(secret)) = (turn.urls.is_empty(), &turn.secret) {
        let expires = now_ms() / 1000 + turn.ttl.as_secs() as i64;
        let c = callside_core::relay::turn_credential(secret.as_bytes(), p.id.as_str(), expires);
        expires_at = Some(c.expires * 1000);
        ice_servers.push(proto::connect::IceServer {
            urls: turn.urls.clone(),
            username: Some(c.username),
            credential: Some(c.password),
        });
    }
    axum::Json(proto::connect::ConnectionData {
        ice_servers,
        expires_at,
    })
}

/// `POST /v1/invitations` — ring every device of a number (S2-I/M).
#[utoipa::path(post, path = "/v1/invitations", tag = "invitations", request_body = proto::invitation::CreateInvitation,
    responses((status = 201, body = proto::invitation::Invitation), (status = 404, body = proto::Problem), (status = 429, body = proto::Problem)))]
pub(crate) async fn create_invitation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::invitation::CreateInvitation>,
) -> Result<(StatusCode, axum::Json<proto::invitation::Invitation>), ApiError> {
    let inv = app.invitations.create(&app, &p, req).await?;
    Ok((StatusCode::CREATED, axum::Json(inv)))
}

/// `GET /v1/invitations` — invitations ringing on this device.
#[utoipa::path(get, path = "/v1/invitations", tag = "invitations",
    responses((status = 200, body = proto::invitation::InvitationList)))]
pub(crate) async fn list_invitations(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<proto::invitation::InvitationList>, ApiError> {
    Ok(axum::Json(proto::invitation::InvitationList {
        invitations: app.invitations.ringing(&app, &p.id).await?,
    }))
}

/// `GET /v1/invitations/{id}` — for the inviter and the invitee's devices.
#[utoipa::path(get, path = "/v1/invitations/{id}", tag = "invitations",
    responses((status = 200, body = proto::invitation::Invitation), (status = 404, body = proto::Problem)))]
pub(crate) async fn get_invitation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::invitation::Invitation>, ApiError> {
    Ok(axum::Json(app.invitations.get(&app, &p.id, id).await?))
}

/// `POST /v1/invitations/{id}/accept` — the first device to accept joins the session.
#[utoipa::path(post, path = "/v1/invitations/{id}/accept", tag = "invitations", request_body = proto::invitation::AcceptInvitation,
    responses((status = 200, body = proto::invitation::Invitation), (status = 404, body = proto::Problem),
              (status = 409, body = proto::Problem), (status = 410, body = proto::Problem)))]
pub(crate) async fn accept_invitation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Json(req): Json<proto::invitation::AcceptInvitation>,
) -> Result<axum::Json<proto::invitation::Invitation>, ApiError> {
    Ok(axum::Json(app.invitations.accept(&app, &p, id, req).await?))
}

/// `POST /v1/invitations/{id}/decline` — a device of the invitee declines for all of them.
#[utoipa::path(post, path = "/v1/invitations/{id}/decline", tag = "invitations",
    responses((status = 200, body = proto::invitation::Invitation), (status = 404, body = proto::Problem),
              (status = 409, body = proto::Problem), (status = 410, body = proto::Problem)))]
pub(crate) async fn decline_invitation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::invitation::Invitation>, ApiError> {
    Ok(axum::Json(
        app.invitations.end(&app, &p.id, id, true).await?,
    ))
}

/// `POST /v1/invitations/{id}/cancel` — the inviter withdraws it.
#[utoipa::path(post, path = "/v1/invitations/{id}/cancel", tag = "invitations",
    responses((status = 200, body = proto::invitation::Invitation), (status = 404, body = proto::Problem),
              (status = 409, body = proto::Problem), (status = 410, body = proto::Problem)))]
pub(crate) async fn cancel_invitation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::invitation::Invitation>, ApiError> {
    Ok(axum::Json(
        app.invitations.end(&app, &p.id, id, false).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// At most this many entries, newest first (default 100, at most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// `GET /v1/admin/audit` — the audit log, newest first.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = proto::admin::AuditLog)))]
pub(crate) async fn audit_log(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<axum::Json<proto::admin::AuditLog>, ApiError> {
    caller.require_admin()?;
    let entries = app
        .store
        .audit(match q.limit {
            None => 100,
            given => check_limit(given, 1000)?,
        })
        .await?
        .into_iter()
        .map(|a| proto::admin::AuditEntry {
            at: a.at,
            actor: a.actor.to_string(),
            action: a.action,
            subject: a.subject,
            detail: a.detail,
        })
        .collect();
    Ok(axum::Json(proto::admin::AuditLog { entries }))
}

/// `POST /v1/me/emails` — mail a validation token to an address (S2-E); 202.
#[utoipa::path(post, path = "/v1/me/emails", tag = "emails", request_body = proto::email::AddEmail,
    responses((status = 202, body = proto::email::EmailValidation), (status = 400, body = proto::Problem),
              (status = 429, body = proto::Problem), (status = 503, body = proto::Problem)))]
pub(crate) async fn add_email(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::email::AddEmail>,
) -> Result<(StatusCode, axum::Json<proto::email::EmailValidation>), ApiError> {
    let v = app.emails.start(&app, &p, &req.email).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(v)))
}

/// `GET /v1/me/emails/validations/{id}`.
#[utoipa::path(get, path = "/v1/me/emails/validations/{id}", tag = "emails",
    responses((status = 200, body = proto::email::EmailValidation), (status = 404, body = proto::Problem)))]
pub(crate) async fn get_email_validation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::email::EmailValidation>, ApiError> {
    Ok(axum::Json(app.emails.get(&app, &p.id, id).await?))
}

/// `POST /v1/me/emails/validations/{id}/complete` — the token from the mail.
#[utoipa::path(post, path = "/v1/me/emails/validations/{id}/complete", tag = "emails", request_body = proto::email::CompleteEmail,
    responses((status = 200, body = proto::email::ValidatedEmail), (status = 400, body = proto::Problem),
              (status = 410, body = proto::Problem)))]
pub(crate) async fn complete_email(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Json(req): Json<proto::email::CompleteEmail>,
) -> Result<axum::Json<proto::email::ValidatedEmail>, ApiError> {
    Ok(axum::Json(
        app.emails.complete(&app, &p, id, &req.token).await?,
    ))
}

/// `DELETE /v1/me/emails/{email}`.
#[utoipa::path(delete, path = "/v1/me/emails/{email}", tag = "emails",
    responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn remove_email(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(email): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.emails.remove(&app, &p.id, &email).await?;
    Ok(StatusCode::NO_CONTENT)
}

const VCARD: &str = "text/vcard";
const JCARD: &str = "application/vcard+json";

fn media(headers: &axum::http::HeaderMap, name: axum::http::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn card_response(card: &callside_core::card::Card, accept: &str) -> Response {
    use axum::http::header::CONTENT_TYPE;
    if accept.contains(VCARD) {
        (
            [(CONTENT_TYPE, "text/vcard; charset=utf-8")],
            callside_core::card::vcard::to_vcard(card),
        )
            .into_response()
    } else if accept.contains(JCARD) {
        (
            [(CONTENT_TYPE, JCARD)],
            callside_core::card::vcard::to_jcard(card),
        )
            .into_response()
    } else {
        axum::Json(crate::cards::card_out(card)).into_response()
    }
}

/// `GET /v1/me/card` — this device's card: JSON, or vCard 4.0 (`Accept: text/vcard`) or jCard
/// (`Accept: application/vcard+json`).
#[utoipa::path(get, path = "/v1/me/card", tag = "cards",
    responses((status = 200, body = proto::card::Card, description = "The card (JSON, text/vcard or application/vcard+json by Accept)")))]
pub(crate) async fn get_card(
    State(app): State<AppState>,
    Caller(p): Caller,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let card = app.cards.get(&app, &p).await?;
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok(card_response(&card, &accept))
}

/// `PUT /v1/me/card` — replace the card: JSON (`PutCard`), or import a vCard 4.0 (`text/vcard`)
/// or a jCard (`application/vcard+json`). Unchanged fields keep their versions.
#[utoipa::path(put, path = "/v1/me/card", tag = "cards", request_body = proto::card::PutCard,
    responses((status = 200, body = proto::card::Card), (status = 400, body = proto::Problem)))]
pub(crate) async fn put_card(
    State(app): State<AppState>,
    Caller(p): Caller,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::Json<proto::card::Card>, ApiError> {
    if body.len() > 256 * 1024 {
        return Err(ApiError::TooLarge("a card is at most 256 KiB".into()));
    }
    let text = || {
        std::str::from_utf8(&body)
            .map_err(|_| ApiError::bad("invalid_card", "the body is not UTF-8"))
    };
    let fields = match media(&headers, axum::http::header::CONTENT_TYPE).as_str() {
        VCARD | "text/x-vcard" => callside_core::card::vcard::from_vcard(text()?)
            .map_err(|e| ApiError::bad("invalid_card", e.to_string()))?,
        JCARD => callside_core::card::vcard::from_jcard(text()?)
            .map_err(|e| ApiError::bad("invalid_card", e.to_string()))?,
        _ => {
            let put: proto::card::PutCard = serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad("invalid_json", e.to_string()))?;
            crate::cards::Cards::from_json(put)
        }
    };
    let card = app.cards.put(&app, &p, fields).await?;
    Ok(axum::Json(crate::cards::card_out(&card)))
}

/// `DELETE /v1/me/card` — remove the card (nothing is delivered any more).
#[utoipa::path(delete, path = "/v1/me/card", tag = "cards", responses((status = 204)))]
pub(crate) async fn delete_card(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<StatusCode, ApiError> {
    app.cards.delete(&app, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/me/audiences` — who receives which fields (S3-F16).
#[utoipa::path(get, path = "/v1/me/audiences", tag = "cards", responses((status = 200, body = proto::card::Audiences)))]
pub(crate) async fn get_audiences(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<proto::card::Audiences>, ApiError> {
    Ok(axum::Json(app.cards.audiences(&app, &p).await?))
}

/// `PUT /v1/me/audiences` — replace the audiences (`default_fields` is ignored: it is fixed).
#[utoipa::path(put, path = "/v1/me/audiences", tag = "cards", request_body = proto::card::Audiences,
    responses((status = 200, body = proto::card::Audiences), (status = 400, body = proto::Problem)))]
pub(crate) async fn put_audiences(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::card::Audiences>,
) -> Result<axum::Json<proto::card::Audiences>, ApiError> {
    Ok(axum::Json(app.cards.put_audiences(&app, &p, req).await?))
}

/// `POST /v1/legs/{id}/note` — leave a note or picture after a missed or rejected call.
#[utoipa::path(post, path = "/v1/legs/{id}/note", tag = "calls", request_body = proto::call::PostCallNote,
    responses((status = 201, body = proto::call::CallNote), (status = 400, body = proto::Problem),
              (status = 409, body = proto::Problem)))]
pub(crate) async fn leave_note(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Json(note): Json<proto::call::PostCallNote>,
) -> Result<(StatusCode, axum::Json<proto::call::CallNote>), ApiError> {
    let n = crate::composer::leave_note(&app, &p, LegId(id), note).await?;
    Ok((StatusCode::CREATED, axum::Json(n)))
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
    Ok(axum::Json(
        crate::composer::call_log(&app, &p, limit).await?,
    ))
}

/// `GET /v1/me/card-policy` — how this device receives cards (S3-F17).
#[utoipa::path(get, path = "/v1/me/card-policy", tag = "cards", responses((status = 200, body = proto::card::ReceivePolicy)))]
pub(crate) async fn get_card_policy(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<proto::card::ReceivePolicy>, ApiError> {
    Ok(axum::Json(app.cards.policy(&app, &p).await?))
}

/// `PUT /v1/me/card-policy` — block numbers, accept once, keep to known contacts.
#[utoipa::path(put, path = "/v1/me/card-policy", tag = "cards", request_body = proto::card::ReceivePolicy,
    responses((status = 200, body = proto::card::ReceivePolicy), (status = 400, body = proto::Problem)))]
pub(crate) async fn put_card_policy(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::card::ReceivePolicy>,
) -> Result<axum::Json<proto::card::ReceivePolicy>, ApiError> {
    Ok(axum::Json(app.cards.put_policy(&app, &p, req).await?))
}

/// `POST /v1/me/card/fetch` — replace the card with the vCard or jCard at a URL (S3-F13).
#[utoipa::path(post, path = "/v1/me/card/fetch", tag = "cards", request_body = proto::card::FetchCard,
    responses((status = 200, body = proto::card::Card), (status = 400, body = proto::Problem)))]
pub(crate) async fn fetch_card(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::card::FetchCard>,
) -> Result<axum::Json<proto::card::Card>, ApiError> {
    let card = app.cards.fetch(&app, &p, &req.url).await?;
    Ok(axum::Json(crate::cards::card_out(&card)))
}

/// `POST /v1/passports` — sign caller data (RFC 9795) for a `caller_data` account.
#[utoipa::path(post, path = "/v1/passports", tag = "calls", request_body = proto::rcd::SignCallerData,
    responses((status = 201, body = proto::rcd::Passport), (status = 400, body = proto::Problem)))]
pub(crate) async fn sign_passport(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::rcd::SignCallerData>,
) -> Result<(StatusCode, axum::Json<proto::rcd::Passport>), ApiError> {
    Ok((
        StatusCode::CREATED,
        axum::Json(crate::rcd::sign(&app, &p, req).await?),
    ))
}

/// `PUT /v1/me/card-cache` — which versions of another participant's card this device holds
/// (device-side check, S3-F11); the next delivery sends only what is missing.
#[utoipa::path(put, path = "/v1/me/card-cache", tag = "cards", request_body = proto::card::CardCache,
    responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn put_card_cache(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(cache): Json<proto::card::CardCache>,
) -> Result<StatusCode, ApiError> {
    app.cards.report_cache(&app, &p, cache).await?;
    Ok(StatusCode::NO_CONTENT)
}
