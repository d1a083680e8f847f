//! `/v1/admin/components/…`, `/v1/components/…`, `/v1/me/capabilities`, and components on sessions
//! and legs; the wire forms of catalogue entries, capabilities, offers and purchase tokens.

use super::purchase::Claims;
use super::{Error, NewComponent, Offered};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{Caller, Json};
use crate::http::key;
use crate::http::wire::JsonWire;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use callside_core::component::{Capabilities, Component, Fee};
use callside_core::LegId;
use callside_proto as proto;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(_) => ApiError::bad("invalid_component", e),
            Error::NotFound => ApiError::NotFound("component"),
            Error::RateLimited(l) => l.into(),
            Error::AuthorizationUnavailable(_) => {
                ApiError::Disabled("authorization_unavailable", e.to_string())
            }
            Error::NobodyToOffer => ApiError::Conflict("nobody_to_offer", e.to_string()),
            Error::FeeChanged(_) => ApiError::Conflict("fee_changed", e.to_string()),
            Error::AuthorizationRefused(_) => {
                ApiError::Forbidden("authorization_refused", e.to_string())
            }
            Error::SessionClosed(_) => ApiError::Gone("session_closed", e.to_string()),
            Error::AuthorizationNeedsSession(_) => {
                ApiError::Conflict("authorization_needs_session", e.to_string())
            }
            Error::Session(e) => e.into(),
            Error::Store(e) => e.into(),
        }
    }
}

impl super::Wire for JsonWire {
    fn component(&self, c: &Component) -> serde_json::Value {
        serde_json::to_value(component_out(c)).expect("components serialise")
    }

    fn fee(&self, f: &Fee) -> serde_json::Value {
        serde_json::to_value(fee_out(f)).expect("fees serialise")
    }

    fn purchase_claims(&self, p: &Claims<'_>) -> (&'static str, String) {
        let claims = proto::component::PurchaseClaims {
            iss: "callside".into(),
            sub: p.component.id.to_string(),
            ver: p.component.version.clone(),
            aud: p.audience.clone(),
            payer: p.payer.to_string(),
            fee: fee_out(p.fee),
            reference: p.reference.clone(),
            sid: p.sid.clone(),
            jti: p.jti.clone(),
            iat: p.iat,
            exp: p.exp,
        };
        (
            proto::component::PURCHASE_TOKEN_TYPE,
            serde_json::to_string(&claims).expect("claims serialise"),
        )
    }
}

fn offer_out(o: Offered) -> proto::component::ComponentOffer {
    let (offer, seq) = o.offer.unzip();
    proto::component::ComponentOffer {
        state: if o.consent_required {
            "consent_required"
        } else {
            "offered"
        }
        .into(),
        component: component_out(&o.component),
        offer,
        seq,
        installed: o.installed,
        needs_install: o.needs_install,
        fee: o.fee.as_ref().map(fee_out),
        description: o.description,
        reference: o.reference,
    }
}

pub(crate) fn component_out(c: &Component) -> proto::component::Component {
    proto::component::Component {
        id: c.id.to_string(),
        name: c.name.clone(),
        version: c.version.clone(),
        url: c.url.clone(),
        sha256: c.sha256.clone(),
        authorization: c.authorization,
    }
}

pub(crate) fn fee_out(f: &Fee) -> proto::component::Fee {
    proto::component::Fee {
        amount: f.amount.clone(),
        currency: f.currency.clone(),
    }
}

fn capabilities_out(c: &Capabilities) -> proto::component::Capabilities {
    proto::component::Capabilities {
        features: c.features.clone(),
        components: c
            .components
            .iter()
            .map(|(id, v)| proto::component::InstalledComponent {
                id: id.to_string(),
                version: v.clone(),
            })
            .collect(),
    }
}

/// `PUT /v1/admin/components/{id}` — publish or update a catalogue entry (admin).
#[utoipa::path(put, path = "/v1/admin/components/{id}", tag = "components",
    request_body = proto::component::PutComponent,
    responses((status = 200, body = proto::component::Component), (status = 400, body = proto::Problem)))]
pub(crate) async fn put_component(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<proto::component::PutComponent>,
) -> Result<axum::Json<proto::component::Component>, ApiError> {
    caller.require_admin()?;
    let new = NewComponent {
        name: req.name,
        version: req.version,
        url: req.url,
        sha256: req.sha256,
        authorization: req.authorization,
    };
    Ok(axum::Json(component_out(
        &app.components.put(&id, new).await?,
    )))
}

