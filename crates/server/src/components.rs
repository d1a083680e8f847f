//! Software components, capabilities and authorization (S1-F6–F8).
//!
//! The operator keeps a catalogue (component id → name, current version, download location).
//! Devices declare what they can do — features and installed components — in the registry, so a
//! capability check is answered from the store (`GET /v1/sessions/{key}/capabilities`) or by
//! asking the devices (`capability/query` messages, see `sessions`). Offering a component in a
//! session appends a `system/component` message that names it and says who needs to install it;
//! the installation confirmation appends `system/component_installed` and updates the registry.
//!
//! A component marked `authorization` goes through the operator's authorization server (a
//! webhook signed like transformer calls): it states a fee, the requester consents to exactly that
//! fee, the server asks for the grant, and the offer carries a purchase token — a compact JWS
//! signed with the key published at `/.well-known/jwks.json` — that the peer's SDK verifies.

use crate::app::App;
use crate::clock::now_ms;
use crate::http::error::ApiError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use callside_core::component::{Capabilities, Component, ComponentId, Fee, Installed};
use callside_core::{Principal, PrincipalId, SessionKey};
use callside_proto as proto;
use callside_store::Write;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long a purchase token is good for.
const TOKEN_VALIDITY_SECS: i64 = 7 * 24 * 3600;

fn bad(e: callside_core::component::ComponentError) -> ApiError {
    ApiError::bad("invalid_component", e.to_string())
}

pub(crate) fn to_proto(c: &Component) -> proto::component::Component {
    proto::component::Component {
        id: c.id.to_string(),
        name: c.name.clone(),
        version: c.version.clone(),
        url: c.url.clone(),
        sha256: c.sha256.clone(),
        authorization: c.authorization,
    }
}

pub(crate) fn fee_to_proto(f: &Fee) -> proto::component::Fee {
    proto::component::Fee {
        amount: f.amount.clone(),
        currency: f.currency.clone(),
    }
}

fn caps_to_proto(c: &Capabilities) -> proto::component::Capabilities {
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

/// Checks a declaration (or an answer to a query).
pub(crate) fn check_declared(
    features: &[String],
    components: &[proto::component::InstalledComponent],
) -> Result<Capabilities, ApiError> {
    Capabilities::new(
        features.to_vec(),
        components
            .iter()
            .map(|c| (c.id.clone(), c.version.clone()))
            .collect(),
    )
    .map_err(bad)
}

fn component_id(id: &str) -> Result<ComponentId, ApiError> {
    ComponentId::parse(id).map_err(bad)
}

/// A catalogue entry, or `404 not_found`.
pub(crate) async fn lookup(app: &App, id: &str) -> Result<Component, ApiError> {
    let id = component_id(id)?;
    app.store
        .component(id.to_string())
        .await?
        .ok_or(ApiError::NotFound("component"))
}

/// `PUT /v1/admin/components/{id}`.
pub(crate) async fn put(
    app: &App,
    id: &str,
    req: proto::component::PutComponent,
) -> Result<proto::component::Component, ApiError> {
    let url = reqwest::Url::parse(&req.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            ApiError::bad(
                "invalid_component",
                format!("`{}` is not an http(s) URL", req.url),
            )
        })?;
    if url.scheme() == "http" && req.sha256.is_none() {
        return Err(ApiError::bad(
            "invalid_component",
            "a component served over plain http needs its sha256, so devices can check the download",
        ));
    }
    let c = Component {
        id: component_id(id)?,
        name: req.name,
        version: req.version,
        url: url.to_string(),
        sha256: req.sha256,
        authorization: req.authorization,
    };
    c.validate().map_err(bad)?;
    app.store
        .apply(vec![Write::Component {
            component: c.clone(),
            at: now_ms(),
        }])
        .await?;
    Ok(to_proto(&c))
}

/// `DELETE /v1/admin/components/{id}`.
pub(crate) async fn delete(app: &App, id: &str) -> Result<(), ApiError> {
    let c = lookup(app, id).await?;
    app.store.apply(vec![Write::DeleteComponent(c.id)]).await?;
    Ok(())
}

