//! The two error types: one for building (keys, configuration, wake-ups), one for sending.

use crate::Provider;
use std::time::Duration;

/// Why a push was not delivered.
///
/// The variant tells the caller what to do: drop the subscription ([`Gone`](Self::Gone)), try again
/// later ([`Retryable`](Self::Retryable)), or log and give up on this push
/// ([`Rejected`](Self::Rejected), [`NotConfigured`](Self::NotConfigured),
/// [`InvalidSubscription`](Self::InvalidSubscription)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The endpoint or token is no longer valid (the app was uninstalled, the browser unsubscribed,
    /// the token was rotated): remove the subscription, it will never work again.
    #[error("the {provider} subscription is gone: {reason}")]
    Gone {
        /// Who said so.
        provider: Provider,
        /// The provider's reason (status and code), for logs.
        reason: String,
    },
    /// A passing failure (429, 5xx, a network error or a time-out): the same push may succeed later.
    #[error("{provider} failed for now: {reason}")]
    Retryable {
        /// Who failed.
        provider: Provider,
        /// What happened, for logs.
        reason: String,
        /// How long the provider asked us to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
    /// The provider refused this push for a reason that retrying will not fix (a bad credential,
    /// a topic that does not match, a malformed request): fix the configuration.
    #[error("{provider} rejected the push ({status}): {reason}")]
    Rejected {
        /// Who refused.
        provider: Provider,
        /// The HTTP status.
        status: u16,
        /// The provider's reason, for logs.
        reason: String,
    },
    /// The subscription's provider has no configuration in this [`Pusher`](crate::Pusher).
    #[error("{0} is not configured")]
    NotConfigured(Provider),
    /// The subscription itself is malformed (keys that do not decode, an endpoint that is not an
    /// allowed URL): refuse it when it is registered, drop it if it is stored.
    #[error("invalid {provider} subscription: {reason}")]
    InvalidSubscription {
        /// The subscription's provider.
        provider: Provider,
        /// What is wrong with it.
        reason: String,
    },
}

impl PushError {
    /// Whether the caller should delete the subscription: it is gone or can never work.
    pub fn should_remove_subscription(&self) -> bool {
        matches!(
            self,
            PushError::Gone { .. } | PushError::InvalidSubscription { .. }
        )
    }
}

/// Invalid keys, configuration or wake-up ids, found while building, never while sending.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A private key that does not parse or is not of the expected kind.
    #[error("invalid {what}: {reason}")]
    Key {
        /// Which key (`VAPID key`, `APNs key`, `FCM service-account key`).
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A service-account JSON file that lacks a field or does not parse.
    #[error("invalid FCM service account: {0}")]
    ServiceAccount(String),
    /// A configuration value out of its allowed form (VAPID subject, base URL, team or key id).
    #[error("invalid {what}: {reason}")]
    Value {
        /// Which value.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A wake-up id outside `[A-Za-z0-9._:-]{1,64}`.
    #[error("invalid wake-up id: {0}")]
    WakeId(String),
}
