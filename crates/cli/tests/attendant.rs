//! `callside attendant` as a contact centre's agent uses it (S1-F13): the shipped taxi file
//! greets a caller's phone, the caller's location brings the file's reaction, and what the agent
//! types on the console reaches the caller's phone as dynamic screens, texts and app messages.

mod support;

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use support::{create_device, run, serve, spawn, spawn_typing};

const ALICE: &str = "+442079460001";
const CABS: &str = "+442079460100";

/// The first line on `rx` that `matches`, within 15 s (others are skipped).
fn until(rx: &Receiver<Value>, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(v) if matches(&v) => return v,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("no {what} within 15 s");
}

fn screen_id(v: &Value) -> Option<&str> {
    (v["event"] == "screen" && v["kind"] == "screen")
        .then(|| v["body"]["id"].as_str())
        .flatten()
}

#[test]
fn an_agent_sends_screens_and_texts_to_the_caller_from_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut serve, server) = serve(&data, &[]);
    let cabs = run(
        &server,
        &[
            "admin",
            "--data-dir",
            data.to_str().unwrap(),
            "service",
            "create",
            "--name",
            "City Cabs",
            "--scope",
            "automated-system",
            "--range",
            CABS,
        ],
    )
    .remove(0);
    let alice = create_device(&server, &data, "Alice", ALICE);
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/attendant/taxi.toml");
    let (mut attendant, said) = spawn_typing(
        &server,
        &[
            "attendant",
            "--token",
            cabs["token"].as_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let mut console = attendant.stdin.take().unwrap();
    let mut type_line = |line: &str| writeln!(console, "{line}").unwrap();
    let (mut watch, sees) = spawn(&server, &["phone", "--token", &alice, "watch"]);
    until(&sees, "Alice connected", |v| v["event"] == "ready");

    // Before any call, the console says there is none to act on.
    type_line("text hello");
    let refused = until(&said, "a refusal", |v| v["event"] == "agent_error");
    assert_eq!(refused["error"], "no call in progress");

    // Alice calls the taxi firm from her app; its start screen reaches her phone.
    let placed = run(
        &server,
        &["phone", "--token", &alice, "call", CABS, "--wait", "10"],
    )
    .remove(0);
    let key = placed["session"]["key"].as_str().unwrap().to_owned();
    let call = until(&said, "the call", |v| v["event"] == "call");
    assert_eq!(
        (call["session"].as_str(), call["caller"].as_str()),
        (Some(key.as_str()), Some(ALICE))
    );
    until(&sees, "the start screen", |v| screen_id(v) == Some("book"));
    let ack = until(&said, "the acknowledgement", |v| v["event"] == "ack");
    assert_eq!(
        (ack["screen"].as_str(), ack["status"].as_str()),
        (Some("book"), Some("shown"))
    );

    // The agent lists the calls, then acts on this one: by default (the only call) and by a
    // prefix of its key.
    type_line("calls");
    let calls = until(&said, "the calls", |v| v["event"] == "calls");
    assert_eq!(calls["calls"][0]["session"], key.as_str());
    assert_eq!(calls["calls"][0]["caller"], ALICE);
    type_line("text Your driver is Sam, in a blue Skoda.");
    let text = until(&sees, "the agent's text", |v| {
        v["event"] == "message" && v["kind"] == "text"
    });
    assert_eq!(text["body"]["text"], "Your driver is Sam, in a blue Skoda.");
    type_line(&format!("screen {} eta", &key[..key.len() - 2]));
    let eta = until(&sees, "the dynamic screen", |v| screen_id(v) == Some("eta"));
    assert_eq!(eta["body"]["mode"], "dynamic");
    until(&said, "its acknowledgement", |v| {
        v["event"] == "ack" && v["screen"] == "eta"
    });
    type_line(r#"app taxi.eta {"minutes": 4}"#);
    let app = until(&sees, "the app message", |v| v["kind"] == "app/taxi.eta");
    assert_eq!(app["body"]["minutes"], 4);

    // Mistakes are explained and send nothing.
    type_line("screen nosuch");
    let refused = until(&said, "a refusal", |v| v["event"] == "agent_error");
    assert!(
        refused["error"].as_str().unwrap().contains("nosuch"),
        "{refused}"
    );
    type_line("screen ses_nobody eta");
    let refused = until(&said, "a refusal", |v| v["event"] == "agent_error");
    assert_eq!(
        refused["error"],
        "no call in progress has session `ses_nobody`"
    );
    type_line("dance");
    let refused = until(&said, "a refusal", |v| v["event"] == "agent_error");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("unknown command"),
        "{refused}"
    );
    let log = run(&server, &["phone", "--token", &alice, "messages", &key]);
    let kinds: Vec<&str> = log.iter().filter_map(|m| m["kind"].as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "screen").count(),
        2,
        "only the start screen and the agent's eta screen: {kinds:?}"
    );

    for child in [&mut attendant, &mut watch, &mut serve] {
        let _ = child.kill();
        let _ = child.wait();
    }
}
