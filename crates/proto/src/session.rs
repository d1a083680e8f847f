//! Sessions: the one data session type every source creates.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// The session continues after the call (S1; the default).
    KeepAfterCall,
    /// The key becomes invalid when the call ends (S0-F5).
    CloseWithCall,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    Ringing,
    Answered,
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Two parties reported the call and were paired.
    PairedLegs,
    /// A network element reported the call.
    Network,
    /// An invitation was accepted.
    Invitation,
    /// Parties reported legs naming the same conference (and dial-in number).
    Conference,
    /// An agent answered a visitor's click-to-call button (a merchant's web call).
    Click,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Participant {
    pub id: String,
    pub name: String,
    /// The participant's number on this call, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// What the participant says about showing earlier messages to those who join later;
    /// absent when it has said nothing (which does not share them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<History>,
    /// The newest message sent before the participant joined, which is not its to read; absent
    /// when it reads the log from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_after: Option<u64>,
}

/// A participant's word on the session's history: those who join later read the messages sent
/// before they joined only if at least one participant shares them and none withholds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum History {
    Share,
    Withhold,
}

/// Set (or, with `null`, clear) this participant's word on the session's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetHistory {
    /// `share`, `withhold`, or `null` to withdraw the word; the field itself is required.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(required = true)]
    pub consent: Option<History>,
}

/// A session as a participant sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// The session key (S0 claim 11). It names the session; it grants nothing by itself.
    pub key: String,
    pub origin: Origin,
    pub lifecycle: Lifecycle,
    pub call: CallState,
    pub participants: Vec<Participant>,
    pub created_at: i64,
    /// Why the session closed (`call_ended`, `closed`, `idle`); absent while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<String>,
    /// Sequence number of the newest message on the session's log.
    pub last_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<SessionInfo>,
}

/// Hand this device's place in a session to another device of the same user (S2-M).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The device id to move the session to; it must share a number with this one.
    pub to: String,
}
