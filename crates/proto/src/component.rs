//! Software components, capabilities and authorization (S1-F6–F8): the catalogue, what devices
//! declare they can do, offers of a component over a session, and signed purchase tokens.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A catalogue entry: a component's current version and where to get it (S1-F6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// `com.example.menu`: 1-128 characters of a-z, 0-9, `.`, `_`, `-`.
    pub id: String,
    pub name: String,
    pub version: String,
    /// Where the component is downloaded (http or https).
    pub url: String,
    /// SHA-256 of the download, lowercase hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Using it needs the authorization server's grant (S1-F8).
    #[serde(default)]
    pub authorization: bool,
}

/// `PUT /v1/admin/components/{id}`: publish or update a catalogue entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutComponent {
    pub name: String,
    pub version: String,
    pub url: String,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub authorization: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComponentList {
    pub components: Vec<Component>,
}

/// A component a device has installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstalledComponent {
    pub id: String,
    pub version: String,
}

/// What a device can do: features (`location.share`, `location.view`, `image.view`, or names of
/// its own) and installed components. `PUT /v1/me/capabilities` replaces the declaration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// At most 64 feature names.
    #[serde(default)]
    pub features: Vec<String>,
    /// At most 256 components.
    #[serde(default)]
    pub components: Vec<InstalledComponent>,
}

/// One participant's capabilities as the registry has them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ParticipantCapabilities {
    pub participant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Whether the device declared anything; if not, ask it with a `capability/query` message.
    pub declared: bool,
    pub features: Vec<String>,
    pub components: Vec<InstalledComponent>,
}

/// `GET /v1/sessions/{key}/capabilities`: the other participants' declared capabilities (the
/// capability check by registry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionCapabilities {
    pub participants: Vec<ParticipantCapabilities>,
}

/// A charge in a currency; the amount is a decimal string (`2.50`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fee {
    pub amount: String,
    /// ISO 4217, e.g. `GBP`.
    pub currency: String,
}

/// `POST /v1/sessions/{key}/components`: offer a catalogue component to the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferComponent {
    pub component: String,
    /// The fee the requester consents to: exactly the one a previous `consent_required` answer
    /// stated. Without it, a component that costs something is not offered.
    #[serde(default)]
    pub consent: Option<Fee>,
}

/// The answer to an offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComponentOffer {
    /// `offered` (a `system/component` message is on the log) or `consent_required` (nothing
    /// was sent: repeat the offer with `consent` set to `fee`).
    pub state: String,
    pub component: Component,
    /// The offer's id (when offered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<String>,
    /// The sequence number of the `system/component` message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Participants whose registry entry has the current version.
    #[serde(default)]
    pub installed: Vec<String>,
    /// Participants who need to install (or update) it.
    #[serde(default)]
    pub needs_install: Vec<String>,
    /// The fee the authorization server asks for (`consent_required`) or charged (`offered`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<Fee>,
    /// The authorization server's words, e.g. "A copyright fee of 2.50 GBP".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The authorization server's reference for the charge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// The grant that comes with an authorized component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Authorization {
    /// A purchase token (compact JWS, ES256, `typ: callside-purchase+jwt`) signed by callside
    /// with the key published at `/.well-known/jwks.json`; claims are [`PurchaseClaims`].
    pub token: String,
    pub fee: Fee,
}

/// Body of `system/component`: a component offered to the session (S1-F6/F8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SystemComponentBody {
    pub offer: String,
    pub component: Component,
    /// Who offered it.
    pub by: String,
    /// Participants who need to install or update it (per the registry).
    pub needs_install: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
}

/// `POST /v1/sessions/{key}/components/{id}/installed`: the installation confirmation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmInstalled {
    /// The version installed.
    pub version: String,
}

/// Body of `system/component_installed`: a participant confirmed the installation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SystemInstalledBody {
    pub component: String,
    pub version: String,
    pub by: String,
}

/// Body of `capability/query`: the capability check by query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilityQueryBody {
    /// The asker's id for this query (1-64 characters).
    pub request: String,
    #[serde(default)]
    pub features: Vec<String>,
    /// Component ids.
    #[serde(default)]
    pub components: Vec<String>,
    /// Without an answer in this many seconds (5-300, default 30) the server says
    /// `system/capability` with `no_answer`.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u32,
}

fn default_timeout() -> u32 {
    30
}

/// Body of `capability/answer`: what the answering device has of what was asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilityAnswerBody {
    pub request: String,
    /// The asked features the device has.
    #[serde(default)]
    pub features: Vec<String>,
    /// The asked components it has, with versions.
    #[serde(default)]
    pub components: Vec<InstalledComponent>,
}

/// Body of `system/capability`: a capability query nobody answered in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SystemCapabilityBody {
    pub request: String,
    /// `no_answer`.
    pub state: String,
}

/// `POST /v1/legs/{id}/component`: offer a component to the other party of a call reported by
/// this device only. Their devices are invited into a session that starts with the offer; a
/// number without devices gets an SMS link (when the operator enabled SMS links).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegComponent {
    pub component: String,
}

/// The claims of a purchase token (S1-F8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PurchaseClaims {
    /// `callside`.
    pub iss: String,
    /// The component id.
    pub sub: String,
    /// The component version granted.
    pub ver: String,
    /// The participants the use is granted to.
    pub aud: Vec<String>,
    /// Who consented and pays.
    pub payer: String,
    pub fee: Fee,
    /// The authorization server's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The session the grant belongs to: base64url (no padding) of the SHA-256 of its key.
    pub sid: String,
    /// The grant's id.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// The JWS `typ` of purchase tokens (so they cannot pass for caller-data PASSporTs).
pub const PURCHASE_TOKEN_TYPE: &str = "callside-purchase+jwt";
