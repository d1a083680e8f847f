//! HTTP handlers: extract, call one service method, map the result. Each names its route.

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::Caller;
use crate::http::extract::{Json, Query};
use crate::http::{check_limit, wait, WaitQuery};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use callside_core::LegId;
use callside_proto as proto;
use serde::Deserialize;

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
