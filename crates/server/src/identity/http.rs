//! `/v1/me`, `/v1/me/token`, number proofs (`/v1/me/numbers/…`, `/v1/sms/inbound`, `/v1/devices`)
//! and email identities (`/v1/me/emails/…`); the wire forms of principals, proofs and validations;
//! and the texts, mails and frames the identity services write.

use super::browsers;
use super::emails;
use super::proofs::{self, InboundSms, Submission};
use super::{auth::AuthError, Error};
use crate::app::AppState;
use crate::clock::now_ms;
use crate::http::error::ApiError;
use crate::http::extract::{Caller, Credential, GatewayCaller, Json, Owner, Query, Source};
use crate::http::wire::{frame_json, scope_out, JsonWire};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use callside_core::principal::{Principal, PrincipalKind};
use callside_core::{Millis, PhoneNumber};
use callside_proto as proto;
use callside_proto::email::{
    EmailValidationState, TOKEN_PREFIX, VALIDATION_HEADER, VALIDATION_SUBJECT,
};
use callside_proto::numbers::{MoRequest, MtProof};
use callside_store::{EmailValidationRecord, PrincipalRecord, ProofRecord};
use serde::Deserialize;
use std::sync::Arc;

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing => ApiError::Unauthenticated,
            AuthError::Malformed => ApiError::Unauthorized("malformed_token", e.to_string()),
            AuthError::Unknown => ApiError::Unauthorized("unknown_token", e.to_string()),
            AuthError::Revoked(_) => ApiError::Unauthorized("token_revoked", e.to_string()),
            AuthError::TokenExpired(_) => ApiError::Unauthorized("token_expired", e.to_string()),
            AuthError::Expired => ApiError::Unauthorized("token_expired", e.to_string()),
            AuthError::Store(e) => e.into(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidName => ApiError::bad("invalid_name", e),
            Error::AdminTokenFile => ApiError::Forbidden("admin_token_file", e.to_string()),
            Error::DevicesOnly => ApiError::Forbidden("devices_only", e.to_string()),
            Error::InvalidNear => ApiError::bad("invalid_near", e),
            Error::Store(e) => e.into(),
        }
    }
}

impl From<proofs::Error> for ApiError {
    fn from(e: proofs::Error) -> Self {
        use proofs::Error as E;
        match e {
            E::DevicesOnly | E::DevicesOwnNumbers => {
                ApiError::Forbidden("devices_only", e.to_string())
            }
            E::SmsNotConfigured => ApiError::Disabled("sms_not_configured", e.to_string()),
            E::RateLimited(l) => l.into(),
            E::NotFound => ApiError::NotFound("number proof"),
            E::UnknownCode => {
                ApiError::NotFound("number proof (the code is unknown, used or expired)")
            }
            E::NotSmsGateway => ApiError::Forbidden("not_sms_gateway", e.to_string()),
            E::SourceNotAllowed => ApiError::Forbidden("source_not_allowed", e.to_string()),
            E::NotRegistration(_) => ApiError::bad("not_registration", e),
            E::InvalidNumber(n) => n.into(),
            E::SenderOutOfRange(_) => ApiError::Forbidden("sender_out_of_range", e.to_string()),
            E::Claimed => ApiError::Conflict("proof_claimed", e.to_string()),
            E::Expired => ApiError::Gone("proof_expired", e.to_string()),
            E::SmsNotReceived => ApiError::Conflict("sms_not_received", e.to_string()),
            E::Used => ApiError::Gone("proof_used", e.to_string()),
            E::Failed => ApiError::Gone("proof_failed", e.to_string()),
            E::WrongSignature(_) => ApiError::bad("wrong_signature", e),
            E::NotYourNumber => ApiError::NotFound("number of this device"),
            E::NotEnrollment => ApiError::Forbidden("not_enrollment", e.to_string()),
            E::Name(e) => e.into(),
            E::Inconsistent(_) => ApiError::Internal(e.to_string()),
            E::Store(e) => e.into(),
        }
    }
}

