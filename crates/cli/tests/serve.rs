//! `callside serve` as an operator starts it: one server per data directory (a second fails at
//! once and says why), and environment variables that name no setting only warn.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::{free_port, serve, BIN};

#[test]
fn a_second_server_on_the_same_data_directory_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, _) = serve(&data, &[]);
    let started = Instant::now();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data-dir",
        ])
        .arg(&data)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it fails at once"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is in use by another callside serve"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("process {}", first.id())),
        "{stderr}"
    );

    // Once the first is gone (even killed), the directory is free again.
    first.kill().unwrap();
    first.wait().unwrap();
    let (mut second, server) = serve(&data, &[("CALLSIDE_PORT", "tcp://10.0.0.7:8080")]);
    assert!(std::net::TcpStream::connect(server.trim_start_matches("http://")).is_ok());
    second.kill().unwrap();
    second.wait().unwrap();
}
