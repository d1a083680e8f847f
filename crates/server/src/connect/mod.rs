//! Connection data for direct and relayed paths between devices (S2-I9/I10): the STUN servers, and
//! TURN servers with short-lived TURN REST credentials (`callside_core::relay`) for coturn's
//! `use-auth-secret`.
//!
//! May touch: nothing but its settings.

pub(crate) mod http;

use crate::clock::now_ms;
use crate::config::Turn;
use callside_core::{Millis, PrincipalId};

/// One server, shaped like WebRTC's `RTCIceServer`.
pub(crate) struct IceServer {
    pub(crate) urls: Vec<String>,
    pub(crate) credential: Option<(String, String)>,
}

pub(crate) struct Connect {
    turn: Turn,
}

impl Connect {
    pub(crate) fn new(turn: Turn) -> Self {
        Connect { turn }
    }

    /// The servers `who` may use, and when its TURN credentials expire.
    pub(crate) fn servers(&self, who: &PrincipalId) -> (Vec<IceServer>, Option<Millis>) {
        let turn = &self.turn;
        let mut servers = Vec::new();
        if !turn.stun_urls.is_empty() {
            servers.push(IceServer {
                urls: turn.stun_urls.clone(),
                credential: None,
            });
        }
        let mut expires_at = None;
        if let (false, Some(secret)) = (turn.urls.is_empty(), &turn.secret) {
            let expires = now_ms() / 1000 + turn.ttl.as_secs() as i64;
            let c = callside_core::relay::turn_credential(secret.as_bytes(), who.as_str(), expires);
            expires_at = Some(c.expires * 1000);
            servers.push(IceServer {
                urls: turn.urls.clone(),
                credential: Some((c.username, c.password)),
            });
        }
        (servers, expires_at)
    }
}
