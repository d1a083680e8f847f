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

#[cfg(test)]
mod tests {
    use super::*;

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
