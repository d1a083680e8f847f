//! FCM HTTP v1: an OAuth 2 access token from the service account (JWT bearer grant, RFC 7523),
//! then `messages:send` with a data-only message.

use crate::apns::{base_url, unix_secs};
use crate::retry::retry_after;
use crate::webpush::excerpt;
use crate::{ConfigError, Delivered, Provider, PushError, Wake};
use jsonwebtoken::EncodingKey;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime};

/// Google's FCM API.
pub const FCM_API: &str = "https://fcm.googleapis.com";
/// The OAuth scope that allows sending.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// An access token is replaced this long before Google says it expires.
const TOKEN_MARGIN_SECS: u64 = 5 * 60;
/// The assertion's lifetime (Google accepts at most one hour).
const ASSERTION_LIFETIME_SECS: u64 = 3600;

/// The fields callside needs from a Google service-account key file.
#[derive(Clone)]
pub struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key_id: Option<String>,
    key: EncodingKey,
    token_uri: Url,
}

#[derive(Deserialize)]
struct ServiceAccountFile {
    project_id: String,
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: String,
}

impl ServiceAccount {
    /// Reads the JSON key file Google's console downloads (`type: service_account`), using its
    /// `project_id`, `client_email`, `private_key` (RSA, PEM), `private_key_id` and `token_uri`.
    pub fn from_json(json: &str) -> Result<ServiceAccount, ConfigError> {
        let file: ServiceAccountFile =
            serde_json::from_str(json).map_err(|e| ConfigError::ServiceAccount(e.to_string()))?;
        if file.project_id.is_empty()
            || !file
                .project_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.'))
        {
            return Err(ConfigError::ServiceAccount(
                "project_id is not a project id".into(),
            ));
        }
        if !file.client_email.contains('@') {
            return Err(ConfigError::ServiceAccount(
                "client_email is not an address".into(),
            ));
        }
        let key = EncodingKey::from_rsa_pem(file.private_key.as_bytes()).map_err(|e| {
            ConfigError::Key {
                what: "FCM service-account key",
                reason: e.to_string(),
            }
        })?;
        // ring parses the key only when signing: sign once now so a bad key fails at start.
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &serde_json::json!({}),
            &key,
        )
        .map_err(|e| ConfigError::Key {
            what: "FCM service-account key",
            reason: e.to_string(),
        })?;
        Ok(ServiceAccount {
            project_id: file.project_id,
            client_email: file.client_email,
            private_key_id: file.private_key_id.filter(|id| !id.is_empty()),
            key,
            token_uri: base_url(&file.token_uri, "FCM token_uri")?,
        })
    }

    /// The Firebase project messages are sent in.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri.as_str())
            .finish_non_exhaustive()
    }
}

/// FCM configuration: the service account and the API's base URL.
#[derive(Debug, Clone)]
pub struct FcmConfig {
    account: ServiceAccount,
    api_base: Url,
    ttl: Duration,
}

impl FcmConfig {
    /// Sends through Google's API as `account`, with a TTL of one hour.
    pub fn new(account: ServiceAccount) -> FcmConfig {
        FcmConfig {
            account,
            api_base: Url::parse(FCM_API).expect("a valid URL"),
            ttl: Duration::from_secs(3600),
        }
    }

    /// Replaces the base URL of the send API (tests run a local server; the token endpoint is
    /// the service account's `token_uri`).
    pub fn with_api_base(mut self, api_base: &str) -> Result<FcmConfig, ConfigError> {
        self.api_base = base_url(api_base, "FCM API base URL")?;
        Ok(self)
    }

    /// How long FCM keeps an undelivered wake-up (`android.ttl`).
    pub fn with_ttl(mut self, ttl: Duration) -> FcmConfig {
        self.ttl = ttl;
        self
    }
}

#[derive(Clone)]
struct AccessToken {
    token: String,
    expires_at: u64,
}

/// The FCM adapter: configuration and the cached access token.
pub(crate) struct Fcm {
    config: FcmConfig,
    // Held across the token request, so concurrent sends wait for one request instead of each
    // making their own.
    token: tokio::sync::Mutex<Option<AccessToken>>,
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

#[derive(Serialize)]
struct SendRequest<'a> {
    message: Message<'a>,
}

#[derive(Serialize)]
struct Message<'a> {
    token: &'a str,
    data: WakeData<'a>,
    android: Android,
}

#[derive(Serialize)]
struct WakeData<'a> {
    t: &'static str,
    id: &'a str,
}

#[derive(Serialize)]
struct Android {
    priority: &'static str,
    ttl: String,
}

#[derive(Deserialize)]
struct SendResponse {
    name: Option<String>,
}

impl Fcm {
    pub(crate) fn new(config: FcmConfig) -> Fcm {
        Fcm {
            config,
            token: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) fn check(registration_token: &str) -> Result<(), PushError> {
        if registration_token.is_empty()
            || registration_token.len() > 4096
            || registration_token
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(PushError::InvalidSubscription {
                provider: Provider::Fcm,
                reason: "the registration token is malformed".into(),
            });
        }
        Ok(())
    }

