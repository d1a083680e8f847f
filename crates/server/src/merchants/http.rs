//! `/v1/admin/merchants/…` (the operator), `/v1/merchant/…` (a merchant's server, its own data
//! only) and `/v1/clicks` (a visitor's click, authenticated by the button's signature).

use super::{Error, NewClick, Question};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{Caller, Json, Query, Source};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use callside_core::merchant::Decision;
use callside_proto as proto;
use callside_store::{ClickRecord, MerchantRecord};
use serde::Deserialize;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(ref inner) => match inner {
                callside_core::merchant::MerchantError::Routing(_)
                | callside_core::merchant::MerchantError::Rule { .. } => {
                    ApiError::bad("invalid_routing", e)
                }
                _ => ApiError::bad("invalid_merchant_data", e),
            },
            Error::BadRequest(_) => ApiError::bad("invalid_request", e),
            Error::NotFound(what) => ApiError::NotFound(what),
            Error::NotMerchant => ApiError::Forbidden("not_a_merchant", e.to_string()),
            Error::BadButton => ApiError::Unauthorized("bad_button", e.to_string()),
            Error::UnknownLink(_) => ApiError::bad("unknown_link", e),
            Error::NoDestination => ApiError::Conflict("no_destination", e.to_string()),
            Error::Ended => ApiError::Conflict("call_ended", e.to_string()),
            Error::NotAgent => ApiError::Forbidden("not_an_agent", e.to_string()),
            Error::SignedOut => ApiError::Conflict("signed_out", e.to_string()),
            Error::NotRinging => ApiError::Conflict("not_ringing", e.to_string()),
            Error::NotTalking => ApiError::Conflict("not_talking", e.to_string()),
            Error::UnknownCode(_) => ApiError::bad("unknown_code", e),
            Error::UnknownChannel(_) => ApiError::NotFound("channel"),
            Error::Busy => ApiError::Conflict("busy", e.to_string()),
            Error::Sessions(e) => e.into(),
            Error::RateLimited(l) => l.into(),
            Error::Identity(e) => e.into(),
            Error::Store(e) => e.into(),
        }
    }
}

fn merchant_out(m: &MerchantRecord) -> proto::merchant::Merchant {
    proto::merchant::Merchant {
        id: m.id.clone(),
        name: m.name.clone(),
        account: m.principal.0.clone(),
        created_at: m.created_at,
    }
}

fn route_out(d: &Decision) -> proto::merchant::Route {
    proto::merchant::Route {
        destination: d.target.to_wire(),
        rule: d.rule.map(|r| r as u32),
    }
}

/// A webhook delivery's body: `{"event": "call.answered", "call": {…the call record…}}`.
pub(crate) fn hook_body() -> super::hooks::HookBody {
    std::sync::Arc::new(|event: &str, click: &ClickRecord| {
        serde_json::json!({"event": event, "call": call_out(click)}).to_string()
    })
}

/// `PUT /v1/merchant/webhook` — sets where callside posts the merchant's calls' progress
/// (`call.created`, `call.answered`, `call.ended`), signed with a new secret answered here once.
#[utoipa::path(put, path = "/v1/merchant/webhook", tag = "merchants",
    request_body = proto::merchant::WebhookIn,
    responses((status = 200, body = proto::merchant::Webhook), (status = 400, body = proto::Problem), (status = 403, body = proto::Problem)))]
pub(crate) async fn put_webhook(
    State(app): State<AppState>,
    caller: Caller,
    Json(req): Json<proto::merchant::WebhookIn>,
) -> Result<axum::Json<proto::merchant::Webhook>, ApiError> {
    let m = merchant(&app, &caller).await?;
    let secret = app.merchants.set_webhook(&m, Some(&req.url)).await?;
    Ok(axum::Json(proto::merchant::Webhook {
        url: req.url,
        secret,
    }))
}

/// `GET /v1/merchant/webhook` — the webhook's URL (never its secret); 404 without one.
#[utoipa::path(get, path = "/v1/merchant/webhook", tag = "merchants",
    responses((status = 200, body = proto::merchant::Webhook), (status = 403, body = proto::Problem), (status = 404, body = proto::Problem)))]
