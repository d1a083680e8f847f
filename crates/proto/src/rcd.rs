//! Signed caller data (RFC 9795 Rich Call Data PASSporTs): a business's name, logo, call reason
//! and jCard, signed by callside (ES256) so a receiving app can tell verified data from claims.
//! Keys are published as a JWK set at `GET /.well-known/jwks.json`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Ask callside to sign caller data for calls from `orig` (a number in the account's ranges).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignCallerData {
    pub orig: String,
    /// The called numbers (at least one).
    pub dest: Vec<String>,
    /// The caller's display name (`rcd.nam`).
    pub name: String,
    /// An https URL of the logo (`rcd.icn`); callside fetches it and signs its digest (`rcdi`).
    #[serde(default)]
    pub logo: Option<String>,
    /// Why the call is made (`rcd.crn`).
    #[serde(default)]
    pub reason: Option<String>,
    /// A jCard (`rcd.jcd`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jcard: Option<serde_json::Value>,
}

/// A signed PASSporT (compact JWS) to send with calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Passport {
    pub passport: String,
    /// Until when it is valid (ms since the epoch).
    pub expires_at: i64,
}

/// The `rcd` claim (RFC 9795 §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RcdClaim {
    pub nam: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jcd: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TelephoneNumber {
    pub tn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Destinations {
    pub tn: Vec<String>,
}

/// The claims of an RCD PASSporT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RcdClaims {
    pub iat: i64,
    /// Not in RFC 8225: callside's expiry, which receivers may also enforce.
    pub exp: i64,
    pub orig: TelephoneNumber,
    pub dest: Destinations,
    pub rcd: RcdClaim,
    /// Integrity digests of referenced content (`"/icn": "sha256-…"`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub rcdi: std::collections::BTreeMap<String, String>,
}
