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

/// An HTTP/1.1 request on a raw socket; returns the status line of the answer.
fn raw_request(addr: &str, request: String) -> std::thread::JoinHandle<String> {
    let addr = addr.to_owned();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.lines().next().unwrap_or("").to_owned()
    })
}

#[test]
fn sigterm_stops_the_server_within_seconds_despite_long_polls_and_half_sent_requests() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server_proc, server) = serve(&data, &[]);
    let addr = server.trim_start_matches("http://").to_owned();
    let alice = support::create_device(&server, &data, "Alice", "+442079460001");
    let leg = support::run(
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
    let id = leg["id"].as_str().unwrap().to_owned();

    // A long-poll on the pending leg, and a client that never finishes its request.
    let poll = raw_request(
        &addr,
        format!("GET /v1/legs/{id}?wait=60 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\nConnection: close\r\n\r\n"),
    );
    let stuck = std::net::TcpStream::connect(&addr).unwrap();
    {
        use std::io::Write;
        (&stuck)
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));

    let asked = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &server_proc.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exited = loop {
        if let Some(s) = server_proc.try_wait().unwrap() {
            break s;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exited.success(), "{exited}");
    // The long-poll was answered (still pending), not cut off.
    assert_eq!(poll.join().unwrap(), "HTTP/1.1 202 Accepted");
    drop(stuck);
}

/// POST /v1/browser/link with a made-up code, as forwarded for `client`; the answer's status.
fn link_attempt(addr: &str, client: &str) -> String {
    let body = r#"{"code":"AAAAA-BBBBB"}"#;
    raw_request(
        addr,
        format!(
            "POST /v1/browser/link HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {client}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .join()
    .unwrap()
}

#[test]
fn behind_a_trusted_proxy_limits_count_the_forwarded_client() {
    let dir = tempfile::tempdir().unwrap();
    let (mut proxied, server) = serve(
        &dir.path().join("data"),
        &[
            ("CALLSIDE_TRUSTED_PROXIES", "[\"127.0.0.1\"]"),
            ("CALLSIDE_LIMITS__LINK_ATTEMPTS_PER_SOURCE_MINUTE", "2"),
        ],
    );
    let addr = server.trim_start_matches("http://").to_owned();
    for _ in 0..2 {
        assert_eq!(
            link_attempt(&addr, "198.51.100.7"),
            "HTTP/1.1 401 Unauthorized"
        );
    }
    assert_eq!(
        link_attempt(&addr, "198.51.100.7"),
        "HTTP/1.1 429 Too Many Requests"
    );
    // Another client behind the same proxy has its own allowance.
    assert_eq!(
        link_attempt(&addr, "203.0.113.9"),
        "HTTP/1.1 401 Unauthorized"
    );
    proxied.kill().unwrap();
    proxied.wait().unwrap();

    // Without trusting the proxy, the header is the client's say-so: all share the peer's.
    let (mut direct, server) = serve(
        &dir.path().join("data2"),
        &[("CALLSIDE_LIMITS__LINK_ATTEMPTS_PER_SOURCE_MINUTE", "2")],
    );
    let addr = server.trim_start_matches("http://").to_owned();
    link_attempt(&addr, "1.1.1.1");
    link_attempt(&addr, "2.2.2.2");
    assert_eq!(
        link_attempt(&addr, "3.3.3.3"),
        "HTTP/1.1 429 Too Many Requests"
    );
    direct.kill().unwrap();
    direct.wait().unwrap();
}

#[test]
fn the_first_errors_a_newcomer_meets_say_what_to_do() {
    let stderr = |args: &[&str], server: &str| {
        let out = Command::new(BIN)
            .args(args)
            .env("CALLSIDE_SERVER", server)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let down = format!("http://127.0.0.1:{}", free_port());
    let e = stderr(&["phone", "--token", "cs_dev_x", "whoami"], &down);
    assert!(
        e.contains(&format!("cannot reach callside at {down}"))
            && e.contains("is `callside serve` running there?"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (mut server_proc, server) = serve(&dir.path().join("data"), &[]);
    let e = stderr(&["phone", "--token", "cs_dev_made_up", "whoami"], &server);
    assert!(
        e.contains("the server never issued this token") && e.contains("check --token"),
        "{e}"
    );
    let e = stderr(&["phone", "--token", "cs_dev_two words", "whoami"], &server);
    assert!(e.contains("characters a token never has"), "{e}");
    let e = stderr(&["phone", "whoami"], &server);
    assert!(
        e.contains("no device token: give --token or set CALLSIDE_TOKEN"),
        "{e}"
    );
    // --token and --server work after the subcommand too.
    let token = support::create_device(&server, &dir.path().join("data"), "Alice", "+442079460001");
    let me = Command::new(BIN)
        .args([
            "--json", "phone", "whoami", "--token", &token, "--server", &server,
        ])
        .env_remove("CALLSIDE_SERVER")
        .output()
        .unwrap();
    assert!(
        me.status.success(),
        "{}",
        String::from_utf8_lossy(&me.stderr)
    );
    assert!(String::from_utf8_lossy(&me.stdout).contains("+442079460001"));
    // A rotated token is named as such, with when it stopped working.
    let rotated = Command::new(BIN)
        .args(["phone", "--token", &token, "rotate-token"])
        .env("CALLSIDE_SERVER", &server)
        .output()
        .unwrap();
    assert!(rotated.status.success());
    let e = stderr(&["phone", "--token", &token, "whoami"], &server);
    assert!(
        e.contains("this token was replaced (rotated) or revoked at 20")
            && e.contains("check --token"),
        "{e}"
    );
    server_proc.kill().unwrap();
    server_proc.wait().unwrap();
}

#[test]
fn text_output_names_things_as_the_wire_does_not_as_rust_debugs_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server_proc, server) = serve(&data, &[]);
    let text = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env("CALLSIDE_SERVER", &server)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let created = text(&[
        "admin",
        "--data-dir",
        data.to_str().unwrap(),
        "service",
        "create",
        "--name",
        "Kannel",
        "--scope",
        "sms-gateway",
        "--range",
        "+44",
    ]);
    assert!(
        created.contains("scopes sms_gateway ranges +44"),
        "{created}"
    );
    assert!(!created.contains('['), "{created}");
    let token = support::create_device(&server, &data, "Alice", "+442079460001");
    let me = text(&["phone", "--token", &token, "whoami"]);
    assert!(me.contains("(device) Alice"), "{me}");
    server_proc.kill().unwrap();
    server_proc.wait().unwrap();
}

#[test]
fn json_logs_carry_an_access_line_per_request() {
    // Asked for by the setting, or by the global --json.
    for by_flag in [false, true] {
        json_logs_with(by_flag);
    }
}

fn json_logs_with(by_flag: bool) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let mut cmd = Command::new(BIN);
    if by_flag {
        cmd.arg("--json");
    } else {
        cmd.env("CALLSIDE_LOG__FORMAT", "json");
    }
    let child = cmd
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    support::wait_healthy(&format!("http://127.0.0.1:{port}"), &data);
    let status = raw_request(
        &format!("127.0.0.1:{port}"),
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
    )
    .join()
    .unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| l["span"]["route"] == "/healthz" && l["fields"]["status"] == 200)
        .unwrap_or_else(|| panic!("no access line for /healthz in {lines:?}"));
    assert!(access["fields"]["latency"].is_string() || access["fields"]["latency"].is_number());
}

#[test]
fn json_is_honoured_or_refused_by_every_command() {
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env(
                "CALLSIDE_SERVER",
                format!("http://127.0.0.1:{}", free_port()),
            )
            .output()
            .unwrap()
    };
    let config = run(&["--json", "config"]);
    assert!(config.status.success());
    let v: serde_json::Value = serde_json::from_slice(&config.stdout).unwrap();
    assert_eq!(v["listen"], "127.0.0.1:8080");
    assert!(v["limits"].is_object(), "{v}");
    // Where a command prints another format, --json is refused before anything is asked.
    let vcard = run(&[
        "--json", "phone", "--token", "cs_dev_x", "card", "--format", "vcard",
    ]);
    assert!(!vcard.status.success());
    assert!(String::from_utf8_lossy(&vcard.stderr).contains("drop --json"));
    let csv = run(&[
        "--json", "merchant", "--token", "cs_svc_x", "calls", "--csv",
    ]);
    assert!(!csv.status.success());
    assert!(
        String::from_utf8_lossy(&csv.stderr).contains("--csv and --json are two output formats"),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
}

/// Reads from `stream` until the server closes it or `limit` passes; answers what came and when
/// it ended (`None`: still open at the limit).
fn read_until_closed(
    stream: &mut std::net::TcpStream,
    limit: Duration,
) -> (String, Option<Duration>) {
    use std::io::Read;
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while start.elapsed() < limit {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into(), Some(start.elapsed())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (String::from_utf8_lossy(&got).into(), Some(start.elapsed())),
        }
    }
    (String::from_utf8_lossy(&got).into(), None)
}

