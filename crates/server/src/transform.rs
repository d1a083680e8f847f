//! Derived data (S1-F1): an `app/<name>` message is relayed as it is, and, when the operator
//! configured a transformer for `<name>`, also posted to that webhook (signed with HMAC-SHA256:
//! `X-Callside-Signature: t=<unix seconds>,v1=<hex of HMAC(secret, "<t>.<body>")>`). A JSON object
//! in the answer is appended to the session as `derived/<name>` by the server.

use crate::app::AppState;
use crate::clock::now_ms;
use callside_core::SessionKey;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;
use tokio::sync::mpsc;

/// One committed `app/*` message to transform.
pub(crate) struct Job {
    pub(crate) key: SessionKey,
    pub(crate) seq: u64,
    pub(crate) sender: String,
    pub(crate) app: String,
    pub(crate) body: String,
}

pub(crate) struct Transformers {
    tx: mpsc::UnboundedSender<Job>,
    rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
}

/// The signature header value for `body` at `t` (Unix seconds).
pub(crate) fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// An operator webhook call (transformers, the authorization server): JSON `body` posted to
/// `url` with the signature header. Operator URLs may be private, so the client is
/// [`crate::adapters::net::client`] with private addresses allowed (and no redirects).
pub(crate) async fn post_signed(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    body: String,
) -> reqwest::Result<reqwest::Response> {
    let t = now_ms() / 1000;
    http.post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Callside-Signature", signature(secret, t, &body))
        .body(body)
        .send()
        .await
}

impl Transformers {
    pub(crate) fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Transformers {
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
        }
    }

    pub(crate) fn sender(&self) -> mpsc::UnboundedSender<Job> {
        self.tx.clone()
    }

    /// The background task: posts each job to its webhook, one at a time per server.
    pub(crate) async fn run(app: AppState) {
        let Some(mut rx) = app
            .transformers
            .rx
            .lock()
            .expect("transformers poisoned")
            .take()
        else {
            return;
        };
        let http = crate::adapters::net::client(true, Duration::from_secs(5));
        loop {
            let job = tokio::select! {
                j = rx.recv() => match j { Some(j) => j, None => return },
                _ = app.supervisor.token().cancelled() => return,
            };
            let Some((url, secret)) = app.config.transformers.get(&job.app) else {
                continue;
            };
            let payload = serde_json::json!({
                "session": job.key.as_str(),
                "seq": job.seq,
                "sender": job.sender,
                "kind": format!("app/{}", job.app),
                "body": serde_json::from_str::<serde_json::Value>(&job.body).unwrap_or_default(),
            })
            .to_string();
            let result = post_signed(&http, url, secret, payload).await;
            let derived = match result {
                Ok(r) if r.status() == reqwest::StatusCode::NO_CONTENT => continue,
                Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok(),
                Ok(r) => {
                    tracing::warn!(app = %job.app, status = %r.status(), "transformer refused");
                    None
                }
                Err(e) => {
                    tracing::warn!(app = %job.app, error = %e.without_url(), "transformer unreachable");
                    None
                }
            };
            let Some(data) = derived.filter(|d| d.is_object()) else {
                crate::metrics::Metrics::inc(&app.metrics.http_errors);
                continue;
            };
            let body = serde_json::json!({ "source": job.seq, "data": data }).to_string();
            if body.len() > app.config.max_message_bytes {
                tracing::warn!(app = %job.app, "derived data larger than a message; dropped");
                continue;
            }
            if let Err(e) = app
                .sessions
                .append_system(&app, &job.key, format!("derived/{}", job.app), body)
                .await
            {
                tracing::warn!(session = %job.key, error = %e, "cannot append derived data");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_time_and_body() {
        let s = signature("0123456789abcdef", 1_700_000_000, "{}");
        assert!(s.starts_with("t=1700000000,v1="));
        assert_eq!(s.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(s, signature("0123456789abcdef", 1_700_000_001, "{}"));
        assert_ne!(s, signature("0123456789abcdef", 1_700_000_000, "{ }"));
        assert_ne!(s, signature("fedcba9876543210", 1_700_000_000, "{}"));
    }
}
