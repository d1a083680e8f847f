//! Web Push: RFC 8030 delivery, RFC 8291 message encryption (`aes128gcm`), RFC 8292 VAPID.
//!
//! The encryption is written here over RustCrypto's P-256, HKDF and AES-GCM rather than taken
//! from the `web-push` crate: that crate reaches RFC 8188 through `ece`, whose only backend is
//! OpenSSL, and sends over hyper 0.14 with native TLS or over libcurl, a second TLS and HTTP stack
//! beside our rustls reqwest. The key schedule is checked against RFC 8291's worked example below
//! and end to end against an independent decryptor (Python's `http_ece`, `tests/webpush.rs`).

use crate::keys::{decode_base64url, random_secret, uncompressed, VapidKey};
use crate::retry::retry_after;
use crate::{ConfigError, Delivered, Provider, PushError, Wake};
use aes_gcm::aead::Aead as _;
use aes_gcm::{Aes128Gcm, KeyInit as _, Nonce};
use hkdf::Hkdf;
use p256::{PublicKey, SecretKey};
use reqwest::Url;
use serde::Serialize;
use sha2::Sha256;
use std::time::{Duration, SystemTime};

/// The record size written in the header; one record always suffices for a wake-up.
const RECORD_SIZE: u32 = 4096;
/// Every wake-up's record is padded to this many bytes (payload, delimiter, zeros), so its
/// length does not tell one id from another.
const PADDED_LEN: usize = 128;
/// VAPID tokens are valid this long (RFC 8292 allows at most 24 hours).
const VAPID_VALIDITY: Duration = Duration::from_secs(12 * 3600);

/// Web Push configuration: the VAPID key pair and its contact.
#[derive(Debug, Clone)]
pub struct WebPushConfig {
    key: VapidKey,
    subject: String,
    ttl: Duration,
    allow_http: bool,
}

impl WebPushConfig {
    /// A configuration with `key` and the contact `subject` (`mailto:` or `https:` URL, RFC 8292
    /// §2.1), a TTL of one hour, and HTTPS endpoints only.
    pub fn new(key: VapidKey, subject: &str) -> Result<WebPushConfig, ConfigError> {
        let subject = subject.trim();
        let valid = match subject.split_once(':') {
            Some(("mailto", rest)) => rest.contains('@'),
            Some(("https", _)) => Url::parse(subject).is_ok_and(|u| u.host_str().is_some()),
            _ => false,
        };
        if !valid {
            return Err(ConfigError::Value {
                what: "VAPID subject",
                reason: "must be a mailto: address or an https: URL".into(),
            });
        }
        Ok(WebPushConfig {
            key,
            subject: subject.to_owned(),
            ttl: Duration::from_secs(3600),
            allow_http: false,
        })
    }

    /// How long the push service keeps an undelivered wake-up (the `TTL` header).
    pub fn with_ttl(mut self, ttl: Duration) -> WebPushConfig {
        self.ttl = ttl;
        self
    }

    /// Also accepts `http:` endpoints: for tests and for a push service on a trusted network.
    pub fn allow_http_endpoints(mut self) -> WebPushConfig {
        self.allow_http = true;
        self
    }

    /// The VAPID key pair.
    pub fn key(&self) -> &VapidKey {
        &self.key
    }
}

/// A Web Push subscription, decoded and checked.
pub(crate) struct Target {
    endpoint: Url,
    ua_public: PublicKey,
    auth: [u8; 16],
}

