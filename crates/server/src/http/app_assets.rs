//! The companion web app at `/app/` (issue 14): static files built from `web/app` (committed, so
//! building callside needs no Node; `scripts/test-web` checks they are current) and compiled into
//! the binary. Served with a strict Content-Security-Policy: the page loads only its own files
//! and talks only to this server.

use crate::app::AppState;
use axum::extract::{Path, State};
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
    (
        "agent.html",
        "text/html; charset=utf-8",
        include_bytes!("../../assets/app/agent.html"),
    ),
    (
        "agent.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app/agent.js"),
    ),
    (
        "call.html",
        "text/html; charset=utf-8",
        include_bytes!("../../assets/app/call.html"),
    ),
    (
        "call.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app/call.js"),
    ),
    (
        "sip.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app/sip.js"),
    ),
    (
        "loader.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/app/loader.js"),
    ),
];

/// The pages each directory serves: its page, and the files it may load.
const AGENT: &[&str] = &["agent.js", "app.css"];
const CALL: &[&str] = &["app.css"];

/// Revalidated on every use: pages and what changes with the binary under a fixed name.
const REVALIDATE: &str = "no-cache";
/// Named by its content: never changes, kept for a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The call window's scripts under names made of their content's SHA-256 (S4 claim 36): served
/// immutable, so a visitor's browser fetches them once per version of callside, and the call
/// window's page (revalidated, a few hundred bytes) names the current ones. `sip.js` (JsSIP, for
/// calls to a number through the WebRTC-to-SIP gateway) is loaded only for such calls.
struct CallAssets {
    /// (served name, file), for `call.js` and `sip.js`.
    scripts: Vec<(String, &'static str)>,
    page: Vec<u8>,
}

fn call_assets() -> &'static CallAssets {
    static ASSETS: std::sync::OnceLock<CallAssets> = std::sync::OnceLock::new();
    ASSETS.get_or_init(|| {
        use sha2::Digest as _;
        let mut page = String::from_utf8_lossy(bytes_of("call.html")).into_owned();
        let mut scripts = Vec::new();
        for (file, attr) in [("call.js", "src"), ("sip.js", "content")] {
            let digest = sha2::Sha256::digest(bytes_of(file));
            let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            let stem = file.trim_end_matches(".js");
            let named = format!("{stem}-{hex}.js");
            page = page.replace(
                &format!("{attr}=\"{file}\""),
                &format!("{attr}=\"{named}\""),
            );
            scripts.push((named, file));
        }
        CallAssets {
            scripts,
            page: page.into_bytes(),
        }
    })
}

fn bytes_of(name: &str) -> &'static [u8] {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, b)| *b)
        .unwrap_or_default()
}

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
    match name.as_str() {
        "agent.html" | "agent.js" | "call.html" | "call.js" | "sip.js" | "loader.js" => {
            super::error::ApiError::NotFound("file").into_response()
        }
        _ => file(&name),
    }
}

/// `GET /agent` and `GET /call`: to their directories.
pub(crate) async fn agent_root() -> Redirect {
    Redirect::permanent("/agent/")
}

pub(crate) async fn call_root() -> Redirect {
    Redirect::permanent("/call/")
}

/// `GET /agent/` — the agent console (S4's call centre).
pub(crate) async fn agent_index() -> Response {
    file("agent.html")
}

/// `GET /agent/{file}`.
pub(crate) async fn agent_file(Path(name): Path<String>) -> Response {
    only(AGENT, &name)
}

/// `GET /call/` — a visitor's call window, opened by the loader; it names its scripts by their
/// content. With a WebRTC-to-SIP gateway configured, the page may also connect to it.
pub(crate) async fn call_index(State(app): State<AppState>) -> Response {
    let mut res = respond(
        "text/html; charset=utf-8",
        call_assets().page.clone(),
        REVALIDATE,
    );
    let gateway = app
        .config
        .browsers
        .sip_gateway
        .as_deref()
        .and_then(|g| url::Url::parse(g).ok())
        .map(|u| u.origin().ascii_serialization());
    if let Some(origin) = gateway {
        let csp = CSP.replace(
            "connect-src 'self'",
            &format!("connect-src 'self' {origin}"),
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    res
}

/// `GET /call/{file}`: the content-named script (immutable), or the styles.
pub(crate) async fn call_file(Path(name): Path<String>) -> Response {
    if let Some((_, file)) = call_assets().scripts.iter().find(|(n, _)| *n == name) {
        return respond("text/javascript; charset=utf-8", bytes_of(file), IMMUTABLE);
    }
    only(CALL, &name)
}

/// `GET /loader.js` — the script merchants' pages include. Any page may load it (a script tag
/// needs no CORS); it changes with the binary, so it is revalidated.
pub(crate) async fn loader() -> Response {
    file("loader.js")
}

fn only(allowed: &[&str], name: &str) -> Response {
    if allowed.contains(&name) {
        file(name)
    } else {
        super::error::ApiError::NotFound("file").into_response()
    }
}

fn file(name: &str) -> Response {
    let Some((_, mime, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return super::error::ApiError::NotFound("file").into_response();
    };
    let mut res = respond(mime, *bytes, REVALIDATE);
    if name == "sw.js" {
        res.headers_mut()
            .insert("service-worker-allowed", HeaderValue::from_static("/app/"));
    }
    res
}

/// A file with the pages' security headers and `cache` as its Cache-Control.
fn respond(
    mime: &'static str,
    bytes: impl Into<axum::body::Body>,
    cache: &'static str,
) -> Response {
    let mut res = (StatusCode::OK, bytes.into()).into_response();
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
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}