impl From<emails::Error> for ApiError {
    fn from(e: emails::Error) -> Self {
        use emails::Error as E;
        match e {
            E::DevicesOnly => ApiError::Forbidden("devices_only", e.to_string()),
            E::InvalidEmail(_) => ApiError::bad("invalid_email", e),
            E::NotConfigured => ApiError::Disabled("mail_not_configured", e.to_string()),
            E::RateLimited(l) => l.into(),
            E::Refused => ApiError::bad("mail_refused", e),
            E::MailFailed => ApiError::Disabled("mail_failed", e.to_string()),
            E::Build(_) => ApiError::Internal(e.to_string()),
            E::NotFound => ApiError::NotFound("email validation"),
            E::Used => ApiError::Gone("validation_used", e.to_string()),
            E::Failed => ApiError::Gone("validation_failed", e.to_string()),
            E::Expired => ApiError::Gone("validation_expired", e.to_string()),
            E::WrongToken(_) => ApiError::bad("wrong_token", e),
            E::NotYourAddress => ApiError::NotFound("email address of this device"),
            E::Store(e) => e.into(),
        }
    }
}

impl super::Wire for JsonWire {
    fn revoked_frame(&self, why: &str) -> Arc<str> {
        frame_json(&proto::ws::ServerFrame::Error {
            code: "token_revoked".into(),
            detail: why.into(),
            id: None,
            session: None,
        })
    }
}

impl proofs::Wire for JsonWire {
    fn proof_sms(&self, number: &PhoneNumber, signature: &str) -> String {
        MtProof {
            number: number.as_str().to_owned(),
            signature: signature.to_owned(),
        }
        .text()
    }
}

impl emails::Wire for JsonWire {
    fn validation_mail(&self) -> (&'static str, &'static str, &'static str) {
        (VALIDATION_SUBJECT, VALIDATION_HEADER, TOKEN_PREFIX)
    }
}

/// A forwarded SMS as the proof service reads it.
fn inbound(sms: proto::numbers::InboundSms) -> InboundSms {
    InboundSms {
        from: sms.from,
        registration: MoRequest::parse(&sms.text)
            .map(|mo| (mo.device, mo.code))
            .map_err(|e| e.to_string()),
    }
}

pub(crate) fn me_of(p: &Principal) -> proto::admin::Me {
    let (kind, numbers, scopes, ranges) = match &p.kind {
        PrincipalKind::Device { numbers } => (
            proto::admin::PrincipalKind::Device,
            numbers.iter().map(|n| n.to_string()).collect(),
            vec![],
            vec![],
        ),
        PrincipalKind::Service { scopes, ranges } => (
            proto::admin::PrincipalKind::Service,
            vec![],
            scopes.iter().copied().map(scope_out).collect(),
            ranges.iter().map(|r| r.to_string()).collect(),
        ),
        PrincipalKind::Admin => (proto::admin::PrincipalKind::Admin, vec![], vec![], vec![]),
    };
    proto::admin::Me {
        id: p.id.0.clone(),
        kind,
        name: p.name.clone(),
        numbers,
        emails: Vec::new(),
        scopes,
        ranges,
    }
}

/// A device as the API shows it (`None` for other principals).
pub(crate) fn device(r: &PrincipalRecord) -> Option<proto::admin::Device> {
    match &r.principal.kind {
        PrincipalKind::Device { numbers } => Some(proto::admin::Device {
            id: r.principal.id.0.clone(),
            name: r.principal.name.clone(),
            numbers: numbers.iter().map(|n| n.to_string()).collect(),
            created_at: r.created_at,
        }),
        _ => None,
    }
}

fn proof(r: &ProofRecord, sms_to: &PhoneNumber, now: Millis) -> proto::numbers::NumberProof {
    use callside_core::proof::ProofState as S;
    use proto::numbers::ProofState as P;
    let state = match r.state {
        S::Proven => P::Proven,
        S::Failed => P::Failed,
        _ if r.expires_at <= now => P::Expired,
        S::AwaitingSms => P::AwaitingSms,
        S::SmsSent => P::SmsSent,
    };
    proto::numbers::NumberProof {
        id: r.id.clone(),
        state,
        sms_to: sms_to.as_str().to_owned(),
        sms_body: None,
        code: None,
        number: r.number.as_ref().map(|n| n.as_str().to_owned()),
        expires_at: r.expires_at,
    }
}