pub(crate) async fn get_webhook(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<proto::merchant::Webhook>, ApiError> {
    let m = merchant(&app, &caller).await?;
    let url = app
        .merchants
        .webhook(&m)
        .await?
        .ok_or(ApiError::NotFound("webhook"))?;
    Ok(axum::Json(proto::merchant::Webhook { url, secret: None }))
}

/// `DELETE /v1/merchant/webhook` — no more deliveries.
#[utoipa::path(delete, path = "/v1/merchant/webhook", tag = "merchants",
    responses((status = 204), (status = 403, body = proto::Problem)))]
pub(crate) async fn delete_webhook(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    let m = merchant(&app, &caller).await?;
    app.merchants.set_webhook(&m, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn call_out(c: &ClickRecord) -> proto::merchant::CallRecord {
    proto::merchant::CallRecord {
        id: c.id.clone(),
        link: c.link.clone(),
        customer: c.customer.clone(),
        button_destination: c.button_destination.clone(),
        // Stored from the wire form the click was checked against.
        context: serde_json::from_str(&c.context).unwrap_or_default(),
        destination: c.destination.clone(),
        rule: c.rule,
        state: c.state.clone(),
        agent: c.agent.clone(),
        outcome: c.outcome.clone(),
        created_at: c.created_at,
        answered_at: c.answered_at,
        ended_at: c.ended_at,
        talk_ms: c.answered_at.zip(c.ended_at).map(|(a, e)| e - a),
    }
}

/// The merchant whose account is calling (403 for any other caller).
pub(super) async fn merchant(app: &AppState, caller: &Caller) -> Result<MerchantRecord, ApiError> {
    Ok(app.merchants.of(&caller.0.id).await?)
}

/// `POST /v1/admin/merchants` — a new merchant, its API token and button secret (admin).
#[utoipa::path(post, path = "/v1/admin/merchants", tag = "merchants",
    request_body = proto::merchant::CreateMerchant,
    responses((status = 201, body = proto::merchant::MerchantCreated), (status = 400, body = proto::Problem), (status = 403, body = proto::Problem)))]
pub(crate) async fn create_merchant(
    State(app): State<AppState>,
    caller: Caller,
    Json(req): Json<proto::merchant::CreateMerchant>,
) -> Result<(StatusCode, axum::Json<proto::merchant::MerchantCreated>), ApiError> {
    caller.require_admin()?;
    let (m, token) = app.merchants.create(&req.name).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(proto::merchant::MerchantCreated {
            merchant: merchant_out(&m),
            token: token.expose().to_owned(),
            button_secret: m.button_secret,
        }),
    ))
}

/// `GET /v1/admin/merchants/{id}` — one merchant (admin).
#[utoipa::path(get, path = "/v1/admin/merchants/{id}", tag = "merchants",
    responses((status = 200, body = proto::merchant::Merchant), (status = 404, body = proto::Problem)))]
pub(crate) async fn get_merchant(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::merchant::Merchant>, ApiError> {
    caller.require_admin()?;
    Ok(axum::Json(merchant_out(&app.merchants.get(&id).await?)))
}

/// `POST /v1/admin/merchants/{id}/button-secret` — a new button secret; buttons signed with the
/// old one stop working (admin).
#[utoipa::path(post, path = "/v1/admin/merchants/{id}/button-secret", tag = "merchants",
    responses((status = 200, body = proto::merchant::ButtonSecret), (status = 404, body = proto::Problem)))]
pub(crate) async fn rotate_button_secret(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::merchant::ButtonSecret>, ApiError> {
    caller.require_admin()?;
    Ok(axum::Json(proto::merchant::ButtonSecret {
        button_secret: app.merchants.rotate_secret(&id).await?,
    }))
}

/// `GET /v1/merchant` — the calling merchant.
#[utoipa::path(get, path = "/v1/merchant", tag = "merchants",
    responses((status = 200, body = proto::merchant::Merchant), (status = 403, body = proto::Problem)))]
