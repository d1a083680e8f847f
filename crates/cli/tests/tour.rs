//! The README's tour, run with the real binary: a server, the admin tool, and two phones driven
//! through a call from the command line with `--json` output.

use std::process::{Command, Stdio};
use std::time::Duration;

mod support;
use support::*;

#[test]
fn two_phones_go_through_a_call_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    let mut serve = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(&server, &data);
    let data_s = data.to_str().unwrap();

    // The operator provisions two phones (the admin token is read from the data directory).
    let alice = &run(
        &server,
        &[
            "admin",
            "--data-dir",
            data_s,
            "device",
            "create",
            "--name",
            "Alice",
            "--number",
            "+44 20 7946 0001",
        ],
    )[0];
    let bob = &run(
        &server,
        &[
            "admin",
            "--data-dir",
            data_s,
            "device",
            "create",
            "--name",
            "Bob",
            "--number",
            "+44 20 7946 0002",
        ],
    )[0];
    let (a, b) = (
        alice["token"].as_str().unwrap(),
        bob["token"].as_str().unwrap(),
    );
    assert_eq!(alice["device"]["numbers"][0], "+442079460001");

    // Bob's app stays connected and saves files.
    let saves = dir.path().join("bob-files");
    let saves_s = saves.to_str().unwrap();
    let (mut watch, events) = spawn(
        &server,
        &[
            "phone",
            "--token",
            b,
            "watch",
            "--save-dir",
            saves_s,
            "--exit-after",
            "3",
        ],
    );
    assert_eq!(next(&events)["event"], "ready");

    // Alice dials; Bob's phone rings; both get the same session.
    let (mut call, call_out) = spawn(
        &server,
        &[
            "phone",
            "--token",
            a,
            "call",
            "+442079460002",
            "--wait",
            "20",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let incoming = &run(
        &server,
        &["phone", "--token", b, "incoming", "--from", "+442079460001"],
    )[0];
    assert_eq!(incoming["state"], "matched");
    let key = incoming["session"]["key"].as_str().unwrap().to_owned();
    let placed = next(&call_out);
    assert_eq!(placed["session"]["key"], key.as_str());
    let alice_leg = placed["id"].as_str().unwrap().to_owned();
    assert!(call.wait().unwrap().success());
    assert_eq!(next(&events)["event"], "session");

    // A file and a text; Bob's app prints them and saves the file.
    let menu = dir.path().join("menu.txt");
    std::fs::write(&menu, "pizza margherita\n").unwrap();
    run(
        &server,
        &[
            "phone",
            "--token",
            a,
            "send-file",
            &key,
            menu.to_str().unwrap(),
        ],
    );
    let file = next(&events);
    assert_eq!(
        (file["event"].as_str(), file["kind"].as_str()),
        (Some("message"), Some("file"))
    );
    let saved = next(&events);
    assert_eq!(saved["event"], "saved");
    assert_eq!(
        std::fs::read_to_string(saved["path"].as_str().unwrap()).unwrap(),
        "pizza margherita\n"
    );
    let accepted = &run(
        &server,
        &["phone", "--token", a, "send", &key, "Table for two?"],
    )[0];
    assert_eq!(accepted["seq"], 2);
    assert_eq!(next(&events)["body"]["text"], "Table for two?");

    // Alice hangs up: Bob sees the call end, and his watch has seen its three messages.
    run(&server, &["phone", "--token", a, "hangup", &alice_leg]);
    let ended = next(&events);
    assert_eq!(
        (ended["kind"].as_str(), ended["body"]["state"].as_str()),
        (Some("system/call"), Some("ended"))
    );
    assert!(watch.wait().unwrap().success());

    // The log is there for both, and closing ends it for everyone.
    let log = run(&server, &["phone", "--token", b, "messages", &key]);
    assert_eq!(log.len(), 3, "{log:?}");
    // Bob lets whoever joins later read it.
    let shared = &run(&server, &["phone", "--token", b, "history", &key, "share"])[0];
    let bob = shared["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Bob")
        .unwrap();
    assert_eq!(bob["history"], "share", "{shared}");
    let closed = &run(&server, &["phone", "--token", b, "close", &key])[0];
    assert_eq!(closed["closed"], "closed");
    serve.kill().unwrap();
    serve.wait().unwrap();
}

#[test]
fn an_invitation_reaches_a_second_device_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut serve, server) = serve(&data, &[]);
    let device = |name: &str, number: &str| create_device(&server, &data, name, number);
    let alice = device("Alice", "+44 20 7946 0001");
    let _bob_phone = device("Bob's phone", "+44 20 7946 0002");
    let tablet = device("Bob's tablet", "+44 20 7946 0002");

    let (mut watch, events) = spawn(&server, &["phone", "--token", &tablet, "watch"]);
    assert_eq!(next(&events)["event"], "ready");
    let (mut invite, answers) = spawn(
        &server,
        &[
            "phone",
            "--token",
            &alice,
            "invite",
            "+442079460002",
            "--wait",
            "30",
        ],
    );
    let ringing = next(&answers);
    assert_eq!(ringing["state"], "pending");
    assert_eq!(ringing["devices"], 2);
    let id = ringing["id"].as_str().unwrap();
    // The tablet's watch shows it ringing, and so does its list.
    let seen = next(&events);
    assert_eq!(seen["event"], "invitation", "{seen}");
    assert_eq!(seen["id"], id);
    let listed = run(&server, &["phone", "--token", &tablet, "invitations"]);
    assert_eq!(listed[0]["id"], id);
    let accepted = run(&server, &["phone", "--token", &tablet, "accept", id]).remove(0);
    assert_eq!(accepted["state"], "accepted");
    let session = accepted["session"].as_str().unwrap();
    // Alice's waiting `invite` hears the answer and exits.
    let answer = next(&answers);
    assert_eq!(answer["state"], "accepted");
    assert_eq!(answer["session"], session);
    assert!(invite.wait().unwrap().success());
    run(
        &server,
        &["phone", "--token", &alice, "send", session, "hello tablet"],
    );
    let message = loop {
        let e = next(&events);
        if e.to_string().contains("hello tablet") {
            break e;
        }
    };
    assert!(message.to_string().contains(session), "{message}");
    let _ = watch.kill();
    let _ = watch.wait();
    let _ = serve.kill();
    let _ = serve.wait();
}

#[test]
fn the_demo_plays_a_whole_call_with_cards_a_subject_and_a_live_location() {
    let out = Command::new(BIN)
        .args(["--json", "demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events = |side: &str, what: &str| {
        lines
            .iter()
            .filter(|l| l["side"] == side)
            .filter(|l| {
                l["event"]["event"] == what
                    || (l["event"]["event"] == "message" && l["event"]["kind"] == what)
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    let subject = events("bob", "call_note");
    assert_eq!(
        subject[0]["event"]["composer"]["subject"],
        "Your parcel A-1042 is at the door"
    );
    let cards = events("bob", "card");
    let fields: Vec<&str> = cards[0]["event"]["body"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["name", "org", "title"],
        "her birthday stays private"
    );
    let bobs = events("alice", "card")
        .into_iter()
        .filter(|c| c["event"]["body"]["display"]["name"] == "Bob Jones")
        .count();
    assert_eq!(bobs, 1, "Bob's card reaches Alice once");
    let live = events("bob", "location");
    assert_eq!(live.len(), 2);
    assert!(live.iter().all(|l| l["event"]["body"]["live"] == true));
}