fn validation(r: &EmailValidationRecord, from: &str, now: Millis) -> proto::email::EmailValidation {
    let state = match r.state.as_str() {
        "validated" => EmailValidationState::Validated,
        "failed" => EmailValidationState::Failed,
        _ if r.expires_at <= now => EmailValidationState::Expired,
        _ => EmailValidationState::Sent,
    };
    proto::email::EmailValidation {
        id: r.id.clone(),
        email: r.email.to_string(),
        state,
        from: from.to_owned(),
        subject: VALIDATION_SUBJECT.into(),
        expires_at: r.expires_at,
    }
}

/// `GET /v1/me` — who the token belongs to.
#[utoipa::path(get, path = "/v1/me", tag = "identity", responses((status = 200, body = proto::admin::Me)))]
pub(crate) async fn me(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<proto::admin::Me>, ApiError> {
    let mut me = me_of(&p);
    me.emails = app
        .identity
        .emails(&p)
        .await?
        .iter()
        .map(|e| e.to_string())
        .collect();
    Ok(axum::Json(me))
}

/// `POST /v1/me/token` — replace the calling device's or account's own token.
#[utoipa::path(post, path = "/v1/me/token", tag = "identity", responses((status = 200, body = proto::admin::RotatedToken)))]
pub(crate) async fn rotate_own_token(
    State(app): State<AppState>,
    Owner(p): Owner,
) -> Result<axum::Json<proto::admin::RotatedToken>, ApiError> {
    let token = app.identity.rotate_own(&p).await?;
    Ok(axum::Json(proto::admin::RotatedToken {
        token: token.expose().to_owned(),
    }))
}

/// `POST /v1/me/numbers/proofs` — start proving a number by SMS (S2-R).
#[utoipa::path(post, path = "/v1/me/numbers/proofs", tag = "numbers",
    responses((status = 201, body = proto::numbers::NumberProof), (status = 429, body = proto::Problem), (status = 503, body = proto::Problem)))]
pub(crate) async fn start_proof(
    State(app): State<AppState>,
    Owner(p): Owner,
    Source(source): Source,
) -> Result<(StatusCode, axum::Json<proto::numbers::NumberProof>), ApiError> {
    let started = app.proofs.start(&p, source).await?;
    let mut view = proof(&started.proof, &started.sms_to, now_ms());
    view.sms_body = Some(
        MoRequest {
            device: p.id.to_string(),
            code: started.code.clone(),
        }
        .text(),
    );
    view.code = Some(started.code);
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// `GET /v1/me/numbers/proofs/{id}` — where a proof of yours stands.
#[utoipa::path(get, path = "/v1/me/numbers/proofs/{id}", tag = "numbers",
    responses((status = 200, body = proto::numbers::NumberProof), (status = 404, body = proto::Problem)))]
pub(crate) async fn get_proof(
    State(app): State<AppState>,
    Owner(p): Owner,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::numbers::NumberProof>, ApiError> {
    let rec = app.proofs.get(&p, id).await?;
    Ok(axum::Json(proof(&rec, &app.proofs.sms_to(), now_ms())))
}

/// `POST /v1/me/numbers/proofs/{id}/complete` — submit what the proof SMS said.
#[utoipa::path(post, path = "/v1/me/numbers/proofs/{id}/complete", tag = "numbers", request_body = proto::numbers::CompleteProof,
    responses((status = 200, body = proto::numbers::ProvenNumber), (status = 400, body = proto::Problem),
              (status = 409, body = proto::Problem), (status = 410, body = proto::Problem)))]
pub(crate) async fn complete_proof(
    State(app): State<AppState>,
    Owner(p): Owner,
    Path(id): Path<String>,
    Json(req): Json<proto::numbers::CompleteProof>,
) -> Result<axum::Json<proto::numbers::ProvenNumber>, ApiError> {
    let submission = Submission {
        code: req.code,
        number: req.number,
        signature: req.signature,
    };
    let (number, replaced) = app.proofs.complete(&p, id, submission).await?;
    Ok(axum::Json(proto::numbers::ProvenNumber {
        number: number.as_str().to_owned(),
        replaced,
    }))
}

