//! P-256 keys: the VAPID key pair, APNs' `.p8` key, and the ephemeral keys of RFC 8291.

use crate::ConfigError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::EncodingKey;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use p256::SecretKey;
use std::fmt;

/// A fresh P-256 secret key from the operating system's generator.
pub(crate) fn random_secret() -> SecretKey {
    loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's random number generator");
        // Fails only for zero or a value at or above the group order (about 2^-32 of draws).
        if let Ok(key) = SecretKey::from_slice(&bytes) {
            return key;
        }
    }
}

/// Reads a P-256 private key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`, as Apple's `.p8` files and
/// `openssl genpkey` write it) or SEC1 (`BEGIN EC PRIVATE KEY`, as `openssl ecparam` writes it).
pub(crate) fn secret_from_pem(pem: &str, what: &'static str) -> Result<SecretKey, ConfigError> {
    let pem = pem.trim();
    SecretKey::from_pkcs8_pem(pem)
        .or_else(|_| SecretKey::from_sec1_pem(pem))
        .map_err(|_| ConfigError::Key {
            what,
            reason: "not a P-256 private key in PKCS#8 or SEC1 PEM".into(),
        })
}

/// The ES256 signing key for `jsonwebtoken` (PKCS#8 DER, which includes the public key).
pub(crate) fn es256_key(
    secret: &SecretKey,
    what: &'static str,
) -> Result<EncodingKey, ConfigError> {
    let der = secret.to_pkcs8_der().map_err(|e| ConfigError::Key {
        what,
        reason: e.to_string(),
    })?;
    Ok(EncodingKey::from_ec_der(der.as_bytes()))
}

/// A public key as an uncompressed SEC1 point (65 bytes).
pub(crate) fn uncompressed(public: &p256::PublicKey) -> Vec<u8> {
    public.to_encoded_point(false).as_bytes().to_vec()
}

/// Decodes base64url, tolerating padding and the standard alphabet (browsers and libraries differ).
pub(crate) fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    let normalized: String = text
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(normalized).ok()
}

/// The application server's VAPID key pair (RFC 8292), an ES256 key.
///
/// Generate one once ([`VapidKey::generate`]) and keep it: browsers bind each subscription to
/// the public key the page passed as `applicationServerKey`, so a new key orphans every existing
/// Web Push subscription. Store it as PKCS#8 PEM ([`to_pem`](Self::to_pem)) or as the raw
/// 32-byte private scalar in base64url ([`to_base64url`](Self::to_base64url)), the form most
/// Web Push tools print.
#[derive(Clone)]
pub struct VapidKey {
    secret: SecretKey,
    jwt_key: EncodingKey,
    public: String,
}

impl VapidKey {
    /// A new random key pair.
    pub fn generate() -> VapidKey {
        VapidKey::from_secret(random_secret()).expect("a fresh P-256 key encodes as PKCS#8")
    }

    /// Reads a private key in PKCS#8 or SEC1 PEM.
    pub fn from_pem(pem: &str) -> Result<VapidKey, ConfigError> {
        VapidKey::from_secret(secret_from_pem(pem, "VAPID key")?)
    }

    /// Reads the raw 32-byte private scalar in base64url.
    pub fn from_base64url(raw: &str) -> Result<VapidKey, ConfigError> {
        let bytes = decode_base64url(raw)
            .filter(|b| b.len() == 32)
            .ok_or_else(|| ConfigError::Key {
                what: "VAPID key",
                reason: "expected 32 bytes in base64url".into(),
            })?;
        let secret = SecretKey::from_slice(&bytes).map_err(|_| ConfigError::Key {
            what: "VAPID key",
            reason: "not a valid P-256 scalar".into(),
        })?;
        VapidKey::from_secret(secret)
    }

    fn from_secret(secret: SecretKey) -> Result<VapidKey, ConfigError> {
        let jwt_key = es256_key(&secret, "VAPID key")?;
        let public = URL_SAFE_NO_PAD.encode(uncompressed(&secret.public_key()));
        Ok(VapidKey {
            secret,
            jwt_key,
            public,
        })
    }

    /// The private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub fn to_pem(&self) -> String {
        self.secret
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a P-256 key encodes as PKCS#8")
            .to_string()
    }

    /// The raw 32-byte private scalar, base64url without padding.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secret.to_bytes())
    }

    /// The public key, base64url of the uncompressed point: the `applicationServerKey` a page
    /// passes to `PushManager.subscribe`, and the `k=` of every VAPID header.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    pub(crate) fn jwt_key(&self) -> &EncodingKey {
        &self.jwt_key
    }
}

impl fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapidKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vapid_key_round_trips_through_pem_and_base64url() {
        let key = VapidKey::generate();
        let from_pem = VapidKey::from_pem(&key.to_pem()).unwrap();
        let from_raw = VapidKey::from_base64url(&key.to_base64url()).unwrap();
        assert_eq!(from_pem.public_key(), key.public_key());
        assert_eq!(from_raw.public_key(), key.public_key());
        assert_eq!(decode_base64url(key.public_key()).unwrap().len(), 65);
        assert_ne!(VapidKey::generate().public_key(), key.public_key());
    }

    #[test]
    fn a_sec1_pem_is_accepted_too() {
        let secret = random_secret();
        let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap();
        let key = VapidKey::from_pem(&sec1).unwrap();
        assert_eq!(
            decode_base64url(key.public_key()).unwrap(),
            uncompressed(&secret.public_key())
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(
            VapidKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
        assert!(VapidKey::from_base64url("AAAA").is_err());
        // Zero is not a valid scalar.
        assert!(VapidKey::from_base64url(&URL_SAFE_NO_PAD.encode([0u8; 32])).is_err());
        assert!(!format!("{:?}", VapidKey::generate()).contains("secret"));
    }

    #[test]
    fn base64url_decoding_tolerates_padding_and_the_standard_alphabet() {
        assert_eq!(decode_base64url("-_8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_base64url("+/8").unwrap(), vec![0xfb, 0xff]);
    }
}
