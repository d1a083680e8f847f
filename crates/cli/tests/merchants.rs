//! A merchant set up and used from the command line, as the README shows: the operator creates
//! it, its server adds a button and routing rules, checks them with a dry run, signs a button;
//! a visitor clicks it; the merchant reads the record as CSV.

mod support;

use std::process::Command;
use support::{run, serve, BIN};

/// The operator creates the merchant "Acme Shoes": its id, API token and button secret.
fn create_shop(server: &str, data: &std::path::Path) -> (String, String, String) {
    let created = run(
        server,
        &[
            "admin",
            "--data-dir",
            data.to_str().unwrap(),
            "merchant",
            "create",
            "--name",
            "Acme Shoes",
        ],
    )
    .remove(0);
    let field = |v: &serde_json::Value| v.as_str().unwrap().to_owned();
    (
        field(&created["merchant"]["id"]),
        field(&created["token"]),
        field(&created["button_secret"]),
    )
}

#[test]
fn a_merchant_is_set_up_routed_clicked_and_billed_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server_process, server) = serve(&data, &[]);
    let (id, token, secret) = create_shop(&server, &data);

    run(
        &server,
        &[
            "merchant", "--token", &token, "link", "sales", "--name", "Sales",
        ],
    );
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"{"rules": [{"links": ["sales"], "days": ["mon","tue","wed","thu","fri"],
            "from": "09:00", "until": "19:00", "time_zone": "America/New_York",
            "to": "+12125550100"}], "default": "agents:west"}"#,
    )
    .unwrap();
    let stored = run(
        &server,
        &[
            "merchant",
            "--token",
            &token,
            "routing",
            "--set",
            rules.to_str().unwrap(),
        ],
    )
    .remove(0);
    assert_eq!(stored["default"], "agents:west");
    for (at, destination) in [
        ("2026-12-07T18:59:00-05:00", "+12125550100"),
        ("2026-12-07T19:00:00-05:00", "agents:west"),
    ] {
        let r = run(
            &server,
            &[
                "merchant", "--token", &token, "dry-run", "--link", "sales", "--at", at,
            ],
        )
        .remove(0);
        assert_eq!(r["destination"], destination, "{at}");
    }

    // The merchant's server signs a button; a visitor's page clicks it (no token).
    let button = run(
        &server,
        &[
            "merchant",
            "button",
            "--merchant",
            &id,
            "--secret",
            &secret,
            "--link",
            "sales",
            "--customer",
            "cart-77",
        ],
    )
    .remove(0)["button"]
        .as_str()
        .unwrap()
        .to_owned();
    let clicked = run(
        &server,
        &[
            "merchant",
            "click",
            "--merchant",
            &id,
            "--button",
            &button,
            "--page",
            "https://shoes.example/cart",
        ],
    )
    .remove(0);
    let call = clicked["id"].as_str().unwrap().to_owned();
    // A forged button is refused with the server's words.
    let forged = Command::new(BIN)
        .args([
            "merchant",
            "click",
            "--merchant",
            &id,
            "--button",
            &format!("{button}x"),
        ])
        .env("CALLSIDE_SERVER", &server)
        .output()
        .unwrap();
    assert!(!forged.status.success());
    assert!(String::from_utf8_lossy(&forged.stderr).contains("button is not valid"));

    run(
        &server,
        &[
            "merchant",
            "--token",
            &token,
            "call-state",
            &call,
            "--state",
            "ended",
            "--outcome",
            "abandoned",
        ],
    );
    let csv = Command::new(BIN)
        .args(["merchant", "--token", &token, "calls", "--csv"])
        .env("CALLSIDE_SERVER", &server)
        .output()
        .unwrap();
    assert!(
        csv.status.success(),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    let text = String::from_utf8(csv.stdout).unwrap();
    let line = text.lines().nth(1).unwrap_or_default();
    assert!(line.starts_with(&call), "{text}");
    assert!(
        line.contains(",sales,cart-77,https://shoes.example/cart,"),
        "{text}"
    );
    assert!(line.contains(",ended,,abandoned,"), "{text}");
    // Without a token, merchant commands say where to get one.
    let r = Command::new(BIN)
        .args(["merchant", "links"])
        .env("CALLSIDE_SERVER", &server)
        .env_remove("CALLSIDE_MERCHANT_TOKEN")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&r.stderr).contains("admin merchant create"));
    server_process.kill().unwrap();
    server_process.wait().unwrap();
}

