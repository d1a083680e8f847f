//! Browsers linked to a device (issue 14): the device asks for a one-time code, a browser (or
//! anything holding only that code) exchanges it for a short-lived access token and a refresh
//! token; WebSocket tickets for clients that cannot set headers on a WebSocket.

use crate::client::{json, send, REQUEST_TIMEOUT};
use crate::{Client, Error};
use callside_proto::browser::{
    Browser, BrowserLinkCode, BrowserList, BrowserTokens, LinkBrowser, RefreshBrowser, WsTicket,
};
use reqwest::Method;

impl Client {
    /// `POST /v1/me/browser-links`: a one-time code that links a browser to this device.
    pub async fn create_browser_link(&self) -> Result<BrowserLinkCode, Error> {
        let req = self.request(Method::POST, &["v1", "me", "browser-links"]);
        json(send(req, REQUEST_TIMEOUT).await?, "browser link code").await
    }

    /// `POST /v1/admin/devices/{id}/browser-links` (the operator's token): a one-time code that
    /// links a browser to device `id`, for an operator's site that signed its user in.
    pub async fn create_browser_link_for(&self, id: &str) -> Result<BrowserLinkCode, Error> {
        let req = self.request(
            Method::POST,
            &["v1", "admin", "devices", id, "browser-links"],
        );
        json(send(req, REQUEST_TIMEOUT).await?, "browser link code").await
    }

    /// `POST /v1/browser/link` on the server at `base_url`: exchanges a link code for a
    /// browser's tokens, and returns a client that uses the access token.
    pub async fn link_browser(
        base_url: &str,
        code: &str,
        name: Option<&str>,
    ) -> Result<(Client, BrowserTokens), Error> {
        let anonymous = Client::new(base_url, "-")?;
        let req = anonymous
            .request_anonymous(Method::POST, &["v1", "browser", "link"])
            .json(&LinkBrowser {
                code: code.into(),
                name: name.map(str::to_owned),
            });
        let tokens: BrowserTokens =
            json(send(req, REQUEST_TIMEOUT).await?, "browser tokens").await?;
        Ok((Client::new(base_url, &tokens.access_token)?, tokens))
    }

    /// `POST /v1/browser/refresh`: new tokens for a refresh token (both old ones stop working),
    /// and a client that uses the new access token.
    pub async fn refresh_browser(
        base_url: &str,
        refresh_token: &str,
    ) -> Result<(Client, BrowserTokens), Error> {
        let anonymous = Client::new(base_url, "-")?;
        let req = anonymous
            .request_anonymous(Method::POST, &["v1", "browser", "refresh"])
            .json(&RefreshBrowser {
                refresh_token: refresh_token.into(),
            });
        let tokens: BrowserTokens =
            json(send(req, REQUEST_TIMEOUT).await?, "browser tokens").await?;
        Ok((Client::new(base_url, &tokens.access_token)?, tokens))
    }

    /// `GET /v1/me/browsers`: the browsers linked to this device.
    pub async fn browsers(&self) -> Result<Vec<Browser>, Error> {
        let req = self.request(Method::GET, &["v1", "me", "browsers"]);
        let list: BrowserList = json(send(req, REQUEST_TIMEOUT).await?, "browsers").await?;
        Ok(list.browsers)
    }

    /// `DELETE /v1/me/browsers/{id}`: unlinks one of this device's browsers.
    pub async fn unlink_browser(&self, id: &str) -> Result<(), Error> {
        let req = self.request(Method::DELETE, &["v1", "me", "browsers", id]);
        send(req, REQUEST_TIMEOUT).await?;
        Ok(())
    }

    /// `DELETE /v1/browser`: with a browser's token, signs that browser out.
    pub async fn sign_out_browser(&self) -> Result<(), Error> {
        let req = self.request(Method::DELETE, &["v1", "browser"]);
        send(req, REQUEST_TIMEOUT).await?;
        Ok(())
    }

    /// `POST /v1/ws/tickets`: a single-use ticket for `GET /v1/ws?ticket=…` within 30 s.
    pub async fn ws_ticket(&self) -> Result<WsTicket, Error> {
        let req = self.request(Method::POST, &["v1", "ws", "tickets"]);
        json(send(req, REQUEST_TIMEOUT).await?, "ticket").await
    }
}