    /// A valid access token: the cached one, or a new one from the token endpoint.
    async fn access_token(&self, http: &reqwest::Client) -> Result<String, PushError> {
        let mut cached = self.token.lock().await;
        let now = unix_secs(SystemTime::now());
        if let Some(token) = cached
            .as_ref()
            .filter(|t| now + TOKEN_MARGIN_SECS < t.expires_at)
        {
            return Ok(token.token.clone());
        }
        let account = &self.config.account;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = account.private_key_id.clone();
        let assertion = jsonwebtoken::encode(
            &header,
            &Assertion {
                iss: &account.client_email,
                scope: FCM_SCOPE,
                aud: account.token_uri.as_str(),
                iat: now,
                exp: now + ASSERTION_LIFETIME_SECS,
            },
            &account.key,
        )
        .expect("RS256 signing with a key checked at load");
        let failed = |reason: String, retry_after| PushError::Retryable {
            provider: Provider::Fcm,
            reason,
            retry_after,
        };
        let response = http
            .post(account.token_uri.clone())
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &assertion),
            ])
            .send()
            .await
            .map_err(|e| failed(format!("cannot reach the token endpoint: {e}"), None))?;
        let status = response.status();
        let after = retry_after(response.headers(), SystemTime::now());
        let body = response.text().await.unwrap_or_default();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(failed(
                format!("token endpoint: {status} {}", excerpt(&body)),
                after,
            ));
        }
        if !status.is_success() {
            // invalid_grant and friends: the service account or its key is wrong.
            return Err(PushError::Rejected {
                provider: Provider::Fcm,
                status: status.as_u16(),
                reason: format!("token endpoint: {}", excerpt(&body)),
            });
        }
        let token: TokenResponse = serde_json::from_str(&body)
            .map_err(|e| failed(format!("token endpoint answered {e}"), None))?;
        *cached = Some(AccessToken {
            token: token.access_token.clone(),
            expires_at: now + token.expires_in,
        });
        Ok(token.access_token)
    }

    /// Sends `wake` once as a high-priority data message.
    pub(crate) async fn send(
        &self,
        http: &reqwest::Client,
        registration_token: &str,
        wake: &Wake,
    ) -> Result<Delivered, PushError> {
        Fcm::check(registration_token)?;
        let access_token = self.access_token(http).await?;
        let url = self
            .config
            .api_base
            .join(&format!(
                "/v1/projects/{}/messages:send",
                self.config.account.project_id
            ))
            .expect("a checked project id makes a valid path");
        let request = SendRequest {
            message: Message {
                token: registration_token,
                // Data only: no `notification`, so nothing is shown and the app decides.
                data: WakeData {
                    t: "wake",
                    id: wake.id(),
                },
                // High priority lets the wake-up leave Doze; FCM lowers it for apps that
                // receive such messages and show nothing too often.
                android: Android {
                    priority: "HIGH",
                    ttl: format!("{}s", self.config.ttl.as_secs()),
                },
            },
        };
        let now = SystemTime::now();
        let response = http
            .post(url)
            .bearer_auth(&access_token)
            .json(&request)
            .send()
            .await
            .map_err(|e| PushError::Retryable {
                provider: Provider::Fcm,
                reason: format!("cannot reach FCM: {e}"),
                retry_after: None,
            })?;
        let status = response.status();
        let after = retry_after(response.headers(), now);
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            let message_id = serde_json::from_str::<SendResponse>(&body)
                .ok()
                .and_then(|r| r.name);
            return Ok(Delivered {
                provider: Provider::Fcm,
                message_id,
            });
        }
        let error = classify(status.as_u16(), &body, after);
        if status.as_u16() == 401 && matches!(error, PushError::Retryable { .. }) {
            let mut cached = self.token.lock().await;
            if cached.as_ref().is_some_and(|t| t.token == access_token) {
                *cached = None;
            }
        }
        Err(error)
    }
}

/// The parts of a `google.rpc.Status` error body that decide what to do.
#[derive(Debug, Default, PartialEq)]
struct FcmFailure {
    /// `error.status`, e.g. `NOT_FOUND`.
    status: String,
    /// The `FcmError` detail's `errorCode`, e.g. `UNREGISTERED`.
    error_code: String,
    /// Whether a `BadRequest` field violation or the message names the registration token.
    about_token: bool,
    message: String,
}

fn parse_failure(body: &str) -> FcmFailure {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return FcmFailure::default();
    };
    let error = &value["error"];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let mut failure = FcmFailure {
        status: text(&error["status"]),
        message: text(&error["message"]),
        ..FcmFailure::default()
    };
    for detail in error["details"].as_array().into_iter().flatten() {
        if let Some(code) = detail["errorCode"].as_str() {
            failure.error_code = code.to_owned();
        }
        for violation in detail["fieldViolations"].as_array().into_iter().flatten() {
            if violation["field"].as_str() == Some("message.token") {
                failure.about_token = true;
            }
        }
    }
    if failure
        .message
        .to_ascii_lowercase()
        .contains("registration token")
    {
        failure.about_token = true;
    }
    failure
}

