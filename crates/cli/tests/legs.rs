//! Legs as the CLI reports them (issue 19): the id is printed before any waiting, a leg nobody
//! matched within `--wait` is withdrawn (so it cannot steal the next call) and the command
//! fails, `--wait 0` leaves the leg pending on purpose, and hanging up says so.

mod support;

use std::process::Command;
use support::{create_device, run, serve, BIN};

#[test]
fn an_unmatched_call_is_withdrawn_and_fails_and_the_next_call_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut serve, server) = serve(&data, &[]);
    let alice = create_device(&server, &data, "Alice", "+442079460001");
    let bob = create_device(&server, &data, "Bob", "+442079460002");

    // Nobody answers within a second: the command says so, fails, and withdraws the leg.
    let out = Command::new(BIN)
        .args([
            "--json",
            "phone",
            "--token",
            &alice,
            "call",
            "+442079460002",
            "--wait",
            "1",
        ])
        .env("CALLSIDE_SERVER", &server)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("leg leg_"), "the id comes first: {stderr}");
    assert!(stderr.contains("no match within 1 s"), "{stderr}");
    let last: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["state"].as_str(), last["reason"].as_str()),
        (Some("no_match"), Some("withdrawn"))
    );

    // So Bob's phone does not pair with it: his leg waits for a live call.
    let bobs = run(
        &server,
        &[
            "phone",
            "--token",
            &bob,
            "incoming",
            "--from",
            "+442079460001",
            "--wait",
            "0",
        ],
    )
    .remove(0);
    assert_eq!(bobs["state"], "pending", "{bobs}");
    // Alice's next call pairs with it at once.
    let placed = run(
        &server,
        &[
            "phone",
            "--token",
            &alice,
            "call",
            "+442079460002",
            "--wait",
            "5",
        ],
    )
    .remove(0);
    assert_eq!(placed["state"], "matched", "{placed}");

    // --wait 0 leaves a leg pending on purpose; hanging it up says what happened.
    let pending = run(
        &server,
        &[
            "phone",
            "--token",
            &alice,
            "call",
            "+442079460002",
            "--wait",
            "0",
        ],
    )
    .remove(0);
    assert_eq!(pending["state"], "pending");
    let id = pending["id"].as_str().unwrap();
    let out = Command::new(BIN)
        .args(["phone", "--token", &alice, "hangup", id])
        .env("CALLSIDE_SERVER", &server)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("hung up before anyone answered"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _ = serve.kill();
    let _ = serve.wait();
}
