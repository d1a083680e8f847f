//! The README's tour, run from the README itself: every ```sh block of "A tour with the CLI" —
//! those needing Kannel (```sh kannel) and Kamailio (```sh kamailio) too — in order, in one bash,
//! in a directory that looks like the top of a checkout (`scripts`, `deploy` and `docs` linked
//! in; data in `./callside-data`), against a real server started as the tour says.
//!
//! What the test changes, and only this: the server listens on a free port instead of 8080
//! (`CALLSIDE_LISTEN`, `CALLSIDE_SERVER`, and `http://127.0.0.1:8080` in the blocks), and the
//! "stop the server in its terminal (Ctrl-C)" the text asks for before the first block that
//! starts one is a `kill -INT` of the server the test started in place of the reader's first
//! terminal.

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
    let count = |kind: &str| blocks.iter().filter(|(info, _)| info == kind).count();
    assert!(
        count("sh") >= 8 && count("sh kannel") >= 2 && count("sh kamailio") >= 2,
        "the tour lost its blocks: {blocks:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for linked in ["scripts", "deploy", "docs"] {
        std::os::unix::fs::symlink(repo.join(linked), dir.path().join(linked)).unwrap();
    }
    let port = free_port();
    let server = format!("http://127.0.0.1:{port}");
    // "The server from the first command is running in another terminal, started in this
    // directory": here, in the background of the tour's shell.
    let mut script = String::from(
        "set -euo pipefail\n\
         trap 'kill $(jobs -p) 2>/dev/null; scripts/peers stop ./kannel; scripts/peers stop ./sip' EXIT\n\
         callside serve >first-server.log 2>&1 &\n__first_server=$!\ncallside ready --wait 20\n",
    );
    let mut stopped_first = false;
    for (_, body) in &blocks {
        if body.contains("callside serve") && !stopped_first {
            // "Now stop the server in its terminal (Ctrl-C)".
            script.push_str("kill -INT $__first_server; wait $__first_server\n");
            stopped_first = true;
        }
        script.push_str(&body.replace("http://127.0.0.1:8080", &server));
        script.push('\n');
    }
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
        .env("CALLSIDE_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .env_remove("CALLSIDE_TOKEN")
        .env_remove("CALLSIDE_CONFIG")
        .stdin(Stdio::null())
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
        "+447400123456 is now a number of this device",
        "went to voicemail +442079460900",
        "screen \"leave\"",
        "kept broken-boiler.png with the message",
        "ended: the other side hung up",
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
}
