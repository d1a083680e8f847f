//! Push adapters: wake a device that has no open connection.
//!
//! When something is waiting for a device whose socket is closed (a session opened, a message
//! arrived), the server sends it a **wake-up** through the platform's push service; the device
//! wakes, connects over its authenticated channel, and fetches what is waiting. This crate is
//! those wake-ups and nothing else:
//!
//! | adapter | for | how |
//! |---|---|---|
//! | Web Push | browsers, UnifiedPush | RFC 8030 POST to the subscription's endpoint; body encrypted per RFC 8291 (`aes128gcm`) to the browser's keys; RFC 8292 VAPID (`Authorization: vapid t=<ES256 JWT>, k=<public key>`); `TTL`, `Urgency: high` |
//! | APNs | iOS, macOS | HTTP/2 POST `/3/device/<token>`; provider token (ES256 JWT, `iss` = team id, `kid` = key id) cached for 50 minutes; `apns-push-type: background`, `apns-priority: 5`, `{"aps":{"content-available":1}}` |
//! | FCM | Android | HTTP v1 `messages:send` with a data-only, high-priority message; OAuth 2 access token from the service account (RS256 JWT bearer grant) cached until five minutes before it expires |
//!
//! # No content, ever
//!
//! A push passes through Apple, Google, Mozilla or whoever runs the endpoint, and they see (APNs,
//! FCM) or keep what it carries. So the only payload this crate accepts is a [`Wake`]: an opaque
//! id (`[A-Za-z0-9._:-]{1,64}`) sent as `{"t":"wake","id":"<id>"}`. There is no way to pass text,
//! a title or a caller's number, so none can be pushed by mistake. Web Push bodies are also
//! padded to one length, so the ciphertext's size tells nothing either.
//!
//! # Errors: gone, retry, rejected
//!
//! [`Pusher::send`] makes one attempt and returns [`Delivered`] or a [`PushError`] that says what
//! to do next:
//!
//! - [`PushError::Gone`]: the endpoint or token is dead (Web Push 404/410; APNs 410, or 400
//!   `BadDeviceToken`; FCM `UNREGISTERED`, `SENDER_ID_MISMATCH`, or 400 `INVALID_ARGUMENT` about
//!   the token). Delete the subscription: it will never work again. So will
//!   [`PushError::InvalidSubscription`] (keys or tokens that do not decode);
//!   [`PushError::should_remove_subscription`] answers for both.
//! - [`PushError::Retryable`]: 429, 5xx, a time-out or a network error, with the provider's
//!   `Retry-After` if it gave one. An expired APNs provider token or FCM access token is also
//!   retryable: the cached token is dropped, and the next attempt mints a new one.
//! - [`PushError::Rejected`]: any other refusal (a bad credential, a topic that does not match the
//!   token); retrying will not help, the configuration needs fixing.
//! - [`PushError::NotConfigured`]: the subscription's provider has no configuration here.
//!
//! [`Pusher::send_with_retry`] retries only `Retryable` failures, with capped exponential backoff
//! ([`RetryPolicy`]), waiting at least what `Retry-After` asks, and gives up at once when that is
//! longer than the policy's cap, so the caller can schedule the push instead of holding a task.
//!
//! # Example
//!
//! ```no_run
//! use callside_push::{PushConfig, Pusher, RetryPolicy, Subscription, VapidKey, Wake, WebPushConfig};
//!
//! # async fn example(stored_pem: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let key = VapidKey::from_pem(stored_pem)?; // once: VapidKey::generate().to_pem()
//! let pusher = Pusher::new(PushConfig {
//!     web_push: Some(WebPushConfig::new(key, "mailto:ops@example.org")?),
//!     ..PushConfig::default()
//! })?;
//! let subscription = Subscription::WebPush {
//!     endpoint: "https://updates.push.services.mozilla.com/wpush/v2/…".into(),
//!     p256dh: "BNc…".into(),
//!     auth: "tBH…".into(),
//! };
//! match pusher.send_with_retry(&subscription, &Wake::new("0190a1b2c3d4e5")?, &RetryPolicy::default()).await {
//!     Ok(_) => {}
//!     Err(e) if e.should_remove_subscription() => { /* delete the subscription */ }
//!     Err(e) => tracing::warn!(error = %e, "wake-up not delivered"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Web Push endpoints come from devices, so the server must treat them as untrusted URLs: this
//! crate sends only to `https:` endpoints (unless [`WebPushConfig::allow_http_endpoints`]) and
//! never follows redirects, but it does not resolve hosts, so refusing endpoints in private
//! address ranges is the caller's job at registration.

mod apns;
mod error;
mod fcm;
mod keys;
mod resolve;
mod retry;
mod subscription;
mod wake;
mod webpush;

pub use apns::{ApnsConfig, APNS_PRODUCTION, APNS_SANDBOX};
pub use error::{ConfigError, PushError};
pub use fcm::{FcmConfig, ServiceAccount, FCM_API, FCM_SCOPE};
pub use keys::VapidKey;
pub use resolve::{is_public_address, PublicOnly as PublicOnlyResolver};
pub use retry::RetryPolicy;
pub use subscription::{Provider, Subscription};
pub use wake::{Wake, MAX_WAKE_ID_LEN};
pub use webpush::WebPushConfig;

use apns::Apns;
use fcm::Fcm;
use std::time::Duration;

