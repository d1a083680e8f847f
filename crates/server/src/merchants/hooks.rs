//! Merchants' webhooks (S4's "call posting database" feeding their CRMs): a merchant names a URL,
//! and callside posts each of its calls' progress there — `call.created`, `call.answered`,
//! `call.ended`, with the call record and the page's context — signed with a secret made for
//! that merchant (`adapters::webhooks`: `X-Callside-Signature`). Deliveries go through a bounded
//! queue to one task, tried three times (after 1 s and 5 s) and then dropped with a warning; the
//! merchant can always read its calls over the API.
//!
//! A merchant's URL is a user's URL: https to public addresses only, unless the operator allows
//! private ones (`cards.allow_private_urls`, which governs every URL users choose).

use super::{Error, Merchants};
use crate::adapters::net;
use crate::adapters::webhooks::post_signed;
use crate::clock::now_ms;
use callside_store::{ClickRecord, MerchantRecord, Write};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Deliveries waiting for the task; more are dropped (with a warning).
pub(crate) const QUEUE: usize = 1024;
/// The waits before the second and third attempts.
const RETRIES: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(5)];

/// One call's progress for its merchant's webhook.
#[derive(Debug, Clone)]
pub(crate) struct Hook {
    pub(crate) merchant: String,
    pub(crate) event: &'static str,
    pub(crate) call: String,
}

/// How a delivery's body looks on the wire (`{"event", "call": {…}}`); the HTTP edge knows.
pub(crate) type HookBody = Arc<dyn Fn(&str, &ClickRecord) -> String + Send + Sync>;

impl Merchants {
    /// Sets the merchant's webhook (a new signing secret each time, answered once) or, with
    /// `None`, removes it.
    pub(crate) async fn set_webhook(
        &self,
        m: &MerchantRecord,
        url: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let hook = match url {
            Some(url) => {
                net::check_public_url(url, self.allow_private_urls, false)
                    .await
                    .map_err(|why| Error::BadRequest(format!("the webhook URL {why}")))?;
                Some((url.to_owned(), callside_core::secret::random_b64(32)))
            }
            None => None,
        };
        let secret = hook.as_ref().map(|(_, s)| s.clone());
        self.store
            .apply(vec![Write::MerchantWebhook {
                merchant: m.id.clone(),
                hook,
                at: now_ms(),
            }])
            .await?;
        Ok(secret)
    }

    /// The merchant's webhook URL, if it has one.
    pub(crate) async fn webhook(&self, m: &MerchantRecord) -> Result<Option<String>, Error> {
        Ok(self
            .store
            .merchant_webhook(m.id.clone())
            .await?
            .map(|(url, _)| url))
    }

    /// Queues `event` of `call` for its merchant's webhook (nothing waits for it).
    pub(super) fn announce(&self, merchant: &str, event: &'static str, call: &str) {
        let hook = Hook {
            merchant: merchant.to_owned(),
            event,
            call: call.to_owned(),
        };
        if self.hooks.try_send(hook).is_err() {
            tracing::warn!(
                merchant,
                event,
                call,
                "webhook queue full: delivery dropped"
            );
        }
    }
}

/// The delivery task: posts each queued event to its merchant's webhook, if it has one.
pub(crate) async fn run(
    merchants: Arc<Merchants>,
    mut queue: mpsc::Receiver<Hook>,
    body: HookBody,
    stop: CancellationToken,
) {
    let http = net::client(merchants.allow_private_urls, Duration::from_secs(5));
    loop {
        let hook = tokio::select! {
            _ = stop.cancelled() => return,
            h = queue.recv() => match h {
                Some(h) => h,
                None => return,
            },
        };
        if let Err(e) = deliver(&merchants, &http, &body, &hook).await {
            tracing::warn!(merchant = %hook.merchant, event = hook.event, error = %e, "webhook not delivered");
        }
    }
}

async fn deliver(
    merchants: &Merchants,
    http: &reqwest::Client,
    body: &HookBody,
    hook: &Hook,
) -> Result<(), String> {
    let store = &merchants.store;
    let Some((url, secret)) = store
        .merchant_webhook(hook.merchant.clone())
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let Some(click) = store
        .click(hook.call.clone())
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let json = body(hook.event, &click);
    let mut last = String::new();
    for wait in std::iter::once(None).chain(RETRIES.iter().map(Some)) {
        if let Some(w) = wait {
            tokio::time::sleep(*w).await;
        }
        match post_signed(http, &url, &secret, json.clone()).await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("{url} answered {}", r.status()),
            Err(e) => last = format!("{url}: {e}"),
        }
    }
    Err(last)
}
