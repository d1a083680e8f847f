//! docs/PROTOCOL.md against the wire types: every example parses, and every frame type has one.

use callside_proto::ws::{ClientFrame, ServerFrame};

fn examples(tag: &str) -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/PROTOCOL.md"
    ))
    .expect("docs/PROTOCOL.md exists");
    let fence = format!("```json {tag}\n");
    let mut out = Vec::new();
    let mut rest = doc.as_str();
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```").expect("closed code block");
        out.push(body[..end].to_owned());
        rest = &body[end..];
    }
    out
}

/// Exhaustive: a new frame type does not compile until it is named here.
fn client_type(f: &ClientFrame) -> &'static str {
    match f {
        ClientFrame::Send { .. } => "send",
        ClientFrame::Ack { .. } => "ack",
        ClientFrame::Resume { .. } => "resume",
        ClientFrame::Report { .. } => "report",
        ClientFrame::Ping { .. } => "ping",
    }
}

fn server_type(f: &ServerFrame) -> &'static str {
    match f {
        ServerFrame::Ready { .. } => "ready",
        ServerFrame::Accepted(_) => "accepted",
        ServerFrame::Message(_) => "message",
        ServerFrame::Session(_) => "session",
        ServerFrame::Leg(_) => "leg",
        ServerFrame::Reported { .. } => "reported",
        ServerFrame::Invitation(_) => "invitation",
        ServerFrame::CallNote(_) => "call_note",
        ServerFrame::Error { .. } => "error",
        ServerFrame::Pong { .. } => "pong",
    }
}

const CLIENT_TYPES: &[&str] = &["send", "ack", "resume", "report", "ping"];
const SERVER_TYPES: &[&str] = &[
    "ready",
    "accepted",
    "reported",
    "message",
    "session",
    "leg",
    "invitation",
    "error",
    "pong",
];

#[test]
fn every_client_example_parses_and_every_client_frame_has_one() {
    let mut seen = Vec::new();
    for ex in examples("client") {
        let f: ClientFrame = serde_json::from_str(&ex).unwrap_or_else(|e| panic!("{e}: {ex}"));
        assert_eq!(ClientFrame::from_json(&ex).unwrap(), f, "fast reader: {ex}");
        // The example says what the type serialises to, field for field.
        let again: serde_json::Value = serde_json::to_value(&f).unwrap();
        let original: serde_json::Value = serde_json::from_str(&ex).unwrap();
        assert_eq!(again, original, "example does not round-trip");
        seen.push(client_type(&f));
    }
    for t in CLIENT_TYPES {
        assert!(
            seen.contains(t),
            "docs/PROTOCOL.md has no `json client` example of `{t}`"
        );
    }
}

#[test]
fn every_server_example_parses_and_every_server_frame_has_one() {
    let mut seen = Vec::new();
    for ex in examples("server") {
        let f: ServerFrame = serde_json::from_str(&ex).unwrap_or_else(|e| panic!("{e}: {ex}"));
        assert_eq!(ServerFrame::from_json(&ex).unwrap(), f, "fast reader: {ex}");
        let again: serde_json::Value = serde_json::to_value(&f).unwrap();
        let original: serde_json::Value = serde_json::from_str(&ex).unwrap();
        assert_eq!(again, original, "example does not round-trip");
        seen.push(server_type(&f));
    }
    for t in SERVER_TYPES {
        assert!(
            seen.contains(t),
            "docs/PROTOCOL.md has no `json server` example of `{t}`"
        );
    }
}

/// Exhaustive: a new action type does not compile until it is named here.
fn action_type(a: &callside_proto::screen::Action) -> &'static str {
    use callside_proto::screen::Action;
    match a {
        Action::SendLocation => "send_location",
        Action::SendCard => "send_card",
        Action::Pay { .. } => "pay",
        Action::OpenUrl { .. } => "open_url",
        Action::SendMessage { .. } => "send_message",
        Action::Voicemail { .. } => "voicemail",
        Action::BrowseFile { .. } => "browse_file",
        Action::EndCall => "end_call",
        Action::App { .. } => "app",
    }
}

/// Parses `ex` as `T` and checks it serialises back to the same JSON.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(ex: &str) -> T {
    let t: T = serde_json::from_str(ex).unwrap_or_else(|e| panic!("{e}: {ex}"));
    let again = serde_json::to_value(&t).unwrap();
    let original: serde_json::Value = serde_json::from_str(ex).unwrap();
    assert_eq!(again, original, "example does not round-trip");
    t
}

#[test]
fn every_screen_example_parses() {
    use callside_proto::screen::{ScreenAckBody, ScreenActionBody, ScreenBody};
    let screens = examples("screen");
    assert!(
        !screens.is_empty(),
        "docs/PROTOCOL.md has no `json screen` example"
    );
    let mut actions = Vec::new();
    for ex in &screens {
        let s: ScreenBody = round_trip(ex);
        actions.extend(s.regions.iter().map(|r| action_type(&r.action)));
    }
    for t in ["send_message", "voicemail", "browse_file", "end_call"] {
        assert!(
            actions.contains(&t),
            "no example region with a `{t}` action"
        );
    }
    let acks = examples("screen/ack");
    let presses = examples("screen/action");
    assert!(!acks.is_empty() && !presses.is_empty());
    for ex in &acks {
        round_trip::<ScreenAckBody>(ex);
    }
    for ex in &presses {
        round_trip::<ScreenActionBody>(ex);
    }
}