impl WebPushConfig {
    /// Decodes and checks a subscription's endpoint and keys.
    pub(crate) fn target(
        &self,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<Target, PushError> {
        let invalid = |reason: &str| PushError::InvalidSubscription {
            provider: Provider::WebPush,
            reason: reason.into(),
        };
        let endpoint = Url::parse(endpoint).map_err(|_| invalid("the endpoint is not a URL"))?;
        match endpoint.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(invalid("the endpoint must be an https: URL")),
        }
        if endpoint.host_str().is_none() || !endpoint.username().is_empty() {
            return Err(invalid("the endpoint must name a host and no user"));
        }
        let ua_public = decode_base64url(p256dh)
            .filter(|b| b.len() == 65 && b[0] == 4)
            .and_then(|b| PublicKey::from_sec1_bytes(&b).ok())
            .ok_or_else(|| invalid("p256dh is not an uncompressed P-256 public key"))?;
        let auth: [u8; 16] = decode_base64url(auth)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| invalid("auth is not 16 bytes of base64url"))?;
        Ok(Target {
            endpoint,
            ua_public,
            auth,
        })
    }

    /// Sends `wake` to `target` once.
    pub(crate) async fn send(
        &self,
        http: &reqwest::Client,
        target: &Target,
        wake: &Wake,
    ) -> Result<Delivered, PushError> {
        let now = SystemTime::now();
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).expect("the operating system's random number generator");
        let body = encrypt(
            wake.to_json().as_bytes(),
            &target.ua_public,
            &target.auth,
            &random_secret(),
            salt,
            PADDED_LEN,
        );
        let audience = target.endpoint.origin().ascii_serialization();
        let token = vapid_token(&self.key, &audience, &self.subject, now);
        let response = http
            .post(target.endpoint.clone())
            .header(
                reqwest::header::AUTHORIZATION,
                format!("vapid t={token}, k={}", self.key.public_key()),
            )
            .header("TTL", self.ttl.as_secs().to_string())
            .header("Urgency", "high")
            .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| PushError::Retryable {
                provider: Provider::WebPush,
                // The endpoint's path is a capability: keep it out of the message.
                reason: format!("cannot reach the push service: {}", e.without_url()),
                retry_after: None,
            })?;
        let status = response.status();
        let headers = response.headers().clone();
        if status.is_success() {
            let message_id = headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Ok(Delivered {
                provider: Provider::WebPush,
                message_id,
            });
        }
        let text = response.text().await.unwrap_or_default();
        Err(classify(status.as_u16(), retry_after(&headers, now), &text))
    }
}

/// Maps a push service's failure status (RFC 8030 §5, RFC 8292 §4) to a [`PushError`].
fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> PushError {
    let reason = format!("{status} {}", excerpt(body));
    match status {
        // The subscription expired or was removed (RFC 8030 §7.3).
        404 | 410 => PushError::Gone {
            provider: Provider::WebPush,
            reason,
        },
        408 | 425 | 429 | 500..=599 => PushError::Retryable {
            provider: Provider::WebPush,
            reason,
            retry_after,
        },
        _ => PushError::Rejected {
            provider: Provider::WebPush,
            status,
            reason,
        },
    }
}

/// The first 200 characters of a provider's error body, on one line.
pub(crate) fn excerpt(body: &str) -> String {
    body.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

#[derive(Serialize)]
struct VapidClaims<'a> {
    aud: &'a str,
    exp: u64,
    sub: &'a str,
}

/// The VAPID JWT (RFC 8292 §2): ES256 over `aud` (the push service's origin), `exp`, `sub`.
fn vapid_token(key: &VapidKey, audience: &str, subject: &str, now: SystemTime) -> String {
    let exp = (now + VAPID_VALIDITY)
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &VapidClaims {
            aud: audience,
            exp,
            sub: subject,
        },
        key.jwt_key(),
    )
    .expect("ES256 signing with a checked P-256 key")
}

