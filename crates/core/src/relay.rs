//! Connecting the parties' devices directly or through a relay (S2-I9/I10): short-lived TURN
//! credentials for the relay, and the rule that decides between direct and relayed.
//!
//! Credentials follow the TURN REST scheme that coturn implements with `use-auth-secret`: the
//! username is `<unix expiry>:<user>` and the password the base64 of HMAC-SHA1 of the username,
//! keyed with the secret shared by callside and the TURN server. Nothing is stored: the TURN
//! server recomputes the password and refuses the username once its expiry passed.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// A username and password the TURN server accepts until `expires` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredential {
    pub username: String,
    pub password: String,
    pub expires: i64,
}

/// TURN REST credentials for `user`, valid until `expires` (Unix seconds).
pub fn turn_credential(secret: &[u8], user: &str, expires: i64) -> TurnCredential {
    let username = format!("{expires}:{user}");
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    TurnCredential {
        password: STANDARD.encode(mac.finalize().into_bytes()),
        username,
        expires,
    }
}

/// How a device's NAT maps and filters, as its connection-data exchange (STUN) found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatType {
    /// A public address: no NAT.
    Open,
    FullCone,
    RestrictedCone,
    PortRestrictedCone,
    /// A new mapping per destination: hole punching fails against port-restricted or symmetric.
    Symmetric,
    Unknown,
}

impl NatType {
    pub fn as_str(self) -> &'static str {
        match self {
            NatType::Open => "open",
            NatType::FullCone => "full_cone",
            NatType::RestrictedCone => "restricted_cone",
            NatType::PortRestrictedCone => "port_restricted_cone",
            NatType::Symmetric => "symmetric",
            NatType::Unknown => "unknown",
        }
    }
}

/// Direct (ICE host/server-reflexive candidates) or through the TURN relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Direct,
    Relay,
}

/// Direct attempts that may fail before the pair is sent to the relay.
pub const MAX_DIRECT_FAILURES: u32 = 2;

/// S2's compatibility rule: whether two devices should try a direct connection or use the relay.
///
/// A symmetric NAT gives each destination its own mapping, so the peer's hole punch only works
/// when that peer accepts packets from any port (open, full cone, address-restricted cone).
/// After [`MAX_DIRECT_FAILURES`] failed attempts (reported with the retry flag), the relay is
/// used whatever the NAT types say. Unknown types are tried directly: ICE falls back anyway.
pub fn choose_path(a: NatType, b: NatType, retry: bool, failures: u32) -> Path {
    use NatType::*;
    if retry && failures >= MAX_DIRECT_FAILURES {
        return Path::Relay;
    }
    match (a, b) {
        (Symmetric, Symmetric)
        | (Symmetric, PortRestrictedCone)
        | (PortRestrictedCone, Symmetric) => Path::Relay,
        _ => Path::Direct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [NatType; 6] = [
        NatType::Open,
        NatType::FullCone,
        NatType::RestrictedCone,
        NatType::PortRestrictedCone,
        NatType::Symmetric,
        NatType::Unknown,
    ];

    #[test]
    fn the_compatibility_rule_sends_hopeless_pairs_and_repeated_failures_to_the_relay() {
        use NatType::*;
        let all = ALL;
        for a in all {
            for b in all {
                let hopeless = matches!(
                    (a, b),
                    (Symmetric, Symmetric)
                        | (Symmetric, PortRestrictedCone)
                        | (PortRestrictedCone, Symmetric)
                );
                let want = if hopeless { Path::Relay } else { Path::Direct };
                assert_eq!(choose_path(a, b, false, 0), want, "{a:?} {b:?}");
                assert_eq!(
                    choose_path(a, b, false, 5),
                    want,
                    "no retry flag: {a:?} {b:?}"
                );
                assert_eq!(choose_path(b, a, true, 1), want, "one failure: {a:?} {b:?}");
                assert_eq!(choose_path(a, b, true, MAX_DIRECT_FAILURES), Path::Relay);
            }
        }
    }

    /// docs/PROTOCOL.md's table of the rule is what the code does (the TypeScript SDK's test
    /// checks its copy of the rule against the same table).
    #[test]
    fn the_rule_is_the_protocol_documents_table() {
        let all = ALL;
        let doc = include_str!("../../../docs/PROTOCOL.md");
        let table = doc
            .split("<!-- nat-rule:")
            .nth(1)
            .expect("PROTOCOL.md has the nat-rule table");
        let rows: Vec<Vec<&str>> = table
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with('|'))
            .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
            .collect();
        let header: Vec<&str> = rows[0][1..].to_vec();
        let names: Vec<&str> = all.iter().map(|t| t.as_str()).collect();
        assert_eq!(header, names, "the columns are every NAT type in order");
        let body: Vec<&Vec<&str>> = rows.iter().skip(2).collect();
        assert_eq!(body.len(), all.len(), "a row per NAT type");
        for (row, a) in body.iter().zip(all) {
            assert_eq!(row[0], a.as_str());
            for (cell, b) in row[1..].iter().zip(all) {
                let want = match *cell {
                    "direct" => Path::Direct,
                    "relay" => Path::Relay,
                    other => panic!("cell `{other}` is neither direct nor relay"),
                };
                assert_eq!(choose_path(a, b, false, 0), want, "{a:?} offers to {b:?}");
            }
        }
    }

    #[test]
    fn credentials_match_the_turn_rest_scheme() {
        let c = turn_credential(b"Jefe", "alice", 1_795_316_669);
        assert_eq!(c.username, "1795316669:alice");
        let mut mac = Hmac::<Sha1>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"1795316669:alice");
        let raw = mac.finalize().into_bytes();
        assert_eq!(raw.len(), 20);
        assert_eq!(STANDARD.decode(&c.password).unwrap(), raw.as_slice());
        // Known answer, computed independently with Python's hmac/hashlib.
        assert_eq!(c.password, KNOWN);
        assert_ne!(
            turn_credential(b"other", "alice", c.expires).password,
            c.password
        );
    }

    const KNOWN: &str = "003jT5LD5hqMf+vWUzL77CB/e3o=";
}
