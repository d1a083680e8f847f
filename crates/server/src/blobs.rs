//! Content-addressed files: streamed to disk while hashed, named by SHA-256, typed by sniffing
//! their bytes, served with range support to those allowed to see them.

use crate::app::App;
use crate::clock::now_ms;
use crate::http::error::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use callside_core::message::BlobId;
use callside_core::PrincipalId;
use callside_proto::blob::BlobInfo;
use callside_store::{BlobRecord, Write};
use futures_util::StreamExt as _;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;
use tower::ServiceExt as _;

/// Bytes kept from the start of a file to recognise its type.
const SNIFF: usize = 8192;

fn path_of(app: &App, id: &BlobId) -> PathBuf {
    let hex = id.hex();
    app.config.blob_dir.join(&hex[..2]).join(hex)
}

fn sniff(head: &[u8]) -> String {
    if let Some(t) = infer::get(head) {
        return t.mime_type().to_owned();
    }
    // Text if the sample is UTF-8 (allowing a character cut at the end of the sample).
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() == SNIFF,
    };
    if valid && !head.is_empty() && !head.contains(&0) {
        "text/plain; charset=utf-8".into()
    } else {
        "application/octet-stream".into()
    }
}

struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Stores an upload. Nothing is recorded unless the whole body arrived within the size limit.
pub(crate) async fn upload(app: &App, who: &PrincipalId, body: Body) -> Result<BlobInfo, ApiError> {
    let io = |e: std::io::Error| ApiError::Internal(format!("blob store: {e}"));
    let tmp_dir = app.config.blob_dir.join("tmp");
    tokio::fs::create_dir_all(&tmp_dir).await.map_err(io)?;
    let tmp = tmp_dir.join(callside_core::secret::random_b64(12));
    // Removes the partial file however this ends, including the client going away mid-upload
    // (the future is dropped); disarmed once the file has its final name.
    let mut guard = TempFile(Some(tmp.clone()));
    let result = async {
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let mut hasher = Sha256::new();
        let mut head = Vec::with_capacity(SNIFF);
        let mut size: u64 = 0;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad("upload_failed", format!("the upload broke off: {e}"))
            })?;
            size += chunk.len() as u64;
            if size > app.config.max_blob_bytes {
                return Err(ApiError::TooLarge(format!(
                    "files may be at most {} bytes",
                    app.config.max_blob_bytes
                )));
            }
            if head.len() < SNIFF {
                let take = (SNIFF - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
        }
        if size == 0 {
            return Err(ApiError::bad("empty_upload", "the upload has no bytes"));
        }
        file.sync_all().await.map_err(io)?;
        let id = BlobId::from_digest(&hasher.finalize().into());
        Ok((id, size, sniff(&head)))
    }
    .await;
    let (id, size, mime) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
    };
    let dest = path_of(app, &id);
    let dir = dest.parent().expect("blob paths have a parent").to_owned();
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    if tokio::fs::try_exists(&dest).await.map_err(io)? {
        let _ = tokio::fs::remove_file(&tmp).await;
    } else {
        tokio::fs::rename(&tmp, &dest).await.map_err(io)?;
        guard.0 = None;
        // Make the rename itself durable before the blob is recorded.
        if let Ok(d) = tokio::fs::File::open(&dir).await {
            let _ = d.sync_all().await;
        }
        app.metrics
            .blob_bytes
            .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
    }
    let record = BlobRecord {
        id: id.clone(),
        size,
        mime: mime.clone(),
        created_at: now_ms(),
    };
    app.store
        .apply(vec![Write::Blob(record, who.clone())])
        .await?;
    Ok(BlobInfo {
        id: id.to_string(),
        size,
        mime,
    })
}

/// Serves a blob (with `Range` support) to its uploaders and to participants of sessions whose
/// log references it. Anyone else gets 404, as for a blob that does not exist: content hashes
/// must not be probed.
/// The blob `id` if it exists and `who` may read it (an uploader, or a participant of a session
/// that references it); `None` for both "missing" and "not yours", so neither can be probed.
pub(crate) async fn readable(
    app: &App,
    who: &PrincipalId,
    id: &BlobId,
) -> Result<Option<callside_store::BlobRecord>, ApiError> {
    let Some(rec) = app.store.blob(id.clone()).await? else {
        return Ok(None);
    };
    Ok(app
        .store
        .may_read_blob(who.clone(), id.clone())
        .await?
        .then_some(rec))
}

pub(crate) async fn download(
    app: &App,
    who: &PrincipalId,
    id: &str,
    req: Request<Body>,
) -> Result<Response, ApiError> {
    let id = BlobId::parse(id).map_err(|e| ApiError::bad("invalid_blob_id", e))?;
    let rec = readable(app, who, &id)
        .await?
        .ok_or(ApiError::NotFound("blob"))?;
    let res = tower_http::services::ServeFile::new(path_of(app, &id))
        .oneshot(req)
        .await
        .map_err(|e| ApiError::Internal(format!("serving {id}: {e}")))?;
    let mut res = res.into_response();
    if res.status().is_success() {
        if let Ok(v) = HeaderValue::from_str(&rec.mime) {
            res.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", id.hex())) {
            res.headers_mut().insert(header::ETAG, v);
        }
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=31536000, immutable"),
        );
        // Never rendered in the server's origin: a participant's HTML is a download.
        res.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        res.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
    }
    Ok(res)
}
