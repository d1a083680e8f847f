//! `/v1/me/push`: push subscriptions, and the stored subscription format.

use super::{Error, NewSubscription};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{Caller, Json};
use crate::http::wire::JsonWire;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use callside_proto as proto;
use callside_push::Subscription;
use callside_store::PushRecord;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::DevicesOnly => ApiError::Forbidden("devices_only", e.to_string()),
            Error::InvalidSubscription(_) => ApiError::bad("invalid_subscription", e),
            Error::NotConfigured(_) => ApiError::Disabled("push_not_configured", e.to_string()),
            Error::TooMany => ApiError::Conflict("too_many_subscriptions", e.to_string()),
            Error::NotFound => ApiError::NotFound("push subscription"),
            Error::UnknownTopic(_) => ApiError::bad("unknown_topic", e),
            Error::Store(e) => e.into(),
        }
    }
}

/// The sender's view of a registered subscription, its kind, and what identifies it.
fn to_push(s: &proto::push::PushSubscription) -> (Subscription, &'static str, String) {
    match s.clone() {
        proto::push::PushSubscription::WebPush {
            endpoint,
            p256dh,
            auth,
        } => (
            Subscription::WebPush {
                endpoint: endpoint.clone(),
                p256dh,
                auth,
            },
            "web_push",
            endpoint,
        ),
        proto::push::PushSubscription::Apns {
            device_token,
            topic,
            sandbox,
        } => (
            Subscription::Apns {
                device_token: device_token.clone(),
                topic: topic.unwrap_or_default(),
                sandbox,
            },
            "apns",
            device_token,
        ),
        proto::push::PushSubscription::Fcm { registration_token } => (
            Subscription::Fcm {
                registration_token: registration_token.clone(),
            },
            "fcm",
            registration_token,
        ),
    }
}

impl super::Wire for JsonWire {
    fn subscription(&self, stored: &str) -> Option<Subscription> {
        let sub = serde_json::from_str::<proto::push::PushSubscription>(stored).ok()?;
        Some(to_push(&sub).0)
    }
}

fn provider(p: &str) -> proto::push::PushProvider {
    match p {
        "apns" => proto::push::PushProvider::Apns,
        "fcm" => proto::push::PushProvider::Fcm,
        _ => proto::push::PushProvider::WebPush,
    }
}

fn registered(r: PushRecord) -> proto::push::RegisteredPush {
    proto::push::RegisteredPush {
        provider: provider(&r.provider),
        id: r.id,
        created_at: r.created_at,
    }
}

/// `POST /v1/me/push` — register a push subscription for wake-ups (201).
#[utoipa::path(post, path = "/v1/me/push", tag = "push", request_body = proto::push::PushSubscription,
    responses((status = 201, body = proto::push::RegisteredPush), (status = 400, body = proto::Problem),
              (status = 409, body = proto::Problem), (status = 503, body = proto::Problem)))]
pub(crate) async fn register_push(
    State(app): State<AppState>,
    Caller(p): Caller,
    Json(mut sub): Json<proto::push::PushSubscription>,
) -> Result<(StatusCode, axum::Json<proto::push::RegisteredPush>), ApiError> {
    if let proto::push::PushSubscription::Apns { topic, .. } = &mut sub {
        *topic = Some(app.wakes.apns_topic(&p, topic.as_deref())?);
    }
    let (subscription, provider, identity) = to_push(&sub);
    let new = NewSubscription {
        subscription,
        provider,
        identity,
        data: serde_json::to_string(&sub).expect("subscriptions serialise"),
    };
    let rec = app.wakes.register(&p, new).await?;
    Ok((StatusCode::CREATED, axum::Json(registered(rec))))
}

/// `GET /v1/me/push` — this device's push subscriptions and the server's VAPID public key.
#[utoipa::path(get, path = "/v1/me/push", tag = "push", responses((status = 200, body = proto::push::PushList)))]
pub(crate) async fn list_push(
    State(app): State<AppState>,
    Caller(p): Caller,
) -> Result<axum::Json<proto::push::PushList>, ApiError> {
    let subscriptions = app
        .wakes
        .list(&p.id)
        .await?
        .into_iter()
        .map(registered)
        .collect();
    Ok(axum::Json(proto::push::PushList {
        subscriptions,
        vapid_public_key: app.wakes.vapid_public_key(),
    }))
}

/// `DELETE /v1/me/push/{id}`.
#[utoipa::path(delete, path = "/v1/me/push/{id}", tag = "push", responses((status = 204), (status = 404, body = proto::Problem)))]
pub(crate) async fn delete_push(
    State(app): State<AppState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.wakes.delete(&p.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
