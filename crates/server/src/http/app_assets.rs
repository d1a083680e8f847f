//! The companion web app at `/app/` (issue 14): static files built from `web/app` (committed, so
//! building callside needs no Node; `scripts/test-web` checks they are current) and compiled into
//! the binary. Served with a strict Content-Security-Policy: the page loads only its own files
//! and talks only to this server.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

/// (name, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../assets/app/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/app/app.css"),
    ),
    (
        "sw.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app/sw.js"),
    ),
];

/// Only this server: scripts, styles and connections to it; images also from downloaded blobs.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; worker-src 'self'; \
    manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /app` — to the app's directory, so its relative URLs resolve.
pub(crate) async fn app_root() -> Redirect {
    Redirect::permanent("/app/")
}

/// `GET /app/` — the page.
pub(crate) async fn app_index() -> Response {
    file("index.html")
}

/// `GET /app/{file}`.
pub(crate) async fn app_file(Path(name): Path<String>) -> Response {
    file(&name)
}

fn file(name: &str) -> Response {
    let Some((_, mime, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return super::error::ApiError::NotFound("file").into_response();
    };
    let mut res = (StatusCode::OK, *bytes).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Small files that change with the binary: always revalidated.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if name == "sw.js" {
        h.insert("service-worker-allowed", HeaderValue::from_static("/app/"));
    }
    res
}
