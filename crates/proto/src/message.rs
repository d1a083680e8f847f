//! Messages on a session's ordered log.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A message to append to a session's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The client's id for this message: re-sending the same id returns the first result.
    pub id: String,
    /// `text`, `file` or `app/<name>`.
    pub kind: String,
    /// `text`: [`TextBody`]; `file`: [`FileBody`]; `app/*`: any JSON object.
    #[schema(value_type = Object)]
    pub body: Value,
}

/// A message as stored and delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub session: String,
    /// Per-session sequence number, assigned by the server: 1, 2, 3, …
    pub seq: u64,
    /// The sender's client message id (absent on `system/*` messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Principal id of the sender, or `system`.
    pub sender: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub body: Value,
    pub sent_at: i64,
}

/// The server persisted a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    pub session: String,
    pub seq: u64,
    pub id: String,
    /// True when this id had been accepted before: nothing new was written.
    pub duplicate: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    /// Newest sequence number on the log when this page was read.
    pub last_seq: u64,
}

/// A receiver has processed every message up to `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    pub seq: u64,
}

/// Body of a `text` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextBody {
    pub text: String,
}

/// Body of a `file` message: a blob uploaded before with `POST /v1/blobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileBody {
    pub blob: String,
    pub name: String,
    /// Filled in by the server from the blob.
    #[serde(default)]
    pub size: u64,
    /// Filled in by the server from the blob's bytes.
    #[serde(default)]
    pub mime: String,
}

/// Body of `system/call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallBody {
    pub state: crate::session::CallState,
}

/// Body of `system/joined`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JoinedBody {
    pub participant: crate::session::Participant,
}

/// Body of `system/transferred`: a participant handed its place to another device of the same
/// user (S2-M).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TransferredBody {
    /// The device that left.
    pub from: String,
    /// The device that took its place.
    pub to: crate::session::Participant,
}

/// Body of `location` (S1-F9/F10): a position in WGS 84 degrees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationBody {
    pub lat: f64,
    pub lon: f64,
    /// Uncertainty radius in metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
    /// One of a stream of live updates (rate-limited to one a second per device).
    #[serde(default)]
    pub live: bool,
    /// The `location/request` this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Filled by the server: the same position as an RFC 5870 `geo:` URI, for a map link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<String>,
}

/// Body of `location/request`: the others are asked for their position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationRequestBody {
    /// The requester's id for this request (1-64 characters).
    pub request: String,
    /// Without an answer in this many seconds (5-300, default 30), the server says
    /// `system/location` with `not_possible`.
    #[serde(default = "default_location_timeout")]
    pub timeout_secs: u32,
}

fn default_location_timeout() -> u32 {
    30
}

/// Body of `location/decline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationDeclineBody {
    pub request: String,
}

/// Body of `page/view`: the page a visitor on a web call is looking at (S4's page follow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageViewBody {
    /// The page's address: http(s), at most 2,048 bytes.
    pub url: String,
    /// Its title, at most 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Body of `media/control`: an agent changes the visitor's media (S4 "K"); from agents only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaControlBody {
    /// How loud the visitor hears the agent: 0.0 (silent) to 1.0 (full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<f64>,
    /// Whether the visitor's microphone uses echo suppression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_cancellation: Option<bool>,
}

/// Body of `system/page`: an agent pushed one of its merchant's pages to the visitor (S4's
/// page push), written by the server from the merchant's code→page table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SystemPageBody {
    /// The page to load.
    pub url: String,
    /// The code the agent keyed or picked (`*76`).
    pub code: String,
    /// The agent's account.
    pub by: String,
}

/// Body of `system/location`: a location request nobody answered in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SystemLocationBody {
    pub request: String,
    /// `not_possible`.
    pub state: String,
}

/// Body of `system/diverted`: the network forwarded the call to a voicemail (S1-F15).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DivertedBody {
    /// The number called: whose mailbox it is.
    pub from: String,
    /// The voicemail's number.
    pub to: String,
    /// `no_answer`, `busy` or `unavailable`.
    pub reason: String,
}

/// Body of `system/closed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClosedBody {
    /// `call_ended`, `closed` or `idle`.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}
