//! APNs: HTTP/2 with token-based authentication (an ES256 JWT signed with the team's `.p8` key).

use crate::keys::{es256_key, secret_from_pem};
use crate::retry::retry_after;
use crate::webpush::excerpt;
use crate::{ConfigError, Delivered, Provider, PushError, Wake};
use jsonwebtoken::EncodingKey;
use reqwest::Url;
use serde::Serialize;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Apple's production endpoint.
pub const APNS_PRODUCTION: &str = "https://api.push.apple.com";
/// Apple's development endpoint, for apps built by Xcode.
pub const APNS_SANDBOX: &str = "https://api.sandbox.push.apple.com";

/// Apple refuses a provider token older than an hour and rejects a new one more often than every
/// 20 minutes (`TooManyProviderTokenUpdates`): mint one every 50 minutes.
const TOKEN_LIFETIME_SECS: u64 = 50 * 60;

/// APNs configuration: the team's signing key and Apple's base URLs.
#[derive(Clone)]
pub struct ApnsConfig {
    team_id: String,
    key_id: String,
    key: EncodingKey,
    production_url: Url,
    sandbox_url: Url,
    ttl: Duration,
}

impl ApnsConfig {
    /// A configuration for `team_id` (10 characters, from the developer account) with the
    /// `.p8` key `key_pem` (PKCS#8 PEM) whose id is `key_id`; Apple's URLs and a TTL of one hour.
    pub fn new(team_id: &str, key_id: &str, key_pem: &str) -> Result<ApnsConfig, ConfigError> {
        for (what, value) in [("APNs team id", team_id), ("APNs key id", key_id)] {
            if value.len() != 10 || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(ConfigError::Value {
                    what,
                    reason: "must be 10 letters or digits".into(),
                });
            }
        }
        let key = es256_key(&secret_from_pem(key_pem, "APNs key")?, "APNs key")?;
        Ok(ApnsConfig {
            team_id: team_id.to_owned(),
            key_id: key_id.to_owned(),
            key,
            production_url: Url::parse(APNS_PRODUCTION).expect("a valid URL"),
            sandbox_url: Url::parse(APNS_SANDBOX).expect("a valid URL"),
            ttl: Duration::from_secs(3600),
        })
    }

    /// Replaces Apple's production and sandbox base URLs (tests run a local HTTP/2 server).
    pub fn with_base_urls(
        mut self,
        production: &str,
        sandbox: &str,
    ) -> Result<ApnsConfig, ConfigError> {
        self.production_url = base_url(production, "APNs production URL")?;
        self.sandbox_url = base_url(sandbox, "APNs sandbox URL")?;
        Ok(self)
    }

    /// How long APNs keeps an undelivered wake-up (`apns-expiration`).
    pub fn with_ttl(mut self, ttl: Duration) -> ApnsConfig {
        self.ttl = ttl;
        self
    }
}

impl fmt::Debug for ApnsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApnsConfig")
            .field("team_id", &self.team_id)
            .field("key_id", &self.key_id)
            .field("production_url", &self.production_url.as_str())
            .field("sandbox_url", &self.sandbox_url.as_str())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// An `http:` or `https:` URL with a host, used as a base.
pub(crate) fn base_url(url: &str, what: &'static str) -> Result<Url, ConfigError> {
    let parsed = Url::parse(url).map_err(|e| ConfigError::Value {
        what,
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ConfigError::Value {
            what,
            reason: "must be an http: or https: URL".into(),
        });
    }
    Ok(parsed)
}

/// A bearer token minted at `issued_at`, reused until it is `max_age` old.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    current: Option<(String, u64)>,
}

impl TokenCache {
    /// The cached token if younger than `max_age` at `now`, else a new one from `mint`.
    pub(crate) fn get<E>(
        &mut self,
        now: u64,
        max_age: u64,
        mint: impl FnOnce(u64) -> Result<String, E>,
    ) -> Result<String, E> {
        if let Some((token, issued_at)) = &self.current {
            if now >= *issued_at && now - issued_at < max_age {
                return Ok(token.clone());
            }
        }
        let token = mint(now)?;
        self.current = Some((token.clone(), now));
        Ok(token)
    }

