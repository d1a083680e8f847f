//! Messages, sessions and legs in words, for text mode.

use callside_client::proto::call::{LegState, LegStatus};
use callside_client::proto::component::SystemComponentBody;
use callside_client::proto::message::{
    CallBody, ClosedBody, FileBody, JoinedBody, Message, TextBody,
};
use callside_client::proto::session::{CallState, Lifecycle, SessionInfo};
use callside_client::Event;
use std::collections::HashMap;

mod screen;

/// Principal ids → names, learnt from the sessions seen so far.
#[derive(Debug, Default)]
pub(crate) struct Names {
    names: HashMap<String, String>,
}

impl Names {
    pub(crate) fn learn(&mut self, session: &SessionInfo) {
        for p in &session.participants {
            self.names.insert(p.id.clone(), p.name.clone());
        }
    }

    pub(crate) fn name(&self, id: &str) -> String {
        match self.names.get(id) {
            Some(name) if !name.is_empty() => name.clone(),
            _ => id.to_owned(),
        }
    }
}

/// `sk_…Vb2q9XlZ` — the end of the key, which is random (its start is the creation time, the
/// same for sessions made together): enough to tell sessions apart on screen.
pub(crate) fn short_key(key: &str) -> String {
    let n = key.chars().count();
    if n <= 12 {
        key.to_owned()
    } else {
        let tail: String = key.chars().skip(n - 8).collect();
        format!("sk_…{tail}")
    }
}

