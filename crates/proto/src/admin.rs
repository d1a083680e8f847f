//! Provisioning: devices bound to numbers, service accounts with scopes and ranges.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Create a device bound to numbers the operator vouches for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDevice {
    /// A label, e.g. "Alice's phone".
    pub name: String,
    /// Numbers in any format the server's default region reads; stored as E.164.
    pub numbers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub numbers: Vec<String>,
    pub created_at: i64,
}

/// A new device with its token, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedDevice {
    pub device: Device,
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Reports whole calls (SIP proxy, switch): authoritative.
    NetworkElement,
    /// Voicemail, IVR, contact centre: takes part in calls to its numbers.
    AutomatedSystem,
    /// An SMS gateway (Kannel, an SMS provider): forwards SMS from senders in its ranges.
    SmsGateway,
    /// An app vendor's key: enrolls devices that own no number until they prove one.
    DeviceEnrollment,
    /// A business or operator: has its caller data signed (RFC 9795) for numbers in its ranges.
    CallerData,
    /// A merchant's API account (S4); created with `POST /v1/admin/merchants` only.
    Merchant,
    /// An agent of a merchant's call centre; created by its merchant
    /// (`PUT /v1/merchant/agents/{id}`) only.
    Agent,
    /// A visitor on a merchant's web call: made when an agent answers, deleted when the call
    /// ends; never created through this API.
    Visitor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// E.164 prefixes, e.g. `+4420`. Needed by every scope but `device_enrollment`.
    #[serde(default)]
    pub ranges: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceAccount {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub ranges: Vec<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedServiceAccount {
    pub account: ServiceAccount,
    pub token: String,
}

/// A fresh token; the old one stops working at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RotatedToken {
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    Device,
    Service,
    Admin,
}

/// Who the presented token belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub kind: PrincipalKind,
    pub name: String,
    #[serde(default)]
    pub numbers: Vec<String>,
    /// Validated email addresses (devices).
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<Scope>,
    #[serde(default)]
    pub ranges: Vec<String>,
}

/// One line of the audit log (e.g. an SMS sent to someone who is not a user).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub at: i64,
    /// The principal on whose behalf it happened.
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

/// A device or service account whose token has not been presented for a while.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnusedToken {
    /// The device's or account's id (`dev_…`, `svc_…`).
    pub id: String,
    /// `device` or `service`.
    pub kind: String,
    pub name: String,
    pub issued_at: i64,
    /// When it was last presented (a few minutes late at most); absent: never since it was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
}

/// `GET /v1/admin/tokens/unused`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UnusedTokens {
    /// Tokens last presented (or issued, if never presented) this many days ago or more.
    pub days: u32,
    /// Oldest first, at most 10,000.
    pub tokens: Vec<UnusedToken>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditLog {
    pub entries: Vec<AuditEntry>,
}

/// How a device is coupled to its numbers' phone line (S1-F0): whether it gets the session of a
/// call the network reports for one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Coupling {
    /// Always (the default): a PC beside a desk phone.
    Always,
    /// Only while it says it is near (`POST /v1/me/near`).
    WhenNear,
    /// Never: only calls it reports itself.
    Never,
}

/// `PUT /v1/me/coupling`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCoupling {
    pub mode: Coupling,
}

/// `POST /v1/me/near`: near the phone for the next `secs` seconds (at most 3600; 0: left).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Near {
    pub secs: u64,
}

/// A device's coupling, and until when it is near (ms; absent if it never said).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CouplingState {
    pub mode: Coupling,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near_until: Option<i64>,
}

/// Everything callside keeps about one device, table by table: `GET /v1/admin/devices/{id}/export`
/// (the operator, for a person's access request) and `GET /v1/me/export` (the device itself).
/// Secrets (hashes of tokens and codes) are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PersonalData {
    pub device: String,
    pub exported_at: i64,
    pub tables: Vec<PersonalTable>,
}

/// One table's rows about the device, and what erasing the device does to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PersonalTable {
    pub table: String,
    /// The rows, each an object of the table's columns (JSON columns as JSON).
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Value>,
    pub on_erase: OnErase,
    /// Why erasing keeps these rows (`on_erase` = `keep`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_because: Option<String>,
}

/// What erasing a device does to a table's rows about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnErase {
    /// Deleted.
    Delete,
    /// Kept in place with the personal columns overwritten (messages become `erased`).
    Redact,
    /// Kept until retention removes them, for the reason given.
    Keep,
}

/// `POST /v1/admin/devices/{id}/erase`: what went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Erased {
    pub device: String,
    /// Rows deleted.
    pub deleted: u64,
    /// Rows kept in place with their personal columns overwritten (messages as `erased`).
    pub redacted: u64,
    /// Rows kept until retention removes them (`kept_because` in the export says why).
    pub kept: u64,
    /// Files deleted with their bytes (those nobody else uploaded or references).
    pub files_deleted: u64,
}
