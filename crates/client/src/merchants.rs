//! Merchants and click-to-call (S4): the operator creates merchants; a merchant's server manages
//! links, pages and routing and reads its call records; [`sign_button`] makes the signed button
//! a page carries, and [`Client::click`] is what the visitor's browser sends.

use crate::client::{json, send, REQUEST_TIMEOUT};
use crate::{Client, Error};
use callside_proto::merchant::{
    ButtonSecret, CallRecord, CallRecordList, CallState, ClickAccepted, ClickContext, ClickRequest,
    CreateMerchant, DryRun, Link, LinkList, Merchant, MerchantCreated, Page, PageList, PutLink,
    PutPage, Route, Routing, Webhook, WebhookIn,
};
use reqwest::Method;

/// What a button says (all but the merchant optional).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Button {
    /// The merchant id (`mer_…`).
    pub iss: String,
    /// Expiry, seconds since 1970.
    pub exp: u64,
    /// Which button: a link id such as `sales`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lnk: Option<String>,
    /// The customer or session id the agent will see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cus: Option<String>,
    /// A number to call (E.164), for routing rules that send calls to `button`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<String>,
    /// The visitor's country (ISO 3166 alpha-2), for routing by geography.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cty: Option<String>,
}

/// Signs a button with the merchant's button secret (HS256 JWT), as the merchant's server does
/// before putting it in a page.
pub fn sign_button(secret: &str, button: &Button) -> Result<String, Error> {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        button,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| Error::Sign(e.to_string()))
}

impl Client {
    /// `POST /v1/admin/merchants` (the operator's token).
    pub async fn create_merchant(&self, name: &str) -> Result<MerchantCreated, Error> {
        let req = self
            .request(Method::POST, &["v1", "admin", "merchants"])
            .json(&CreateMerchant { name: name.into() });
        json(send(req, REQUEST_TIMEOUT).await?, "merchant").await
    }

    /// `POST /v1/admin/merchants/{id}/button-secret` (the operator's token).
    pub async fn rotate_button_secret(&self, id: &str) -> Result<ButtonSecret, Error> {
        let req = self.request(
            Method::POST,
            &["v1", "admin", "merchants", id, "button-secret"],
        );
        json(send(req, REQUEST_TIMEOUT).await?, "button secret").await
    }

    /// `GET /v1/merchant` (a merchant's token).
    pub async fn merchant(&self) -> Result<Merchant, Error> {
        let req = self.request(Method::GET, &["v1", "merchant"]);
        json(send(req, REQUEST_TIMEOUT).await?, "merchant").await
    }

    /// `PUT /v1/merchant/links/{id}`.
    pub async fn put_link(&self, id: &str, name: &str) -> Result<Link, Error> {
        let req = self
            .request(Method::PUT, &["v1", "merchant", "links", id])
            .json(&PutLink { name: name.into() });
        json(send(req, REQUEST_TIMEOUT).await?, "link").await
    }

    /// `GET /v1/merchant/links`.
    pub async fn links(&self) -> Result<Vec<Link>, Error> {
        let req = self.request(Method::GET, &["v1", "merchant", "links"]);
        let list: LinkList = json(send(req, REQUEST_TIMEOUT).await?, "links").await?;
        Ok(list.links)
    }

    /// `PUT /v1/merchant/pages/{code}`.
    pub async fn put_page(&self, code: &str, url: &str) -> Result<Page, Error> {
        let req = self
            .request(Method::PUT, &["v1", "merchant", "pages", code])
            .json(&PutPage { url: url.into() });
        json(send(req, REQUEST_TIMEOUT).await?, "page").await
    }

    /// `GET /v1/merchant/pages`.
    pub async fn pages(&self) -> Result<Vec<Page>, Error> {
        let req = self.request(Method::GET, &["v1", "merchant", "pages"]);
        let list: PageList = json(send(req, REQUEST_TIMEOUT).await?, "pages").await?;
        Ok(list.pages)
    }

    /// `PUT /v1/merchant/routing`: the rules as JSON (see `docs/PROTOCOL.md`).
    pub async fn put_routing(&self, rules: &serde_json::Value) -> Result<Routing, Error> {
        let req = self
            .request(Method::PUT, &["v1", "merchant", "routing"])
            .json(rules);
        json(send(req, REQUEST_TIMEOUT).await?, "routing").await
    }

