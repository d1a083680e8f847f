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
