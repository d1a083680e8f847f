//! Email identities (S2-E, S2-V): validate an address by a mailed token, then be invited by it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Ask for a validation mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddEmail {
    pub email: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailValidationState {
    /// The mail went out; waiting for its token.
    Sent,
    /// The token came back: the address belongs to this device.
    Validated,
    /// Too many wrong tokens.
    Failed,
    Expired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmailValidation {
    pub id: String,
    pub email: String,
    pub state: EmailValidationState,
    /// The sender of the validation mail, for clients that find it in the mailbox (S2-V).
    pub from: String,
    /// The validation mail's subject.
    pub subject: String,
    pub expires_at: i64,
}

/// The token from the validation mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteEmail {
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidatedEmail {
    pub email: String,
}

/// The subject of every validation mail.
pub const VALIDATION_SUBJECT: &str = "Confirm your email address for callside";
/// The header naming the validation a mail belongs to.
pub const VALIDATION_HEADER: &str = "X-Callside-Validation";
/// The body line that carries the token: `Token: <token>`.
pub const TOKEN_PREFIX: &str = "Token: ";

/// Finds the token in a validation mail's text (headers and body, as fetched over IMAP), if the
/// mail is the one for `validation`.
pub fn token_in_mail(raw: &str, validation: &str) -> Option<String> {
    let unfolded = raw.replace("\r\n", "\n");
    let (headers, body) = unfolded.split_once("\n\n")?;
    let belongs = headers.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case(VALIDATION_HEADER) && v.trim() == validation
        })
    });
    if !belongs {
        return None;
    }
    body.lines()
        .find_map(|l| l.trim().strip_prefix(TOKEN_PREFIX))
        .map(|t| t.trim().to_owned())
        .filter(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_only_from_the_right_mail() {
        let mail = "From: callside <noreply@callside.test>\r\nX-Callside-Validation: ev_1\r\nSubject: x\r\n\r\nHello\r\nToken: AbC-_123\r\n";
        assert_eq!(token_in_mail(mail, "ev_1").as_deref(), Some("AbC-_123"));
        assert_eq!(token_in_mail(mail, "ev_2"), None);
        assert_eq!(
            token_in_mail("X-Callside-Validation: ev_1\n\nno token here", "ev_1"),
            None
        );
        assert_eq!(
            token_in_mail("X-Callside-Validation: ev_1\n\nToken: <script>", "ev_1"),
            None
        );
    }
}