pub(crate) async fn list(app: &App) -> Result<proto::component::ComponentList, ApiError> {
    Ok(proto::component::ComponentList {
        components: app.store.components().await?.iter().map(to_proto).collect(),
    })
}

/// `PUT /v1/me/capabilities`: replaces what this principal declares.
pub(crate) async fn declare(
    app: &App,
    who: &PrincipalId,
    req: proto::component::Capabilities,
) -> Result<proto::component::Capabilities, ApiError> {
    let caps = check_declared(&req.features, &req.components)?;
    app.store
        .apply(vec![Write::Capabilities {
            principal: who.clone(),
            capabilities: caps.clone(),
            at: now_ms(),
        }])
        .await?;
    Ok(caps_to_proto(&caps))
}

pub(crate) async fn declared(
    app: &App,
    who: &PrincipalId,
) -> Result<proto::component::Capabilities, ApiError> {
    Ok(caps_to_proto(
        &app.store
            .capabilities(who.clone())
            .await?
            .unwrap_or_default(),
    ))
}

/// The capability check by registry: the other participants' declarations.
pub(crate) async fn of_session(
    app: &App,
    who: &PrincipalId,
    key: &SessionKey,
) -> Result<proto::component::SessionCapabilities, ApiError> {
    let rec = app.sessions.record_for(key, who).await?;
    let mut participants = Vec::new();
    for p in rec.participants.iter().filter(|p| &p.principal != who) {
        let caps = app.store.capabilities(p.principal.clone()).await?;
        let shown = caps.as_ref().map(caps_to_proto).unwrap_or_default();
        participants.push(proto::component::ParticipantCapabilities {
            participant: p.principal.to_string(),
            number: p.number.as_ref().map(|n| n.to_string()),
            declared: caps.is_some(),
            features: shown.features,
            components: shown.components,
        });
    }
    Ok(proto::component::SessionCapabilities { participants })
}

/// What the authorization server says about a requested feature.
#[derive(serde::Deserialize)]
struct Requirement {
    required: bool,
    #[serde(default)]
    fee: Option<proto::component::Fee>,
    #[serde(default)]
    description: Option<String>,
}

/// Its answer to a grant request.
#[derive(serde::Deserialize)]
struct Grant {
    granted: bool,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

fn authorization_down(why: impl std::fmt::Display) -> ApiError {
    ApiError::Disabled(
        "authorization_unavailable",
        format!("the authorization server {why}; try again later"),
    )
}

/// Posts to the authorization webhook, signed like transformer calls.
async fn ask<T: serde::de::DeserializeOwned>(
    url: &str,
    secret: &str,
    payload: serde_json::Value,
) -> Result<T, ApiError> {
    static HTTP: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let http = HTTP.get_or_init(|| crate::adapters::net::client(true, Duration::from_secs(10)));
    let r = crate::adapters::webhooks::post_signed(http, url, secret, payload.to_string())
        .await
        .map_err(|e| authorization_down(format!("is unreachable ({})", e.without_url())))?;
    if !r.status().is_success() {
        return Err(authorization_down(format!("answered {}", r.status())));
    }
    r.json::<T>()
        .await
        .map_err(|e| authorization_down(format!("gave an answer callside cannot read ({e})")))
}

/// The SHA-256 of a session key, base64url: how purchase tokens and webhooks name a session
/// without revealing its key.
pub(crate) fn session_id(key: &SessionKey) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(key.as_str().as_bytes()))
}

/// The grant id of a purchase: the same for the same requester, session, component version and
/// fee, so a retried consent is the same purchase to the authorization server (which must treat a
/// repeated grant id as one charge).
fn grant_id(key: &SessionKey, who: &PrincipalId, c: &Component, fee: &Fee) -> String {
    let digest = Sha256::digest(
        [
            key.as_str(),
            who.as_str(),
            c.id.as_str(),
            &c.version,
            &fee.amount,
            &fee.currency,
        ]
        .join("\n")
        .as_bytes(),
    );
    format!("grant_{}", URL_SAFE_NO_PAD.encode(&digest[..18]))
}

