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
