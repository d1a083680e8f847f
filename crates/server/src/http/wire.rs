//! Domain ↔ wire, by hand, so the protocol cannot change by accident.

/// The server's wire formats, which services reach through the `Wire` port each domain declares
/// for what it writes or reads back (log bodies, live frames, stored subscriptions): each
/// domain's `http.rs` implements its port for this type.
pub(crate) struct JsonWire;

use callside_core::principal::Scope;
use callside_core::session::{CallState, HistoryConsent, Lifecycle, Origin};
use callside_proto as proto;
use callside_store::{MessageRecord, ParticipantRecord, SessionRecord};

pub(crate) fn lifecycle_in(l: proto::session::Lifecycle) -> Lifecycle {
    match l {
        proto::session::Lifecycle::KeepAfterCall => Lifecycle::KeepAfterCall,
        proto::session::Lifecycle::CloseWithCall => Lifecycle::CloseWithCall,
    }
}

pub(crate) fn lifecycle_out(l: Lifecycle) -> proto::session::Lifecycle {
    match l {
        Lifecycle::KeepAfterCall => proto::session::Lifecycle::KeepAfterCall,
        Lifecycle::CloseWithCall => proto::session::Lifecycle::CloseWithCall,
    }
}

pub(crate) fn call_state(c: CallState) -> proto::session::CallState {
    match c {
        CallState::Ringing => proto::session::CallState::Ringing,
        CallState::Answered => proto::session::CallState::Answered,
        CallState::Ended => proto::session::CallState::Ended,
    }
}

pub(crate) fn direction_in(d: proto::call::Direction) -> callside_core::Direction {
    match d {
        proto::call::Direction::Outgoing => callside_core::Direction::Outgoing,
        proto::call::Direction::Incoming => callside_core::Direction::Incoming,
    }
}

pub(crate) fn direction_out(d: callside_core::Direction) -> proto::call::Direction {
    match d {
        callside_core::Direction::Outgoing => proto::call::Direction::Outgoing,
        callside_core::Direction::Incoming => proto::call::Direction::Incoming,
    }
}

pub(crate) fn scope_in(s: proto::admin::Scope) -> Scope {
    match s {
        proto::admin::Scope::NetworkElement => Scope::NetworkElement,
        proto::admin::Scope::AutomatedSystem => Scope::AutomatedSystem,
        proto::admin::Scope::SmsGateway => Scope::SmsGateway,
        proto::admin::Scope::DeviceEnrollment => Scope::DeviceEnrollment,
        proto::admin::Scope::CallerData => Scope::CallerData,
        proto::admin::Scope::Merchant => Scope::Merchant,
        proto::admin::Scope::Agent => Scope::Agent,
        proto::admin::Scope::Visitor => Scope::Visitor,
    }
}

pub(crate) fn scope_out(s: Scope) -> proto::admin::Scope {
    match s {
        Scope::NetworkElement => proto::admin::Scope::NetworkElement,
        Scope::AutomatedSystem => proto::admin::Scope::AutomatedSystem,
        Scope::SmsGateway => proto::admin::Scope::SmsGateway,
        Scope::DeviceEnrollment => proto::admin::Scope::DeviceEnrollment,
        Scope::CallerData => proto::admin::Scope::CallerData,
        Scope::Merchant => proto::admin::Scope::Merchant,
        Scope::Agent => proto::admin::Scope::Agent,
        Scope::Visitor => proto::admin::Scope::Visitor,
    }
}

pub(crate) fn participant(p: &ParticipantRecord) -> proto::session::Participant {
    proto::session::Participant {
        id: p.principal.0.clone(),
        name: p.name.clone(),
        number: p.number.as_ref().map(|n| n.to_string()),
        history: p.history.map(history_out),
        joined_after: (p.joined_seq > 0).then_some(p.joined_seq),
    }
}

pub(crate) fn history_out(h: HistoryConsent) -> proto::session::History {
    match h {
        HistoryConsent::Share => proto::session::History::Share,
        HistoryConsent::Withhold => proto::session::History::Withhold,
    }
}

pub(crate) fn history_in(h: proto::session::History) -> HistoryConsent {
    match h {
        proto::session::History::Share => HistoryConsent::Share,
        proto::session::History::Withhold => HistoryConsent::Withhold,
    }
}

pub(crate) fn session_info(r: &SessionRecord) -> proto::session::SessionInfo {
    let s = &r.session;
    proto::session::SessionInfo {
        key: s.key.to_string(),
        origin: match s.origin {
            Origin::PairedLegs => proto::session::Origin::PairedLegs,
            Origin::Network(_) => proto::session::Origin::Network,
            Origin::Invitation => proto::session::Origin::Invitation,
            Origin::Conference => proto::session::Origin::Conference,
            Origin::Click => proto::session::Origin::Click,
        },
        lifecycle: lifecycle_out(s.lifecycle),
        call: call_state(s.call),
        participants: r.participants.iter().map(participant).collect(),
        created_at: s.created_at,
        closed: s.closed.as_ref().map(|c| c.code().to_owned()),
        last_seq: r.last_seq,
    }
}

pub(crate) fn message(r: &MessageRecord) -> proto::message::Message {
    proto::message::Message {
        session: r.session.to_string(),
        seq: r.seq,
        id: r.client_id.clone(),
        sender: r.sender.clone(),
        kind: r.kind.clone(),
        body: serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null),
        sent_at: r.sent_at,
    }
}

/// Serialises a whole server frame once, for fan-out.
pub(crate) fn frame_json(frame: &proto::ws::ServerFrame) -> std::sync::Arc<str> {
    serde_json::to_string(frame)
        .expect("server frames always serialise")
        .into()
}

/// The `message` frame of a stored message, written around the stored body text so the hot path
/// does not parse and re-serialise it. Equal to serialising `ServerFrame::Message(message(r))`
/// (tested below).
pub(crate) fn message_frame_json(r: &MessageRecord) -> std::sync::Arc<str> {
    use std::fmt::Write as _;
    let q = |s: &str| serde_json::to_string(s).expect("strings serialise");
    let mut out = String::with_capacity(r.body.len() + 160);
    let _ = write!(
        out,
        "{{\"type\":\"message\",\"session\":{},\"seq\":{}",
        q(r.session.as_str()),
        r.seq
    );
    if let Some(id) = &r.client_id {
        let _ = write!(out, ",\"id\":{}", q(id));
    }
    let _ = write!(
        out,
        ",\"sender\":{},\"kind\":{},\"body\":{},\"sent_at\":{}}}",
        q(&r.sender),
        q(&r.kind),
        r.body,
        r.sent_at
    );
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use callside_core::SessionKey;

    #[test]
    fn the_fast_message_frame_equals_the_serialised_one() {
        for (id, body) in [
            (Some("c-1\"\\"), r#"{"text":"h\u00e9llo \"there\"\n"}"#),
            (None, r#"{"state":"ended"}"#),
        ] {
            let r = MessageRecord {
                session: SessionKey::generate(1_763_769_600_000),
                seq: 42,
                sender: "dev_x".into(),
                client_id: id.map(Into::into),
                kind: "text".into(),
                body: body.into(),
                sent_at: 1_763_769_600_000,
                blob: None,
            };
            let fast: serde_json::Value = serde_json::from_str(&message_frame_json(&r)).unwrap();
            let slow = serde_json::to_value(proto::ws::ServerFrame::Message(message(&r))).unwrap();
            assert_eq!(fast, slow);
        }
    }
}
