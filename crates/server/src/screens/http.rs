//! `/v1/me/screen`: an automated system's predetermined screen (S1-F11), and its wire form on a
//! call.

use super::{Error, NewScreen};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{Caller, Json};
use crate::http::wire::JsonWire;
use axum::extract::State;
use axum::http::StatusCode;
use callside_core::message::BlobId;
use callside_core::PhoneNumber;
use callside_proto as proto;
use callside_proto::screen::{ScreenBody, ScreenMode};

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::SystemsOnly => ApiError::Forbidden("systems_only", e.to_string()),
            Error::NoScreen => ApiError::NotFound("screen"),
            Error::Session(e) => e.into(),
            Error::Store(e) => e.into(),
        }
    }
}

impl super::Wire for JsonWire {
    fn screen_for_call(&self, stored: &str, number: Option<&PhoneNumber>) -> String {
        let Ok(mut screen) = serde_json::from_str::<ScreenBody>(stored) else {
            // Stored by this server after checking; kept as is if it ever cannot be read.
            return stored.to_owned();
        };
        if screen.owner.number.is_none() {
            screen.owner.number = number.map(ToString::to_string);
        }
        serde_json::to_string(&screen).expect("screens serialise")
    }
}

fn screen_out(body: &str) -> Result<ScreenBody, ApiError> {
    serde_json::from_str(body).map_err(|e| ApiError::Internal(format!("stored screen: {e}")))
}

/// `PUT /v1/me/screen` — keep this automated system's predetermined screen on the server: it
/// goes to callers whose devices show screens when a call reaches the system (S1-F11, F20).
#[utoipa::path(put, path = "/v1/me/screen", tag = "screens", request_body = ScreenBody,
    responses((status = 200, body = ScreenBody), (status = 400, body = proto::Problem),
              (status = 403, body = proto::Problem)))]
pub(crate) async fn put_screen(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(mut body): Json<ScreenBody>,
) -> Result<axum::Json<ScreenBody>, ApiError> {
    if !p.has_scope(callside_core::Scope::AutomatedSystem) {
        return Err(Error::SystemsOnly.into());
    }
    if body.mode != ScreenMode::Predetermined {
        return Err(ApiError::bad(
            "invalid_screen",
            "a screen kept on the server is `predetermined`; send dynamic ones on the session",
        ));
    }
    let region = app.config.regions().of(&p);
    let parse = |n: &str| Ok(PhoneNumber::parse(n, Some(region))?);
    let checked = crate::http::screen_wire::screen_in(&p, &mut body, parse)?;
    // The image is not collected between its check and the screen's commit.
    let mut _hold = None;
    let image = match &body.image {
        Some(image) => {
            let id = BlobId::parse(image)?;
            _hold = Some(app.blobs.hold().await);
            app.blobs.readable(&p.id, &id).await?.ok_or_else(|| {
                ApiError::bad(
                    "unknown_blob",
                    format!("no blob {id} that you may share; upload it with POST /v1/blobs first"),
                )
            })?;
            Some(id)
        }
        None => None,
    };
    let json = serde_json::to_string(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    app.sessions.check_size(&json)?;
    let kept = app
        .screens
        .put(
            &p,
            NewScreen {
                regions: checked.region_ids(),
                id: checked.id,
                body: json,
                image,
            },
        )
        .await?;
    Ok(axum::Json(screen_out(&kept.body)?))
}

/// `GET /v1/me/screen` — the predetermined screen this system keeps (404 if none).
#[utoipa::path(get, path = "/v1/me/screen", tag = "screens",
    responses((status = 200, body = ScreenBody), (status = 403, body = proto::Problem),
              (status = 404, body = proto::Problem)))]
pub(crate) async fn get_screen(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<ScreenBody>, ApiError> {
    let kept = app.screens.get(&p).await?;
    Ok(axum::Json(screen_out(&kept.body)?))
}

/// `DELETE /v1/me/screen` — stop greeting callers with a screen (204).
#[utoipa::path(delete, path = "/v1/me/screen", tag = "screens",
    responses((status = 204), (status = 403, body = proto::Problem), (status = 404, body = proto::Problem)))]
pub(crate) async fn delete_screen(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<StatusCode, ApiError> {
    app.screens.delete(&p).await?;
    Ok(StatusCode::NO_CONTENT)
}
