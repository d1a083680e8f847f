//! Cards (S3-F11–F17): pre-configured user data, audiences, and the `card` messages that deliver
//! them when a session is established.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Name,
    /// A blob id (`sha256:…`) of an uploaded image.
    Photo,
    Organization,
    Title,
    Email,
    Phone,
    Address,
    /// `YYYY-MM-DD` or `--MM-DD`.
    Birthday,
    Url,
    /// A social-network or messaging id as a URI.
    Social,
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default)]
    pub street: String,
    #[serde(default)]
    pub locality: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub postal_code: String,
    #[serde(default)]
    pub country: String,
}

/// Text, or a postal address for `address` fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum FieldValue {
    Text(String),
    Address(Address),
}

/// A field as set by its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCardField {
    /// Stable within the card: `name`, `email`, `email.work`, … (a-z, 0-9, `.`, `-`, `_`).
    pub id: String,
    pub kind: FieldKind,
    pub value: FieldValue,
    /// `work`, `home`, `mobile`, …
    #[serde(default)]
    pub label: Option<String>,
}

/// A field as stored, with its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CardField {
    pub id: String,
    pub kind: FieldKind,
    pub value: FieldValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Moves by one each time the field changes.
    pub version: u64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Card {
    pub fields: Vec<CardField>,
}

/// Replace the whole card (exactly one `name` field; at most 64 fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutCard {
    pub fields: Vec<NewCardField>,
}

/// A named group of counterpart numbers and the fields they receive (S3-F16).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    pub name: String,
    /// Numbers or E.164 prefixes (`+4420`); the longest matching prefix picks the audience.
    pub members: Vec<String>,
    pub fields: Vec<FieldKind>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Audiences {
    pub audiences: Vec<Audience>,
    /// What counterparts in no audience receive (fixed: the name only).
    #[serde(default)]
    pub default_fields: Vec<FieldKind>,
}

/// How the receiving app should show the card during the call (S3-F15).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Display {
    /// Show this name in place of the caller's number on the in-call screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub replace_number: bool,
}

/// Body of a `card` message: the sender's fields the receivers did not have yet, or had in an
/// older version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CardBody {
    pub fields: Vec<CardField>,
    pub display: Display,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactPolicy {
    /// Never receive this number's card.
    Block,
    /// Receive it the next time only; then the rule is gone.
    Once,
    /// A known contact: always receive.
    Always,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRule {
    pub number: String,
    pub policy: ContactPolicy,
}

/// How this device receives cards (S3-F17), enforced by the server: what it must not get is
/// never sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceivePolicy {
    /// Receive cards only from numbers with a `once` or `always` rule.
    #[serde(default)]
    pub known_only: bool,
    #[serde(default)]
    pub contacts: Vec<ContactRule>,
}

/// Import the card at a URL (S3-F13).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchCard {
    /// An https URL of a vCard 4.0 (`text/vcard`) or jCard (`application/vcard+json`).
    pub url: String,
}

/// What this device holds of another participant's card (device-side check, S3-F11): the server
/// then sends only what is missing or newer. An empty `fields` (a cleared cache) gets everything
/// again at the next session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardCache {
    /// The card owner's device id (a `card` message's sender).
    pub sender: String,
    /// Field id → version held.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, u64>,
}
