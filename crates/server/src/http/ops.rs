//! Operational endpoints: liveness, readiness, metrics, the public keys, the API description.

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::Caller;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// `GET /healthz` — the process is up.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz` — the database answers.
pub(crate) async fn readyz(State(app): State<AppState>) -> Result<&'static str, ApiError> {
    if app.supervisor.token().is_cancelled() || app.store.has_failed() {
        return Err(ApiError::Unavailable);
    }
    app.store.ping().await?;
    Ok("ready\n")
}

/// `GET /metrics` — Prometheus text, for the operator's token: the counters say how busy the
/// server is and what happens on it, which is no one else's business.
pub(crate) async fn metrics(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    Ok(open_metrics(State(app)).await.into_response())
}

/// `GET /metrics` on the metrics listener (`metrics.listen`), which needs no token: its address
/// is the operator's choice of who may scrape.
pub(crate) async fn open_metrics(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics
            .render(app.hub.connections(), app.calls.pending_legs()),
    )
}

/// `GET /.well-known/jwks.json` — the keys caller-data PASSporTs are signed with (public).
pub(crate) async fn jwks(State(app): State<AppState>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/jwk-set+json")],
        app.signer.jwks().to_owned(),
    )
        .into_response()
}

/// `GET /v1/openapi.json` (no authentication: it describes, it reveals nothing).
pub(crate) async fn serve() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
}
