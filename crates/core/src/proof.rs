//! Proof of a phone number by an SMS round trip (S2-R), as rules and text formats with no I/O.
//!
//! 1. A device asks to prove a number and gets a single-use *code*.
//! 2. It sends a mobile-originated SMS (`CS1 R <device id> <code>`), to the
//!    operator's SMS number. The SMS gateway reads the sender's number from the SMS header and
//!    forwards both to callside.
//! 3. callside computes [`signature`] — HMAC-SHA256 under the server's key over the number, the
//!    code, the device id and a random nonce (so several devices can prove one number) — and
//!    sends it in a mobile-terminated SMS (`CS1 S <number> <signature>`), to that
//!    number only.
//! 4. The device submits the number and signature; callside recomputes and compares in constant
//!    time ([`verify`]). Only a handset that receives SMS for the number can have the signature.
//!
//! S2's SMS carries the device's push token; push tokens (Web Push endpoint URLs, 64-byte APNs
//! tokens) do not fit one SMS, so the SMS carries the attempt's short code instead and the push
//! subscription is registered over the authenticated API.
//!
//! The SMS texts are part of the wire protocol: `callside_proto::numbers::{MoRequest, MtProof}`.

use crate::PhoneNumber;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Where a proof stands (stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofState {
    AwaitingSms,
    SmsSent,
    Proven,
    Failed,
}

impl ProofState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProofState::AwaitingSms => "awaiting_sms",
            ProofState::SmsSent => "sms_sent",
            ProofState::Proven => "proven",
            ProofState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "awaiting_sms" => ProofState::AwaitingSms,
            "sms_sent" => ProofState::SmsSent,
            "proven" => ProofState::Proven,
            "failed" => ProofState::Failed,
            _ => return None,
        })
    }
}

/// Wrong submissions a proof takes: the last of them fails it for good.
pub const MAX_WRONG_SIGNATURES: u32 = 5;

fn mac(key: &[u8], number: &PhoneNumber, code: &str, device: &str, nonce: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    // Length-prefixed fields: no two different inputs produce the same byte string.
    for part in [
        b"callside-number-proof-v1".as_slice(),
        number.as_str().as_bytes(),
        code.as_bytes(),
        device.as_bytes(),
        nonce,
    ] {
        m.update(&(part.len() as u32).to_be_bytes());
        m.update(part);
    }
    m
}

/// The keyed signature that proves `number` for `device`'s attempt `code`, base64url.
pub fn signature(
    key: &[u8],
    number: &PhoneNumber,
    code: &str,
    device: &str,
    nonce: &[u8],
) -> String {
    URL_SAFE_NO_PAD.encode(
        mac(key, number, code, device, nonce)
            .finalize()
            .into_bytes(),
    )
}

/// Recomputes the signature and compares it with `presented` in constant time.
pub fn verify(
    key: &[u8],
    number: &PhoneNumber,
    code: &str,
    device: &str,
    nonce: &[u8],
    presented: &str,
) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(presented) else {
        return false;
    };
    mac(key, number, code, device, nonce)
        .verify_slice(&bytes)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s, None).unwrap()
    }

    #[test]
    fn a_signature_binds_every_part() {
        let key = b"server key";
        let num = n("+447400123456");
        let sig = signature(key, &num, "code", "dev_a", b"nonce");
        assert!(verify(key, &num, "code", "dev_a", b"nonce", &sig));
        assert!(!verify(b"other key", &num, "code", "dev_a", b"nonce", &sig));
        assert!(!verify(
            key,
            &n("+447400123457"),
            "code",
            "dev_a",
            b"nonce",
            &sig
        ));
        assert!(!verify(key, &num, "codf", "dev_a", b"nonce", &sig));
        assert!(!verify(key, &num, "code", "dev_b", b"nonce", &sig));
        assert!(!verify(key, &num, "code", "dev_a", b"nonc3", &sig));
        assert!(!verify(key, &num, "code", "dev_a", b"nonce", "not base64!"));
        // Moving bytes between fields changes the signature (length-prefixed input).
        assert_ne!(sig, signature(key, &num, "cod", "edev_a", b"nonce"));
    }
}
