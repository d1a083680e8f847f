//! Where a device can be woken: one subscription per device and provider.

use std::fmt;

/// The three push providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// RFC 8030 Web Push (browsers, UnifiedPush distributors).
    WebPush,
    /// Apple Push Notification service.
    Apns,
    /// Firebase Cloud Messaging (HTTP v1).
    Fcm,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::WebPush => "Web Push",
            Provider::Apns => "APNs",
            Provider::Fcm => "FCM",
        })
    }
}

/// A device's push subscription, as the device registered it.
///
/// Fields hold what the platform hands the app, unchanged; they are checked when a push is sent
/// (a malformed one gives [`PushError::InvalidSubscription`](crate::PushError::InvalidSubscription)),
/// and [`Pusher::check`](crate::Pusher::check) checks them at registration.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Subscription {
    /// A browser's `PushSubscription` (RFC 8030 endpoint and RFC 8291 keys).
    WebPush {
        /// The push service URL to POST to.
        endpoint: String,
        /// The user agent's P-256 public key, base64url (65 bytes, uncompressed point).
        p256dh: String,
        /// The user agent's authentication secret, base64url (16 bytes).
        auth: String,
    },
    /// An iOS or macOS app's device token.
    Apns {
        /// The device token, hex.
        device_token: String,
        /// The app's bundle id (the `apns-topic`).
        topic: String,
        /// Whether the token is from the development environment (Xcode builds).
        sandbox: bool,
    },
    /// An Android app's FCM registration token.
    Fcm {
        /// The registration token.
        registration_token: String,
    },
}

impl Subscription {
    /// The provider this subscription belongs to.
    pub fn provider(&self) -> Provider {
        match self {
            Subscription::WebPush { .. } => Provider::WebPush,
            Subscription::Apns { .. } => Provider::Apns,
            Subscription::Fcm { .. } => Provider::Fcm,
        }
    }
}

/// Tokens and keys are capabilities: they never appear in logs, so `Debug` keeps only what helps.
impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subscription::WebPush { endpoint, .. } => {
                // The origin names the push service; the path is the capability.
                let origin = reqwest::Url::parse(endpoint)
                    .map(|u| u.origin().ascii_serialization())
                    .unwrap_or_else(|_| "<not a URL>".into());
                f.debug_struct("WebPush")
                    .field("origin", &origin)
                    .finish_non_exhaustive()
            }
            Subscription::Apns { topic, sandbox, .. } => f
                .debug_struct("Apns")
                .field("topic", topic)
                .field("sandbox", sandbox)
                .finish_non_exhaustive(),
            Subscription::Fcm { .. } => f.debug_struct("Fcm").finish_non_exhaustive(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_out_tokens_and_keys() {
        let web = Subscription::WebPush {
            endpoint: "https://push.example/wpush/v2/SECRET-PATH".into(),
            p256dh: "SECRET-KEY".into(),
            auth: "SECRET-AUTH".into(),
        };
        let apns = Subscription::Apns {
            device_token: "SECRET-TOKEN".into(),
            topic: "app.callside".into(),
            sandbox: false,
        };
        let fcm = Subscription::Fcm {
            registration_token: "SECRET-TOKEN".into(),
        };
        for sub in [web, apns, fcm] {
            let shown = format!("{sub:?}");
            assert!(!shown.contains("SECRET"), "{shown}");
        }
    }
}
