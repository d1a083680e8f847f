//! Several `callside serve` nodes as one service: a shared PostgreSQL database (the throw-away
//! cluster of `scripts/with-postgres`) and a real `nats-server` on loopback between them.
//! Devices on different nodes talk in one session, both numbering it at once; a token revoked on
//! one node stops working on the others at once.

use callside_client::proto::admin::CreateDevice;
use callside_client::proto::call::{Direction, ReportLeg};
use callside_client::proto::message::SendMessage;
use callside_client::{Channel, Client, Event};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod support;
use support::free_port;

/// A `nats-server` on loopback, stopped on drop.
struct Nats {
    child: Child,
    url: String,
}

impl Nats {
    fn start() -> Nats {
        Nats::start_with(&[])
    }

    /// With more arguments (`--user`, `--pass`).
    fn start_with(more: &[&str]) -> Nats {
        let port = free_port();
        let mut child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(more)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs (Debian package nats-server; scripts/install-deps)");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Nats {
                    child,
                    url: format!("nats://127.0.0.1:{port}"),
                };
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("nats-server did not start");
    }
}

impl Nats {
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same address (its clients reconnect by themselves).
    fn start_again(&mut self) {
        let port = self.url.rsplit(':').next().unwrap().to_owned();
        self.child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One node: its own data directory, the shared database and NATS.
struct Node {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The files every node of a cluster shares, copied from the first node's data directory: the
/// operator's token, the server's signing key and the caller-data signing key.
const SHARED: [&str; 3] = ["admin.token", "server.key", "rcd.pem"];

async fn start_node(database: &str, nats: &str, from: Option<&Path>, blobs: &Path) -> Node {
    let dir = tempfile::tempdir().unwrap();
    if let Some(first) = from {
        for f in SHARED {
            std::fs::copy(first.join(f), dir.path().join(f)).unwrap();
        }
    }
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_callside"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .env("CALLSIDE_DATABASE__URL", database)
        .env("CALLSIDE_CLUSTER__NATS_URL", nats)
        .env("CALLSIDE_BLOBS__DIR", blobs)
        // Small enough for a test to reach: the daily quota is shared across the nodes.
        .env("CALLSIDE_BLOBS__MAX_BYTES", "250000")
        .env("CALLSIDE_BLOBS__BYTES_PER_PRINCIPAL_DAY", "300000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the callside binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return Node {
                    child,
                    base,
                    _dir: dir,
                };
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("node at {base} did not come up");
}

fn dir_of(node: &Node) -> PathBuf {
    node._dir.path().to_owned()
}

fn report(own: &str, other: &str, direction: Direction) -> ReportLeg {
    ReportLeg::new(own, Some(other.into()), direction)
}

/// Alice and Bob's devices, created through `node`: (their tokens).
async fn devices(node: &Node) -> (String, String) {
    let token = std::fs::read_to_string(dir_of(node).join("admin.token")).unwrap();
    let admin = Client::new(&node.base, token.trim()).unwrap();
    let mut tokens = Vec::new();
    for (name, number) in [("Alice", "+442079460001"), ("Bob", "+442079460002")] {
        let d = admin
            .create_device(&CreateDevice {
                name: name.into(),
                numbers: vec![number.into()],
            })
            .await
            .unwrap();
        tokens.push(d.token);
    }
    (tokens.remove(0), tokens.remove(0))
}

/// Pairs Alice (reporting to `a`) and Bob (reporting to `b`): the session key.
async fn pair(alice: &Client, bob: &Client) -> String {
    alice
        .report_leg(
            &report("+442079460001", "+442079460002", Direction::Outgoing),
            Duration::ZERO,
        )
        .await
        .unwrap();
    bob.report_leg(
        &report("+442079460002", "+442079460001", Direction::Incoming),
        Duration::ZERO,
    )
    .await
    .unwrap()
    .session
    .expect("the legs matched")
    .key
}

/// Alice on node `one` and Bob on node `two`, paired; Bob's socket on `two` reads until `want`
/// of Alice's messages arrived: (Alice's client, the session key, what Bob got, his reader).
async fn alice_to_bob_across(
    one: &Node,
    two: &Node,
    want: usize,
) -> (Client, String, Received, tokio::task::JoinHandle<Channel>) {
    let (alice_token, bob_token) = devices(one).await;
    let alice = Client::new(&one.base, &alice_token).unwrap();
    let key = pair(&alice, &Client::new(&one.base, &bob_token).unwrap()).await;
    let bob = Client::new(&two.base, &bob_token).unwrap();
    let (got, task) = receive(
        Channel::connect(&bob).await.unwrap(),
        key.clone(),
        "alice",
        want,
    );
    (alice, key, got, task)
}

/// What one app received on a session: (seq, client id) in arrival order.
type Received = Arc<Mutex<Vec<(u64, String)>>>;

/// Reads `ch` until `want` text messages from `from` arrived, acking each.
fn receive(
    mut ch: Channel,
    key: String,
    from_prefix: &'static str,
    want: usize,
) -> (Received, tokio::task::JoinHandle<Channel>) {
    let got: Received = Arc::default();
    let task = {
        let got = got.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while n < want {
                let Some(e) = ch.next_event().await else {
                    break;
                };
                if let Event::Message(m) = e {
                    if m.session != key || m.kind != "text" {
                        continue;
                    }
                    let id = m.id.clone().unwrap_or_default();
                    if id.starts_with(from_prefix) {
                        n += 1;
                    }
                    got.lock().unwrap().push((m.seq, id));
                    let _ = ch.ack(&key, m.seq).await;
                }
            }
            ch
        })
    };
    (got, task)
}

/// What to do once `.0` sends are under way and half of them were acknowledged (kill a node).
type Midway<'a> = Option<(usize, Box<dyn FnOnce() + 'a>)>;

