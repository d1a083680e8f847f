//! `/v1/me/card`, `/v1/me/audiences`, `/v1/me/card-policy`, `/v1/me/card-cache`: cards as JSON,
//! vCard 4.0 or jCard, audiences and receiving policies; the wire form of cards and of the `card`
//! message body.

use super::{AudienceIn, Error};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{Caller, Json};
use crate::http::wire::JsonWire;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use callside_core::card::{self, Card, ContactPolicy, FieldKind, NewField};
use callside_proto as proto;

const VCARD: &str = "text/vcard";
const JCARD: &str = "application/vcard+json";

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::DevicesOnly => ApiError::Forbidden("devices_only", e.to_string()),
            Error::InvalidCard(_) => ApiError::bad("invalid_card", e),
            Error::InvalidCardUrl(_) => ApiError::bad("invalid_card_url", e),
            Error::InvalidAudience(_) => ApiError::bad("invalid_audience", e),
            Error::InvalidPolicy(_) => ApiError::bad("invalid_policy", e),
            Error::InvalidCardCache => ApiError::bad("invalid_card_cache", e),
            Error::NoCardOwner => ApiError::NotFound("card owner"),
            Error::RateLimited(l) => l.into(),
            Error::Session(e) => e.into(),
            Error::Store(e) => e.into(),
        }
    }
}

impl super::Wire for JsonWire {
    fn card_body(&self, fields: &[&card::CardField], name: Option<&str>) -> String {
        let body = proto::card::CardBody {
            fields: fields.iter().map(|f| field_out(f)).collect(),
            display: proto::card::Display {
                replace_number: name.is_some(),
                name: name.map(str::to_owned),
            },
        };
        serde_json::to_string(&body).expect("card bodies serialise")
    }
}

fn audiences_out(list: &[card::Audience]) -> proto::card::Audiences {
    proto::card::Audiences {
        audiences: list
            .iter()
            .map(|a| proto::card::Audience {
                name: a.name.clone(),
                members: a.members.iter().map(|m| m.to_string()).collect(),
                fields: a.fields.iter().copied().map(kind_out).collect(),
            })
            .collect(),
        default_fields: card::DEFAULT_FIELDS.iter().copied().map(kind_out).collect(),
    }
}

fn policy_in(p: proto::card::ContactPolicy) -> ContactPolicy {
    match p {
        proto::card::ContactPolicy::Block => ContactPolicy::Block,
        proto::card::ContactPolicy::Once => ContactPolicy::Once,
        proto::card::ContactPolicy::Always => ContactPolicy::Always,
    }
}

fn policy_out(policy: &card::ReceivePolicy) -> proto::card::ReceivePolicy {
    proto::card::ReceivePolicy {
        known_only: policy.known_only,
        contacts: policy
            .contacts
            .iter()
            .map(|(n, r)| proto::card::ContactRule {
                number: n.to_string(),
                policy: match r {
                    ContactPolicy::Block => proto::card::ContactPolicy::Block,
                    ContactPolicy::Once => proto::card::ContactPolicy::Once,
                    ContactPolicy::Always => proto::card::ContactPolicy::Always,
                },
            })
            .collect(),
    }
}

pub(crate) fn kind_in(k: proto::card::FieldKind) -> FieldKind {
    use proto::card::FieldKind as P;
    match k {
        P::Name => FieldKind::Name,
        P::Photo => FieldKind::Photo,
        P::Organization => FieldKind::Organization,
        P::Title => FieldKind::Title,
        P::Email => FieldKind::Email,
        P::Phone => FieldKind::Phone,
        P::Address => FieldKind::Address,
        P::Birthday => FieldKind::Birthday,
        P::Url => FieldKind::Url,
        P::Social => FieldKind::Social,
        P::Note => FieldKind::Note,
    }
}

pub(crate) fn kind_out(k: FieldKind) -> proto::card::FieldKind {
    use proto::card::FieldKind as P;
    match k {
        FieldKind::Name => P::Name,
        FieldKind::Photo => P::Photo,
        FieldKind::Organization => P::Organization,
        FieldKind::Title => P::Title,
        FieldKind::Email => P::Email,
        FieldKind::Phone => P::Phone,
        FieldKind::Address => P::Address,
        FieldKind::Birthday => P::Birthday,
        FieldKind::Url => P::Url,
        FieldKind::Social => P::Social,
        FieldKind::Note => P::Note,
    }
}