/// A shop with a `sales` button whose calls go to `default`.
struct Shop {
    server: String,
    id: String,
    token: String,
    secret: String,
}

fn shop_routed_to(
    server: &str,
    data: &std::path::Path,
    dir: &std::path::Path,
    default: &str,
) -> Shop {
    let (id, token, secret) = create_shop(server, data);
    as_merchant(server, &token, &["link", "sales", "--name", "Sales"]);
    let rules = dir.join("rules.json");
    std::fs::write(
        &rules,
        format!(r#"{{"rules": [], "default": "{default}"}}"#),
    )
    .unwrap();
    as_merchant(
        server,
        &token,
        &["routing", "--set", rules.to_str().unwrap()],
    );
    Shop {
        server: server.to_owned(),
        id,
        token,
        secret,
    }
}

impl Shop {
    /// Adds agent `id` of group `sales`: its token.
    fn agent(&self, id: &str, name: &str) -> String {
        let added = as_merchant(
            &self.server,
            &self.token,
            &["agent", id, "--name", name, "--group", "sales"],
        );
        added["token"].as_str().unwrap().to_owned()
    }

    /// A button for `sales`, signed as the shop's server does.
    fn button(&self) -> String {
        run(
            &self.server,
            &[
                "merchant",
                "button",
                "--merchant",
                &self.id,
                "--secret",
                &self.secret,
                "--link",
                "sales",
            ],
        )
        .remove(0)["button"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// `callside --json merchant …` as the merchant.
fn as_merchant(server: &str, token: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["merchant", "--token", token];
    all.extend_from_slice(args);
    run(server, &all).remove(0)
}

fn as_agent(server: &str, token: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["agent", "--token", token];
    all.extend_from_slice(args);
    run(server, &all).remove(0)
}

fn follow(server: &str, call: &str, visitor: &str) -> serde_json::Value {
    run(
        server,
        &["merchant", "follow", call, "--visitor-token", visitor],
    )
    .remove(0)
}

#[test]
fn queued_calls_survive_a_sigkill_and_an_agent_takes_them_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, server) = serve(&data, &[]);
    let shop = shop_routed_to(&server, &data, dir.path(), "agents:sales");
    let (id, token) = (shop.id.clone(), shop.token.clone());
    let ann = shop.agent("ann", "Ann Lee");
    let button = shop.button();
    let mut calls = Vec::new();
    for page in ["https://shoes.example/a", "https://shoes.example/b"] {
        let c = run(
            &server,
            &[
                "merchant",
                "click",
                "--merchant",
                &id,
                "--button",
                &button,
                "--page",
                page,
            ],
        )
        .remove(0);
        calls.push((
            c["id"].as_str().unwrap().to_owned(),
            c["visitor_token"].as_str().unwrap().to_owned(),
        ));
    }
    // Ann signs in: the first call rings her. Then the server is killed.
    as_agent(&server, &ann, &["status", "available"]);
    let ringing = as_agent(&server, &ann, &["call"]);
    assert_eq!(ringing["state"], "ringing");
    assert_eq!(ringing["call"]["id"], calls[0].0.as_str());
    first.kill().expect("SIGKILL");
    first.wait().unwrap();

    // After the restart both calls wait again, in their order; presence is gone.
    let (mut second, server) = serve(&data, &[]);
    let s = follow(&server, &calls[0].0, &calls[0].1);
    assert_eq!((&s["state"], &s["position"]), (&"queued".into(), &1.into()));
    assert_eq!(follow(&server, &calls[1].0, &calls[1].1)["position"], 2);
    let asked = Command::new(BIN)
        .args(["agent", "--token", &ann, "call"])
        .env("CALLSIDE_SERVER", &server)
        .output()
        .unwrap();
    assert!(
        !asked.status.success(),
        "presence is not kept across a restart"
    );
    assert!(String::from_utf8_lossy(&asked.stderr).contains("signed_out"));
    let agents = run(&server, &["merchant", "--token", &token, "agents"]);
    assert_eq!(agents[0][0]["signed_in"], false, "{agents:?}");

    // Ann signs in again and takes the first call, then the second rings her.
    as_agent(&server, &ann, &["status", "available"]);
    let c = as_agent(&server, &ann, &["call"]);
    assert_eq!(c["call"]["id"], calls[0].0.as_str());
    assert_eq!(c["call"]["context"]["page"], "https://shoes.example/a");
    let accepted = as_agent(&server, &ann, &["accept", &calls[0].0]);
    let session = accepted["key"].as_str().unwrap().to_owned();
    assert_eq!(
        follow(&server, &calls[0].0, &calls[0].1)["agent"],
        "Ann Lee"
    );

    // Killed again mid-call: the call is Ann's after the restart, with its session, which
    // the visitor still opens; Ann ends it.
    second.kill().expect("SIGKILL");
    second.wait().unwrap();
    let (mut second, server) = serve(&data, &[]);
    let c = as_agent(&server, &ann, &["call"]);
    assert_eq!(c["state"], "talking", "{c}");
    assert_eq!(c["call"]["id"], calls[0].0.as_str());
    assert_eq!(c["session"], session.as_str());
    let s = follow(&server, &calls[0].0, &calls[0].1);
    assert_eq!(
        (&s["state"], &s["session"]),
        (&"answered".into(), &session.clone().into())
    );
    let log = run(
        &server,
        &["phone", "--token", &calls[0].1, "messages", &session],
    );
    assert_eq!(log[0]["kind"], "system/call", "{log:?}");
    as_agent(&server, &ann, &["end", &calls[0].0]);
    assert_eq!(
        follow(&server, &calls[0].0, &calls[0].1)["outcome"],
        "completed"
    );
    assert_eq!(
        as_agent(&server, &ann, &["call"])["call"]["id"],
        calls[1].0.as_str()
    );
    // The visitor of the second hangs up while it rings.
    let gone = run(
        &server,
        &[
            "merchant",
            "follow",
            &calls[1].0,
            "--visitor-token",
            &calls[1].1,
            "--hang-up",
        ],
    )
    .remove(0);
    assert_eq!(
        (&gone["state"], &gone["outcome"]),
        (&"ended".into(), &"abandoned".into())
    );
    assert_eq!(
        as_agent(&server, &ann, &["call"])["call"],
        serde_json::Value::Null
    );
    second.kill().unwrap();
}

#[test]
fn a_button_secret_may_start_with_a_dash() {
    // Secrets are URL-safe base64: one in 64 starts with `-`, which must not read as a flag.
    let out = Command::new(BIN)
        .args([
            "merchant",
            "button",
            "--merchant",
            "mer_x",
            "--secret",
            "-Ab_cd",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let button = String::from_utf8(out.stdout).unwrap();
    assert_eq!(button.trim().split('.').count(), 3, "a JWT: {button}");
}

#[test]
fn the_queue_bench_answers_every_visitor_and_reports_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server_process, server) = serve(
        &data,
        &[
            ("CALLSIDE_LIMITS__CLICKS_PER_SOURCE_MINUTE", "100000"),
            ("CALLSIDE_LIMITS__CLICKS_PER_MERCHANT_MINUTE", "100000"),
        ],
    );
    let lines = run(
        &server,
        &[
            "bench",
            "queue",
            "--data-dir",
            data.to_str().unwrap(),
            "--agents",
            "3",
            "--handle-ms",
            "100",
            "--duration",
            "2",
            "--rate",
            "10",
        ],
    );
    let line = |name: &str| {
        lines
            .iter()
            .find(|l| l["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
            .clone()
    };
    let clicks = line("click")["count"].as_u64().unwrap();
    // Arrivals are random (Poisson, 20 expected): fewer than 3 would take a one-in-a-million run.
    assert!(clicks >= 3, "about 20 visitors in 2 s at 10/s: {clicks}");
    assert_eq!(
        line("wait for an agent")["count"],
        clicks,
        "every visitor answered"
    );
    assert_eq!(
        line("calls handled")["count"],
        clicks,
        "every call ended by its agent"
    );
    assert!(line("wait for an agent")["p99_ms"].as_f64().unwrap() > 0.0);
    let merchant = line("calls handled")["merchant"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(merchant.starts_with("mer_"));
    server_process.kill().unwrap();
}

#[test]
fn an_agent_joins_a_phone_call_by_the_channel_id_its_visitor_reads_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server_process, server) = serve(&data, &[]);
    let shop = shop_routed_to(&server, &data, dir.path(), "+12125550100");
    let id = shop.id.clone();
    let dana = shop.agent("dana", "Dana Reyes");
    as_agent(&server, &dana, &["status", "available"]);
    let button = shop.button();
    let c = run(
        &server,
        &["merchant", "click", "--merchant", &id, "--button", &button],
    )
    .remove(0);
    assert_eq!(c["destination"], "+12125550100");
    let channel = c["channel"].as_str().unwrap().to_owned();
    let joined = as_agent(&server, &dana, &["join", &channel]);
    assert_eq!(joined["state"], "talking", "{joined}");
    assert_eq!(joined["call"]["id"], c["id"]);
    let session = joined["session"].as_str().unwrap().to_owned();
    assert!(session.starts_with("sk_"));
    // Killed mid-call: the phone call is still Dana's after the restart, with its session.
    server_process.kill().expect("SIGKILL");
    server_process.wait().unwrap();
    let (mut server_process, server) = serve(&data, &[]);
    let again = as_agent(&server, &dana, &["call"]);
    assert_eq!(again["state"], "talking", "{again}");
    assert_eq!(again["session"], session.as_str());
    let call = c["id"].as_str().unwrap();
    as_agent(&server, &dana, &["end", call]);
    let visitor = c["visitor_token"].as_str().unwrap();
    assert_eq!(follow(&server, call, visitor)["state"], "ended");
    server_process.kill().unwrap();
}

/// A merchant's CRM on loopback: every request's headers and body, answered 200.
fn crm() -> (String, std::sync::mpsc::Receiver<(String, String)>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/callside", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let mut reader = BufReader::new(conn);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let mut conn = reader.into_inner();
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = tx.send((head, String::from_utf8(body).unwrap()));
        }
    });
    (url, rx)
}

