//! Random keys, bearer tokens and ids, and how tokens are kept: only their SHA-256 is stored.
//!
//! Tokens carry 256 random bits, so a fast hash is enough to make a stolen database useless for
//! authentication (there is nothing to brute-force); lookups go by the hash itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::fmt;

/// `n` bytes from the operating system's CSPRNG, base64url without padding.
pub fn random_b64(n: usize) -> String {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    URL_SAFE_NO_PAD.encode(buf)
}

/// A new opaque id with a readable prefix, e.g. `dev_…`, `leg_…` (96 random bits).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_b64(12))
}

/// The key of a data session (S0 claim 11): 144 random bits, URL-safe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(String);

impl SessionKey {
    pub fn generate() -> Self {
        SessionKey(format!("sk_{}", random_b64(18)))
    }

    /// Accepts a key from the outside world if it has the shape of one of ours.
    pub fn parse(s: &str) -> Option<Self> {
        let body = s.strip_prefix("sk_")?;
        (body.len() == 24
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| SessionKey(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bearer token in the clear. It exists only between creation and the one time it is shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// `cs_<kind>_` followed by 256 random bits.
    pub fn generate(kind: &str) -> Self {
        Token(format!("cs_{kind}_{}", random_b64(32)))
    }

    pub fn from_presented(s: &str) -> Self {
        Token(s.trim().to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

/// What the store keeps of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_round_trip() {
        let a = SessionKey::generate();
        let b = SessionKey::generate();
        assert_ne!(a, b);
        assert_eq!(SessionKey::parse(a.as_str()), Some(a.clone()));
        assert_eq!(a.as_str().len(), 3 + 24);
        assert_eq!(SessionKey::parse("sk_short"), None);
        assert_eq!(SessionKey::parse(&format!("xx_{}", &a.as_str()[3..])), None);
        assert_eq!(SessionKey::parse("sk_aaaaaaaaaaaaaaaaaaaaaa/a"), None);
    }

    #[test]
    fn tokens_hash_stably_and_hide_in_debug() {
        let t = Token::generate("dev");
        assert!(t.expose().starts_with("cs_dev_"));
        assert_eq!(t.hash(), Token::from_presented(t.expose()).hash());
        assert_ne!(t.hash(), Token::generate("dev").hash());
        assert!(!format!("{t:?}").contains(&t.expose()[7..]));
    }
}