/// Maps an FCM failure to a [`PushError`] (Firebase's `ErrorCode` table).
fn classify(status: u16, body: &str, retry_after: Option<Duration>) -> PushError {
    let failure = parse_failure(body);
    let code = if failure.error_code.is_empty() {
        failure.status.as_str()
    } else {
        failure.error_code.as_str()
    };
    let reason = if code.is_empty() {
        format!("{status} {}", excerpt(body))
    } else {
        format!("{status} {code}: {}", excerpt(&failure.message))
    };
    let gone = || PushError::Gone {
        provider: Provider::Fcm,
        reason: reason.clone(),
    };
    let retryable = || PushError::Retryable {
        provider: Provider::Fcm,
        reason: reason.clone(),
        retry_after,
    };
    match (status, code) {
        // Only the FcmError code: a bare 404 (a wrong project id or base URL) says nothing about
        // the token, and must not make the caller drop every subscription.
        (_, "UNREGISTERED") => gone(),
        // The token belongs to another Firebase project: it will never work for this one.
        (_, "SENDER_ID_MISMATCH") => gone(),
        // Our message is fixed, so an invalid argument about the token means the token.
        (400, "INVALID_ARGUMENT") if failure.about_token => gone(),
        // Our access token expired early or was revoked: the next attempt gets a new one.
        (401, "UNAUTHENTICATED") => retryable(),
        (429, _) | (500..=599, _) => retryable(),
        _ => PushError::Rejected {
            provider: Provider::Fcm,
            status,
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(status: &str, error_code: Option<&str>, field: Option<&str>, message: &str) -> String {
        let mut details = Vec::new();
        if let Some(code) = error_code {
            details.push(serde_json::json!({
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": code,
            }));
        }
        if let Some(field) = field {
            details.push(serde_json::json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": "bad"}],
            }));
        }
        serde_json::json!({"error": {"code": 0, "message": message, "status": status, "details": details}})
            .to_string()
    }

    #[test]
    fn classifies_fcm_answers() {
        let gone = |s, b: String| matches!(classify(s, &b, None), PushError::Gone { .. });
        assert!(gone(
            404,
            body(
                "NOT_FOUND",
                Some("UNREGISTERED"),
                None,
                "Requested entity was not found."
            )
        ));
        assert!(gone(
            400,
            body(
                "INVALID_ARGUMENT",
                Some("INVALID_ARGUMENT"),
                Some("message.token"),
                "Invalid registration token"
            )
        ));
        assert!(gone(
            400,
            body(
                "INVALID_ARGUMENT",
                None,
                None,
                "The registration token is not a valid FCM registration token"
            )
        ));
        assert!(gone(
            403,
            body("PERMISSION_DENIED", Some("SENDER_ID_MISMATCH"), None, "")
        ));

        let rejected = classify(
            400,
            &body(
                "INVALID_ARGUMENT",
                Some("INVALID_ARGUMENT"),
                Some("message.android.ttl"),
                "bad ttl",
            ),
            None,
        );
        assert!(
            matches!(rejected, PushError::Rejected { status: 400, .. }),
            "{rejected:?}"
        );
        assert!(matches!(
            classify(
                401,
                &body("UNAUTHENTICATED", Some("THIRD_PARTY_AUTH_ERROR"), None, ""),
                None
            ),
            PushError::Rejected { status: 401, .. }
        ));
        assert!(matches!(
            classify(401, &body("UNAUTHENTICATED", None, None, "expired"), None),
            PushError::Retryable { .. }
        ));
        let after = Some(Duration::from_secs(9));
        assert!(matches!(
            classify(429, &body("RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED"), None, ""), after),
            PushError::Retryable { retry_after, .. } if retry_after == after
        ));
        assert!(matches!(
            classify(503, "<html>", None),
            PushError::Retryable { .. }
        ));
        assert!(matches!(
            classify(418, "", None),
            PushError::Rejected { status: 418, .. }
        ));
        assert!(matches!(
            classify(
                404,
                &body("NOT_FOUND", None, None, "Requested entity was not found."),
                None
            ),
            PushError::Rejected { status: 404, .. }
        ));
    }

    #[test]
    fn refuses_bad_service_accounts() {
        assert!(matches!(
            ServiceAccount::from_json("{}"),
            Err(ConfigError::ServiceAccount(_))
        ));
        let json = serde_json::json!({
            "type": "service_account",
            "project_id": "callside-test",
            "client_email": "push@callside-test.iam.gserviceaccount.com",
            "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "token_uri": "https://oauth2.googleapis.com/token",
        });
        assert!(matches!(
            ServiceAccount::from_json(&json.to_string()),
            Err(ConfigError::Key { .. })
        ));
    }
}