/// `DELETE /v1/me/numbers/{number}` — the device gives up a number.
#[utoipa::path(delete, path = "/v1/me/numbers/{number}", tag = "numbers",
    responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn unbind_number(
    State(app): State<AppState>,
    Owner(p): Owner,
    Path(number): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.proofs.unbind(&p, &number).await?;
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
    let (rec, token) = app.proofs.enroll(&p, source, &req.name).await?;
    let created = proto::admin::CreatedDevice {
        device: device(&rec).expect("a device"),
        token: token.expose().to_owned(),
    };
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
    app.proofs.inbound(&p, source, inbound(sms)).await?;
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
    app.proofs.inbound(&p, source, inbound(sms)).await?;
    Ok(StatusCode::OK)
}

/// `POST /v1/me/emails` — mail a validation token to an address (S2-E); 202.
#[utoipa::path(post, path = "/v1/me/emails", tag = "emails", request_body = proto::email::AddEmail,
    responses((status = 202, body = proto::email::EmailValidation), (status = 400, body = proto::Problem),
              (status = 429, body = proto::Problem), (status = 503, body = proto::Problem)))]
pub(crate) async fn add_email(
    State(app): State<AppState>,
    Owner(p): Owner,
    Json(req): Json<proto::email::AddEmail>,
) -> Result<(StatusCode, axum::Json<proto::email::EmailValidation>), ApiError> {
    let rec = app.emails.start(&p, &req.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(validation(&rec, app.emails.sender(), now_ms())),
    ))
}

/// `GET /v1/me/emails/validations/{id}`.
#[utoipa::path(get, path = "/v1/me/emails/validations/{id}", tag = "emails",
    responses((status = 200, body = proto::email::EmailValidation), (status = 404, body = proto::Problem)))]
pub(crate) async fn get_email_validation(
    State(app): State<AppState>,
    Owner(p): Owner,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::email::EmailValidation>, ApiError> {
    let rec = app.emails.get(&p.id, id).await?;
    Ok(axum::Json(validation(&rec, app.emails.sender(), now_ms())))
}

/// `POST /v1/me/emails/validations/{id}/complete` — the token from the mail.
#[utoipa::path(post, path = "/v1/me/emails/validations/{id}/complete", tag = "emails", request_body = proto::email::CompleteEmail,
    responses((status = 200, body = proto::email::ValidatedEmail), (status = 400, body = proto::Problem),
              (status = 410, body = proto::Problem)))]
pub(crate) async fn complete_email(
    State(app): State<AppState>,
    Owner(p): Owner,
    Path(id): Path<String>,
    Json(req): Json<proto::email::CompleteEmail>,
) -> Result<axum::Json<proto::email::ValidatedEmail>, ApiError> {
    let email = app.emails.complete(&p, id, &req.token).await?;
    Ok(axum::Json(proto::email::ValidatedEmail {
        email: email.to_string(),
    }))
}

/// `DELETE /v1/me/emails/{email}`.
#[utoipa::path(delete, path = "/v1/me/emails/{email}", tag = "emails",
    responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn remove_email(
    State(app): State<AppState>,
    Owner(p): Owner,
    Path(email): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.emails.remove(&p.id, &email).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn coupling_out(
    (mode, near_until): (callside_core::principal::Coupling, callside_core::Millis),
) -> proto::admin::CouplingState {
    use callside_core::principal::Coupling;
    proto::admin::CouplingState {
        mode: match mode {
            Coupling::Always => proto::admin::Coupling::Always,
            Coupling::WhenNear => proto::admin::Coupling::WhenNear,
            Coupling::Never => proto::admin::Coupling::Never,
        },
        near_until: (near_until > 0).then_some(near_until),
    }
}

/// `GET /v1/me/coupling` — how this device is coupled to its numbers' phone line (S1-F0).
#[utoipa::path(get, path = "/v1/me/coupling", tag = "identity",
    responses((status = 200, body = proto::admin::CouplingState), (status = 403, body = proto::Problem)))]
pub(crate) async fn get_coupling(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<proto::admin::CouplingState>, ApiError> {
    Ok(axum::Json(coupling_out(app.identity.coupling(&p).await?)))
}

/// `PUT /v1/me/coupling` — whether this device gets the sessions of calls the network reports
/// for its numbers: `always`, `when_near` (only while it says it is near), or `never`.
#[utoipa::path(put, path = "/v1/me/coupling", tag = "identity", request_body = proto::admin::SetCoupling,
    responses((status = 200, body = proto::admin::CouplingState), (status = 400, body = proto::Problem),
              (status = 403, body = proto::Problem)))]