/// `[sk_…Vb2q9XlZ#3] Bob's phone: hello`
pub(crate) fn message_line(m: &Message, names: &Names) -> String {
    let prefix = format!("[{}#{}]", short_key(&m.session), m.seq);
    let sender = names.name(&m.sender);
    match m.kind.as_str() {
        "text" => match serde_json::from_value::<TextBody>(m.body.clone()) {
            Ok(b) => format!("{prefix} {sender}: {}", b.text),
            Err(_) => format!("{prefix} {sender}: (text) {}", m.body),
        },
        "file" => match serde_json::from_value::<FileBody>(m.body.clone()) {
            Ok(f) => format!(
                "{prefix} {sender} sent a file: {} ({}, {}) {}",
                f.name,
                human_bytes(f.size),
                f.mime,
                f.blob
            ),
            Err(_) => format!("{prefix} {sender}: (file) {}", m.body),
        },
        "app/voicemail.playback" => screen::playback_text(&prefix, &sender, &m.body),
        "erased" => format!("{prefix} — a message whose sender's data was erased —"),
        "card" => {
            match serde_json::from_value::<callside_client::proto::card::CardBody>(m.body.clone()) {
                Ok(c) => format!(
                    "{prefix} {sender}'s card{}:\n{}",
                    c.display
                        .name
                        .as_deref()
                        .map(|n| format!(" (show as \"{n}\")"))
                        .unwrap_or_default(),
                    card_lines(&c.fields)
                        .lines()
                        .map(|l| format!("    {l}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
                Err(_) => format!("{prefix} {sender}: (card) {}", m.body),
            }
        }
        "location" => {
            match serde_json::from_value::<callside_client::proto::message::LocationBody>(
                m.body.clone(),
            ) {
                Ok(l) => format!(
                    "{prefix} {sender} is at {}, {}{}{} {}",
                    l.lat,
                    l.lon,
                    l.accuracy_m
                        .map(|a| format!(" (±{a} m)"))
                        .unwrap_or_default(),
                    if l.live { " [live]" } else { "" },
                    l.geo.unwrap_or_default()
                ),
                Err(_) => format!("{prefix} {sender}: (location) {}", m.body),
            }
        }
        "location/request" => format!(
            "{prefix} {sender} asks where you are ({})",
            m.body["request"]
        ),
        "location/decline" => format!("{prefix} {sender} declined to share a location"),
        "page/view" => format!(
            "{prefix} {sender} is on {}",
            m.body["url"].as_str().unwrap_or("?")
        ),
        "media/control" => format!("{prefix} {sender} sets the visitor's media: {}", m.body),
        "system/page" => format!(
            "{prefix} — {} pushed page {} ({}) —",
            names.name(m.body["by"].as_str().unwrap_or("")),
            m.body["code"].as_str().unwrap_or("?"),
            m.body["url"].as_str().unwrap_or("?")
        ),
        "system/location" => format!(
            "{prefix} — no location for request {}: {} —",
            m.body["request"], m.body["state"]
        ),
        "capability/query" => format!(
            "{prefix} {sender} asks (request {}) for features {} and components {}",
            m.body["request"], m.body["features"], m.body["components"]
        ),
        "capability/answer" => format!(
            "{prefix} {sender} has (request {}) features {} and components {}",
            m.body["request"], m.body["features"], m.body["components"]
        ),
        "system/capability" => format!(
            "{prefix} — no answer to capability query {}: {} —",
            m.body["request"], m.body["state"]
        ),
        "system/component" => match serde_json::from_value::<SystemComponentBody>(m.body.clone()) {
            Ok(c) => {
                let mut s = format!(
                    "{prefix} — {} offers {} {} ({}), get it at {}",
                    names.name(&c.by),
                    c.component.name,
                    c.component.version,
                    c.component.id,
                    c.component.url
                );
                if !c.needs_install.is_empty() {
                    let who: Vec<String> = c.needs_install.iter().map(|p| names.name(p)).collect();
                    s.push_str(&format!("; to install: {}", who.join(", ")));
                }
                if let Some(a) = &c.authorization {
                    s.push_str(&format!(
                        "; paid ({} {}) with a purchase token",
                        a.fee.amount, a.fee.currency
                    ));
                }
                s.push_str(" —");
                s
            }
            Err(_) => format!("{prefix} — component: {} —", m.body),
        },
        "system/component_installed" => format!(
            "{prefix} — {} installed {} {} —",
            names.name(m.body["by"].as_str().unwrap_or_default()),
            m.body["component"].as_str().unwrap_or_default(),
            m.body["version"].as_str().unwrap_or_default()
        ),
        "system/call" => match serde_json::from_value::<CallBody>(m.body.clone()) {
            Ok(c) => format!("{prefix} — call {} —", call_state(c.state)),
            Err(_) => format!("{prefix} — call: {} —", m.body),
        },
        "system/diverted" => format!(
            "{prefix} — the call to {} went to voicemail {} ({}) —",
            m.body["from"].as_str().unwrap_or("?"),
            m.body["to"].as_str().unwrap_or("?"),
            m.body["reason"].as_str().unwrap_or("?").replace('_', " ")
        ),
        "system/joined" => match serde_json::from_value::<JoinedBody>(m.body.clone()) {
            Ok(j) => format!("{prefix} — {} joined —", j.participant.name),
            Err(_) => format!("{prefix} — joined: {} —", m.body),
        },
        "system/closed" => match serde_json::from_value::<ClosedBody>(m.body.clone()) {
            Ok(c) => match c.by {
                Some(by) => format!(
                    "{prefix} — session closed ({}) by {} —",
                    c.reason,
                    names.name(&by)
                ),
                None => format!("{prefix} — session closed ({}) —", c.reason),
            },
            Err(_) => format!("{prefix} — closed: {} —", m.body),
        },
        kind => format!("{prefix} {sender} [{kind}] {}", m.body),
    }
}

pub(crate) fn call_state(state: CallState) -> &'static str {
    match state {
        CallState::Ringing => "ringing",
        CallState::Answered => "answered",
        CallState::Ended => "ended",
    }
}

/// `sk_… (call answered, keep_after_call, 2 participants: Alice, Bob) last #5`
pub(crate) fn session_line(s: &SessionInfo) -> String {
    let who: Vec<String> = s
        .participants
        .iter()
        .map(|p| match (&p.number, p.name.is_empty()) {
            (Some(n), _) => format!("{} {n}", p.name),
            (None, false) => p.name.clone(),
            (None, true) => "(a device whose data was erased)".to_owned(),
        })
        .collect();
    let closed = match &s.closed {
        Some(reason) => format!(", closed: {reason}"),
        None => String::new(),
    };
    format!(
        "{}  call {}, {}{closed}, last #{}, with {}",
        s.key,
        call_state(s.call),
        match s.lifecycle {
            Lifecycle::KeepAfterCall => "kept after the call",
            Lifecycle::CloseWithCall => "closes with the call",
        },
        s.last_seq,
        who.join(", ")
    )
}

pub(crate) fn leg_line(l: &LegStatus) -> String {
    let other = l.other.as_deref().unwrap_or("withheld");
    match l.state {
        LegState::Pending => format!("leg {} pending ({} ↔ {other})", l.id, l.own),
        LegState::Matched => match &l.session {
            Some(s) => format!("leg {} matched: session {}", l.id, s.key),
            None => format!("leg {} matched", l.id),
        },
        LegState::NoMatch => format!(
            "leg {} found no match ({})",
            l.id,
            l.reason.as_deref().unwrap_or("no reason given")
        ),
    }
}

/// Card fields, one per line: `kind (label) value  [vN]`.
pub(crate) fn card_lines(fields: &[callside_client::proto::card::CardField]) -> String {
    use callside_client::proto::card::FieldValue;
    if fields.is_empty() {
        return "no card".into();
    }
    fields
        .iter()
        .map(|f| {
            let value = match &f.value {
                FieldValue::Text(t) => t.clone(),
                FieldValue::Address(a) => [
                    &a.street,
                    &a.locality,
                    &a.region,
                    &a.postal_code,
                    &a.country,
                ]
                .into_iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            };
            let kind = serde_json::to_value(f.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            match &f.label {
                Some(l) => format!("{kind} ({l}) {value}  [v{}]", f.version),
                None => format!("{kind} {value}  [v{}]", f.version),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Composer data or a post-call note, on one line.
pub(crate) fn call_note_line(n: &callside_client::proto::call::CallNote) -> String {
    let who = format!("{} ({})", n.from_name, n.from);
    match (&n.composer, &n.note) {
        (Some(c), _) => {
            let mut s = format!("{who} is calling");
            if c.importance == callside_client::proto::call::Importance::Urgent {
                s.push_str(" — URGENT");
            }
            if let Some(subject) = &c.subject {
                s.push_str(&format!(": \"{subject}\""));
            }
            if let Some(p) = &c.picture {
                s.push_str(&format!(" [picture {p}]"));
            }
            if let Some(l) = &c.location {
                s.push_str(&format!(" [at geo:{},{}]", l.lat, l.lon));
            }
            s
        }
        (_, Some(note)) => {
            let mut s = format!("{who} left a note after a missed call");
            if let Some(t) = &note.text {
                s.push_str(&format!(": \"{t}\""));
            }
            if let Some(p) = &note.picture {
                s.push_str(&format!(" [picture {p}]"));
            }
            s
        }
        _ => format!("{who}: call note {}", n.id),
    }
}

/// An invitation and where it stands, on one line.
pub(crate) fn invitation_line(i: &callside_client::proto::invitation::Invitation) -> String {
    use callside_client::proto::invitation::InvitationState as S;
    let from = i.from.as_deref().unwrap_or("(no number)");
    match i.state {
        S::Pending => format!(
            "invitation {} from {} {from} to {} (ringing on {} device(s)){}",
            i.id,
            i.inviter_name,
            i.to,
            i.devices,
            i.component
                .as_deref()
                .map(|c| format!(", sharing component {c}"))
                .unwrap_or_default()
        ),
        S::Accepted => format!(
            "invitation {} accepted by {}; session {} ({})",
            i.id,
            i.answered_by.as_deref().unwrap_or("?"),
            i.session.as_deref().unwrap_or("?"),
            match i.path {
                Some(callside_client::proto::connect::Path::Relay) => "connect through the relay",
                _ => "connect directly",
            }
        ),
        S::Declined => format!(
            "invitation {} declined by {}",
            i.id,
            i.answered_by.as_deref().unwrap_or("?")
        ),
        S::Cancelled => format!("invitation {} cancelled by the inviter", i.id),
        S::Expired => format!("invitation {} expired unanswered", i.id),
    }
}

/// An event as one line of text (learning names on the way).
pub(crate) fn event_line(event: &Event, names: &mut Names) -> String {
    match event {
        Event::Ready {
            principal,
            sessions,
            ..
        } => {
            sessions.iter().for_each(|s| names.learn(s));
            format!(
                "connected as {principal}; {} open session(s)",
                sessions.len()
            )
        }
        Event::Reconnected { sessions } => {
            sessions.iter().for_each(|s| names.learn(s));
            format!("reconnected; {} open session(s)", sessions.len())
        }
        Event::Disconnected { reason } => format!("disconnected ({reason}); reconnecting…"),
        Event::Message(m) => message_line(m, names),
        Event::Screen(e) => screen::screen_event_text(e, names),
        Event::Session(s) => {
            names.learn(s);
            format!("session {}", session_line(s))
        }
        Event::Leg(l) => {
            if let Some(s) = &l.session {
                names.learn(s);
            }
            leg_line(l)
        }
        Event::Invitation(i) => invitation_line(i),
        Event::CallNote(n) => call_note_line(n),
        Event::Error {
            code,
            detail,
            session,
        } => match session {
            Some(s) => format!("error on {}: {code}: {detail}", short_key(s)),
            None => format!("error: {code}: {detail}"),
        },
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// How a wire value reads in text: an enum as its wire name (`sms_gateway`), a list as its
/// names joined with commas (`name, organization, title`) — never Rust's debug form.
pub(crate) fn names<T: serde::Serialize + ?Sized>(value: &T) -> String {
    fn one(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(items) => items.iter().map(one).collect::<Vec<_>>().join(", "),
            other => other.to_string(),
        }
    }
    serde_json::to_value(value)
        .map(|v| one(&v))
        .unwrap_or_default()
}

pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

/// `features location.share, image.view; components com.example.menu 1.2`
pub(crate) fn capabilities_line(c: &callside_client::proto::component::Capabilities) -> String {
    let features = if c.features.is_empty() {
        "none".to_owned()
    } else {
        c.features.join(", ")
    };
    let components = if c.components.is_empty() {
        "none".to_owned()
    } else {
        c.components
            .iter()
            .map(|i| format!("{} {}", i.id, i.version))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("features {features}; components {components}")
}

/// What became of a component offer.
pub(crate) fn offer_line(o: &callside_client::proto::component::ComponentOffer) -> String {
    let c = &o.component;
    if o.state == "consent_required" {
        let fee = o
            .fee
            .as_ref()
            .map(|f| format!("{} {}", f.amount, f.currency))
            .unwrap_or_default();
        return format!(
            "{} costs {fee}{}: nothing was sent; offer again with --consent \"{fee}\" to pay",
            c.name,
            o.description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
    }
    let mut s = format!(
        "offered {} {} as #{}",
        c.name,
        c.version,
        o.seq.unwrap_or_default()
    );
    if !o.needs_install.is_empty() {
        s.push_str(&format!("; {} to install it", o.needs_install.len()));
    }
    if let Some(f) = &o.fee {
        s.push_str(&format!(
            "; charged {} {} (reference {})",
            f.amount,
            f.currency,
            o.reference.as_deref().unwrap_or("-")
        ));
    }
    s
}

/// The catalogue: a JSON line per entry, or a line of text each.
pub(crate) fn print_components(
    out: &crate::output::Output,
    list: &callside_client::proto::component::ComponentList,
) {
    if out.per_line() {
        list.components.iter().for_each(|c| out.json_line(c));
    } else if list.components.is_empty() {
        out.text("the catalogue is empty");
    } else {
        list.components
            .iter()
            .for_each(|c| out.text(&component_line(c)));
    }
}

/// A catalogue entry on one line.
pub(crate) fn component_line(c: &callside_client::proto::component::Component) -> String {
    format!(
        "{}  {} {}  {}{}",
        c.id,
        c.name,
        c.version,
        c.url,
        if c.authorization {
            "  (needs authorization)"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_read_naturally() {
        let m = Message {
            session: "sk_019aa7f1c400Vb2q9XlZx0aQmE1cT7yPp3Rw".into(),
            seq: 3,
            id: None,
            sender: "dev_x".into(),
            kind: "text".into(),
            body: json!({"text": "hello"}),
            sent_at: 0,
        };
        assert_eq!(
            message_line(&m, &Names::default()),
            "[sk_…T7yPp3Rw#3] dev_x: hello"
        );
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(human_bytes(10), "10 B");
    }
}
