//! Derived data (S1-F1): an `app/<name>` message is relayed as it is, and, when the operator
//! configured a transformer for `<name>`, also posted to that webhook (signed, see
//! `adapters::webhooks`). A JSON object in the answer is appended to the session as
//! `derived/<name>` by the server.
//!
//! May touch: sessions (to append), the webhook adapter. It listens to committed `app/*` messages
//! on a bounded channel ([`crate::sessions::AppMessage`]); nothing calls it.

use crate::adapters::webhooks::post_signed;
use crate::metrics::Metrics;
use crate::sessions::{AppMessage, Sessions};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Committed `app/*` messages waiting for their transformer.
pub(crate) const QUEUE: usize = 4096;

/// What the derived-data loop needs.
pub(crate) struct Transformers {
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) metrics: Arc<Metrics>,
    /// By app name: (URL, HMAC secret).
    pub(crate) webhooks: BTreeMap<String, (String, String)>,
    pub(crate) max_message_bytes: usize,
}

/// The loop: posts each message to its webhook, one at a time per server, until `stop`.
pub(crate) async fn run(
    t: Transformers,
    mut rx: mpsc::Receiver<AppMessage>,
    stop: CancellationToken,
) {
    let http = crate::adapters::net::client(true, Duration::from_secs(5));
    loop {
        let job = tokio::select! {
            j = rx.recv() => match j { Some(j) => j, None => return },
            _ = stop.cancelled() => return,
        };
        let Some((url, secret)) = t.webhooks.get(&job.app) else {
            continue;
        };
        let payload = serde_json::json!({
            "session": job.key.public_id(),
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
            Metrics::inc(&t.metrics.webhook_errors);
            continue;
        };
        let body = serde_json::json!({ "source": job.seq, "data": data }).to_string();
        if body.len() > t.max_message_bytes {
            tracing::warn!(app = %job.app, "derived data larger than a message; dropped");
            continue;
        }
        if let Err(e) = t
            .sessions
            .append_system(&job.key, format!("derived/{}", job.app), body, vec![])
            .await
        {
            tracing::warn!(session = %job.key, error = %e, "cannot append derived data");
        }
    }
}