pub(crate) async fn me(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<proto::merchant::Merchant>, ApiError> {
    Ok(axum::Json(merchant_out(&merchant(&app, &caller).await?)))
}

/// `GET /v1/merchant/links` — the merchant's buttons.
#[utoipa::path(get, path = "/v1/merchant/links", tag = "merchants",
    responses((status = 200, body = proto::merchant::LinkList), (status = 403, body = proto::Problem)))]
pub(crate) async fn list_links(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<proto::merchant::LinkList>, ApiError> {
    let m = merchant(&app, &caller).await?;
    let links = app
        .merchants
        .links(&m)
        .await?
        .into_iter()
        .map(|l| proto::merchant::Link {
            id: l.id,
            name: l.name,
        })
        .collect();
    Ok(axum::Json(proto::merchant::LinkList { links }))
}

/// `PUT /v1/merchant/links/{id}` — add or rename a button.
#[utoipa::path(put, path = "/v1/merchant/links/{id}", tag = "merchants",
    request_body = proto::merchant::PutLink,
    responses((status = 200, body = proto::merchant::Link), (status = 400, body = proto::Problem), (status = 403, body = proto::Problem)))]
pub(crate) async fn put_link(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<proto::merchant::PutLink>,
) -> Result<axum::Json<proto::merchant::Link>, ApiError> {
    let m = merchant(&app, &caller).await?;
    let l = app.merchants.put_link(&m, &id, &req.name).await?;
    Ok(axum::Json(proto::merchant::Link {
        id: l.id,
        name: l.name,
    }))
}

/// `DELETE /v1/merchant/links/{id}`.
#[utoipa::path(delete, path = "/v1/merchant/links/{id}", tag = "merchants",
    responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn delete_link(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let m = merchant(&app, &caller).await?;
    app.merchants.delete_link(&m, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/merchant/pages` — the code→page table agents push from.
#[utoipa::path(get, path = "/v1/merchant/pages", tag = "merchants",
    responses((status = 200, body = proto::merchant::PageList), (status = 403, body = proto::Problem)))]
pub(crate) async fn list_pages(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<proto::merchant::PageList>, ApiError> {
    let m = merchant(&app, &caller).await?;
    let pages = app
        .merchants
        .pages(&m)
        .await?
        .into_iter()
        .map(|p| proto::merchant::Page {
            code: p.code,
            url: p.url,
        })
        .collect();
    Ok(axum::Json(proto::merchant::PageList { pages }))
}

/// `PUT /v1/merchant/pages/{code}` — add or change a page (`#` in a code is `%23` in the path).
#[utoipa::path(put, path = "/v1/merchant/pages/{code}", tag = "merchants",
    request_body = proto::merchant::PutPage,
    responses((status = 200, body = proto::merchant::Page), (status = 400, body = proto::Problem), (status = 403, body = proto::Problem)))]
pub(crate) async fn put_page(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Json(req): Json<proto::merchant::PutPage>,
) -> Result<axum::Json<proto::merchant::Page>, ApiError> {
    let m = merchant(&app, &caller).await?;
    let p = app.merchants.put_page(&m, &code, &req.url).await?;
    Ok(axum::Json(proto::merchant::Page {
        code: p.code,
        url: p.url,
    }))
}

/// `DELETE /v1/merchant/pages/{code}`.
#[utoipa::path(delete, path = "/v1/merchant/pages/{code}", tag = "merchants",
    responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn delete_page(
    State(app): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    let m = merchant(&app, &caller).await?;
    app.merchants.delete_page(&m, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn routing_value(
    r: &callside_core::merchant::Routing,
) -> Result<proto::merchant::Routing, ApiError> {
    serde_json::from_value(r.to_json())
        .map_err(|e| ApiError::Internal(format!("routing does not serialise: {e}")))
}

/// `GET /v1/merchant/routing` — the rules in force.
#[utoipa::path(get, path = "/v1/merchant/routing", tag = "merchants",
    responses((status = 200, body = proto::merchant::Routing), (status = 403, body = proto::Problem)))]
