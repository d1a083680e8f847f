//! RFC 9457 problem details: the body of every error response.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error. `code` is stable and machine-readable; `detail` is for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `https://callside.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    /// What went wrong with this request, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine code, e.g. `invalid_number`, `not_participant`, `session_closed`.
    pub code: String,
}

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";
