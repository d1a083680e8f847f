//! Number proof by SMS (S2-R), self-enrolment of devices, and the inbound SMS endpoint.
//!
//! The two SMS texts are part of the protocol too: a device sends [`MoRequest::text`] to the
//! operator's SMS number and reads [`MtProof`] from the SMS it gets back. Both use only GSM 03.38
//! basic characters and stay well under 160 of them, so each is one SMS on every network. `CS1` is
//! the format version.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a number proof stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProofState {
    /// Waiting for the device's SMS to reach the gateway.
    AwaitingSms,
    /// The SMS arrived; the signature went back by SMS to the sender's number.
    SmsSent,
    /// The device submitted the right signature; the number is bound to it.
    Proven,
    /// Too many wrong signatures, or the number could not be bound.
    Failed,
    /// The proof's time ran out before it was completed.
    Expired,
}

/// A number proof as its device sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NumberProof {
    pub id: String,
    pub state: ProofState,
    /// Send `sms_body` by SMS to this number (the operator's SMS gateway).
    pub sms_to: String,
    /// The exact SMS text to send; it fits one SMS. Only in the answer that started the proof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_body: Option<String>,
    /// The proof's single-use code (also inside `sms_body`); keep it to complete the proof.
    /// Only in the answer that started the proof: the server keeps just its hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The number the SMS came from, once it arrived (E.164).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    pub expires_at: i64,
}

/// What the device read from the SMS it received (`CS1 S <number> <signature>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteProof {
    /// The code from the answer that started the proof.
    pub code: String,
    pub number: String,
    pub signature: String,
}

/// A number now bound to the calling device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProvenNumber {
    pub number: String,
    /// Bindings of this number on other devices dropped as stale by this proof.
    pub replaced: u32,
}

/// A mobile-originated SMS forwarded by a gateway (the JSON form; Kannel uses the query form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundSms {
    /// The sender's number as the gateway read it from the SMS header.
    pub from: String,
    /// The number the SMS was sent to.
    #[serde(default)]
    pub to: Option<String>,
    pub text: String,
}

/// Self-enrolment of a device by an app's enrolment account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollDevice {
    /// A label, e.g. "Pixel 9".
    pub name: String,
}

// ---------------------------------------------------------------- SMS texts

/// The version tag that starts every callside SMS.
pub const VERSION: &str = "CS1";

/// Why an SMS or a submitted proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the SMS is not a callside registration (expected `CS1 R <device id> <code>`)")]
    NotRegistration,
    #[error("the SMS is not a callside proof (expected `CS1 S <number> <signature>`)")]
    NotProof,
    #[error("the signature is not 43 base64url characters")]
    MalformedSignature,
}

/// What a device sends by SMS to start a proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoRequest {
    pub device: String,
    pub code: String,
}

fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl MoRequest {
    pub fn text(&self) -> String {
        format!("{VERSION} R {} {}", self.device, self.code)
    }

    /// Reads an SMS body, tolerating extra spaces and a lower-case tag (handsets and gateways
    /// change both).
    pub fn parse(text: &str) -> Result<Self, ProofError> {
        let mut words = text.split_whitespace();
        let (Some(v), Some(r), Some(device), Some(code), None) = (
            words.next(),
            words.next(),
            words.next(),
            words.next(),
            words.next(),
        ) else {
            return Err(ProofError::NotRegistration);
        };
        if !v.eq_ignore_ascii_case(VERSION)
            || !r.eq_ignore_ascii_case("R")
            || !is_token(device, 64)
            || !is_token(code, 32)
        {
            return Err(ProofError::NotRegistration);
        }
        Ok(MoRequest {
            device: device.to_owned(),
            code: code.to_owned(),
        })
    }
}

/// What callside sends back by SMS: the number as the gateway saw it, and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtProof {
    pub number: String,
    pub signature: String,
}

impl MtProof {
    pub fn text(&self) -> String {
        format!(
            "callside number proof: {VERSION} S {} {}",
            self.number, self.signature
        )
    }

    /// Finds the proof in a received SMS (anything before the tag is ignored: handsets and
    /// gateways may prefix text).
    pub fn parse(text: &str) -> Result<Self, ProofError> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let at = words
            .windows(2)
            .position(|w| w[0].eq_ignore_ascii_case(VERSION) && w[1].eq_ignore_ascii_case("S"))
            .ok_or(ProofError::NotProof)?;
        match &words[at + 2..] {
            [number, signature, ..] if number.starts_with('+') => {
                if !is_token(signature, 43) || signature.len() != 43 {
                    return Err(ProofError::MalformedSignature);
                }
                Ok(MtProof {
                    number: (*number).to_owned(),
                    signature: (*signature).to_owned(),
                })
            }
            _ => Err(ProofError::NotProof),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_texts_round_trip_and_fit_one_sms() {
        let mo = MoRequest {
            device: "dev_019a2b3c4d5eAbCdEfGhIjKlMnOp".into(),
            code: "Xy-_12ab".into(),
        };
        let text = mo.text();
        assert!(text.len() <= 160, "{text}");
        assert_eq!(MoRequest::parse(&text).unwrap(), mo);
        assert_eq!(
            MoRequest::parse(&format!("  cs1   r {} {} ", mo.device, mo.code)).unwrap(),
            mo
        );
        for bad in [
            "",
            "CS1 R dev_x",
            "CS2 R dev_x code",
            "CS1 S dev_x code",
            "CS1 R dev_x code extra",
            "CS1 R dev x<y code",
            "hello there",
        ] {
            assert_eq!(
                MoRequest::parse(bad),
                Err(ProofError::NotRegistration),
                "{bad}"
            );
        }
    }

    #[test]
    fn proof_texts_round_trip_and_use_gsm_basic_characters() {
        let sig = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde".to_owned();
        assert_eq!(sig.len(), 43);
        let mt = MtProof {
            number: "+447400123456".into(),
            signature: sig,
        };
        let text = mt.text();
        assert!(text.len() <= 160);
        assert!(text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " +-_:".contains(c)));
        assert_eq!(MtProof::parse(&text).unwrap(), mt);
        assert_eq!(MtProof::parse("hello"), Err(ProofError::NotProof));
        assert_eq!(
            MtProof::parse("CS1 S +447400123456 short"),
            Err(ProofError::MalformedSignature)
        );
    }
}
