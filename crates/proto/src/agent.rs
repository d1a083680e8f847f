//! A merchant's call centre (S4's ACD): agents, their presence, the calls they take, and the
//! visitor's view of its call waiting in the queue.

use crate::merchant::CallRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `PUT /v1/merchant/agents/{id}`: adds an agent or changes its name and groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentIn {
    pub name: String,
    /// The groups whose calls it takes (routing's `agents:<group>`), at most 20.
    #[serde(default)]
    pub groups: Vec<String>,
    /// A supervisor also sees the whole call centre (`GET /v1/agent/board`).
    #[serde(default)]
    pub supervisor: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub groups: Vec<String>,
    #[serde(default)]
    pub supervisor: bool,
    /// Its API account (`svc_…`).
    pub account: String,
    /// Signed in now (available or away), as its polls say.
    pub signed_in: bool,
    pub created_at: i64,
}

/// A new agent's token is answered once, when the agent is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentSaved {
    pub agent: Agent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentList {
    pub agents: Vec<Agent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    /// Takes calls of its groups.
    Available,
    /// Signed in, takes no new call.
    Away,
    /// Signed out: a call it had goes back to the front of its queue.
    Offline,
}

/// `POST /v1/agent/presence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Presence {
    pub status: PresenceStatus,
}

/// `GET /v1/agent/call`: the agent's call, with what the visitor's page shared (screen pop).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentCall {
    /// `ringing` (accept or decline it) or `talking`.
    pub state: String,
    pub call: CallRecord,
    /// The web call's session (once talking): voice signalling, chat, the visitor's page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// `POST /v1/agent/channels`: join a call to the merchant's number by its channel id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinChannel {
    /// The 6 digits the visitor's call window shows.
    pub channel: String,
}

/// `POST /v1/agent/calls/{id}/push`: push the merchant's page for a code to the visitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushPage {
    /// A code of the merchant's page table, as keyed (`*76`) or picked.
    pub code: String,
}

/// `POST /v1/agent/calls/{id}/end`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndCall {
    /// `completed` (the default) or `failed`.
    #[serde(default)]
    pub outcome: Option<String>,
}

/// `GET /v1/clicks/{id}`: a visitor's call as its visitor sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VisitorCall {
    pub id: String,
    /// `queued`, `ringing`, `answered`, `ended` (or `routed` for a call sent to a number).
    pub state: String,
    /// 1 at the head of the queue (while queued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// Expected wait in seconds (while queued and an agent of the group is signed in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_wait_secs: Option<u64>,
    /// The agent's name, once answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The web call's session, once answered: the visitor token opens it until the call ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// `GET /v1/agent/board` (supervisors) and `GET /v1/merchant/board`: the call centre now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Board {
    /// Each group with calls waiting.
    pub queues: Vec<BoardQueue>,
    /// Every agent of the merchant, signed in or not.
    pub agents: Vec<BoardAgent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BoardQueue {
    pub group: String,
    /// The waiting calls, head first.
    pub calls: Vec<BoardCall>,
    /// The group's average handle time in seconds, once one of its calls has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle_secs: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BoardCall {
    /// `clk_…`.
    pub id: String,
    /// Seconds since the click.
    pub waiting_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BoardAgent {
    pub id: String,
    pub name: String,
    /// `offline`, `available`, `away`, `ringing` or `talking`.
    pub status: String,
    /// The call ringing it or in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// Seconds in this status (ringing, talking) or idle (available, away).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_secs: Option<u64>,
}