#[test]
fn a_merchants_crm_gets_its_calls_progress_signed() {
    use hmac::{Hmac, Mac};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server_process, server) =
        serve(&data, &[("CALLSIDE_CARDS__ALLOW_PRIVATE_URLS", "true")]);
    let shop = shop_routed_to(&server, &data, dir.path(), "agents:sales");
    let (url, deliveries) = crm();
    let set = Command::new(BIN)
        .args(["merchant", "--token", &shop.token, "webhook", &url, "-q"])
        .env("CALLSIDE_SERVER", &server)
        .output()
        .unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let secret = String::from_utf8(set.stdout).unwrap().trim().to_owned();
    assert!(secret.len() >= 40, "{secret}");
    let shown = as_merchant(&server, &shop.token, &["webhook"]);
    assert_eq!(shown["url"], url.as_str());
    assert!(shown.get("secret").is_none(), "the secret is shown once");

    let ann = shop.agent("ann", "Ann Lee");
    as_agent(&server, &ann, &["status", "available"]);
    let button = shop.button();
    let c = run(
        &server,
        &[
            "merchant",
            "click",
            "--merchant",
            &shop.id,
            "--button",
            &button,
        ],
    )
    .remove(0);
    let call = c["id"].as_str().unwrap().to_owned();
    as_agent(&server, &ann, &["accept", &call]);
    as_agent(&server, &ann, &["end", &call]);
    let mut events = Vec::new();
    for _ in 0..3 {
        let (head, body) = deliveries
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a delivery");
        // X-Callside-Signature: t=<secs>,id=<delivery>,v1=<hex HMAC(secret, "t.id.url.body")>.
        let sig = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("x-callside-signature:")
                    .then(|| l[21..].trim().to_owned())
            })
            .expect("signed");
        let part = |k: &str| {
            sig.split(',')
                .find_map(|p| p.strip_prefix(&format!("{k}=")).map(str::to_owned))
                .unwrap()
        };
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{}.{}.{url}.{body}", part("t"), part("id")).as_bytes());
        let want: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(part("v1"), want, "the signature checks out");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["call"]["id"], call.as_str());
        events.push(v["event"].as_str().unwrap().to_owned());
    }
    assert_eq!(events, ["call.created", "call.answered", "call.ended"]);

    // Removed: nothing more is posted.
    as_merchant(&server, &shop.token, &["webhook", "--delete"]);
    run(
        &server,
        &[
            "merchant",
            "click",
            "--merchant",
            &shop.id,
            "--button",
            &button,
        ],
    );
    assert!(deliveries
        .recv_timeout(std::time::Duration::from_secs(2))
        .is_err());
    server_process.kill().unwrap();
}