/// `POST /v1/sessions/{key}/components`: offers a catalogue component to the others (S1-F6),
/// through the authorization server when it needs a grant (S1-F8). The HTTP handler runs it as
/// a task of its own, so once started it finishes even if the requester goes away: a grant is
/// always audited and offered.
pub(crate) async fn offer(
    app: &App,
    who: &Principal,
    key: &SessionKey,
    req: proto::component::OfferComponent,
) -> Result<proto::component::ComponentOffer, ApiError> {
    let rec = app.sessions.record_for(key, &who.id).await?;
    rec.session.check_access(&who.id)?;
    let component = lookup(app, &req.component).await?;
    app.offers
        .lock()
        .expect("limiter poisoned")
        .check(who.id.clone(), now_ms())?;
    let others: Vec<&callside_store::ParticipantRecord> = rec
        .participants
        .iter()
        .filter(|p| p.principal != who.id)
        .collect();
    let (mut installed, mut needs_install) = (Vec::new(), Vec::new());
    for p in &others {
        let caps = app
            .store
            .capabilities(p.principal.clone())
            .await?
            .unwrap_or_default();
        match caps.installed(&component) {
            Installed::Current => installed.push(p.principal.to_string()),
            _ => needs_install.push(p.principal.to_string()),
        }
    }
    let mut answer = proto::component::ComponentOffer {
        state: "offered".into(),
        component: to_proto(&component),
        offer: None,
        seq: None,
        installed,
        needs_install,
        fee: None,
        description: None,
        reference: None,
    };
    let mut authorization = None;
    let mut audit = Vec::new();
    if component.authorization {
        let Some((url, secret)) = app.config.authorization.clone() else {
            return Err(ApiError::Disabled(
                "authorization_unavailable",
                format!(
                    "{} needs authorization and this server has no authorization server",
                    component.id
                ),
            ));
        };
        if others.is_empty() {
            return Err(ApiError::Conflict(
                "nobody_to_offer",
                "nobody else is on the session: a paid component is offered to someone".into(),
            ));
        }
        let consent = req
            .consent
            .as_ref()
            .map(|f| Fee::new(&f.amount, &f.currency).map_err(bad))
            .transpose()?;
        let requester = rec
            .participants
            .iter()
            .find(|p| p.principal == who.id)
            .and_then(|p| p.number.as_ref())
            .map(|n| n.to_string());
        let peers: Vec<serde_json::Value> = others
            .iter()
            .map(|p| {
                serde_json::json!({
                    "participant": p.principal.as_str(),
                    "number": p.number.as_ref().map(|n| n.to_string()),
                })
            })
            .collect();
        let about = serde_json::json!({
            "component": to_proto(&component),
            "requester": { "participant": who.id.as_str(), "number": requester },
            "peers": peers,
            "session": session_id(key),
        });
        let mut payload = about.clone();
        payload["type"] = "requirement".into();
        let need: Requirement = ask(&url, &secret, payload).await?;
        if need.required {
            let fee = need
                .fee
                .as_ref()
                .and_then(|f| Fee::new(&f.amount, &f.currency).ok())
                .ok_or_else(|| authorization_down("asked for a fee without a valid amount"))?;
            answer.fee = Some(fee_to_proto(&fee));
            answer.description = need.description.map(|d| d.chars().take(500).collect());
            let Some(consent) = consent else {
                answer.state = "consent_required".into();
                return Ok(answer);
            };
            if !consent.same_as(&fee) {
                return Err(ApiError::Conflict(
                    "fee_changed",
                    format!(
                        "you consented to {} {} but the fee is {} {}; offer again to see it",
                        consent.amount, consent.currency, fee.amount, fee.currency
                    ),
                ));
            }
            // Still on an open session with the same peers before anyone is charged.
            let now_rec = app.sessions.record_for(key, &who.id).await?;
            now_rec.session.check_access(&who.id)?;
            let grant_id = grant_id(key, &who.id, &component, &fee);
            let mut payload = about;
            payload["type"] = "grant".into();
            payload["grant"] = grant_id.clone().into();
            payload["fee"] = serde_json::to_value(fee_to_proto(&fee)).expect("serialises");
            let grant: Grant = ask(&url, &secret, payload).await?;
            if !grant.granted {
                return Err(ApiError::Forbidden(
                    "authorization_refused",
                    format!(
                        "the authorization server refused: {}",
                        grant.reason.as_deref().unwrap_or("no reason given")
                    ),
                ));
            }
            let now = now_ms();
            let reference = grant.reference.map(|r| r.chars().take(200).collect());
            let claims = proto::component::PurchaseClaims {
                iss: "callside".into(),
                sub: component.id.to_string(),
                ver: component.version.clone(),
                aud: others.iter().map(|p| p.principal.to_string()).collect(),
                payer: who.id.to_string(),
                fee: fee_to_proto(&fee),
                reference: reference.clone(),
                sid: session_id(key),
                jti: grant_id.clone(),
                iat: now / 1000,
                exp: now / 1000 + TOKEN_VALIDITY_SECS,
            };
            let token = app.rcd.sign_purchase(&claims);
            audit.push(Write::Audit(callside_store::AuditRecord {
                at: now,
                actor: who.id.clone(),
                action: "purchase".into(),
                subject: component.id.to_string(),
                detail: format!(
                    "grant {grant_id}: {} {} (reference {})",
                    fee.amount,
                    fee.currency,
                    reference.as_deref().unwrap_or("-")
                ),
            }));
            answer.reference = reference;
            authorization = Some((token, fee));
        }
    }
    let offer = callside_core::secret::new_id("offer", now_ms());
    let notice = crate::sessions::Notice::ComponentOffered {
        offer: &offer,
        component: &component,
        by: &who.id,
        needs_install: &answer.needs_install,
        authorization: authorization.as_ref().map(|(t, f)| (t.as_str(), f)),
    };
    // The purchase's audit line commits with the offer.
    let seq = app
        .sessions
        .append_notice(key, &notice, audit)
        .await?
        .ok_or_else(|| {
            ApiError::Gone(
                "session_closed",
                "the session closed before the offer".into(),
            )
        })?;
    answer.offer = Some(offer);
    answer.seq = Some(seq);
    Ok(answer)
}

