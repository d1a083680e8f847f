//! A person's data as the operator meets a request for it: `export` gives everything kept about
//! their device, `erase` removes it without taking anything from the people they talked to.

mod support;

use serde_json::Value;
use std::process::Command;
use support::{run, serve, BIN};

fn blob_path(data: &std::path::Path, blob: &str) -> std::path::PathBuf {
    let hex = blob.strip_prefix("sha256:").unwrap();
    data.join("blobs").join(&hex[..2]).join(hex)
}

#[test]
fn a_devices_data_is_exported_and_erased_and_the_other_party_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut serve, server) = serve(&data, &[]);
    let (alice, bob, session) = support::paired(&server, &data);
    let admin = |args: &[&str]| {
        let mut a = vec!["admin", "--data-dir", data.to_str().unwrap()];
        a.extend_from_slice(args);
        Command::new(BIN)
            .arg("--json")
            .args(&a)
            .env("CALLSIDE_SERVER", &server)
            .output()
            .unwrap()
    };
    let phone = |token: &str, args: &[&str]| {
        let mut a = vec!["phone", "--token", token];
        a.extend_from_slice(args);
        run(&server, &a)
    };

    // A message and a file each way.
    let (alice_file, bob_file) = (dir.path().join("alice.txt"), dir.path().join("bob.txt"));
    std::fs::write(&alice_file, "Alice's menu").unwrap();
    std::fs::write(&bob_file, "Bob's address: 1 High Street").unwrap();
    phone(&alice, &["send", &session, "Here is the menu"]);
    phone(
        &alice,
        &["send-file", &session, alice_file.to_str().unwrap()],
    );
    phone(&bob, &["send", &session, "I live at 1 High Street"]);
    phone(&bob, &["send-file", &session, bob_file.to_str().unwrap()]);
    let log = phone(&alice, &["messages", &session]);
    let file_of = |name: &str| {
        log.iter()
            .find(|m| m["kind"] == "file" && m["body"]["name"] == name)
            .and_then(|m| m["body"]["blob"].as_str())
            .unwrap_or_else(|| panic!("no file {name} in {log:?}"))
            .to_owned()
    };
    let (alice_blob, bob_blob) = (file_of("alice.txt"), file_of("bob.txt"));
    assert!(blob_path(&data, &bob_blob).exists());

    // Bob asks for his data: the device exports it itself (no secrets in it).
    let export = dir.path().join("bob.json");
    phone(&bob, &["export", "--output", export.to_str().unwrap()]);
    let text = std::fs::read_to_string(&export).unwrap();
    let exported: Value = serde_json::from_str(&text).unwrap();
    let table = |name: &str| -> Vec<Value> {
        exported["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == name)
            .unwrap_or_else(|| panic!("no {name}"))["rows"]
            .as_array()
            .unwrap()
            .clone()
    };
    let messages = table("messages");
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["body"]["text"], "I live at 1 High Street");
    assert_eq!(table("numbers")[0]["number"], "+442079460002");
    assert_eq!(table("legs").len(), 1);
    assert!(!text.contains("\"hash\""), "no token hashes in the export");
    let operators = admin(&["device", "export", exported["device"].as_str().unwrap()]);
    assert!(operators.status.success());
    let operators: Value = serde_json::from_slice(&operators.stdout).unwrap();
    assert_eq!(
        operators["tables"], exported["tables"],
        "the operator's export is the same"
    );

    // Erasing needs --yes, and without it nothing changes.
    let id = exported["device"].as_str().unwrap().to_owned();
    let refused = admin(&["device", "erase", &id]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));
    phone(&bob, &["whoami"]);

    let erased = admin(&["device", "erase", &id, "--yes"]);
    assert!(
        erased.status.success(),
        "{}",
        String::from_utf8_lossy(&erased.stderr)
    );
    let erased: Value = serde_json::from_slice(&erased.stdout).unwrap();
    assert_eq!(erased["files_deleted"], 1, "{erased}");
    assert!(erased["deleted"].as_u64().unwrap() >= 3, "{erased}");
    assert!(erased["redacted"].as_u64().unwrap() >= 2, "{erased}");

    // Bob's token is dead, his file is gone from the disk, the operator finds nothing.
    let whoami = Command::new(BIN)
        .args(["phone", "--token", &bob, "whoami"])
        .env("CALLSIDE_SERVER", &server)
        .output()
        .unwrap();
    assert!(!whoami.status.success());
    assert!(!blob_path(&data, &bob_blob).exists());
    assert!(blob_path(&data, &alice_blob).exists());
    assert!(!admin(&["device", "export", &id]).status.success());

    // Alice's log keeps its shape: her messages as they were, Bob's in place as `erased`.
    let log = phone(&alice, &["messages", &session]);
    let kinds: Vec<(&str, &str)> = log
        .iter()
        .map(|m| (m["sender"].as_str().unwrap(), m["kind"].as_str().unwrap()))
        .collect();
    assert!(
        kinds.contains(&(id.as_str(), "erased")) && !kinds.contains(&(id.as_str(), "text")),
        "{kinds:?}"
    );
    assert!(log
        .iter()
        .any(|m| m["kind"] == "text" && m["body"]["text"] == "Here is the menu"));
    assert!(!serde_json::to_string(&log).unwrap().contains("High Street"));
    let shown = Command::new(BIN)
        .args(["phone", "--token", &alice, "messages", &session])
        .env("CALLSIDE_SERVER", &server)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("a message whose sender's data was erased"),
        "{shown}"
    );
    let file = Command::new(BIN)
        .args(["phone", "--token", &alice, "download", &bob_blob])
        .arg(dir.path().join("got.txt"))
        .env("CALLSIDE_SERVER", &server)
        .output()
        .unwrap();
    assert!(
        !file.status.success(),
        "Bob's file is not Alice's to fetch any more"
    );

    serve.kill().unwrap();
    serve.wait().unwrap();
}
