//! `/v1/invitations/…`: invitations, accepting, declining and cancelling them; the wire form of
//! invitations and of the connection data they carry.

use super::{Connection, Error, NewInvitation};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{Caller, Json};
use crate::http::wire::{frame_json, JsonWire};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use callside_proto as proto;
use callside_store::InvitationRecord;
use std::sync::Arc;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::MayNotInvite => ApiError::Forbidden("may_not_invite", e.to_string()),
            Error::InvalidConnection => ApiError::bad("invalid_connection", e),
            Error::InvalidEmail(_) => ApiError::bad("invalid_email", e),
            Error::InvalidNumber(n) => n.into(),
            Error::NotYourNumber(_) => ApiError::Forbidden("not_your_number", e.to_string()),
            Error::NotRegistered(why) => ApiError::Absent("not_registered", why),
            Error::RateLimited(l) => l.into(),
            Error::NotFound => ApiError::NotFound("invitation"),
            Error::Invitation(e) => e.into(),
            Error::CallSettled => ApiError::Conflict("call_settled", e.to_string()),
            Error::LegSettled => ApiError::Conflict("leg_settled", e.to_string()),
            Error::LegNotFound => ApiError::NotFound("leg"),
            Error::CallNotAnswered(why) => ApiError::Conflict("call_not_answered", why),
            Error::Component(e) => e.into(),
            Error::Session(e) => e.into(),
            Error::Store(e) => e.into(),
        }
    }
}

impl super::Wire for JsonWire {
    fn invitation_frame(&self, rec: &InvitationRecord) -> Arc<str> {
        frame_json(&proto::ws::ServerFrame::Invitation(invitation(rec)))
    }

    fn connection(&self, stored: &str) -> Option<Connection> {
        serde_json::from_str::<proto::connect::ConnectionOffer>(stored)
            .ok()
            .map(|o| connection(&o))
    }
}

/// Connection data as the service reads it, with the whole of it as stored.
fn connection(o: &proto::connect::ConnectionOffer) -> Connection {
    Connection {
        nat: nat_in(o.nat),
        retry: o.retry,
        failures: o.failures,
        candidates: o.candidates.len(),
        longest_candidate: o.candidates.iter().map(String::len).max().unwrap_or(0),
        json: serde_json::to_string(o).expect("connection data serialises"),
    }
}

pub(crate) fn nat_in(n: proto::connect::NatType) -> callside_core::relay::NatType {
    use callside_core::relay::NatType as C;
    use proto::connect::NatType as P;
    match n {
        P::Open => C::Open,
        P::FullCone => C::FullCone,
        P::RestrictedCone => C::RestrictedCone,
        P::PortRestrictedCone => C::PortRestrictedCone,
        P::Symmetric => C::Symmetric,
        P::Unknown => C::Unknown,
    }
}

pub(crate) fn invitation(r: &callside_store::InvitationRecord) -> proto::invitation::Invitation {
    use callside_core::invitation::InvitationState as S;
    use proto::invitation::InvitationState as P;
    let i = &r.invitation;
    let parse = |s: &Option<String>| s.as_deref().and_then(|s| serde_json::from_str(s).ok());
    proto::invitation::Invitation {
        id: i.id.clone(),
        state: match i.state {
            S::Pending => P::Pending,
            S::Accepted => P::Accepted,
            S::Declined => P::Declined,
            S::Cancelled => P::Cancelled,
            S::Expired => P::Expired,
        },
        inviter: i.inviter.to_string(),
        inviter_name: r.inviter_name.clone(),
        from: i.from.as_ref().map(|n| n.to_string()),
        to: i.invitee.to_string(),
        devices: i.devices.len() as u32,
        call: i.leg.is_some(),
        session: i.session.as_ref().map(|k| k.to_string()),
        answered_by: i.answered_by.as_ref().map(|p| p.to_string()),
        offer: parse(&r.offer),
        answer: parse(&r.answer),
        path: match r.path.as_deref() {
            Some("direct") => Some(proto::connect::Path::Direct),
            Some("relay") => Some(proto::connect::Path::Relay),
            _ => None,
        },
        component: r.component.clone(),
        created_at: i.created_at,
        expires_at: i.expires_at,
    }
}

/// `POST /v1/invitations` — ring every device of a number (S2-I/M).
#[utoipa::path(post, path = "/v1/invitations", tag = "invitations", request_body = proto::invitation::CreateInvitation,
    responses((status = 201, body = proto::invitation::Invitation), (status = 404, body = proto::Problem), (status = 429, body = proto::Problem)))]
pub(crate) async fn create_invitation(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::invitation::CreateInvitation>,
) -> Result<(StatusCode, axum::Json<proto::invitation::Invitation>), ApiError> {
    let new = NewInvitation {
        to: req.to,
        from: req.from,
        session: req.session,
        connection: req.connection.as_ref().map(connection),
        component: req.component,
    };
    let rec = app.invitations.create(&p, new).await?;
    Ok((StatusCode::CREATED, axum::Json(invitation(&rec))))
}

/// `GET /v1/invitations` — invitations ringing on this device.
#[utoipa::path(get, path = "/v1/invitations", tag = "invitations",
    responses((status = 200, body = proto::invitation::InvitationList)))]
pub(crate) async fn list_invitations(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<proto::invitation::InvitationList>, ApiError> {
    Ok(axum::Json(proto::invitation::InvitationList {
        invitations: app
            .invitations
            .ringing(&p.id)
            .await?
            .iter()
            .map(invitation)
            .collect(),
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
    Ok(axum::Json(invitation(
        &app.invitations.get(&p.id, id).await?,
    )))
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
    let connection = req.connection.as_ref().map(connection);
    let rec = app.invitations.accept(&p, id, connection).await?;
    Ok(axum::Json(invitation(&rec)))
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
    Ok(axum::Json(invitation(
        &app.invitations.end(&p.id, id, true).await?,
    )))
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
    Ok(axum::Json(invitation(
        &app.invitations.end(&p.id, id, false).await?,
    )))
}
