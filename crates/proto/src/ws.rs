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
    /// Report a call leg over the socket, as `POST /v1/legs` without waiting; answered by
    /// `reported` (or `error`) with the same `id`. A `leg` frame follows when a pending leg
    /// settles.
    Report {
        id: String,
        leg: crate::call::ReportLeg,
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
    /// A `report` was taken: the leg as it stands now (matched at once, or pending).
    Reported { id: String, leg: LegStatus },
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

/// The tag of a frame, read without buffering the rest (every other field is skipped); `None`
/// when the text has no readable tag.
fn tag(text: &str) -> Option<std::borrow::Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Tag<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<Tag>(text).ok().map(|t| t.kind)
}

/// A `send` frame's fields, for reading one without serde's buffering of tagged enums.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendFields {
    #[serde(rename = "type")]
    _type: serde::de::IgnoredAny,
    session: String,
    id: String,
    kind: String,
    body: Value,
}

/// An `ack` frame's fields (see [`SendFields`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AckFields {
    #[serde(rename = "type")]
    _type: serde::de::IgnoredAny,
    session: String,
    seq: u64,
}

impl ClientFrame {
    /// Reads a frame from JSON text; the same as `serde_json::from_str`, faster for the frequent
    /// kinds. serde reads an internally tagged enum by first copying every field into a buffer of
    /// its own; `send` and `ack` frames are read straight into their fields instead, once a skim
    /// has found the tag. Other kinds, and text whose tag cannot be read, take serde's path. What
    /// is accepted and refused is the same either way; a refusal's wording may name the fields of
    /// the frame's kind rather than the enum's.
    pub fn from_json(text: &str) -> serde_json::Result<ClientFrame> {
        match tag(text).as_deref() {
            Some("send") => serde_json::from_str::<SendFields>(text).map(|f| ClientFrame::Send {
                session: f.session,
                id: f.id,
                kind: f.kind,
                body: f.body,
            }),
            Some("ack") => serde_json::from_str::<AckFields>(text).map(|f| ClientFrame::Ack {
                session: f.session,
                seq: f.seq,
            }),
            _ => serde_json::from_str(text),
        }
    }
}

impl ServerFrame {
    /// Reads a frame from JSON text; the same as `serde_json::from_str`, faster for the frequent
    /// kinds (`accepted`, `message`; see [`ClientFrame::from_json`]).
    pub fn from_json(text: &str) -> serde_json::Result<ServerFrame> {
        match tag(text).as_deref() {
            // `Accepted` and `Message` skip fields they do not know (the tag among them), as the
            // tagged enum does.
            Some("accepted") => serde_json::from_str(text).map(ServerFrame::Accepted),
            Some("message") => serde_json::from_str(text).map(ServerFrame::Message),
            _ => serde_json::from_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both readers give the same frame, or both refuse the text.
    fn same<T: PartialEq + std::fmt::Debug + serde::de::DeserializeOwned>(
        text: &str,
        fast: fn(&str) -> serde_json::Result<T>,
    ) {
        let slow = serde_json::from_str::<T>(text);
        match (fast(text), slow) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{text}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("{text}: fast {a:?}, serde {b:?}"),
        }
    }

    #[test]
    fn client_frames_read_as_serde_reads_them() {
        let frames = [
            r#"{"type":"send","session":"sk_1","id":"m1","kind":"text","body":{"text":"hi"}}"#,
            r#"{"session":"sk_1","body":[1,{"a":null}],"id":"m1","kind":"app/x","type":"send"}"#,
            r#"{ "type" : "send", "session": "sk_\u0031", "id": "m\"1", "kind": "text", "body": 3 }"#,
            r#"{"type":"send","session":"sk_1","id":"m1","kind":"text","body":{},"extra":1}"#,
            r#"{"type":"send","session":"sk_1","id":"m1","kind":"text"}"#,
            r#"{"type":"send","session":"sk_1","id":7,"kind":"text","body":{}}"#,
            r#"{"type":"send","type":"send","session":"sk_1","id":"m1","kind":"text","body":{}}"#,
            r#"{"type":"send","session":"sk_1","id":"m1","kind":"text","body":{}} x"#,
            r#"{"type":"ack","session":"sk_1","seq":42}"#,
            r#"{"seq":42,"type":"ack","session":"sk_1"}"#,
            r#"{"type":"ack","session":"sk_1","seq":-1}"#,
            r#"{"type":"ack","session":"sk_1","seq":1,"id":"x"}"#,
            r#"{"type":"ack","session":"sk_1"}"#,
            r#"{"type":"resume","session":"sk_1"}"#,
            r#"{"type":"resume","session":"sk_1","after":3}"#,
            r#"{"type":"ping","nonce":9}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"nope"}"#,
            r#"{"type":7}"#,
            r#"{"session":"sk_1"}"#,
            r#"[]"#,
            r#"not json"#,
        ];
        for text in frames {
            same(text, ClientFrame::from_json);
        }
        // The fast path does read the frequent kinds.
        assert!(matches!(
            ClientFrame::from_json(frames[0]),
            Ok(ClientFrame::Send { ref id, .. }) if id == "m1"
        ));
        assert_eq!(
            ClientFrame::from_json(frames[9]).unwrap(),
            ClientFrame::Ack {
                session: "sk_1".into(),
                seq: 42
            }
        );
        assert!(
            ClientFrame::from_json(frames[3]).is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn server_frames_read_as_serde_reads_them() {
        let accepted = ServerFrame::Accepted(Accepted {
            session: "sk_1".into(),
            seq: 5,
            id: "m1".into(),
            duplicate: false,
        });
        let message = ServerFrame::Message(Message {
            session: "sk_1".into(),
            seq: 6,
            id: Some("m2".into()),
            sender: "dev_a".into(),
            kind: "text".into(),
            body: serde_json::json!({"text": "hello"}),
            sent_at: 1_763_769_600_000,
        });
        let system = ServerFrame::Message(Message {
            id: None,
            sender: "system".into(),
            ..match &message {
                ServerFrame::Message(m) => m.clone(),
                _ => unreachable!(),
            }
        });
        let error = ServerFrame::Error {
            code: "not_participant".into(),
            detail: "no".into(),
            id: Some("m3".into()),
            session: None,
        };
        for frame in [
            &accepted,
            &message,
            &system,
            &error,
            &ServerFrame::Pong { nonce: Some(1) },
        ] {
            let text = serde_json::to_string(frame).unwrap();
            assert_eq!(&ServerFrame::from_json(&text).unwrap(), frame);
            same(&text, ServerFrame::from_json);
        }
        for text in [
            r#"{"type":"accepted","session":"sk_1","seq":5,"id":"m1","duplicate":false,"later":1}"#,
            r#"{"type":"accepted","session":"sk_1","seq":5,"id":"m1"}"#,
            r#"{"type":"message","session":"sk_1","seq":"6","sender":"a","kind":"text","body":{},"sent_at":1}"#,
            r#"{"sender":"a","type":"message","session":"sk_1","seq":6,"kind":"text","body":{},"sent_at":1}"#,
            r#"{"type":"pong"}"#,
            r#"{"type":"unknown"}"#,
        ] {
            same(text, ServerFrame::from_json);
        }
    }
}
