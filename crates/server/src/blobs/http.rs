//! `/v1/blobs`: uploads (the raw request body) and ranged downloads.

use super::Error;
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::Caller;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use callside_core::message::BlobId;
use callside_proto as proto;
use tower::ServiceExt as _;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::UploadFailed(_) => ApiError::bad("upload_failed", e),
            Error::TooLarge(_) => ApiError::TooLarge(e.to_string()),
            Error::Empty => ApiError::bad("empty_upload", e),
            Error::Quota(_) => ApiError::TooMany("upload_quota", e.to_string()),
            Error::LowOnSpace => ApiError::InsufficientStorage(e.to_string()),
            Error::Io(_) => ApiError::Internal(e.to_string()),
            Error::Store(e) => e.into(),
        }
    }
}

/// `POST /v1/blobs` — upload a file (the raw request body); answers its content address.
#[utoipa::path(post, path = "/v1/blobs", tag = "blobs", request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = proto::blob::BlobInfo), (status = 403, body = proto::Problem), (status = 413, body = proto::Problem), (status = 429, body = proto::Problem), (status = 507, body = proto::Problem)))]
pub(crate) async fn upload_blob(
    State(app): State<AppState>,
    Caller(p): Caller,
    body: Body,
) -> Result<(StatusCode, axum::Json<proto::blob::BlobInfo>), ApiError> {
    // Those who send files: devices (and their browsers) and automated systems. Network
    // elements, gateways and the operator have no use for the disk.
    let may = match &p.kind {
        callside_core::PrincipalKind::Device { .. } => true,
        callside_core::PrincipalKind::Service { .. } => {
            p.has_scope(callside_core::principal::Scope::AutomatedSystem)
        }
        callside_core::PrincipalKind::Admin => false,
    };
    if !may {
        return Err(ApiError::Forbidden(
            "uploads_not_allowed",
            "only devices and automated systems upload files".into(),
        ));
    }
    let rec = app.blobs.upload(&p.id, body.into_data_stream()).await?;
    let info = proto::blob::BlobInfo {
        id: rec.id.to_string(),
        size: rec.size,
        mime: rec.mime,
    };
    Ok((StatusCode::CREATED, axum::Json(info)))
}

/// `GET /v1/blobs/{id}` — download a file you may see; supports `Range`.
#[utoipa::path(get, path = "/v1/blobs/{id}", tag = "blobs", responses((status = 200, content_type = "*/*", description = "the bytes, typed by their content"), (status = 206, content_type = "*/*"), (status = 404, body = proto::Problem)))]
pub(crate) async fn download_blob(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    req: Request<Body>,
) -> Result<Response, ApiError> {
    let id = BlobId::parse(&id).map_err(|e| ApiError::bad("invalid_blob_id", e))?;
    // Missing and not yours look the same: content hashes cannot be probed.
    let rec = app
        .blobs
        .readable(&p.id, &id)
        .await?
        .ok_or(ApiError::NotFound("blob"))?;
    let res = tower_http::services::ServeFile::new(app.blobs.path_of(&id))
        .oneshot(req)
        .await
        .map_err(|e| ApiError::Internal(format!("serving {id}: {e}")))?;
    let mut res = res.into_response();
    if res.status().is_success() {
        let headers = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&rec.mime) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", id.hex())) {
            headers.insert(header::ETAG, v);
        }
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=31536000, immutable"),
        );
        // Never rendered in the server's origin: a participant's HTML is a download.
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
        // And if a browser renders it anyway (an HTML page, an SVG with scripts): no scripts, no
        // requests, an origin of its own.
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox; default-src 'none'; style-src 'unsafe-inline'"),
        );
    }
    Ok(res)
}
