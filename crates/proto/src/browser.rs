//! Browsers linked to devices: one-time link codes, short-lived access tokens with rotating
//! refresh tokens, and single-use WebSocket tickets (a browser cannot set headers on a
//! WebSocket, and tokens do not travel in URLs).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A one-time code that links a browser to the device that asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BrowserLinkCode {
    /// Ten characters shown as `XXXXX-XXXXX`; case, spaces and dashes do not matter when typed.
    pub code: String,
    /// Unix milliseconds after which the code no longer works.
    pub expires_at: i64,
}

/// Exchange a link code for a browser's tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBrowser {
    pub code: String,
    /// What the device's owner will see in its list of browsers, e.g. "Firefox on the office PC".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Exchange a refresh token for new tokens (both old ones stop working).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBrowser {
    pub refresh_token: String,
}

/// A browser linked to a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Browser {
    pub id: String,
    /// The device it acts as.
    pub device: String,
    pub name: String,
    pub created_at: i64,
    /// When it last refreshed its tokens.
    pub refreshed_at: i64,
    /// Unix milliseconds after which it must link again unless it refreshes first.
    pub refresh_expires_at: i64,
}

/// A browser's tokens, shown once. The access token is a bearer token that acts as the device
/// (except for managing the device's identity) until `access_expires_at`; refresh before then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BrowserTokens {
    pub browser: Browser,
    pub access_token: String,
    pub access_expires_at: i64,
    /// Single use: each refresh returns a new one. Presenting a used one unlinks the browser.
    pub refresh_token: String,
    pub refresh_expires_at: i64,
}

/// A device's linked browsers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BrowserList {
    pub browsers: Vec<Browser>,
}

/// A single-use ticket for `GET /v1/ws?ticket=…`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WsTicket {
    pub ticket: String,
    pub expires_at: i64,
}
