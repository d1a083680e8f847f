//! `callside admin backup` while the server runs, and restoring by serving the copy: sessions,
//! messages, files and tokens come back; a backup killed half-way never looks complete. On
//! PostgreSQL the database part is a `pg_dump` that `pg_restore` brings back.

mod support;

use std::process::Command;
use std::time::Duration;
use support::{run, serve, BIN};

fn backup(data: &std::path::Path, to: &std::path::Path) -> std::process::Output {
    backup_with(data, to, &[])
}

fn backup_with(
    data: &std::path::Path,
    to: &std::path::Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    Command::new(BIN)
        .envs(env.iter().copied())
        .args(["--json", "admin", "--data-dir"])
        .arg(data)
        .args(["backup", "--to"])
        .arg(to)
        .output()
        .unwrap()
}

#[test]
fn a_backup_taken_while_serving_restores_sessions_files_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut live, server) = serve(&data, &[]);
    let (alice, bob, key) = support::paired(&server, &data);
    run(
        &server,
        &["phone", "--token", &alice, "send", &key, "Table for two?"],
    );
    let menu = dir.path().join("menu.txt");
    std::fs::write(&menu, "pizza margherita\n").unwrap();
    run(
        &server,
        &[
            "phone",
            "--token",
            &alice,
            "send-file",
            &key,
            menu.to_str().unwrap(),
        ],
    );

    // Taken while the server runs (and keeps its lock on the data directory).
    let copy = dir.path().join("backup-1");
    let out = backup(&data, &copy);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["database_bytes"].as_u64().unwrap() > 0);
    assert!(
        summary["files"].as_u64().unwrap() >= 2,
        "blob and keys: {summary}"
    );
    // Into a directory that exists: refused, nothing changed.
    let again = backup(&data, &copy);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    // The original is lost; the copy serves the same sessions, files and tokens.
    live.kill().unwrap();
    live.wait().unwrap();
    std::fs::remove_dir_all(&data).unwrap();
    let (mut restored, server) = serve(&copy, &[]);
    let log = run(&server, &["phone", "--token", &bob, "messages", &key]);
    let texts: Vec<&str> = log
        .iter()
        .filter_map(|m| m["body"]["text"].as_str())
        .collect();
    assert_eq!(texts, ["Table for two?"]);
    let file = log.iter().find(|m| m["kind"] == "file").unwrap();
    let saved = dir.path().join("saved.txt");
    run(
        &server,
        &[
            "phone",
            "--token",
            &bob,
            "download",
            file["body"]["blob"].as_str().unwrap(),
            saved.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        "pizza margherita\n"
    );
    restored.kill().unwrap();
    restored.wait().unwrap();
}

#[test]
fn a_backup_killed_half_way_never_looks_complete_and_the_next_one_works() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut live, server) = serve(&data, &[]);
    let (alice, bob, key) = support::paired(&server, &data);
    // A few large files, so the copy takes long enough to be interrupted.
    let blob = dir.path().join("big.bin");
    for i in 0..3u8 {
        std::fs::write(&blob, vec![i; 8 << 20]).unwrap();
        run(
            &server,
            &[
                "phone",
                "--token",
                &alice,
                "send-file",
                &key,
                blob.to_str().unwrap(),
            ],
        );
    }
    let copy = dir.path().join("backup");
    for delay_ms in [0u64, 20, 60] {
        let mut child = Command::new(BIN)
            .args(["admin", "--data-dir"])
            .arg(&data)
            .args(["backup", "--to"])
            .arg(&copy)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        if copy.exists() {
            // It finished before the kill: then it is whole.
            assert!(copy.join("callside.sqlite").exists());
            std::fs::remove_dir_all(&copy).unwrap();
        }
    }
    let out = backup(&data, &copy);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("backup.partial").exists());
    live.kill().unwrap();
    live.wait().unwrap();
    let (mut restored, server) = serve(&copy, &[]);
    let me = run(&server, &["phone", "--token", &alice, "whoami"]).remove(0);
    assert_eq!(me["numbers"][0], "+442079460001");
    let log = run(&server, &["phone", "--token", &bob, "messages", &key]);
    assert_eq!(log.iter().filter(|m| m["kind"] == "file").count(), 3);
    restored.kill().unwrap();
    restored.wait().unwrap();
}

#[test]
fn on_postgres_a_backup_holds_a_dump_that_pg_restore_brings_back() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(callside_store::conformance::postgres::fresh_database());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [("CALLSIDE_DATABASE__URL", url.as_str())];
    let (mut live, server) = serve(&data, &env);
    let (alice, bob, key) = support::paired(&server, &data);
    run(
        &server,
        &["phone", "--token", &alice, "send", &key, "Table for two?"],
    );
    assert!(
        !data.join("callside.sqlite").exists(),
        "state is in PostgreSQL"
    );

    let copy = dir.path().join("backup-pg");
    let out = backup_with(&data, &copy, &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["database_bytes"].as_u64().unwrap() > 0, "{summary}");
    let dump = copy.join("database.pgdump");
    assert!(dump.is_file());

    // The database and the data directory are lost; a new database restored from the dump and
    // the copied directory serve the same session and tokens.
    live.kill().unwrap();
    live.wait().unwrap();
    std::fs::remove_dir_all(&data).unwrap();
    let restored_url = rt.block_on(callside_store::conformance::postgres::fresh_database());
    let out = Command::new("pg_restore")
        .args(["--no-owner", "--exit-on-error", "--dbname", &restored_url])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut restored, server) = serve(&copy, &[("CALLSIDE_DATABASE__URL", &restored_url)]);
    let log = run(&server, &["phone", "--token", &bob, "messages", &key]);
    let texts: Vec<&str> = log
        .iter()
        .filter_map(|m| m["body"]["text"].as_str())
        .collect();
    assert_eq!(texts, ["Table for two?"]);
    restored.kill().unwrap();
    restored.wait().unwrap();
}
