//! `/v1/admin/…`: devices, service accounts, their tokens, and the audit log (the operator's
//! token only).

use super::{Error, Kind, NewAccount};
use crate::app::AppState;
use crate::http::check_limit;
use crate::http::error::ApiError;
use crate::http::extract::{Caller, Json, Query};
use crate::http::wire::{scope_in, scope_out};
use crate::identity::http::device;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use callside_core::principal::PrincipalKind;
use callside_proto as proto;
use callside_store::PrincipalRecord;
use serde::Deserialize;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::DeviceNumbers => ApiError::bad("invalid_device", e),
            Error::NoScope | Error::Ranges | Error::MerchantScope => {
                ApiError::bad("invalid_account", e)
            }
            Error::InvalidNumber(n) => n.into(),
            Error::NotFound(what) => ApiError::NotFound(what),
            Error::Identity(e) => e.into(),
            Error::Store(e) => e.into(),
        }
    }
}

/// A service account as the API shows it (`None` for other principals).
fn service_account(r: &PrincipalRecord) -> Option<proto::admin::ServiceAccount> {
    match &r.principal.kind {
        PrincipalKind::Service { scopes, ranges } => Some(proto::admin::ServiceAccount {
            id: r.principal.id.0.clone(),
            name: r.principal.name.clone(),
            scopes: scopes.iter().copied().map(scope_out).collect(),
            ranges: ranges.iter().map(|r| r.to_string()).collect(),
            created_at: r.created_at,
        }),
        _ => None,
    }
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
    let (rec, token) = app.admin.create_device(&req.name, &req.numbers).await?;
    let device = device(&rec).expect("a device");
    Ok((
        StatusCode::CREATED,
        axum::Json(proto::admin::CreatedDevice {
            device,
            token: token.expose().to_owned(),
        }),
    ))
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
        .admin
        .list(Kind::Device)
        .await?
        .iter()
        .filter_map(device)
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
    let account = NewAccount {
        name: req.name,
        scopes: req.scopes.iter().copied().map(scope_in).collect(),
        ranges: req.ranges,
    };
    let (rec, token) = app.admin.create_account(account).await?;
    let account = service_account(&rec).expect("a service account");
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
        .admin
        .list(Kind::ServiceAccount)
        .await?
        .iter()
        .filter_map(service_account)
        .collect();
    Ok(axum::Json(AccountList { accounts }))
}

/// `DELETE /v1/admin/devices/{id}` — the device's tokens stop working at once.
#[utoipa::path(delete, path = "/v1/admin/devices/{id}", tag = "admin", responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn delete_device(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    app.admin.delete(Kind::Device, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/admin/service-accounts/{id}`
#[utoipa::path(delete, path = "/v1/admin/service-accounts/{id}", tag = "admin", responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn delete_service_account(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    app.admin.delete(Kind::ServiceAccount, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The export as the API shows it.
fn personal_data(
    device: &str,
    tables: Vec<callside_store::personal::PersonalTable>,
) -> proto::admin::PersonalData {
    use callside_store::personal::OnErase;
    proto::admin::PersonalData {
        device: device.to_owned(),
        exported_at: crate::clock::now_ms(),
        tables: tables
            .into_iter()
            .map(|t| {
                let (on_erase, kept_because) = match t.on_erase {
                    OnErase::Delete => (proto::admin::OnErase::Delete, None),
                    OnErase::Redact(_) => (proto::admin::OnErase::Redact, None),
                    OnErase::Keep(why) => (proto::admin::OnErase::Keep, Some(why.to_owned())),
                };
                proto::admin::PersonalTable {
                    table: t.table.to_owned(),
                    rows: t.rows.into_iter().map(serde_json::Value::Object).collect(),
                    on_erase,
                    kept_because,
                }
            })
            .collect(),
    }
}

/// `GET /v1/admin/devices/{id}/export` — everything kept about a device (a person's access
/// request), table by table, with what erasing it would do.
#[utoipa::path(get, path = "/v1/admin/devices/{id}/export", tag = "admin",
    responses((status = 200, body = proto::admin::PersonalData), (status = 404, body = proto::Problem)))]
pub(crate) async fn export_device(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::admin::PersonalData>, ApiError> {
    caller.require_admin()?;
    let tables = app.admin.personal_data(&id).await?;
    Ok(axum::Json(personal_data(&id, tables)))
}

/// `GET /v1/me/export` — everything kept about the calling device (not through a browser).
#[utoipa::path(get, path = "/v1/me/export", tag = "identity",
    responses((status = 200, body = proto::admin::PersonalData), (status = 403, body = proto::Problem)))]