pub(crate) async fn put_coupling(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::admin::SetCoupling>,
) -> Result<axum::Json<proto::admin::CouplingState>, ApiError> {
    use callside_core::principal::Coupling;
    let mode = match req.mode {
        proto::admin::Coupling::Always => Coupling::Always,
        proto::admin::Coupling::WhenNear => Coupling::WhenNear,
        proto::admin::Coupling::Never => Coupling::Never,
    };
    Ok(axum::Json(coupling_out(
        app.identity.set_coupling(&p, mode).await?,
    )))
}

/// `POST /v1/me/near` — this device is near its phone for the next `secs` seconds (0: it left).
#[utoipa::path(post, path = "/v1/me/near", tag = "identity", request_body = proto::admin::Near,
    responses((status = 200, body = proto::admin::CouplingState), (status = 400, body = proto::Problem),
              (status = 403, body = proto::Problem)))]
pub(crate) async fn post_near(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(req): Json<proto::admin::Near>,
) -> Result<axum::Json<proto::admin::CouplingState>, ApiError> {
    Ok(axum::Json(coupling_out(
        app.identity.near(&p, req.secs).await?,
    )))
}

impl From<browsers::Error> for ApiError {
    fn from(e: browsers::Error) -> Self {
        use browsers::Error as E;
        match e {
            E::DevicesOnly => ApiError::Forbidden("devices_only", e.to_string()),
            E::InvalidCode => ApiError::Unauthorized("invalid_link_code", e.to_string()),
            E::InvalidRefresh => ApiError::Unauthorized("invalid_refresh_token", e.to_string()),
            E::RefreshReused => ApiError::Unauthorized("refresh_token_reused", e.to_string()),
            E::InvalidName => ApiError::bad("invalid_name", e),
            E::RateLimited(l) => l.into(),
            E::Store(e) => e.into(),
        }
    }
}

fn browser_out(b: &callside_store::BrowserRecord) -> proto::browser::Browser {
    proto::browser::Browser {
        id: b.id.clone(),
        device: b.device.to_string(),
        name: b.name.clone(),
        created_at: b.created_at,
        refreshed_at: b.refreshed_at,
        refresh_expires_at: b.refresh_expires_at,
    }
}

fn tokens_out(l: &browsers::Linked) -> proto::browser::BrowserTokens {
    proto::browser::BrowserTokens {
        browser: browser_out(&l.browser),
        access_token: l.access.expose().to_owned(),
        access_expires_at: l.browser.access_expires_at,
        refresh_token: l.refresh.expose().to_owned(),
        refresh_expires_at: l.browser.refresh_expires_at,
    }
}

/// `POST /v1/me/browser-links` — a one-time code that links a browser to this device.
#[utoipa::path(post, path = "/v1/me/browser-links", tag = "browsers",
    responses((status = 201, body = proto::browser::BrowserLinkCode), (status = 403, body = proto::Problem), (status = 429, body = proto::Problem)))]
pub(crate) async fn create_browser_link(
    State(app): State<AppState>,
    Owner(p): Owner,
) -> Result<(StatusCode, axum::Json<proto::browser::BrowserLinkCode>), ApiError> {
    let (code, expires_at) = app.browsers.create_link(&p, now_ms()).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(proto::browser::BrowserLinkCode { code, expires_at }),
    ))
}

/// `POST /v1/admin/devices/{id}/browser-links` — the operator's site, having signed its user in,
/// gets a one-time code that links the user's browser to the user's device.
#[utoipa::path(post, path = "/v1/admin/devices/{id}/browser-links", tag = "browsers",
    responses((status = 201, body = proto::browser::BrowserLinkCode), (status = 403, body = proto::Problem), (status = 404, body = proto::Problem), (status = 429, body = proto::Problem)))]
pub(crate) async fn admin_browser_link(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, axum::Json<proto::browser::BrowserLinkCode>), ApiError> {
    caller.require_admin()?;
    let id = callside_core::PrincipalId(id);
    let (code, expires_at) = app
        .browsers
        .create_link_for(&id, now_ms())
        .await?
        .ok_or(ApiError::NotFound("device"))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(proto::browser::BrowserLinkCode { code, expires_at }),
    ))
}

