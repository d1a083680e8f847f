//! Connection data for direct or relayed connections between devices (S2-I9/I10): STUN/TURN
//! servers with short-lived credentials, shaped like WebRTC's `RTCIceServer`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One STUN or TURN server; TURN servers carry credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IceServer {
    /// `stun:`/`turn:`/`turns:` URIs (RFC 7064, RFC 7065).
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// `GET /v1/connection-data`: the servers this device may use now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConnectionData {
    pub ice_servers: Vec<IceServer>,
    /// When the TURN credentials stop working (ms since the epoch); fetch again before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// How a device's NAT behaves, as its STUN exchange found it (S2-I's connection data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NatType {
    Open,
    FullCone,
    RestrictedCone,
    PortRestrictedCone,
    Symmetric,
    #[default]
    Unknown,
}

/// A device's connection data, carried by invitations and acceptances so the two devices may
/// connect directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionOffer {
    /// ICE candidates (RFC 8839 `candidate:` lines), at most 32.
    #[serde(default)]
    pub candidates: Vec<String>,
    #[serde(default)]
    pub nat: NatType,
    /// This is a retry after failed direct attempts.
    #[serde(default)]
    pub retry: bool,
    /// Direct attempts that failed so far.
    #[serde(default)]
    pub failures: u32,
}

/// How the two devices should connect, decided when an invitation is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    /// Try the ICE candidates exchanged.
    Direct,
    /// Use the TURN relay from `GET /v1/connection-data`.
    Relay,
}
