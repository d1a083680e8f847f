//! The operator's authorization server (S1-F8): a webhook, signed like transformer calls, asked
//! whether a component needs a fee (`type: requirement`) and then for the grant (`type: grant`).
//! What it is sent is the domain's business (`components`); this is the transport and the
//! answers' format.

use super::webhooks::post_signed;
use std::time::Duration;

/// The authorization server could not be asked, or did not answer usably. Says what went wrong in
/// words that finish "the authorization server …".
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Down(pub(crate) String);

/// A fee as the authorization server states it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FeeAnswer {
    pub(crate) amount: String,
    pub(crate) currency: String,
}

/// What the authorization server says about a requested component.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Requirement {
    pub(crate) required: bool,
    #[serde(default)]
    pub(crate) fee: Option<FeeAnswer>,
    #[serde(default)]
    pub(crate) description: Option<String>,
}

/// Its answer to a grant request.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Grant {
    pub(crate) granted: bool,
    #[serde(default)]
    pub(crate) reference: Option<String>,
    #[serde(default)]
    pub(crate) reason: Option<String>,
}

/// A client for the configured webhook.
pub(crate) struct Authorizer {
    url: String,
    secret: String,
    http: reqwest::Client,
}

impl Authorizer {
    pub(crate) fn new(url: String, secret: String) -> Self {
        Authorizer {
            url,
            secret,
            // Operator URLs may be private.
            http: super::net::client(true, Duration::from_secs(10)),
        }
    }

    pub(crate) async fn requirement(
        &self,
        payload: serde_json::Value,
    ) -> Result<Requirement, Down> {
        self.ask(payload).await
    }

    pub(crate) async fn grant(&self, payload: serde_json::Value) -> Result<Grant, Down> {
        self.ask(payload).await
    }

    async fn ask<T: serde::de::DeserializeOwned>(
        &self,
        payload: serde_json::Value,
    ) -> Result<T, Down> {
        let r = post_signed(&self.http, &self.url, &self.secret, payload.to_string())
            .await
            .map_err(|e| Down(format!("is unreachable ({})", e.without_url())))?;
        if !r.status().is_success() {
            return Err(Down(format!("answered {}", r.status())));
        }
        r.json::<T>()
            .await
            .map_err(|e| Down(format!("gave an answer callside cannot read ({e})")))
    }
}
