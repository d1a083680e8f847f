//! Mobile-terminated SMS: Kannel's `sendsms` or a generic JSON SMS API, with retries.

use crate::config::SmsProvider;
use callside_core::PhoneNumber;
use std::time::Duration;

/// Sends SMS through the configured provider.
pub(crate) struct SmsSender {
    provider: SmsProvider,
    from: Option<PhoneNumber>,
    http: reqwest::Client,
}

/// Waits between attempts; the first attempt is immediate.
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(2),
    Duration::from_secs(8),
];

impl SmsSender {
    pub(crate) fn new(provider: SmsProvider, from: Option<PhoneNumber>) -> Self {
        SmsSender {
            provider,
            from,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client with default TLS settings"),
        }
    }

    pub(crate) fn is_configured(&self) -> bool {
        self.provider != SmsProvider::None
    }

    /// One attempt.
    pub(crate) async fn send_once(&self, to: &PhoneNumber, text: &str) -> Result<(), String> {
        let from = self.from.as_ref().map(|n| n.as_str()).unwrap_or_default();
        let response = match &self.provider {
            SmsProvider::None => return Err("no SMS provider is configured".into()),
            SmsProvider::Kannel {
                url,
                username,
                password,
            } => {
                self.http
                    .get(url)
                    .query(&[
                        ("username", username.as_str()),
                        ("password", password.as_str()),
                        ("from", from),
                        ("to", to.as_str()),
                        ("text", text),
                    ])
                    .send()
                    .await
            }
            SmsProvider::Http { url, bearer } => {
                let mut req = self.http.post(url).json(&serde_json::json!({
                    "from": from, "to": to.as_str(), "text": text,
                }));
                if let Some(b) = bearer {
                    req = req.bearer_auth(b);
                }
                req.send().await
            }
        }
        // The URL carries the password (Kannel): never show it.
        .map_err(|e| format!("cannot reach the SMS provider: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            let body = response.text().await.unwrap_or_default();
            Err(format!(
                "the SMS provider answered {status}: {}",
                body.chars().take(200).collect::<String>()
            ))
        }
    }

    /// Sends with retries; gives up after the last backoff.
    pub(crate) async fn send(&self, to: &PhoneNumber, text: &str) -> Result<(), String> {
        let mut last = String::new();
        for wait in std::iter::once(Duration::ZERO).chain(BACKOFF) {
            tokio::time::sleep(wait).await;
            match self.send_once(to, text).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(to = %to, error = %e, "SMS not sent; retrying");
                    last = e;
                }
            }
        }
        Err(last)
    }
}
