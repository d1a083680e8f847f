//! Retention as an operator meets it: records older than `[retention]` allows are gone soon after
//! `serve` starts, newer ones stay.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::{create_device, run, serve};

/// Rows written straight into the database while the server is stopped, dated `days_ago`.
fn insert_old_rows(db: &std::path::Path, owner: &str, days_ago: i64) {
    support::sqlite(
        db,
        &format!(
            r#"at = now_ms - {days_ago} * 86400000
c.execute("INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, 'old', 'old_action', 'x', '')", (at,))
c.execute("INSERT INTO legs (id, principal, own, direction, reported_at, expires_at, state, reason) VALUES ('leg_old', '{owner}', '+442079460001', 'outgoing', ?, ?, 'no_match', 'window_expired')", (at, at))"#
        ),
    );
}

#[test]
fn records_past_their_retention_are_deleted_and_newer_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, server) = serve(&data, &[]);
    let alice = create_device(&server, &data, "Alice", "+442079460001");
    let alice_id = run(&server, &["phone", "--token", &alice, "whoami"]).remove(0)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    first.kill().unwrap();
    first.wait().unwrap();
    insert_old_rows(&data.join("callside.sqlite"), &alice_id, 400);

    let (mut second, server) = serve(&data, &[("CALLSIDE_RETENTION__LEGS_DAYS", "7")]);
    let gone = |server: &str| {
        let audit = run(
            server,
            &["admin", "--data-dir", data.to_str().unwrap(), "audit"],
        );
        let old_audit = audit.iter().any(|e| e["action"] == "old_action");
        let status = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
            .arg(format!("Authorization: Bearer {alice}"))
            .arg(format!("{server}/v1/legs/leg_old"))
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&status.stdout).into_owned();
        (!old_audit, status == "404")
    };
    let start = Instant::now();
    let mut state = gone(&server);
    while state != (true, true) && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(250));
        state = gone(&server);
    }
    assert_eq!(state, (true, true), "(audit entry gone, leg gone)");
    // The device and its token, created minutes (not days) ago, are untouched.
    let me = run(&server, &["phone", "--token", &alice, "whoami"]).remove(0);
    assert_eq!(me["numbers"][0], "+442079460001");
    second.kill().unwrap();
    second.wait().unwrap();
}

/// An upload no message ever used, a day old, is deleted — record and bytes — while a file a
/// message sent stays for the session's participants.
#[test]
fn files_nothing_references_are_deleted_after_a_day_and_sent_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, server) = serve(&data, &[]);
    let (alice, bob, session) = support::paired(&server, &data);
    let sent_file = dir.path().join("menu.txt");
    std::fs::write(&sent_file, "Margherita 9.50").unwrap();
    run(
        &server,
        &[
            "phone",
            "--token",
            &alice,
            "send-file",
            &session,
            sent_file.to_str().unwrap(),
        ],
    );
    // An upload that no message ever used (the app crashed before sending, say).
    let upload = Command::new("curl")
        .args([
            "-sf",
            "-X",
            "POST",
            "--data-binary",
            "a photo never sent",
            "-H",
        ])
        .arg(format!("Authorization: Bearer {alice}"))
        .arg(format!("{server}/v1/blobs"))
        .output()
        .unwrap();
    assert!(upload.status.success());
    let orphan: serde_json::Value = serde_json::from_slice(&upload.stdout).unwrap();
    let orphan = orphan["id"].as_str().unwrap().to_owned();
    let log = run(&server, &["phone", "--token", &bob, "messages", &session]);
    let sent = log
        .iter()
        .find(|m| m["kind"] == "file")
        .and_then(|m| m["body"]["blob"].as_str())
        .unwrap()
        .to_owned();
    let path = |blob: &str| {
        let hex = blob.strip_prefix("sha256:").unwrap().to_owned();
        data.join("blobs").join(&hex[..2]).join(hex)
    };
    assert!(path(&orphan).exists() && path(&sent).exists());
    first.kill().unwrap();
    first.wait().unwrap();
    support::sqlite(
        &data.join("callside.sqlite"),
        "c.execute('UPDATE blobs SET created_at = ?', (now_ms - 3 * 86400000,))",
    );

    let (mut second, server) = serve(&data, &[]);
    let start = Instant::now();
    while path(&orphan).exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !path(&orphan).exists(),
        "the unreferenced upload is deleted"
    );
    assert!(path(&sent).exists(), "the file a message sent stays");
    let got = dir.path().join("got.txt");
    run(
        &server,
        &[
            "phone",
            "--token",
            &bob,
            "download",
            &sent,
            got.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "Margherita 9.50");
    let admin = std::fs::read_to_string(data.join("admin.token")).unwrap();
    let metrics = Command::new("curl")
        .args(["-sf", "-H"])
        .arg(format!("Authorization: Bearer {}", admin.trim()))
        .arg(format!("{server}/metrics"))
        .output()
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        metrics.contains("callside_blobs_collected_total 1"),
        "{metrics}"
    );
    second.kill().unwrap();
    second.wait().unwrap();
}
