//! What the command-line tests share: the binary, free ports, one-shot and long-running
//! commands with `--json` output, and the real peers started by `scripts/peers`.
#![allow(dead_code)] // each test file uses its own subset

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_callside");

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs a one-shot command and returns its JSON lines.
pub(crate) fn run(server: &str, args: &[&str]) -> Vec<Value> {
    let out = Command::new(BIN)
        .arg("--json")
        .args(args)
        .env("CALLSIDE_SERVER", server)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "callside {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Starts a long-running command whose JSON lines arrive on a channel.
pub(crate) fn spawn(server: &str, args: &[&str]) -> (Child, mpsc::Receiver<Value>) {
    spawn_with(server, args, Stdio::inherit())
}

/// [`spawn`], with its standard input a pipe the test writes to (`child.stdin`).
pub(crate) fn spawn_typing(server: &str, args: &[&str]) -> (Child, mpsc::Receiver<Value>) {
    spawn_with(server, args, Stdio::piped())
}

fn spawn_with(server: &str, args: &[&str], stdin: Stdio) -> (Child, mpsc::Receiver<Value>) {
    let mut child = Command::new(BIN)
        .arg("--json")
        .args(args)
        .env("CALLSIDE_SERVER", server)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    (child, rx)
}

pub(crate) fn next(rx: &mpsc::Receiver<Value>) -> Value {
    rx.recv_timeout(Duration::from_secs(15))
        .expect("a JSON line within 15 s")
}

pub(crate) fn wait_healthy(server: &str, dir: &Path) {
    for _ in 0..200 {
        if dir.join("admin.token").exists()
            && std::net::TcpStream::connect(server.trim_start_matches("http://")).is_ok()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the server did not start");
}

/// `callside admin device create` with the admin token from `data`; returns the device token.
pub(crate) fn create_device(server: &str, data: &Path, name: &str, number: &str) -> String {
    let created = run(
        server,
        &[
            "admin",
            "--data-dir",
            data.to_str().unwrap(),
            "device",
            "create",
            "--name",
            name,
            "--number",
            number,
        ],
    )
    .remove(0);
    created["token"].as_str().unwrap().to_owned()
}

/// Alice (+442079460001) and Bob (+442079460002), paired on a call by their apps' legs:
/// (Alice's token, Bob's token, the session key).
pub(crate) fn paired(server: &str, data: &Path) -> (String, String, String) {
    let alice = create_device(server, data, "Alice", "+442079460001");
    let bob = create_device(server, data, "Bob", "+442079460002");
    let phone = |token: &str, args: &[&str]| {
        let mut a = vec!["phone", "--token", token];
        a.extend_from_slice(args);
        run(server, &a)
    };
    phone(&alice, &["call", "+442079460002", "--wait", "0"]);
    let leg = phone(
        &bob,
        &["incoming", "--from", "+442079460001", "--wait", "0"],
    )
    .remove(0);
    let key = leg["session"]["key"]
        .as_str()
        .unwrap_or_else(|| panic!("the call paired: {leg}"))
        .to_owned();
    (alice, bob, key)
}

/// Starts `callside serve` on a free port with `data` as its data directory and `env` added.
pub(crate) fn serve(data: &Path, env: &[(&str, &str)]) -> (Child, String) {
    serve_on(free_port(), data, env)
}

/// [`serve`] on a given port (a peer was told the URL before callside starts).
pub(crate) fn serve_on(port: u16, data: &Path, env: &[(&str, &str)]) -> (Child, String) {
    let server = format!("http://127.0.0.1:{port}");
    let child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    wait_healthy(&server, data);
    (child, server)
}

/// Real peers (Kannel, coturn) started by `scripts/peers` in a directory; stopped on drop.
pub(crate) struct Peers {
    pub(crate) dir: PathBuf,
    pub(crate) env: HashMap<String, String>,
}

fn peers_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peers")
}

impl Peers {
    /// `scripts/peers <args>` in `dir`, with `env`; fails the test with the script's words.
    pub(crate) fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Peers {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("bash")
            .arg(peers_script())
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "scripts/peers {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.join("ports.env")).unwrap();
        let env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        Peers {
            dir: dir.to_owned(),
            env,
        }
    }

    pub(crate) fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from ports.env"))
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(peers_script())
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// Runs `statements` (Python, with `c` an open `sqlite3` connection to `db` and `now_ms` the
/// current time) and commits: rows a test needs dated in the past, written while the server is
/// stopped.
pub(crate) fn sqlite(db: &Path, statements: &str) {
    let script = format!(
        "import sqlite3, time\nnow_ms = int(time.time() * 1000)\nc = sqlite3.connect({db:?})\n{statements}\nc.commit()\n",
        db = db.display().to_string(),
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