pub(crate) async fn get_routing(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<proto::merchant::Routing>, ApiError> {
    let m = merchant(&app, &caller).await?;
    Ok(axum::Json(routing_value(
        &app.merchants.routing(&m).await?,
    )?))
}

/// `PUT /v1/merchant/routing` — replace the rules (validated; in force at once).
#[utoipa::path(put, path = "/v1/merchant/routing", tag = "merchants",
    request_body = proto::merchant::Routing,
    responses((status = 200, body = proto::merchant::Routing), (status = 400, body = proto::Problem), (status = 403, body = proto::Problem)))]
pub(crate) async fn put_routing(
    State(app): State<AppState>,
    caller: Caller,
    Json(req): Json<serde_json::Value>,
) -> Result<axum::Json<proto::merchant::Routing>, ApiError> {
    let m = merchant(&app, &caller).await?;
    let stored = app.merchants.put_routing(&m, &req).await?;
    Ok(axum::Json(routing_value(&stored)?))
}

/// `POST /v1/merchant/routing/dry-run` — where a click would go now (or at `at`), with the
/// stored rules or the ones given; nothing is recorded.
#[utoipa::path(post, path = "/v1/merchant/routing/dry-run", tag = "merchants",
    request_body = proto::merchant::DryRun,
    responses((status = 200, body = proto::merchant::Route), (status = 400, body = proto::Problem), (status = 409, body = proto::Problem)))]
pub(crate) async fn dry_run(
    State(app): State<AppState>,
    caller: Caller,
    Json(req): Json<serde_json::Value>,
) -> Result<axum::Json<proto::merchant::Route>, ApiError> {
    let m = merchant(&app, &caller).await?;
    // Typed for the field checks; the rules go on as JSON so their errors name the rule.
    let routing = req.get("routing").filter(|v| !v.is_null()).cloned();
    let q: proto::merchant::DryRun = serde_json::from_value(req)
        .map_err(|e| ApiError::bad("invalid_request", format!("dry run: {e}")))?;
    let decision = app
        .merchants
        .dry_run(
            &m,
            Question {
                link: q.link,
                country: q.country,
                destination: q.destination,
                at: q.at,
                routing,
            },
        )
        .await?;
    Ok(axum::Json(route_out(&decision)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallsQuery {
    /// Only calls created before this time (ms since 1970): the previous page's `next_before`.
    before: Option<i64>,
    /// At most this many (default 100, at most 1,000).
    limit: Option<u32>,
    /// `json` (default) or `csv` (one line per call, for spreadsheets and billing).
    format: Option<String>,
}

const CSV_COLUMNS: &str = "id,created_at,link,customer,source_page,referrer,destination,rule,state,agent,outcome,answered_at,ended_at,talk_ms";

fn csv_field(s: &str) -> String {
    // A leading = + - @ (other than a phone number) is prefixed with ' so a spreadsheet does not
    // run it as a formula; quoted when needed (RFC 4180).
    let number = s.len() > 1 && s.starts_with('+') && s[1..].bytes().all(|b| b.is_ascii_digit());
    let s = if !number && s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv_line(c: &proto::merchant::CallRecord) -> String {
    let opt = |v: &Option<String>| csv_field(v.as_deref().unwrap_or(""));
    let num = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    [
        csv_field(&c.id),
        c.created_at.to_string(),
        opt(&c.link),
        opt(&c.customer),
        opt(&c.context.page),
        opt(&c.context.referrer),
        csv_field(&c.destination),
        c.rule.map(|r| r.to_string()).unwrap_or_default(),
        csv_field(&c.state),
        opt(&c.agent),
        opt(&c.outcome),
        num(c.answered_at),
        num(c.ended_at),
        num(c.talk_ms),
    ]
    .join(",")
}

/// `GET /v1/merchant/calls` — calls started from the merchant's own pages, newest first (JSON,
/// or CSV with `format=csv`).
#[utoipa::path(get, path = "/v1/merchant/calls", tag = "merchants", params(CallsQuery),
    responses((status = 200, body = proto::merchant::CallRecordList, description = "JSON, or text/csv with format=csv"), (status = 400, body = proto::Problem), (status = 403, body = proto::Problem)))]
pub(crate) async fn list_calls(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<CallsQuery>,
) -> Result<Response, ApiError> {
    let m = merchant(&app, &caller).await?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad(
                "invalid_request",
                format!("format `{other}`: use json or csv"),
            ))
        }
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let calls: Vec<_> = app
        .merchants
        .calls(&m, q.before, limit)
        .await?
        .iter()
        .map(call_out)
        .collect();
    if csv {
        let mut body = String::from(CSV_COLUMNS);
        body.push_str("\r\n");
        for c in &calls {
            body.push_str(&csv_line(c));
            body.push_str("\r\n");
        }
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    let next_before = (calls.len() == limit as usize)
        .then(|| calls.last().map(|c| c.created_at))
        .flatten();
    Ok(axum::Json(proto::merchant::CallRecordList { calls, next_before }).into_response())
}

/// `GET /v1/merchant/calls/{id}` — one call with its context (screen pop for a CRM).
#[utoipa::path(get, path = "/v1/merchant/calls/{id}", tag = "merchants",
    responses((status = 200, body = proto::merchant::CallRecord), (status = 404, body = proto::Problem)))]