/// `POST /v1/sessions/{key}/components/{id}/installed`: the installation confirmation.
pub(crate) async fn confirm_installed(
    app: &App,
    who: &PrincipalId,
    key: &SessionKey,
    id: &str,
    req: proto::component::ConfirmInstalled,
) -> Result<u64, ApiError> {
    let rec = app.sessions.record_for(key, who).await?;
    rec.session.check_access(who)?;
    let component = lookup(app, id).await?;
    callside_core::component::check_version(&req.version).map_err(bad)?;
    let caps = app
        .store
        .capabilities(who.clone())
        .await?
        .unwrap_or_default();
    if caps.components.len() >= callside_core::component::MAX_COMPONENTS
        && !caps.components.contains_key(&component.id)
    {
        return Err(bad(callside_core::component::ComponentError::TooMany));
    }
    let notice = crate::sessions::Notice::ComponentInstalled {
        component: &component.id,
        version: &req.version,
        by: who,
    };
    // The registry changes with the confirmation on the log, or not at all.
    app.sessions
        .append_notice(
            key,
            &notice,
            vec![Write::Installed {
                principal: who.clone(),
                component: component.id.clone(),
                version: req.version.clone(),
                at: now_ms(),
            }],
        )
        .await?
        .ok_or_else(|| ApiError::Gone("session_closed", "the session is closed".into()))
}