/// RFC 8291 §3–4: encrypts `plaintext` for the user agent as one `aes128gcm` record, padded to
/// `pad_to` bytes, with the application server's ephemeral key `as_secret` and `salt`.
fn encrypt(
    plaintext: &[u8],
    ua_public: &PublicKey,
    auth: &[u8; 16],
    as_secret: &SecretKey,
    salt: [u8; 16],
    pad_to: usize,
) -> Vec<u8> {
    let as_public = uncompressed(&as_secret.public_key());
    let ua_public_bytes = uncompressed(ua_public);
    let shared = p256::ecdh::diffie_hellman(as_secret.to_nonzero_scalar(), ua_public.as_affine());

    // IKM = HKDF(salt = auth, ikm = ecdh_secret, info = "WebPush: info" 0x00 ua_public as_public).
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(&ua_public_bytes);
    key_info.extend_from_slice(&as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .expect("32 bytes is a valid HKDF-SHA-256 length");

    // RFC 8188 §2.2–2.3: the content encryption key and nonce from the salt and IKM.
    let prk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .expect("16 bytes is a valid HKDF-SHA-256 length");
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .expect("12 bytes is a valid HKDF-SHA-256 length");

    // One record, so it is the last: the delimiter is 2, then zeros (RFC 8188 §2).
    let mut record = plaintext.to_vec();
    record.push(2);
    record.resize(record.len().max(pad_to), 0);
    let ciphertext = Aes128Gcm::new_from_slice(&cek)
        .expect("a 16-byte key")
        .encrypt(Nonce::from_slice(&nonce), record.as_slice())
        .expect("AES-GCM encrypts any record this small");
    debug_assert!(ciphertext.len() <= RECORD_SIZE as usize);

    // Header: salt, record size, key id length, key id (= as_public), then the record.
    let mut body = Vec::with_capacity(16 + 4 + 1 + as_public.len() + ciphertext.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&ciphertext);
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    fn b64(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    /// RFC 8291 §5 (and Appendix A): the published keys, salt and message, byte for byte.
    #[test]
    fn encrypts_the_rfc_8291_example() {
        let ua_public = PublicKey::from_sec1_bytes(&b64(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        ))
        .unwrap();
        let auth: [u8; 16] = b64("BTBZMqHH6r4Tts7J_aSIgg").try_into().unwrap();
        let as_secret =
            SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt(
            b"When I grow up, I want to be a watermelon",
            &ua_public,
            &auth,
            &as_secret,
            salt,
            0,
        );
        assert_eq!(
            URL_SAFE_NO_PAD.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmY\
             WAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexS\
             gSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn pads_every_wake_up_to_the_same_length() {
        let ua = random_secret().public_key();
        let short = encrypt(b"{}", &ua, &[7; 16], &random_secret(), [1; 16], PADDED_LEN);
        let long = encrypt(
            &[b'x'; 100],
            &ua,
            &[7; 16],
            &random_secret(),
            [1; 16],
            PADDED_LEN,
        );
        assert_eq!(short.len(), long.len());
        assert_eq!(short.len(), 86 + PADDED_LEN + 16);
    }

    #[test]
    fn checks_subscriptions() {
        let config = WebPushConfig::new(VapidKey::generate(), "mailto:ops@example.org").unwrap();
        let p256dh = URL_SAFE_NO_PAD.encode(uncompressed(&random_secret().public_key()));
        let auth = URL_SAFE_NO_PAD.encode([9u8; 16]);
        assert!(config
            .target("https://push.example/x", &p256dh, &auth)
            .is_ok());
        for (endpoint, key, secret) in [
            ("http://push.example/x", p256dh.as_str(), auth.as_str()),
            ("file:///etc/passwd", &p256dh, &auth),
            ("https://user@push.example/x", &p256dh, &auth),
            ("https://push.example/x", "BAAA", &auth),
            ("https://push.example/x", &p256dh, "AAAA"),
        ] {
            let err = config.target(endpoint, key, secret).err().unwrap();
            assert!(err.should_remove_subscription(), "{endpoint} {err}");
        }
        let http = config.allow_http_endpoints();
        assert!(http.target("http://127.0.0.1:9/x", &p256dh, &auth).is_ok());
    }

    #[test]
    fn subjects_must_be_mailto_or_https() {
        for ok in ["mailto:ops@example.org", "https://example.org/contact"] {
            assert!(WebPushConfig::new(VapidKey::generate(), ok).is_ok(), "{ok}");
        }
        for bad in ["ops@example.org", "http://example.org", "mailto:nobody", ""] {
            assert!(
                WebPushConfig::new(VapidKey::generate(), bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn classifies_push_service_answers() {
        assert!(matches!(classify(410, None, ""), PushError::Gone { .. }));
        assert!(matches!(classify(404, None, ""), PushError::Gone { .. }));
        let after = Some(Duration::from_secs(5));
        assert_eq!(
            classify(429, after, "slow down"),
            PushError::Retryable {
                provider: Provider::WebPush,
                reason: "429 slow down".into(),
                retry_after: after
            }
        );
        assert!(matches!(
            classify(503, None, ""),
            PushError::Retryable { .. }
        ));
        assert!(matches!(
            classify(413, None, ""),
            PushError::Rejected { status: 413, .. }
        ));
        assert!(matches!(
            classify(403, None, ""),
            PushError::Rejected { status: 403, .. }
        ));
    }
}