fn field_out(f: &card::CardField) -> proto::card::CardField {
    proto::card::CardField {
        id: f.id.clone(),
        kind: kind_out(f.kind),
        value: match &f.value {
            card::FieldValue::Text(t) => proto::card::FieldValue::Text(t.clone()),
            card::FieldValue::Address(a) => {
                proto::card::FieldValue::Address(proto::card::Address {
                    street: a.street.clone(),
                    locality: a.locality.clone(),
                    region: a.region.clone(),
                    postal_code: a.postal_code.clone(),
                    country: a.country.clone(),
                })
            }
        },
        label: f.label.clone(),
        version: f.version,
        updated_at: f.updated_at,
    }
}

pub(crate) fn card_out(c: &Card) -> proto::card::Card {
    proto::card::Card {
        fields: c.fields.iter().map(field_out).collect(),
    }
}

fn new_field_in(f: proto::card::NewCardField) -> NewField {
    NewField {
        id: f.id,
        kind: kind_in(f.kind),
        value: match f.value {
            proto::card::FieldValue::Text(t) => card::FieldValue::Text(t),
            proto::card::FieldValue::Address(a) => card::FieldValue::Address(card::Address {
                street: a.street,
                locality: a.locality,
                region: a.region,
                postal_code: a.postal_code,
                country: a.country,
            }),
        },
        label: f.label,
    }
}

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
        axum::Json(card_out(card)).into_response()
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
    let card = app.cards.get(&p).await?;
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
            put.fields.into_iter().map(new_field_in).collect()
        }
    };
    let card = app.cards.put(&p, fields).await?;
    Ok(axum::Json(card_out(&card)))
}

/// `DELETE /v1/me/card` — remove the card (nothing is delivered any more).
#[utoipa::path(delete, path = "/v1/me/card", tag = "cards", responses((status = 204)))]
pub(crate) async fn delete_card(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<StatusCode, ApiError> {
    app.cards.delete(&p).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/me/audiences` — who receives which fields (S3-F16).
#[utoipa::path(get, path = "/v1/me/audiences", tag = "cards", responses((status = 200, body = proto::card::Audiences)))]
pub(crate) async fn get_audiences(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<proto::card::Audiences>, ApiError> {
    Ok(axum::Json(audiences_out(&app.cards.audiences(&p).await?)))
}

/// `PUT /v1/me/audiences` — replace the audiences (`default_fields` is ignored: it is fixed).
#[utoipa::path(put, path = "/v1/me/audiences", tag = "cards", request_body = proto::card::Audiences,
    responses((status = 200, body = proto::card::Audiences), (status = 400, body = proto::Problem)))]
pub(crate) async fn put_audiences(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::card::Audiences>,
) -> Result<axum::Json<proto::card::Audiences>, ApiError> {
    let audiences = req
        .audiences
        .into_iter()
        .map(|a| AudienceIn {
            name: a.name,
            members: a.members,
            fields: a.fields.into_iter().map(kind_in).collect(),
        })
        .collect();
    Ok(axum::Json(audiences_out(
        &app.cards.put_audiences(&p, audiences).await?,
    )))
}

/// `GET /v1/me/card-policy` — how this device receives cards (S3-F17).
#[utoipa::path(get, path = "/v1/me/card-policy", tag = "cards", responses((status = 200, body = proto::card::ReceivePolicy)))]
pub(crate) async fn get_card_policy(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<proto::card::ReceivePolicy>, ApiError> {
    Ok(axum::Json(policy_out(&app.cards.policy(&p).await?)))
}

/// `PUT /v1/me/card-policy` — block numbers, accept once, keep to known contacts.
#[utoipa::path(put, path = "/v1/me/card-policy", tag = "cards", request_body = proto::card::ReceivePolicy,
    responses((status = 200, body = proto::card::ReceivePolicy), (status = 400, body = proto::Problem)))]
pub(crate) async fn put_card_policy(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::card::ReceivePolicy>,
) -> Result<axum::Json<proto::card::ReceivePolicy>, ApiError> {
    let rules = req
        .contacts
        .into_iter()
        .map(|c| (c.number, policy_in(c.policy)))
        .collect();
    Ok(axum::Json(policy_out(
        &app.cards.put_policy(&p, req.known_only, rules).await?,
    )))
}

/// `POST /v1/me/card/fetch` — replace the card with the vCard or jCard at a URL (S3-F13).
#[utoipa::path(post, path = "/v1/me/card/fetch", tag = "cards", request_body = proto::card::FetchCard,
    responses((status = 200, body = proto::card::Card), (status = 400, body = proto::Problem)))]
pub(crate) async fn fetch_card(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::card::FetchCard>,
) -> Result<axum::Json<proto::card::Card>, ApiError> {
    let card = app.cards.fetch(&p, &req.url).await?;
    Ok(axum::Json(card_out(&card)))
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
    let has = cache.fields.into_iter().collect();
    app.cards.report_cache(&p, cache.sender, has).await?;
    Ok(StatusCode::NO_CONTENT)
}