    /// `GET /v1/merchant/routing`.
    pub async fn routing(&self) -> Result<Routing, Error> {
        let req = self.request(Method::GET, &["v1", "merchant", "routing"]);
        json(send(req, REQUEST_TIMEOUT).await?, "routing").await
    }

    /// `POST /v1/merchant/routing/dry-run`: where a click would go.
    pub async fn dry_run(&self, question: &DryRun) -> Result<Route, Error> {
        let req = self
            .request(Method::POST, &["v1", "merchant", "routing", "dry-run"])
            .json(question);
        json(send(req, REQUEST_TIMEOUT).await?, "route").await
    }

    /// `GET /v1/merchant/calls`: the merchant's calls, newest first.
    pub async fn merchant_calls(
        &self,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<CallRecordList, Error> {
        let mut req = self.request(Method::GET, &["v1", "merchant", "calls"]);
        if let Some(b) = before {
            req = req.query(&[("before", b)]);
        }
        if let Some(l) = limit {
            req = req.query(&[("limit", l)]);
        }
        json(send(req, REQUEST_TIMEOUT).await?, "calls").await
    }

    /// `GET /v1/merchant/calls?format=csv`: the same records as CSV text.
    pub async fn merchant_calls_csv(&self, limit: Option<u32>) -> Result<String, Error> {
        let mut req = self
            .request(Method::GET, &["v1", "merchant", "calls"])
            .query(&[("format", "csv")]);
        if let Some(l) = limit {
            req = req.query(&[("limit", l)]);
        }
        let res = send(req, REQUEST_TIMEOUT).await?;
        res.text().await.map_err(Error::from)
    }

    /// `POST /v1/merchant/calls/{id}/state`: answered (by an agent) or ended (with an outcome).
    pub async fn set_call_state(&self, id: &str, state: &CallState) -> Result<CallRecord, Error> {
        let req = self
            .request(Method::POST, &["v1", "merchant", "calls", id, "state"])
            .json(state);
        json(send(req, REQUEST_TIMEOUT).await?, "call").await
    }

    /// `PUT /v1/merchant/webhook`: where the merchant's calls' progress is posted; the answer
    /// carries the new signing secret.
    pub async fn put_webhook(&self, url: &str) -> Result<Webhook, Error> {
        let req = self
            .request(Method::PUT, &["v1", "merchant", "webhook"])
            .json(&WebhookIn { url: url.into() });
        json(send(req, REQUEST_TIMEOUT).await?, "webhook").await
    }

    /// `GET /v1/merchant/webhook` (`None` without one).
    pub async fn webhook(&self) -> Result<Option<Webhook>, Error> {
        let req = self.request(Method::GET, &["v1", "merchant", "webhook"]);
        match send(req, REQUEST_TIMEOUT).await {
            Ok(res) => json(res, "webhook").await.map(Some),
            Err(Error::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `DELETE /v1/merchant/webhook`.
    pub async fn delete_webhook(&self) -> Result<(), Error> {
        let req = self.request(Method::DELETE, &["v1", "merchant", "webhook"]);
        send(req, REQUEST_TIMEOUT).await?;
        Ok(())
    }

    /// `POST /v1/clicks` on the server at `base_url`, as a visitor's page does: no token, the
    /// signed button is the credential.
    pub async fn click(
        base_url: &str,
        merchant: &str,
        button: &str,
        context: ClickContext,
    ) -> Result<ClickAccepted, Error> {
        Client::new(base_url, "-")?
            .click_anonymously(merchant, button, context)
            .await
    }

    /// [`Client::click`] through this client's connections, without its token.
    pub async fn click_anonymously(
        &self,
        merchant: &str,
        button: &str,
        context: ClickContext,
    ) -> Result<ClickAccepted, Error> {
        let req = self
            .request_anonymous(Method::POST, &["v1", "clicks"])
            .json(&ClickRequest {
                merchant: merchant.into(),
                button: button.into(),
                context,
            });
        json(send(req, REQUEST_TIMEOUT).await?, "click").await
    }
}
