//! Reporting calls: a device's leg (S0-F1/F2, S1-F1, F23) or a network element's call (S1-F3–F5).

use crate::session::{Lifecycle, SessionInfo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outgoing,
    Incoming,
}

/// One party's report of a call it is on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportLeg {
    /// The reporter's own number: one it owns (device) or within its ranges (automated system).
    #[serde(rename = "self")]
    pub own: String,
    /// The other party's number; omit or `null` when the caller withheld it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
    pub direction: Direction,
    /// A call identifier the reporter knows (e.g. SIP Call-ID); helps pairing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conference_id: Option<String>,
    /// The registry FQDN the device used (S0 claim 7); echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Whether a session created from this leg closes with the call. Default: the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// Call composer data for an outgoing call (GSMA RCC.20): the callee's devices get it while
    /// the call rings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composer: Option<Composer>,
    /// Signed caller data (an RFC 9795 PASSporT from `POST /v1/passports`) for the callee's devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passport: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Importance {
    #[default]
    Normal,
    Urgent,
}

/// A position attached to composer data or a note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Place {
    pub lat: f64,
    pub lon: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
}

/// What the caller composed before calling: why, how urgent, a picture, where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Composer {
    /// At most 60 characters (RCC.20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default)]
    pub importance: Importance,
    /// A blob id the caller uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Place>,
}

/// A note or picture left after a missed or rejected call (RCC.20 post-call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostCallNote {
    /// At most 500 characters.
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub picture: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallNoteKind {
    /// Composer data of a ringing call.
    Composer,
    /// A note left after a missed or rejected call.
    Note,
}

/// Composer data or a post-call note, as the callee's devices see it (live as a
/// `call_note` frame, and in `GET /v1/me/call-log`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallNote {
    pub id: String,
    pub kind: CallNoteKind,
    /// The caller's leg.
    pub leg: String,
    pub from: String,
    pub from_name: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composer: Option<Composer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<PostCallNote>,
    /// Signed caller data (RFC 9795 PASSporT); verify with the server's JWK set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passport: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CallLog {
    pub notes: Vec<CallNote>,
}

impl ReportLeg {
    /// A report with only the party details; the optional fields can be set afterwards.
    pub fn new(own: impl Into<String>, other: Option<String>, direction: Direction) -> Self {
        ReportLeg {
            own: own.into(),
            other,
            direction,
            call_ref: None,
            extension: None,
            conference_id: None,
            registry: None,
            lifecycle: None,
            composer: None,
            passport: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LegState {
    /// Waiting for the other party (or the network) to report the call.
    Pending,
    /// Paired: `session` holds the key.
    Matched,
    /// No session: see `reason` (`expired`, `ambiguous`, `withdrawn`, `superseded`).
    NoMatch,
}

/// Where a reported leg stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LegStatus {
    pub id: String,
    pub state: LegState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionInfo>,
    #[serde(rename = "self")]
    pub own: String,
    #[serde(default)]
    pub other: Option<String>,
    pub direction: Direction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    pub reported_at: i64,
    /// When a pending leg gives up.
    pub expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallEventKind {
    /// The call is being set up (INVITE).
    Ringing,
    /// The call was answered (200 OK).
    Answered,
    /// The call ended (BYE, timeout).
    Ended,
    /// The call was not answered, refused or busy, and not forwarded.
    Failed,
    /// The call was forwarded to a voicemail (`diverted_to`, `reason`).
    Diverted,
}

/// Why the network forwarded a call (SIP Diversion reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DivertReason {
    NoAnswer,
    UserBusy,
    Unavailable,
}

/// A network element's report about a call. Repeats are harmless (keyed by `call_ref`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkCallEvent {
    /// The network's id for the call, e.g. a SIP Call-ID.
    pub call_ref: String,
    pub caller: String,
    pub callee: String,
    pub event: CallEventKind,
    #[serde(default)]
    pub lifecycle: Option<Lifecycle>,
    /// Where the call was forwarded instead (a voicemail's number): on `diverted` and on every
    /// later event of the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diverted_to: Option<String>,
    /// Why (with `diverted_to`; `no-answer` if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DivertReason>,
}

/// Many call events at once, from one network element (`POST /v1/network/calls/batch`): each
/// taken as `POST /v1/network/calls` would take it, those about the same call or number in the
/// order sent (others at once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkCallEvents {
    /// 1 to 1,000 events.
    pub events: Vec<NetworkCallEvent>,
}

/// What became of each event of a batch, in the batch's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NetworkCallResults {
    pub results: Vec<NetworkCallResult>,
}

/// One event's outcome: the call as it stands, or why the event was refused (it changed nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NetworkCallResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<NetworkCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::Problem>,
}

/// A call as the network reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NetworkCall {
    pub id: String,
    pub call_ref: String,
    pub caller: String,
    pub callee: String,
    pub state: crate::session::CallState,
    /// The session of the call; absent when the network reported the end of a call it never
    /// reported starting (nothing to end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// `POST /v1/network/click-to-dial`: ask the SIP proxy to call your own number and, once you
/// answer, connect you to `to` (S1-F3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickToDial {
    /// Your number that rings first (default: the device's only number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The number to connect you to.
    pub to: String,
}

/// The proxy took the click-to-dial request: `from` rings first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClickToDialPlaced {
    pub from: String,
    pub to: String,
}
