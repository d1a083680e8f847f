//! `/v1/connection-data`.

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::Caller;
use axum::extract::State;
use callside_proto as proto;

/// `GET /v1/connection-data` — STUN/TURN servers with TURN credentials for this principal.
#[utoipa::path(get, path = "/v1/connection-data", tag = "connect",
    responses((status = 200, body = proto::connect::ConnectionData), (status = 429, body = proto::Problem)))]
pub(crate) async fn connection_data(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<proto::connect::ConnectionData>, ApiError> {
    let (servers, expires_at) = app.connect.servers(&p)?;
    let ice_servers = servers
        .into_iter()
        .map(|s| {
            let (username, credential) = s.credential.unzip();
            proto::connect::IceServer {
                urls: s.urls,
                username,
                credential,
            }
        })
        .collect();
    Ok(axum::Json(proto::connect::ConnectionData {
        ice_servers,
        expires_at,
    }))
}
