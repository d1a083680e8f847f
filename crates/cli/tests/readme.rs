//! The README's tour, run from the README itself: every ```sh block of "A tour with the CLI", in
//! order, in one bash, against a real server started as the tour says (in the working
//! directory, data in `./callside-data`). Blocks that need a peer the tour asks the reader to
//! start (```sh kannel, ```sh kamailio) are run by `sms.rs` and `sip.rs` in their own form.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::*;

/// The tour's blocks: (info string, body).
fn tour_blocks() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let start = readme
        .find("\n## A tour with the CLI")
        .expect("the README has its tour");
    let rest = &readme[start + 1..];
    let section = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3)];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        blocks.push((info.trim().to_owned(), body.join("\n")));
    }
    blocks
}

#[test]
fn the_tour_runs_as_written() {
    let blocks = tour_blocks();
    for (info, _) in &blocks {
        assert!(
            ["sh", "sh kannel", "sh kamailio"].contains(&info.as_str()),
            "a block the tour test would not run: ```{info}"
        );
    }
    let runnable: Vec<&str> = blocks
        .iter()
        .filter(|(info, _)| info == "sh")
        .map(|(_, body)| body.as_str())
        .collect();
    assert!(
        runnable.len() >= 8,
        "the tour lost its blocks: {}",
        runnable.len()
    );

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    // "The server from the first command is running in another terminal, started in this
    // directory."
    let mut serve = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(&server, &dir.path().join("callside-data"));

    let script = format!(
        "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{}\n",
        runnable.join("\n")
    );
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("CALLSIDE_SERVER", &server)
        .env_remove("CALLSIDE_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the tour failed after {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        started.elapsed()
    );
    // What the tour says happens, happened.
    for said in [
        "answered",
        "call ended",
        "accepted by",
        "asked for a location",
        "link code:",
    ] {
        assert!(
            stdout.contains(said) || stderr.contains(said),
            "the tour never printed {said:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
    }
    // Bob's `watch` saved the menu Alice sent.
    let saved = dir.path().join("bob-files");
    let deadline = Instant::now() + Duration::from_secs(10);
    let menu = loop {
        let found = std::fs::read_dir(&saved)
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().contains("menu"));
        if let Some(f) = found {
            break std::fs::read_to_string(f.path()).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "bob-files has no menu:\n{stdout}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(menu.contains("Margherita"), "{menu}");
    serve.kill().unwrap();
    serve.wait().unwrap();
}