pub(crate) async fn export_me(
    State(app): State<AppState>,
    crate::http::extract::Owner(p): crate::http::extract::Owner,
) -> Result<axum::Json<proto::admin::PersonalData>, ApiError> {
    if !matches!(p.kind, PrincipalKind::Device { .. }) {
        return Err(ApiError::Forbidden(
            "devices_only",
            "only a device has personal data to export".into(),
        ));
    }
    let tables = app.admin.personal_data(&p.id.0).await?;
    Ok(axum::Json(personal_data(&p.id.0, tables)))
}

/// `POST /v1/admin/devices/{id}/erase` — erase a device's personal data (a person's erasure
/// request): its tokens stop and its sockets close, its rows go as the export's `on_erase`
/// says (its messages stay in their sessions as `erased`), and files nobody else uploaded or
/// references are deleted with their bytes.
#[utoipa::path(post, path = "/v1/admin/devices/{id}/erase", tag = "admin",
    responses((status = 200, body = proto::admin::Erased), (status = 404, body = proto::Problem)))]
pub(crate) async fn erase_device(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::admin::Erased>, ApiError> {
    use callside_store::personal::OnErase;
    caller.require_admin()?;
    let who = callside_core::PrincipalId(id.clone());
    let (before, blobs) = app.admin.erase(&id).await?;
    app.calls.forget_principal(&who).await;
    app.sessions.forget_participant(&who).await;
    if let Some(peers) = app.hub.peers() {
        peers.erased(&who);
    }
    let files_deleted = app.blobs.delete_unused(&blobs).await?;
    let count = |pick: fn(&OnErase) -> bool| -> u64 {
        before
            .iter()
            .filter(|t| pick(&t.on_erase))
            .map(|t| t.rows.len() as u64)
            .sum()
    };
    let erased = proto::admin::Erased {
        device: id,
        deleted: count(|o| matches!(o, OnErase::Delete)),
        redacted: count(|o| matches!(o, OnErase::Redact(_))),
        kept: count(|o| matches!(o, OnErase::Keep(_))),
        files_deleted,
    };
    tracing::info!(device = %erased.device, deleted = erased.deleted, redacted = erased.redacted,
        files = erased.files_deleted, "erased a device's data");
    Ok(axum::Json(erased))
}

/// `POST /v1/admin/devices/{id}/token` — a new token; the old one stops working.
#[utoipa::path(post, path = "/v1/admin/devices/{id}/token", tag = "admin", responses((status = 200, body = proto::admin::RotatedToken)))]
pub(crate) async fn rotate_device_token(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::admin::RotatedToken>, ApiError> {
    rotate(app, caller, Kind::Device, id).await
}

/// `POST /v1/admin/service-accounts/{id}/token`
#[utoipa::path(post, path = "/v1/admin/service-accounts/{id}/token", tag = "admin", responses((status = 200, body = proto::admin::RotatedToken)))]
pub(crate) async fn rotate_service_token(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<proto::admin::RotatedToken>, ApiError> {
    rotate(app, caller, Kind::ServiceAccount, id).await
}

async fn rotate(
    app: AppState,
    caller: Caller,
    kind: Kind,
    id: String,
) -> Result<axum::Json<proto::admin::RotatedToken>, ApiError> {
    caller.require_admin()?;
    let token = app.admin.rotate(kind, &id).await?;
    Ok(axum::Json(proto::admin::RotatedToken {
        token: token.expose().to_owned(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// At most this many entries, newest first (default 100, at most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnusedQuery {
    /// Not presented for at least this many days (default `tokens.unused_after_days`, else 90).
    #[param(minimum = 1, maximum = 36500)]
    days: Option<u32>,
}

/// `GET /v1/admin/tokens/unused` — device and service tokens nobody presented for a while.
#[utoipa::path(get, path = "/v1/admin/tokens/unused", tag = "admin", params(UnusedQuery),
    responses((status = 200, body = proto::admin::UnusedTokens), (status = 400, body = proto::Problem)))]
pub(crate) async fn unused_tokens(
    State(app): State<AppState>,
    caller: Caller,
    Query(q): Query<UnusedQuery>,
) -> Result<axum::Json<proto::admin::UnusedTokens>, ApiError> {
    caller.require_admin()?;
    let days = match q.days {
        None => app.config.tokens.unused_after_days.unwrap_or(90),
        Some(d @ 1..=36_500) => d,
        Some(_) => return Err(ApiError::bad("invalid_query", "days is 1 to 36,500")),
    };
    let tokens = app
        .admin
        .unused_tokens(days, crate::clock::now_ms())
        .await?
        .into_iter()
        .map(|u| proto::admin::UnusedToken {
            id: u.principal.to_string(),
            kind: u.kind,
            name: u.name,
            issued_at: u.issued_at,
            last_used_at: u.last_used_at,
        })
        .collect();
    Ok(axum::Json(proto::admin::UnusedTokens { days, tokens }))
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
        .admin
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