#[test]
fn a_client_trickling_headers_is_cut_off_and_connections_are_capped() {
    use std::io::Write;
    use std::net::TcpStream;
    // Headers must arrive within a second: half a request is cut off, not kept forever.
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = serve(
        &dir.path().join("data"),
        &[("CALLSIDE_LIMITS__HEADER_READ_SECS", "1")],
    );
    let addr = url.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: callside\r\n")
        .unwrap();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(10));
    let closed = closed.expect("the server closes a connection whose headers never end");
    assert!(
        closed >= Duration::from_millis(800),
        "closed after {closed:?}"
    );
    server.kill().unwrap();
    server.wait().unwrap();

    // Two connections at once: a third waits until one of them closes.
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = serve(
        &dir.path().join("data"),
        &[("CALLSIDE_LIMITS__CONNECTIONS", "2")],
    );
    let addr = url.trim_start_matches("http://").to_owned();
    let mut holders: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut third = TcpStream::connect(&addr).unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: callside\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (early, _) = read_until_closed(&mut third, Duration::from_secs(1));
    assert_eq!(early, "", "answered beyond the cap");
    drop(holders.pop());
    let (answer, closed) = read_until_closed(&mut third, Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(closed.is_some());
    server.kill().unwrap();
    server.wait().unwrap();
}

/// `callside ready`: fails (saying why) while nothing listens, and with `--wait` waits for a
/// server started after it.
#[test]
fn ready_says_whether_a_server_is_up_and_waits_for_one() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let ready = move |url: String, wait: &str| {
        Command::new(BIN)
            .args(["ready", "--server", &url, "--wait", wait])
            .output()
            .unwrap()
    };
    let down = ready(url.clone(), "0");
    assert!(!down.status.success());
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(
        stderr.contains(&format!("cannot reach callside at {url}")),
        "{stderr}"
    );

    let waiting = std::thread::spawn(move || ready(url, "30"));
    std::thread::sleep(Duration::from_millis(500));
    let mut server = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let up = waiting.join().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(String::from_utf8_lossy(&up.stdout).contains("is ready"));
}