    /// Drops `token` if it is still the cached one (another task may have replaced it already).
    pub(crate) fn invalidate(&mut self, token: &str) {
        if self.current.as_ref().is_some_and(|(t, _)| t == token) {
            self.current = None;
        }
    }
}

/// The APNs adapter: configuration and the cached provider token.
pub(crate) struct Apns {
    config: ApnsConfig,
    token: Mutex<TokenCache>,
}

#[derive(Serialize)]
struct ProviderClaims<'a> {
    iss: &'a str,
    iat: u64,
}

#[derive(Serialize)]
struct Payload<'a> {
    aps: Aps,
    t: &'static str,
    id: &'a str,
}

#[derive(Serialize)]
struct Aps {
    #[serde(rename = "content-available")]
    content_available: u8,
}

pub(crate) fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl Apns {
    pub(crate) fn new(config: ApnsConfig) -> Apns {
        Apns {
            config,
            token: Mutex::default(),
        }
    }

    /// Checks a device token (hex) and topic (a bundle id) before they go into a path and header.
    pub(crate) fn check(device_token: &str, topic: &str) -> Result<(), PushError> {
        let invalid = |reason: &str| PushError::InvalidSubscription {
            provider: Provider::Apns,
            reason: reason.into(),
        };
        if device_token.len() < 16
            || device_token.len() > 200
            || !device_token.chars().all(|c| c.is_ascii_hexdigit())
        {
            return Err(invalid("the device token is not hex"));
        }
        if topic.is_empty()
            || topic.len() > 255
            || !topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(invalid("the topic is not a bundle id"));
        }
        Ok(())
    }

    fn provider_token(&self, now: u64) -> String {
        let mut cache = self
            .token
            .lock()
            .expect("the token cache is never poisoned");
        cache
            .get(now, TOKEN_LIFETIME_SECS, |iat| {
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
                header.kid = Some(self.config.key_id.clone());
                let claims = ProviderClaims {
                    iss: &self.config.team_id,
                    iat,
                };
                jsonwebtoken::encode(&header, &claims, &self.config.key)
            })
            .expect("ES256 signing with a checked P-256 key")
    }

    /// Sends `wake` once as a background (`content-available`) notification.
    pub(crate) async fn send(
        &self,
        http: &reqwest::Client,
        device_token: &str,
        topic: &str,
        sandbox: bool,
        wake: &Wake,
    ) -> Result<Delivered, PushError> {
        Apns::check(device_token, topic)?;
        let now = SystemTime::now();
        let token = self.provider_token(unix_secs(now));
        let base = if sandbox {
            &self.config.sandbox_url
        } else {
            &self.config.production_url
        };
        let url = base
            .join(&format!("/3/device/{device_token}"))
            .expect("a hex token makes a valid path");
        let payload = Payload {
            aps: Aps {
                content_available: 1,
            },
            t: "wake",
            id: wake.id(),
        };
        let response = http
            .post(url)
            .bearer_auth(&token)
            .header("apns-topic", topic)
            // A wake-up shows nothing, so it is a background push; Apple requires priority 5 for
            // those (10 is refused) and may delay or coalesce them to save power.
            .header("apns-push-type", "background")
            .header("apns-priority", "5")
            .header(
                "apns-expiration",
                unix_secs(now + self.config.ttl).to_string(),
            )
            .json(&payload)
            .send()
            .await
            .map_err(|e| PushError::Retryable {
                provider: Provider::Apns,
                reason: format!("cannot reach APNs: {}", e.without_url()),
                retry_after: None,
            })?;
        let status = response.status();
        let headers = response.headers().clone();
        if status.is_success() {
            let message_id = headers
                .get("apns-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Ok(Delivered {
                provider: Provider::Apns,
                message_id,
            });
        }
        let body = response.text().await.unwrap_or_default();
        let reason = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("reason")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        let error = classify(status.as_u16(), &reason, retry_after(&headers, now), &body);
        if reason == "ExpiredProviderToken" {
            self.token
                .lock()
                .expect("the token cache is never poisoned")
                .invalidate(&token);
        }
        Err(error)
    }
}

