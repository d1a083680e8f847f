//! HTTP handlers: extract, call one service method, map the result. Each names its route.

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::Caller;
use crate::http::extract::Json;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use callside_proto as proto;

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