/// Sends `n` texts with ids `<prefix>-<i>`, many in flight: id → the sequence number accepted.
async fn send_many(
    ch: &Channel,
    key: &str,
    prefix: &str,
    n: usize,
    mut midway: Midway<'_>,
) -> HashMap<String, u64> {
    let sender = ch.sender();
    let accepted: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..n {
        let (sender, key, done) = (sender.clone(), key.to_owned(), accepted.clone());
        let id = format!("{prefix}-{i:04}");
        sends.spawn(async move {
            let body = serde_json::json!({ "text": format!("{id} says hello") });
            let a = tokio::time::timeout(
                Duration::from_secs(90),
                sender.send_with_id(&key, id.clone(), "text", body),
            )
            .await
            .expect("accepted in time")
            .expect("accepted");
            done.lock().unwrap().insert(id, a.seq);
        });
        if i % 25 == 24 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if midway.as_ref().is_some_and(|(at, _)| *at == i) {
            while accepted.lock().unwrap().len() < i / 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            eprintln!(
                "midway with {} of {} sends acknowledged",
                accepted.lock().unwrap().len(),
                i + 1
            );
            if let Some((_, act)) = midway.take() {
                act();
            }
        }
    }
    while let Some(r) = sends.join_next().await {
        r.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    accepted
}

/// Up to 500 messages of `key` after `after`, waiting up to `wait` for the first (a long poll).
async fn log_after(
    client: &Client,
    key: &str,
    after: u64,
    wait: Option<Duration>,
) -> Vec<callside_client::proto::message::Message> {
    let query = callside_client::MessageQuery {
        after: Some(after),
        limit: Some(500),
        wait,
    };
    client.messages(key, query).await.unwrap().messages
}

const EACH: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_on_two_nodes_talk_in_one_session_and_a_revoked_token_stops_everywhere() {
    let database = callside_store::conformance::postgres::fresh_database().await;
    let nats = Nats::start();
    let blobs = tempfile::tempdir().unwrap();
    let one = start_node(&database, &nats.url, None, blobs.path()).await;
    // A second node without the first one's token and keys would retire the operator's token:
    // it refuses to start and says what to copy.
    let bare = tempfile::tempdir().unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_callside"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(bare.path())
        .env("CALLSIDE_DATABASE__URL", &database)
        .env("CALLSIDE_CLUSTER__NATS_URL", &nats.url)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        said.contains("copy admin.token, server.key and rcd.pem"),
        "{said}"
    );
    let two = start_node(&database, &nats.url, Some(&dir_of(&one)), blobs.path()).await;
    let (alice_token, bob_token) = devices(&one).await;
    // Alice is served by node one, Bob by node two.
    let alice = Client::new(&one.base, &alice_token).unwrap();
    let bob = Client::new(&two.base, &bob_token).unwrap();
    // Pairing across nodes is not there yet: both legs go to node one.
    let key = pair(&alice, &Client::new(&one.base, &bob_token).unwrap()).await;

    let alice_ch = Channel::connect(&alice).await.unwrap();
    let bob_ch = Channel::connect(&bob).await.unwrap();
    let alice_send = Channel::connect(&alice).await.unwrap();
    let bob_send = Channel::connect(&bob).await.unwrap();
    let (alice_got, alice_task) = receive(alice_ch, key.clone(), "bob", EACH);
    let (bob_got, bob_task) = receive(bob_ch, key.clone(), "alice", EACH);
    // Both talk at once, so both nodes number the session at once.
    let (from_alice, from_bob) = tokio::join!(
        send_many(&alice_send, &key, "alice", EACH, None),
        send_many(&bob_send, &key, "bob", EACH, None)
    );
    let alice_ch = tokio::time::timeout(Duration::from_secs(60), alice_task)
        .await
        .expect("Alice hears all of Bob's messages")
        .unwrap();
    let bob_ch = tokio::time::timeout(Duration::from_secs(60), bob_task)
        .await
        .expect("Bob hears all of Alice's messages")
        .unwrap();

    let mut accepted: HashMap<String, u64> = from_alice;
    accepted.extend(from_bob);
    assert_eq!(accepted.len(), 2 * EACH);
    let seqs: HashSet<u64> = accepted.values().copied().collect();
    assert_eq!(
        seqs,
        (1..=2 * EACH as u64).collect(),
        "one number per message, no gaps, no number given twice"
    );
    for (who, got) in [("Alice", &alice_got), ("Bob", &bob_got)] {
        let got = got.lock().unwrap().clone();
        let ids: HashSet<&String> = got.iter().map(|(_, id)| id).collect();
        assert_eq!(ids.len(), got.len(), "{who} was given a message twice");
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "{who} received out of order"
        );
        for (seq, id) in &got {
            assert_eq!(accepted.get(id), Some(seq), "{who} got {id} at {seq}");
        }
    }
    // What Bob's node stored is what Alice's node acknowledged.
    let mut stored: HashMap<String, u64> = HashMap::new();
    let mut after = 0;
    loop {
        let page = log_after(&bob, &key, after, None).await;
        let Some(last) = page.last() else {
            break;
        };
        after = last.seq;
        stored.extend(
            page.iter()
                .filter(|m| m.kind == "text")
                .map(|m| (m.id.clone().unwrap(), m.seq)),
        );
    }
    assert_eq!(stored, accepted);
    let token = std::fs::read_to_string(dir_of(&one).join("admin.token")).unwrap();
    for node in [&one, &two] {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", node.base))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let conflicts = text
            .lines()
            .find(|l| l.starts_with("callside_sequence_conflicts_total"))
            .expect("the conflicts counter is exported");
        eprintln!("{}: {conflicts}", node.base);
    }
    alice_ch.close().await;
    bob_ch.close().await;
    alice_send.close().await;
    bob_send.close().await;

    // Alice asks for Bob's location through node one; Bob answers through node two. Node one,
    // which took the question, must not say later that nobody answered; a second question
    // nobody answers shows that it would have.
    let send = |client: &Client, id: &str, kind: &str, body: serde_json::Value| {
        let message = callside_client::proto::message::SendMessage {
            id: id.into(),
            kind: kind.into(),
            body,
        };
        let (client, key) = (client.clone(), key.clone());
        async move { client.send_message(&key, &message).await.unwrap() }
    };
    let bob_http = Client::new(&two.base, &bob_token).unwrap();
    for r in ["where-1", "where-2"] {
        let body = serde_json::json!({ "request": r, "timeout_secs": 5 });
        send(&alice, r, "location/request", body).await;
    }
    let answer = serde_json::json!({ "request": "where-1", "lat": 51.5007, "lon": -0.1246, "accuracy_m": 20 });
    send(&bob_http, "here-1", "location", answer).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let unanswered: Vec<String> = log_after(&alice, &key, 2 * EACH as u64, None)
        .await
        .into_iter()
        .filter(|m| m.kind == "system/location")
        .map(|m| m.body["request"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        unanswered,
        vec!["where-2".to_owned()],
        "only the question nobody answered"
    );

    // A WebSocket ticket from one node opens a socket on another, once.
    let ticket = bob_http.ws_ticket().await.unwrap().ticket;
    let ws_url = |node: &Node| {
        format!(
            "{}/v1/ws?ticket={ticket}",
            node.base.replace("http://", "ws://")
        )
    };
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url(&one))
        .await
        .expect("a ticket node two issued opens a socket on node one");
    use futures_util::StreamExt as _;
    let first = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.to_text().unwrap().contains("\"ready\""), "{first}");
    drop(socket);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = tokio_tungstenite::connect_async(ws_url(&two))
        .await
        .unwrap_err();
    assert!(again.to_string().contains("401"), "used once: {again}");

    // Files live in a directory every node mounts: uploaded through one, read through the other.
    let photo = vec![7u8; 200_000];
    let blob = alice.upload_bytes(photo.clone()).await.unwrap();
    let alice_on_two = Client::new(&two.base, &alice_token).unwrap();
    assert_eq!(
        alice_on_two
            .download_bytes(&blob.id)
            .await
            .unwrap()
            .as_ref(),
        &photo[..]
    );
    // The day's upload quota (300,000 bytes here) holds across the nodes: node two has seen
    // none of Alice's uploads itself, and still counts node one's.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let over = alice_on_two
        .upload_bytes(vec![8u8; 150_000])
        .await
        .unwrap_err();
    assert_eq!(over.code(), Some("upload_quota"), "{over}");
    // So does one live location update a second per device: one through node one, the next
    // through node two at once is refused.
    let live = |n: u32| SendMessage {
        id: format!("live-{n}"),
        kind: "location".into(),
        body: serde_json::json!({ "lat": 51.5, "lon": -0.12, "accuracy_m": 10.0, "live": true }),
    };
    alice.send_message(&key, &live(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = alice_on_two.send_message(&key, &live(2)).await.unwrap_err();
    assert_eq!(again.status(), Some(429), "{again}");

    // Bob long-polls the log through node two; Alice closes the session through node one. The
    // close changes the session (not only its log), so node two drops its copy, and the poll
    // wakes at once instead of at its 10 s timeout.
    let last = log_after(&bob_http, &key, 2 * EACH as u64, None)
        .await
        .last()
        .unwrap()
        .seq;
    let poll = {
        let (bob_http, key) = (bob_http.clone(), key.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let page = log_after(&bob_http, &key, last, Some(Duration::from_secs(10))).await;
            (started.elapsed(), page)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice.close_session(&key).await.unwrap();
    let (waited, page) = poll.await.unwrap();
    assert!(page.iter().any(|m| m.kind == "system/closed"), "{:?}", page);
    assert!(
        waited < Duration::from_secs(5),
        "the poll woke late: {waited:?}"
    );

    // Bob's token is rotated through node one: node two refuses the old one within the note's
    // trip (its cache would otherwise keep it for 30 s).
    assert!(
        bob.sessions(false).await.is_ok(),
        "node two has Bob's token cached"
    );
    let token = std::fs::read_to_string(dir_of(&one).join("admin.token")).unwrap();
    let admin = Client::new(&one.base, token.trim()).unwrap();
    let me = bob.me().await.unwrap();
    let bob_again = admin.rotate_device_token(&me.id).await.unwrap().token;
    let rotated = std::time::Instant::now();
    loop {
        match bob.sessions(false).await {
            Err(e) => {
                assert!(e.to_string().contains("401"), "{e}");
                break;
            }
            Ok(_) => {
                assert!(
                    rotated.elapsed() < Duration::from_secs(2),
                    "node two still takes the rotated token"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    eprintln!(
        "node two refused the rotated token {:?} after the rotation",
        rotated.elapsed()
    );

    // Alice's personal data is erased through node two: node one, which has the session
    // cached, stops showing her name and number as well (it kept them before the note).
    let alice_id = alice.me().await.unwrap().id;
    let bob_on_one = Client::new(&one.base, &bob_again).unwrap();
    let shown = |info: &callside_client::proto::session::SessionInfo| {
        let p = info.participants.iter().find(|p| p.id == alice_id).unwrap();
        (p.name.clone(), p.number.clone())
    };
    let before = shown(&bob_on_one.session(&key).await.unwrap());
    assert!(!before.0.is_empty() && before.1.is_some(), "{before:?}");
    // She has a call pending on the leader (node one), reported through node two.
    let alice_on_two = Client::new(&two.base, &alice_token).unwrap();
    let pending = alice_on_two
        .report_leg(
            &report("+442079460001", "+442079460002", Direction::Outgoing),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(pending.session.is_none(), "{pending:?}");
    let admin_two = Client::new(&two.base, token.trim()).unwrap();
    admin_two.erase_device(&alice_id).await.unwrap();
    let erased = std::time::Instant::now();
    while shown(&bob_on_one.session(&key).await.unwrap()) != (String::new(), None) {
        assert!(
            erased.elapsed() < Duration::from_secs(2),
            "node one still shows the erased device"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The leader dropped her pending leg: Bob's side of that call finds nobody to pair with.
    let bob_leg = bob_on_one
        .report_leg(
            &report("+442079460002", "+442079460001", Direction::Incoming),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(
        bob_leg.session.is_none(),
        "paired with an erased device: {bob_leg:?}"
    );
}

/// A TCP load balancer on loopback: each new connection goes to the first of `backends` that
/// accepts one, so a node that died is skipped.
async fn balancer(backends: Vec<String>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let backends = backends.clone();
            tokio::spawn(async move {
                for b in backends {
                    let addr = b.trim_start_matches("http://");
                    if let Ok(mut out) = tokio::net::TcpStream::connect(addr).await {
                        let _ = out.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        return;
                    }
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// Alice's call to Bob, both legs reported as `pair` does but sent again while no node leads
/// matching: Bob's leg as it stands.
async fn pair_despite_takeover(
    alice: &Client,
    bob: &Client,
) -> callside_client::proto::call::LegStatus {
    report_until_answered(
        alice,
        &report("+442079460001", "+442079460002", Direction::Outgoing),
    )
    .await;
    report_until_answered(
        bob,
        &report("+442079460002", "+442079460001", Direction::Incoming),
    )
    .await
}

/// Reports a leg, sending it again while no node leads matching (`503` during a take-over).
async fn report_until_answered(
    client: &Client,
    leg: &ReportLeg,
) -> callside_client::proto::call::LegStatus {
    let started = std::time::Instant::now();
    loop {
        match client.report_leg(leg, Duration::ZERO).await {
            Ok(status) => return status,
            Err(e)
                if e.to_string().contains("503") && started.elapsed() < Duration::from_secs(20) =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("leg report failed: {e}"),
        }
    }
}

/// Alice invites Bob's number, again while no node leads (`503` during a take-over).
async fn report_until_invited(alice: &Client) -> callside_client::proto::invitation::Invitation {
    let invite = callside_client::proto::invitation::CreateInvitation {
        to: "+442079460002".into(),
        from: None,
        session: None,
        connection: None,
        component: None,
    };
    let started = std::time::Instant::now();
    loop {
        match alice.invite(&invite).await {
            Ok(i) => return i,
            Err(e)
                if e.to_string().contains("503") && started.elapsed() < Duration::from_secs(20) =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("invitation failed: {e}"),
        }
    }
}

const KILL_AFTER: usize = 300;
const TOTAL: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legs_reported_to_different_nodes_pair_and_a_killed_node_loses_nothing_acknowledged() {
    let database = callside_store::conformance::postgres::fresh_database().await;
    let nats = Nats::start();
    let blobs = tempfile::tempdir().unwrap();
    let mut a = start_node(&database, &nats.url, None, blobs.path()).await;
    let b = start_node(&database, &nats.url, Some(&dir_of(&a)), blobs.path()).await;
    let c = start_node(&database, &nats.url, Some(&dir_of(&a)), blobs.path()).await;
    let (alice_token, bob_token) = devices(&b).await;
    // Alice reaches the service through a balancer that prefers node a; Bob uses node c.
    let front = balancer(vec![a.base.clone(), b.base.clone(), c.base.clone()]).await;
    let alice = Client::new(&front, &alice_token).unwrap();
    let bob = Client::new(&c.base, &bob_token).unwrap();
    // The legs reach different nodes (b and c); whichever leads (a: it started first) matches
    // them. Alice's report claims to have been forwarded already: a header a client can set
    // must not make node b take it itself.
    let forged = reqwest::Client::new()
        .post(format!("{}/v1/legs", b.base))
        .bearer_auth(&alice_token)
        .header("x-callside-forwarded", "1")
        .json(&report(
            "+442079460001",
            "+442079460002",
            Direction::Outgoing,
        ))
        .send()
        .await
        .unwrap();
    assert!(forged.status().is_success(), "{}", forged.status());
    // Bob's leg goes over his socket on node c, which forwards it to the leader.
    let bob_reporter = Channel::connect(&bob).await.unwrap();
    let key = bob_reporter
        .report_leg(&report(
            "+442079460002",
            "+442079460001",
            Direction::Incoming,
        ))
        .await
        .unwrap()
        .session
        .expect("legs reported to two nodes matched")
        .key;
    bob_reporter.close().await;

    let (bob_got, bob_task) = receive(
        Channel::connect(&bob).await.unwrap(),
        key.clone(),
        "alice",
        TOTAL,
    );
    let alice_ch = Channel::connect(&alice).await.unwrap();
    // Node a, Alice's (and the leader: it started first), is killed mid-traffic.
    let kill_a = Box::new(|| {
        a.child.kill().expect("SIGKILL");
        a.child.wait().unwrap();
    });
    let accepted = send_many(&alice_ch, &key, "alice", TOTAL, Some((KILL_AFTER, kill_a))).await;
    tokio::time::timeout(Duration::from_secs(60), bob_task)
        .await
        .expect("Bob receives every message")
        .unwrap()
        .close()
        .await;
    let got = bob_got.lock().unwrap().clone();
    assert_eq!(accepted.len(), TOTAL);
    let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (1..=TOTAL as u64).collect::<Vec<_>>(),
        "in order, no gaps, no repeats"
    );
    for (seq, id) in &got {
        assert_eq!(accepted.get(id), Some(seq), "{id}");
    }
    alice_ch.close().await;

    // An invitation made through node b rings Bob's socket on node c; Bob accepts through c.
    let mut bob_ringing = Channel::connect(&bob).await.unwrap();
    let invitation = report_until_invited(&Client::new(&b.base, &alice_token).unwrap()).await;
    let rang = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match bob_ringing.next_event().await {
                Some(Event::Invitation(i)) if i.id == invitation.id => break i,
                Some(_) => {}
                None => panic!("Bob's channel closed"),
            }
        }
    })
    .await
    .expect("the invitation rings on another node");
    assert_eq!(rang.to, "+442079460002");
    let accepted = bob
        .accept_invitation(
            &invitation.id,
            &callside_client::proto::invitation::AcceptInvitation { connection: None },
        )
        .await
        .unwrap();
    assert!(
        accepted.session.is_some(),
        "accepted into a session: {accepted:?}"
    );
    bob_ringing.close().await;

    // Matching moved to a surviving node: a new call, its legs again on two nodes, pairs.
    let paired = pair_despite_takeover(&Client::new(&b.base, &alice_token).unwrap(), &bob).await;
    let new_key = paired.session.expect("a surviving node matches calls").key;
    assert_ne!(new_key, key, "a new session for the new call");
}

/// Runs SQL on the test database with `psql` (Debian's PostgreSQL client).
fn psql(database: &str, sql: &str) -> String {
    let psql = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/install-deps)")
        .filter_map(|e| Some(e.ok()?.path().join("bin/psql")))
        .find(|p| p.exists())
        .expect("psql");
    let out = Command::new(psql)
        .args(["-qAt", "-c", sql, database])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_lease_is_lost_stops_and_another_node_takes_over() {
    let database = callside_store::conformance::postgres::fresh_database().await;
    let nats = Nats::start();
    let blobs = tempfile::tempdir().unwrap();
    let mut a = start_node(&database, &nats.url, None, blobs.path()).await;
    let b = start_node(&database, &nats.url, Some(&dir_of(&a)), blobs.path()).await;
    let (alice_token, bob_token) = devices(&b).await;
    // Node a leads (it started first). The connection holding its lease ends, as it would when
    // the database restarts or the network between them breaks.
    let ended = psql(
        &database,
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    );
    assert_eq!(ended.trim(), "t", "one lease, held by node a");
    let stopped = std::time::Instant::now();
    let status = loop {
        if let Some(status) = a.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(15),
            "node a still runs without its lease"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        !status.success(),
        "a leader that lost its lease stops with an error"
    );
    // Node b matches calls now.
    let alice = Client::new(&b.base, &alice_token).unwrap();
    let bob = Client::new(&b.base, &bob_token).unwrap();
    let paired = pair_despite_takeover(&alice, &bob).await;
    assert!(paired.session.is_some(), "node b took over matching");
}

/// NATS goes down and comes back: what a node committed meanwhile reaches another node's
/// socket, exactly once — whether its note waited in the publisher's buffer or the receiving
/// node, on losing and regaining its link, closed its sockets to resume from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_committed_while_nats_was_down_reaches_the_other_nodes_sockets() {
    let database = callside_store::conformance::postgres::fresh_database().await;
    let mut nats = Nats::start();
    let blobs = tempfile::tempdir().unwrap();
    let one = start_node(&database, &nats.url, None, blobs.path()).await;
    let two = start_node(&database, &nats.url, Some(&dir_of(&one)), blobs.path()).await;
    let (alice, key, got, task) = alice_to_bob_across(&one, &two, 2).await;
    let send = |id: &'static str| {
        let (alice, key) = (alice.clone(), key.clone());
        async move {
            let message = callside_client::proto::message::SendMessage {
                id: id.into(),
                kind: "text".into(),
                body: serde_json::json!({ "text": id }),
            };
            alice.send_message(&key, &message).await.unwrap().seq
        }
    };
    send("alice-live").await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while got.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("delivered across nodes while NATS is up");
    // NATS goes away; Alice's next message commits on node one and reaches no other node.
    nats.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seq = send("alice-while-nats-was-down").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    nats.start_again();
    let bob_ch = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("Bob gets what was committed while NATS was down, once it is back")
        .unwrap();
    let got = got.lock().unwrap().clone();
    assert_eq!(
        got.iter().filter(|(s, _)| *s == seq).count(),
        1,
        "exactly once: {got:?}"
    );
    bob_ch.close().await;
}

/// NATS with a user and password: the nodes connect with the credentials in `cluster.nats_url`
/// and tell each other what they commit; a node with a wrong password refuses to start, and its
/// error names the server without the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_reach_a_nats_that_asks_for_a_password() {
    let database = callside_store::conformance::postgres::fresh_database().await;
    let nats = Nats::start_with(&["--user", "callside", "--pass", "s3cret-for-nats"]);
    let with = |password: &str| {
        nats.url
            .replace("nats://", &format!("nats://callside:{password}@"))
    };
    let blobs = tempfile::tempdir().unwrap();
    let one = start_node(&database, &with("s3cret-for-nats"), None, blobs.path()).await;
    let two = start_node(
        &database,
        &with("s3cret-for-nats"),
        Some(&dir_of(&one)),
        blobs.path(),
    )
    .await;
    let (alice, key, got, task) = alice_to_bob_across(&one, &two, 1).await;
    let message = SendMessage {
        id: "alice-1".into(),
        kind: "text".into(),
        body: serde_json::json!({ "text": "over an authenticated NATS" }),
    };
    alice.send_message(&key, &message).await.unwrap();
    let ch = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("delivered across nodes through NATS with a password")
        .unwrap();
    assert_eq!(got.lock().unwrap().len(), 1);
    ch.close().await;

    let third = tempfile::tempdir().unwrap();
    for f in ["admin.token", "server.key", "rcd.pem"] {
        std::fs::copy(dir_of(&one).join(f), third.path().join(f)).unwrap();
    }
    let refused = Command::new(env!("CARGO_BIN_EXE_callside"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(third.path())
        .env("CALLSIDE_DATABASE__URL", &database)
        .env("CALLSIDE_CLUSTER__NATS_URL", with("not-the-password"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(said.contains("cannot connect to NATS"), "{said}");
    assert!(
        !said.contains("not-the-password"),
        "the password is shown: {said}"
    );
}