/// Maps an APNs failure (status and `reason`) to a [`PushError`].
fn classify(status: u16, reason: &str, retry_after: Option<Duration>, body: &str) -> PushError {
    let detail = if reason.is_empty() {
        format!("{status} {}", excerpt(body))
    } else {
        format!("{status} {reason}")
    };
    match (status, reason) {
        // 410: Unregistered or ExpiredToken; 400 BadDeviceToken: not a token of this environment.
        (410, _) | (400, "BadDeviceToken") => PushError::Gone {
            provider: Provider::Apns,
            reason: detail,
        },
        // A token minted too long ago: the next attempt mints a new one.
        (403, "ExpiredProviderToken") | (429, _) | (500..=599, _) => PushError::Retryable {
            provider: Provider::Apns,
            reason: detail,
            retry_after,
        },
        _ => PushError::Rejected {
            provider: Provider::Apns,
            status,
            reason: detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_cache_reuses_a_token_for_50_minutes() {
        let mut cache = TokenCache::default();
        let mut minted = 0;
        let mut mint = |iat: u64| -> Result<String, ()> {
            minted += 1;
            Ok(format!("token@{iat}"))
        };
        assert_eq!(
            cache.get(1000, TOKEN_LIFETIME_SECS, &mut mint),
            Ok("token@1000".into())
        );
        let just_before = 1000 + TOKEN_LIFETIME_SECS - 1;
        assert_eq!(
            cache.get(just_before, TOKEN_LIFETIME_SECS, &mut mint),
            Ok("token@1000".into())
        );
        let at_expiry = 1000 + TOKEN_LIFETIME_SECS;
        assert_eq!(
            cache.get(at_expiry, TOKEN_LIFETIME_SECS, &mut mint),
            Ok(format!("token@{at_expiry}"))
        );
        // Invalidating an old token keeps the current one; invalidating the current one drops it.
        cache.invalidate("token@1000");
        assert_eq!(
            cache.get(at_expiry + 1, TOKEN_LIFETIME_SECS, &mut mint),
            Ok(format!("token@{at_expiry}"))
        );
        cache.invalidate(&format!("token@{at_expiry}"));
        assert_eq!(
            cache.get(at_expiry + 2, TOKEN_LIFETIME_SECS, &mut mint),
            Ok(format!("token@{}", at_expiry + 2))
        );
        assert_eq!(minted, 3);
    }

    #[test]
    fn classifies_apns_answers() {
        assert!(matches!(
            classify(410, "Unregistered", None, ""),
            PushError::Gone { .. }
        ));
        assert!(matches!(
            classify(400, "BadDeviceToken", None, ""),
            PushError::Gone { .. }
        ));
        assert!(matches!(
            classify(400, "DeviceTokenNotForTopic", None, ""),
            PushError::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            classify(403, "InvalidProviderToken", None, ""),
            PushError::Rejected { status: 403, .. }
        ));
        assert!(matches!(
            classify(403, "ExpiredProviderToken", None, ""),
            PushError::Retryable { .. }
        ));
        assert!(matches!(
            classify(429, "TooManyRequests", Some(Duration::from_secs(3)), ""),
            PushError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            classify(503, "ServiceUnavailable", None, ""),
            PushError::Retryable { .. }
        ));
    }

    #[test]
    fn checks_tokens_topics_and_ids() {
        assert!(Apns::check(&"ab12".repeat(16), "app.callside.ios").is_ok());
        assert!(Apns::check("../../x", "app.callside").is_err());
        assert!(Apns::check(&"ab12".repeat(16), "app callside\r\n").is_err());
        assert!(ApnsConfig::new("TEAM", "KEY1234567", "").is_err());
    }
}