/// `DELETE /v1/admin/components/{id}` — take a component out of the catalogue (admin).
#[utoipa::path(delete, path = "/v1/admin/components/{id}", tag = "components",
    responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn delete_component(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    app.components.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/components` — the catalogue.
#[utoipa::path(get, path = "/v1/components", tag = "components",
    responses((status = 200, body = proto::component::ComponentList)))]
pub(crate) async fn list_components(
    State(app): State<AppState>,
    _caller: Caller,
) -> Result<axum::Json<proto::component::ComponentList>, ApiError> {
    let components = app
        .components
        .list()
        .await?
        .iter()
        .map(component_out)
        .collect();
    Ok(axum::Json(proto::component::ComponentList { components }))
}

/// `GET /v1/components/{id}` — one catalogue entry.
#[utoipa::path(get, path = "/v1/components/{id}", tag = "components",
    responses((status = 200, body = proto::component::Component), (status = 404, body = proto::Problem)))]
pub(crate) async fn get_component(
    State(app): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::component::Component>, ApiError> {
    Ok(axum::Json(component_out(
        &app.components.lookup(&id).await?,
    )))
}

/// `GET /v1/me/capabilities` — what this device declared (empty if nothing).
#[utoipa::path(get, path = "/v1/me/capabilities", tag = "components",
    responses((status = 200, body = proto::component::Capabilities)))]
pub(crate) async fn get_capabilities(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<proto::component::Capabilities>, ApiError> {
    Ok(axum::Json(capabilities_out(
        &app.components.declared(&p.id).await?,
    )))
}

/// `PUT /v1/me/capabilities` — declare features and installed components (replaces).
#[utoipa::path(put, path = "/v1/me/capabilities", tag = "components",
    request_body = proto::component::Capabilities,
    responses((status = 200, body = proto::component::Capabilities), (status = 400, body = proto::Problem)))]
pub(crate) async fn put_capabilities(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::component::Capabilities>,
) -> Result<axum::Json<proto::component::Capabilities>, ApiError> {
    let components = req
        .components
        .into_iter()
        .map(|c| (c.id, c.version))
        .collect();
    let caps = app
        .components
        .declare(&p.id, req.features, components)
        .await?;
    Ok(axum::Json(capabilities_out(&caps)))
}

/// `GET /v1/sessions/{key}/capabilities` — the capability check by registry: what the other
/// participants declared.
#[utoipa::path(get, path = "/v1/sessions/{key}/capabilities", tag = "components",
    responses((status = 200, body = proto::component::SessionCapabilities), (status = 403, body = proto::Problem)))]
pub(crate) async fn session_capabilities(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(k): Path<String>,
) -> Result<axum::Json<proto::component::SessionCapabilities>, ApiError> {
    let participants = app
        .components
        .of_session(&p.id, &key(&k)?)
        .await?
        .into_iter()
        .map(|x| {
            let shown = capabilities_out(&x.capabilities);
            proto::component::ParticipantCapabilities {
                participant: x.participant.to_string(),
                number: x.number,
                declared: x.declared,
                features: shown.features,
                components: shown.components,
            }
        })
        .collect();
    Ok(axum::Json(proto::component::SessionCapabilities {
        participants,
    }))
}

/// `POST /v1/sessions/{key}/components` — offer a catalogue component to the others. A
/// component that needs authorization answers `consent_required` with the fee until the
/// offer repeats with `consent` equal to that fee.
#[utoipa::path(post, path = "/v1/sessions/{key}/components", tag = "components",
    request_body = proto::component::OfferComponent,
    responses((status = 200, body = proto::component::ComponentOffer), (status = 400, body = proto::Problem),
              (status = 403, body = proto::Problem), (status = 404, body = proto::Problem),
              (status = 409, body = proto::Problem), (status = 503, body = proto::Problem)))]
pub(crate) async fn offer_component(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(k): Path<String>,
    Json(req): Json<proto::component::OfferComponent>,
) -> Result<axum::Json<proto::component::ComponentOffer>, ApiError> {
    let k = key(&k)?;
    let components = app.components.clone();
    let consent = req.consent.map(|f| (f.amount, f.currency));
    let offered = app
        .supervisor
        .tasks()
        .spawn_to_end(async move { components.offer(&p, &k, &req.component, consent).await })
        .await
        .map_err(|_| ApiError::Unavailable)??;
    Ok(axum::Json(offer_out(offered)))
}

/// `POST /v1/sessions/{key}/components/{id}/installed` — the installation confirmation:
/// the registry records the version and the session hears `system/component_installed`.
#[utoipa::path(post, path = "/v1/sessions/{key}/components/{id}/installed", tag = "components",
    request_body = proto::component::ConfirmInstalled,
    responses((status = 204), (status = 400, body = proto::Problem), (status = 404, body = proto::Problem)))]
pub(crate) async fn confirm_installed(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path((k, id)): Path<(String, String)>,
    Json(req): Json<proto::component::ConfirmInstalled>,
) -> Result<StatusCode, ApiError> {
    app.components
        .confirm_installed(&p.id, &key(&k)?, &id, req.version)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/legs/{id}/component` — offer a component to the other party of a call only
/// this device reported (S1-F6/F7): their devices are invited into a session that starts
/// with the offer, and a number without devices gets an SMS link when the operator allows.
#[utoipa::path(post, path = "/v1/legs/{id}/component", tag = "components",
    request_body = proto::component::LegComponent,
    responses((status = 201, body = proto::invitation::Invitation), (status = 404, body = proto::Problem),
              (status = 409, body = proto::Problem)))]
pub(crate) async fn leg_component(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    Json(req): Json<proto::component::LegComponent>,
) -> Result<(StatusCode, axum::Json<proto::invitation::Invitation>), ApiError> {
    let rec = app
        .invitations
        .component_for_leg(&p, LegId(id), &req.component)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(crate::invitations::http::invitation(&rec)),
    ))
}
