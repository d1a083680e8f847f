//! Random keys, bearer tokens and ids, and how tokens are kept: only their SHA-256 is stored.
//!
//! Tokens carry 256 random bits, so a fast hash is enough to make a stolen database useless for
//! authentication (there is nothing to brute-force); lookups go by the hash itself.

use crate::Millis;
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

/// `n` random decimal digits (a code keyed on a telephone keypad), uniformly distributed.
pub fn random_digits(n: usize) -> String {
    (0..n)
        .map(|_| loop {
            let mut b = [0u8; 1];
            getrandom::fill(&mut b).expect("the operating system's random source failed");
            // 250 = 25 × 10: values above would favour the low digits.
            if b[0] < 250 {
                break char::from(b'0' + b[0] % 10);
            }
        })
        .collect()
}

/// Crockford's base 32: digits and letters without I, L, O and U, so nothing reads as another.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A one-time code a person reads off one screen and types into another: 10 characters of
/// Crockford base 32 (50 random bits), shown as `XXXXX-XXXXX`.
pub fn typed_code() -> String {
    let mut buf = [0u8; 10];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    let chars: String = buf
        .iter()
        .map(|b| CROCKFORD[usize::from(b & 31)] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A typed code as [`typed_code`] made it, whatever the person did to it: case, spaces and
/// dashes do not matter, and `O`, `I` and `L` are read as `0`, `1` and `1`. `None` when it
/// cannot be one.
pub fn normalize_typed_code(s: &str) -> Option<String> {
    let mut out = String::with_capacity(11);
    for c in s.chars().filter(|c| !matches!(c, ' ' | '-')) {
        let c = match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c if c.is_ascii() && CROCKFORD.contains(&(c as u8)) => c,
            _ => return None,
        };
        if out.len() == 5 {
            out.push('-');
        }
        out.push(c);
    }
    (out.len() == 11).then_some(out)
}

/// The creation time as 12 hex digits: ids made later sort later, so the store's indexes grow
/// at their right edge instead of touching a random page per insert.
fn time_prefix(now: Millis) -> String {
    format!("{:012x}", (now.max(0) as u64) & 0xffff_ffff_ffff)
}

/// A new opaque id with a readable prefix, e.g. `dev_…`, `leg_…`: the creation time, then 96
/// random bits.
pub fn new_id(prefix: &str, now: Millis) -> String {
    format!("{prefix}_{}{}", time_prefix(now), random_b64(12))
}

/// The key of a data session (S0 claim 11): the creation time (12 hex digits) and 144 random bits,
/// URL-safe. Only the random part makes it unguessable; the time only orders it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(String);

impl SessionKey {
    pub fn generate(now: Millis) -> Self {
        SessionKey(format!("sk_{}{}", time_prefix(now), random_b64(18)))
    }

    /// Accepts a key from the outside world if it has the shape of one of ours.
    pub fn parse(s: &str) -> Option<Self> {
        let body = s.strip_prefix("sk_")?;
        if body.len() != 36 {
            return None;
        }
        let (time, random) = body.split_at(12);
        (time
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && random
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| SessionKey(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SHA-256 of the key, base64url: how purchase tokens and the operator's webhooks name a
    /// session — the same for the same session — without revealing its key.
    pub fn public_id(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.0.as_bytes()))
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
    fn random_digits_are_digits_of_every_kind() {
        let code = random_digits(6);
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        let many: String = (0..200).map(|_| random_digits(5)).collect();
        for d in b'0'..=b'9' {
            assert!(many.bytes().any(|b| b == d), "digit {} in 1,000", d as char);
        }
    }

    #[test]
    fn typed_codes_survive_how_people_type_them() {
        let code = typed_code();
        assert_eq!(code.len(), 11);
        assert_eq!(normalize_typed_code(&code).as_deref(), Some(code.as_str()));
        assert_ne!(typed_code(), code);
        assert_eq!(
            normalize_typed_code(" ab0c1 - defgh ").as_deref(),
            Some("AB0C1-DEFGH")
        );
        assert_eq!(
            normalize_typed_code("abocidefgl").as_deref(),
            Some("AB0C1-DEFG1")
        );
        for bad in [
            "",
            "ABCDE",
            "ABCDE-FGHJKM",
            "ABCDE-FGHJU",
            "ABCDÉ-FGHJK",
            "ABCDE_FGHJK",
        ] {
            assert_eq!(normalize_typed_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn keys_are_long_random_and_round_trip() {
        let a = SessionKey::generate(1_763_769_600_000);
        let b = SessionKey::generate(1_763_769_600_000);
        assert_ne!(a, b);
        assert_eq!(SessionKey::parse(a.as_str()), Some(a.clone()));
        assert_eq!(a.as_str().len(), 3 + 12 + 24);
        assert_eq!(SessionKey::parse("sk_short"), None);
        assert_eq!(SessionKey::parse(&format!("xx_{}", &a.as_str()[3..])), None);
        assert_eq!(SessionKey::parse(&format!("{}/", &a.as_str()[..38])), None);
        assert_eq!(
            SessionKey::parse(&format!("sk_g{}", &a.as_str()[4..])),
            None,
            "time is hex"
        );
    }

    #[test]
    fn later_ids_sort_later() {
        let early = new_id("leg", 1_000);
        let late = new_id("leg", 2_000);
        assert!(early < late);
        assert!(SessionKey::generate(1_000) < SessionKey::generate(2_000));
        assert!(early.starts_with("leg_0000000003e8"));
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
