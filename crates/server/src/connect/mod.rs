//! Connection data for direct and relayed paths between devices (S2-I9/I10): the STUN servers, and
//! TURN servers with short-lived TURN REST credentials (`callside_core::relay`) for coturn's
//! `use-auth-secret`.
//!
//! TURN credentials go to devices only (an enrolment key, a service account or the operator has
//! no media to relay), at most `limits.turn_credentials_per_device_hour` a device: each is a
//! key to the operator's relay bandwidth.
//!
//! May touch: nothing but its settings.

pub(crate) mod http;

use crate::clock::now_ms;
use crate::config::Turn;
use callside_core::ratelimit::{Limited, Limiter, Rate};
use callside_core::{Millis, Principal, PrincipalId, PrincipalKind};
use std::sync::Mutex;

/// One server, shaped like WebRTC's `RTCIceServer`.
pub(crate) struct IceServer {
    pub(crate) urls: Vec<String>,
    pub(crate) credential: Option<(String, String)>,
}

pub(crate) struct Connect {
    turn: Turn,
    credentials: Mutex<Limiter<PrincipalId>>,
}

impl Connect {
    pub(crate) fn new(turn: Turn, credentials_per_hour: u32) -> Self {
        Connect {
            turn,
            credentials: Mutex::new(Limiter::new(Rate::per_hour(credentials_per_hour))),
        }
    }

    /// The servers `who` may use, and when its TURN credentials expire. Only devices get TURN
    /// credentials; too many asks in an hour are refused.
    pub(crate) fn servers(
        &self,
        who: &Principal,
    ) -> Result<(Vec<IceServer>, Option<Millis>), Limited> {
        let turn = &self.turn;
        let mut servers = Vec::new();
        if !turn.stun_urls.is_empty() {
            servers.push(IceServer {
                urls: turn.stun_urls.clone(),
                credential: None,
            });
        }
        let mut expires_at = None;
        let device = matches!(who.kind, PrincipalKind::Device { .. });
        if let (false, Some(secret), true) = (turn.urls.is_empty(), &turn.secret, device) {
            let now = now_ms();
            {
                let mut limiter = self.credentials.lock().expect("limiter poisoned");
                limiter.prune(now);
                limiter.check(who.id.clone(), now)?;
            }
            let expires = now / 1000 + turn.ttl.as_secs() as i64;
            let c =
                callside_core::relay::turn_credential(secret.as_bytes(), who.id.as_str(), expires);
            expires_at = Some(c.expires * 1000);
            servers.push(IceServer {
                urls: turn.urls.clone(),
                credential: Some((c.username, c.password)),
            });
        }
        Ok((servers, expires_at))
    }
}