/// What to configure; a provider left `None` answers [`PushError::NotConfigured`].
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// Web Push (VAPID).
    pub web_push: Option<WebPushConfig>,
    /// APNs (token-based).
    pub apns: Option<ApnsConfig>,
    /// FCM (HTTP v1).
    pub fcm: Option<FcmConfig>,
    /// The time limit of one HTTP request, connection included.
    pub timeout: Duration,
    /// Connect only to public addresses when resolving host names (on by default): Web Push
    /// endpoints come from devices. IP literals are not resolved; check them at registration.
    pub public_only: bool,
}

impl Default for PushConfig {
    /// Nothing configured, and a 10-second time limit.
    fn default() -> Self {
        PushConfig {
            web_push: None,
            apns: None,
            fcm: None,
            timeout: Duration::from_secs(10),
            public_only: true,
        }
    }
}

/// A push the provider accepted (which is not yet a delivery to the device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Who accepted it.
    pub provider: Provider,
    /// The provider's id for the message, if it gave one (Web Push `Location`, `apns-id`, the
    /// FCM message `name`).
    pub message_id: Option<String>,
}

/// Sends wake-ups; one per server, shared by reference (it holds the HTTP clients and the cached
/// APNs and FCM tokens).
pub struct Pusher {
    http: reqwest::Client,
    /// APNs allows only HTTP/2; this client speaks nothing else.
    http2: reqwest::Client,
    web_push: Option<WebPushConfig>,
    apns: Option<Apns>,
    fcm: Option<Fcm>,
}

impl Pusher {
    /// A pusher for the configured providers.
    pub fn new(config: PushConfig) -> Result<Pusher, ConfigError> {
        let client = |http2_only: bool| {
            let builder = reqwest::Client::builder()
                .timeout(config.timeout)
                .connect_timeout(config.timeout)
                // Endpoints come from devices: never let one bounce us elsewhere.
                .redirect(reqwest::redirect::Policy::none());
            let builder = if http2_only {
                builder.http2_prior_knowledge()
            } else {
                builder
            };
            let builder = if config.public_only {
                builder.dns_resolver(std::sync::Arc::new(resolve::PublicOnly))
            } else {
                builder
            };
            builder.build().map_err(|e| ConfigError::Value {
                what: "HTTP client",
                reason: e.to_string(),
            })
        };
        Ok(Pusher {
            http: client(false)?,
            http2: client(true)?,
            web_push: config.web_push,
            apns: config.apns.map(Apns::new),
            fcm: config.fcm.map(Fcm::new),
        })
    }

    /// The VAPID public key (the `applicationServerKey` browsers subscribe with), if Web Push is
    /// configured.
    pub fn vapid_public_key(&self) -> Option<&str> {
        self.web_push.as_ref().map(|c| c.key().public_key())
    }

    /// Checks a subscription's form without sending anything: for registration.
    pub fn check(&self, subscription: &Subscription) -> Result<(), PushError> {
        match subscription {
            Subscription::WebPush {
                endpoint,
                p256dh,
                auth,
            } => {
                let config = self
                    .web_push
                    .as_ref()
                    .ok_or(PushError::NotConfigured(Provider::WebPush))?;
                config.target(endpoint, p256dh, auth).map(drop)
            }
            Subscription::Apns {
                device_token,
                topic,
                ..
            } => {
                self.apns
                    .as_ref()
                    .ok_or(PushError::NotConfigured(Provider::Apns))?;
                Apns::check(device_token, topic)
            }
            Subscription::Fcm { registration_token } => {
                self.fcm
                    .as_ref()
                    .ok_or(PushError::NotConfigured(Provider::Fcm))?;
                Fcm::check(registration_token)
            }
        }
    }

    /// Sends `wake` to `subscription` once.
    #[tracing::instrument(skip_all, fields(provider = %subscription.provider()))]
    pub async fn send(
        &self,
        subscription: &Subscription,
        wake: &Wake,
    ) -> Result<Delivered, PushError> {
        match subscription {
            Subscription::WebPush {
                endpoint,
                p256dh,
                auth,
            } => {
                let config = self
                    .web_push
                    .as_ref()
                    .ok_or(PushError::NotConfigured(Provider::WebPush))?;
                let target = config.target(endpoint, p256dh, auth)?;
                config.send(&self.http, &target, wake).await
            }
            Subscription::Apns {
                device_token,
                topic,
                sandbox,
            } => {
                let apns = self
                    .apns
                    .as_ref()
                    .ok_or(PushError::NotConfigured(Provider::Apns))?;
                apns.send(&self.http2, device_token, topic, *sandbox, wake)
                    .await
            }
            Subscription::Fcm { registration_token } => {
                let fcm = self
                    .fcm
                    .as_ref()
                    .ok_or(PushError::NotConfigured(Provider::Fcm))?;
                fcm.send(&self.http, registration_token, wake).await
            }
        }
    }

    /// Sends `wake`, retrying [`PushError::Retryable`] failures as `policy` says.
    pub async fn send_with_retry(
        &self,
        subscription: &Subscription,
        wake: &Wake,
        policy: &RetryPolicy,
    ) -> Result<Delivered, PushError> {
        retry::retry_with(policy, tokio::time::sleep, || self.send(subscription, wake)).await
    }
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("web_push", &self.web_push.is_some())
            .field("apns", &self.apns.is_some())
            .field("fcm", &self.fcm.is_some())
            .finish()
    }
}
