//! WebRTC signalling on a session (S1-F1's direct path, S2-I9/I10's direct-or-relay rule, S2-C's
//! video): participants exchange an offer, an answer and ICE candidates as ordinary messages, so
//! only participants can signal and the exchange survives reconnects. Media and data then flow
//! peer to peer, or through the TURN relay of `GET /v1/connection-data`.

use crate::connect::NatType;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What a connection carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RtcMedia {
    /// A data channel only (files and data beside the relay).
    Data,
    /// Audio and video (S2-C: the call upgraded to video), with a data channel.
    Video,
    /// Voice only, with a data channel (a visitor's web call to an agent, S4).
    Audio,
}

/// `rtc/offer`: opens connection `call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RtcOfferBody {
    /// The connection's id, chosen by the offerer (1-64 of `A-Z a-z 0-9 _ -`).
    pub call: String,
    pub media: RtcMedia,
    /// The session description (SDP), at most 32 KiB.
    pub sdp: String,
    /// Use the TURN relay only (S2's compatibility rule said a direct path will fail, or direct
    /// attempts failed and the retry flag is set).
    #[serde(default)]
    pub relay: bool,
    /// The offerer's NAT type, as its ICE candidates showed it; the answerer applies S2's rule
    /// to the two types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<NatType>,
    /// This offer retries after direct attempts that did not connect (S2's retry flag).
    #[serde(default, skip_serializing_if = "is_false")]
    pub retry: bool,
    /// Direct attempts that failed so far (at most 100).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// The connection this offer replaces (the failed attempt before it), so an answerer that
    /// accepted that one may accept this one without asking again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

/// `rtc/answer`: accepts connection `call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RtcAnswerBody {
    pub call: String,
    pub sdp: String,
    /// The answerer's NAT type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<NatType>,
    /// The answerer keeps to the TURN relay: the offer asked for it, or S2's rule on the two NAT
    /// types (and the retry flag) said a direct path will fail.
    #[serde(default, skip_serializing_if = "is_false")]
    pub relay: bool,
}

/// `rtc/candidate`: one ICE candidate for connection `call` (an empty `candidate` ends them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RtcCandidateBody {
    pub call: String,
    pub candidate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_m_line_index: Option<u32>,
}

/// `rtc/end`: connection `call` is over (declined, hung up, or back to data only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RtcEndBody {
    pub call: String,
    /// Why, in a few words (at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