/// A component that may ride on an invitation: in the catalogue, and free (one that needs
/// authorization is offered in the session, where the requester can consent to its fee).
pub(crate) async fn for_invitation(app: &App, id: &str) -> Result<Component, ApiError> {
    let c = lookup(app, id).await?;
    if c.authorization {
        return Err(ApiError::Conflict(
            "authorization_needs_session",
            format!(
                "{} needs authorization: offer it in the session (POST /v1/sessions/{{key}}/components) once it is up",
                c.id
            ),
        ));
    }
    Ok(c)
}

/// An accepted invitation that carried a component: the inviter's offer goes on the session.
pub(crate) async fn offer_after_accept(app: &App, rec: &callside_store::InvitationRecord) {
    let (Some(id), Some(key)) = (&rec.component, &rec.invitation.session) else {
        return;
    };
    // The catalogue may have changed since: a component that now needs authorization (or is
    // gone) is not offered here.
    if let Err(e) = for_invitation(app, id).await {
        tracing::warn!(session = %key, component = %id, error = %e, "the invitation's component is no longer offered");
        return;
    }
    let inviter = match app.store.principal(rec.invitation.inviter.clone()).await {
        Ok(Some(p)) => p,
        _ => return,
    };
    let req = proto::component::OfferComponent {
        component: id.clone(),
        consent: None,
    };
    if let Err(e) = offer(app, &inviter.principal, key, req).await {
        tracing::warn!(session = %key, component = %id, error = %e, "could not offer the invitation's component");
    }
}

/// The HTTP handlers of this module.
pub(crate) mod http {
    use crate::app::AppState;
    use crate::http::error::ApiError;
    use crate::http::extract::Caller;
    use crate::http::extract::Json;
    use crate::http::key;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use callside_core::LegId;
    use callside_proto as proto;

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
        Ok(axum::Json(super::put(&app, &id, req).await?))
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
        super::delete(&app, &id).await?;
        Ok(StatusCode::NO_CONTENT)
    }

    /// `GET /v1/components` — the catalogue.
    #[utoipa::path(get, path = "/v1/components", tag = "components",
        responses((status = 200, body = proto::component::ComponentList)))]
    pub(crate) async fn list_components(
        State(app): State<AppState>,
        _caller: Caller,
    ) -> Result<axum::Json<proto::component::ComponentList>, ApiError> {
        Ok(axum::Json(super::list(&app).await?))
    }

    /// `GET /v1/components/{id}` — one catalogue entry.
    #[utoipa::path(get, path = "/v1/components/{id}", tag = "components",
        responses((status = 200, body = proto::component::Component), (status = 404, body = proto::Problem)))]
    pub(crate) async fn get_component(
        State(app): State<AppState>,
        _caller: Caller,
        Path(id): Path<String>,
    ) -> Result<axum::Json<proto::component::Component>, ApiError> {
        Ok(axum::Json(super::to_proto(
            &super::lookup(&app, &id).await?,
        )))
    }

    /// `GET /v1/me/capabilities` — what this device declared (empty if nothing).
    #[utoipa::path(get, path = "/v1/me/capabilities", tag = "components",
        responses((status = 200, body = proto::component::Capabilities)))]
    pub(crate) async fn get_capabilities(
        State(app): State<AppState>,
        Caller(p): Caller,
    ) -> Result<axum::Json<proto::component::Capabilities>, ApiError> {
        Ok(axum::Json(super::declared(&app, &p.id).await?))
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
        Ok(axum::Json(super::declare(&app, &p.id, req).await?))
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
        Ok(axum::Json(super::of_session(&app, &p.id, &key(&k)?).await?))
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
        let tasks = app.supervisor.tasks();
        let offer = tasks
            .spawn_to_end(async move { super::offer(&app, &p, &k, req).await })
            .await
            .map_err(|_| ApiError::Unavailable)??;
        Ok(axum::Json(offer))
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
        super::confirm_installed(&app, &p.id, &key(&k)?, &id, req).await?;
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
        let inv = app
            .invitations
            .component_for_leg(&app, &p, LegId(id), &req.component)
            .await?;
        Ok((StatusCode::CREATED, axum::Json(inv)))
    }
}
