//! The WebSocket protocol at `GET /v1/ws`: JSON text frames, one socket per device for all of its
//! sessions and events. See `docs/PROTOCOL.md`.

use crate::call::LegStatus;
use crate::invitation::Invitation;
use crate::message::{Accepted, Message};
use crate::session::SessionInfo;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Append a message to a session (answered by `accepted` or `error`).
    Send {
        session: String,
        id: String,
        kind: String,
        #[schema(value_type = Object)]
        body: Value,
    },
    /// Everything up to `seq` in `session` has been processed; it will not be redelivered.
    Ack { session: String, seq: u64 },
    /// Deliver every message after `after` again (default: after the last acknowledged one).
    Resume {
        session: String,
        #[serde(default)]
        after: Option<u64>,
    },
    /// Application-level heartbeat; answered by `pong`.
    Ping {
        #[serde(default)]
        nonce: Option<u64>,
    },
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame: who you are and your open sessions. Unacknowledged messages follow.
    Ready {
        protocol: u32,
        principal: String,
        heartbeat_secs: u64,
        sessions: Vec<SessionInfo>,
    },
    /// A `send` was persisted.
    Accepted(Accepted),
    /// A message on one of your sessions.
    Message(Message),
    /// A session you are in was created, or you joined one.
    Session(SessionInfo),
    /// A leg you reported changed state (matched, no match).
    Leg(LegStatus),
    /// An invitation to you (ringing) or from you changed state.
    Invitation(Invitation),
    /// Composer data of a call ringing on you, or a note left after a call you missed.
    CallNote(crate::call::CallNote),
    /// A frame was refused; nothing changed.
    Error {
        code: String,
        detail: String,
        /// The client message id of the refused `send`, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
}
