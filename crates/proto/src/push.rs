//! Push subscriptions: how callside wakes a device that is not connected. Pushes carry no
//! content, only an opaque wake-up (`{"t":"wake","id":"…"}`); the device then connects and
//! fetches over the authenticated channel.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A subscription as the platform handed it to the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "provider", rename_all = "snake_case", deny_unknown_fields)]
pub enum PushSubscription {
    /// A browser's `PushSubscription` (RFC 8030 endpoint, RFC 8291 keys); subscribe with the
    /// `vapid_public_key` of `GET /v1/me/push` as `applicationServerKey`.
    WebPush {
        endpoint: String,
        p256dh: String,
        auth: String,
    },
    /// An Apple device token (hex) for the app `topic` (its bundle id, one the operator configured).
    Apns {
        device_token: String,
        /// The app's bundle id: one the operator configured (`push.apns_topics`); may be left
        /// out when the server serves one app.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        #[serde(default)]
        sandbox: bool,
    },
    /// An FCM registration token.
    Fcm { registration_token: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushProvider {
    WebPush,
    Apns,
    Fcm,
}

/// A registered subscription (its tokens are not echoed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegisteredPush {
    pub id: String,
    pub provider: PushProvider,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PushList {
    pub subscriptions: Vec<RegisteredPush>,
    /// The server's VAPID public key (base64url), for browsers' `applicationServerKey`.
    pub vapid_public_key: Option<String>,
}