/// `POST /v1/browser/link` — a browser exchanges a link code for its tokens (no bearer token:
/// the code is the credential).
#[utoipa::path(post, path = "/v1/browser/link", tag = "browsers", request_body = proto::browser::LinkBrowser,
    security(()),
    responses((status = 201, body = proto::browser::BrowserTokens), (status = 401, body = proto::Problem), (status = 429, body = proto::Problem)))]
pub(crate) async fn link_browser(
    State(app): State<AppState>,
    Source(source): Source,
    Json(body): Json<proto::browser::LinkBrowser>,
) -> Result<(StatusCode, axum::Json<proto::browser::BrowserTokens>), ApiError> {
    let linked = app
        .browsers
        .link(&body.code, body.name.as_deref(), source, now_ms())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(tokens_out(&linked))))
}

/// `POST /v1/browser/refresh` — new tokens for a browser's refresh token (no bearer token).
#[utoipa::path(post, path = "/v1/browser/refresh", tag = "browsers", request_body = proto::browser::RefreshBrowser,
    security(()),
    responses((status = 200, body = proto::browser::BrowserTokens), (status = 401, body = proto::Problem), (status = 429, body = proto::Problem)))]
pub(crate) async fn refresh_browser(
    State(app): State<AppState>,
    Source(source): Source,
    Json(body): Json<proto::browser::RefreshBrowser>,
) -> Result<axum::Json<proto::browser::BrowserTokens>, ApiError> {
    let linked = app
        .browsers
        .refresh(&body.refresh_token, source, now_ms())
        .await?;
    Ok(axum::Json(tokens_out(&linked)))
}

/// `DELETE /v1/browser` — a browser unlinks itself (signs out).
#[utoipa::path(delete, path = "/v1/browser", tag = "browsers",
    responses((status = 204), (status = 400, body = proto::Problem)))]
pub(crate) async fn sign_out_browser(
    State(app): State<AppState>,
    Credential(who): Credential,
) -> Result<StatusCode, ApiError> {
    let Some(browser) = &who.browser else {
        return Err(ApiError::bad(
            "not_a_browser",
            "only a browser's token signs a browser out",
        ));
    };
    app.browsers.unlink(&who.principal, browser).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/me/browsers` — the browsers linked to this device.
#[utoipa::path(get, path = "/v1/me/browsers", tag = "browsers",
    responses((status = 200, body = proto::browser::BrowserList), (status = 403, body = proto::Problem)))]
pub(crate) async fn list_browsers(
    State(app): State<AppState>,
    Owner(p): Owner,
) -> Result<axum::Json<proto::browser::BrowserList>, ApiError> {
    let browsers = app.browsers.list(&p).await?;
    Ok(axum::Json(proto::browser::BrowserList {
        browsers: browsers.iter().map(browser_out).collect(),
    }))
}

/// `DELETE /v1/me/browsers/{id}` — unlink one of this device's browsers: its tokens stop
/// working and its sockets close.
#[utoipa::path(delete, path = "/v1/me/browsers/{id}", tag = "browsers",
    responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn unlink_browser(
    State(app): State<AppState>,
    Owner(p): Owner,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if app.browsers.unlink(&p, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("browser"))
    }
}

/// `POST /v1/ws/tickets` — a single-use ticket to open `GET /v1/ws?ticket=…` within 30 s, for
/// clients that cannot set an `Authorization` header on a WebSocket (browsers).
#[utoipa::path(post, path = "/v1/ws/tickets", tag = "sessions",
    responses((status = 201, body = proto::browser::WsTicket), (status = 403, body = proto::Problem)))]
pub(crate) async fn ws_ticket(
    State(app): State<AppState>,
    Credential(who): Credential,
) -> Result<(StatusCode, axum::Json<proto::browser::WsTicket>), ApiError> {
    if who.principal.is_admin() {
        return Err(ApiError::Forbidden(
            "admin_only",
            "the admin token has no sessions".into(),
        ));
    }
    let (ticket, expires_at) = app.browsers.ticket(who, now_ms());
    Ok((
        StatusCode::CREATED,
        axum::Json(proto::browser::WsTicket {
            ticket: ticket.expose().to_owned(),
            expires_at,
        }),
    ))
}