pub(crate) async fn get_call(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::merchant::CallRecord>, ApiError> {
    let m = merchant(&app, &caller).await?;
    Ok(axum::Json(call_out(&app.merchants.call(&m, &id).await?)))
}

/// `POST /v1/merchant/calls/{id}/state` — the call centre reports the call answered or ended.
#[utoipa::path(post, path = "/v1/merchant/calls/{id}/state", tag = "merchants",
    request_body = proto::merchant::CallState,
    responses((status = 200, body = proto::merchant::CallRecord), (status = 400, body = proto::Problem), (status = 404, body = proto::Problem), (status = 409, body = proto::Problem)))]
pub(crate) async fn call_state(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<proto::merchant::CallState>,
) -> Result<axum::Json<proto::merchant::CallRecord>, ApiError> {
    let m = merchant(&app, &caller).await?;
    let c = app
        .merchants
        .set_state(&m, &id, &req.state, req.agent, req.outcome)
        .await?;
    Ok(axum::Json(call_out(&c)))
}

/// `POST /v1/clicks` — a visitor clicked a merchant's button. No bearer token: the button,
/// signed by the merchant's server, is the credential; a forged, expired or foreign button is
/// `401 bad_button` and records nothing.
#[utoipa::path(post, path = "/v1/clicks", tag = "merchants",
    request_body = proto::merchant::ClickRequest,
    responses((status = 201, body = proto::merchant::ClickAccepted), (status = 400, body = proto::Problem), (status = 401, body = proto::Problem), (status = 409, body = proto::Problem), (status = 429, body = proto::Problem)),
    security(()))]
pub(crate) async fn click(
    State(app): State<AppState>,
    Source(source): Source,
    Json(req): Json<proto::merchant::ClickRequest>,
) -> Result<(StatusCode, axum::Json<proto::merchant::ClickAccepted>), ApiError> {
    let context = serde_json::to_value(&req.context)
        .map_err(|e| ApiError::Internal(format!("context does not serialise: {e}")))?;
    let rec = app
        .merchants
        .click(NewClick {
            merchant: &req.merchant,
            button: &req.button,
            context,
            source,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(proto::merchant::ClickAccepted {
            // A visitor follows its call with it: in the queue, or — a call to a number — until an
            // agent keys its channel id and the chat opens.
            visitor_token: Some(app.merchants.visitor_token(&rec.id)),
            channel: rec.channel.clone(),
            // A call for a number: the browser dials it through the WebRTC-to-SIP gateway.
            sip_gateway: (rec.state == "routed")
                .then(|| app.config.browsers.sip_gateway.clone())
                .flatten(),
            id: rec.id,
            destination: rec.destination,
        }),
    ))
}
