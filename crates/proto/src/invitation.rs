//! Invitations (S2-I, S2-M, S1-F2): ask every device of a number into a data session.

use crate::connect::{ConnectionOffer, Path};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    /// Ringing on the invitee's devices.
    Pending,
    /// `answered_by` accepted; the session is open to it. Other devices stop ringing.
    Accepted,
    /// `answered_by` declined.
    Declined,
    /// The inviter withdrew it.
    Cancelled,
    /// Nobody answered in time.
    Expired,
}

/// Invite the devices of a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    /// The invitee's endpoint id: a phone number in any format the server reads.
    pub to: String,
    /// The inviting device's own number shown to the invitee (default: its only number).
    #[serde(default)]
    pub from: Option<String>,
    /// Invite into this session (you must take part in it); without it acceptance creates one.
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default)]
    pub connection: Option<ConnectionOffer>,
    /// A catalogue component (S1-F6) offered in the session once it is up; one that needs
    /// authorization is offered in the session instead.
    #[serde(default)]
    pub component: Option<String>,
}

/// Accept, optionally with this device's connection data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    #[serde(default)]
    pub connection: Option<ConnectionOffer>,
}

/// An invitation as the inviter and the invitee's devices see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    pub id: String,
    pub state: InvitationState,
    /// The inviting device or account.
    pub inviter: String,
    pub inviter_name: String,
    /// The number the invitation comes from, when the inviter has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The invitee's number (E.164).
    pub to: String,
    /// How many devices of the invitee were told.
    pub devices: u32,
    /// Offered by callside because only the inviter's app reported the call the two are on
    /// (S1-F2): "start a data session with the party you are speaking to?".
    #[serde(default)]
    pub call: bool,
    /// The session: given at creation, or made when accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The device that accepted or declined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    /// The inviter's connection data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<ConnectionOffer>,
    /// The accepting device's connection data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ConnectionOffer>,
    /// Direct or relayed, decided on acceptance from both sides' NAT types and retry state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Path>,
    /// A catalogue component the inviter offers once the session is up (S1-F6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvitationList {
    pub invitations: Vec<Invitation>,
}
