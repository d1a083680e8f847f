//! The server is killed with SIGKILL in the middle of traffic and restarted: every message it
//! acknowledged reaches the receiving app exactly once, and the sender's retries (same client
//! ids) create no duplicates. Run on both storage backends: the embedded SQLite file and
//! PostgreSQL (on the throw-away cluster of `scripts/with-postgres`).

use callside_client::proto::admin::CreateDevice;
use callside_client::proto::call::{Direction, ReportLeg};
use callside_client::{Channel, Client, Event};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MESSAGES: usize = 2_000;
const KILL_AFTER: usize = 600;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(dir: &Path, port: u16, database: Option<&str>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callside"));
    if let Some(url) = database {
        command.env("CALLSIDE_DATABASE__URL", url);
    }
    command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the callside binary starts")
}

async fn wait_healthy(base: &str) {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} did not come up");
}

fn report(own: &str, other: &str, direction: Direction) -> ReportLeg {
    ReportLeg::new(own, Some(other.into()), direction)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill_and_arrive_exactly_once() {
    survive_sigkill(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_acknowledged_messages_survive_sigkill_and_arrive_exactly_once() {
    let url = callside_store::conformance::postgres::fresh_database().await;
    survive_sigkill(Some(&url)).await;
}

async fn survive_sigkill(database: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = spawn(dir.path(), port, database);
    wait_healthy(&base).await;
    assert_eq!(
        dir.path().join("callside.sqlite").exists(),
        database.is_none(),
        "the server keeps its state in the backend under test"
    );
    let admin_token = std::fs::read_to_string(dir.path().join("admin.token")).unwrap();
    let admin = Client::new(&base, admin_token.trim()).unwrap();
    let mut phones = Vec::new();
    for (name, number) in [("Alice", "+442079460001"), ("Bob", "+442079460002")] {
        let d = admin
            .create_device(&CreateDevice {
                name: name.into(),
                numbers: vec![number.into()],
            })
            .await
            .unwrap();
        phones.push(Client::new(&base, &d.token).unwrap());
    }
    let (alice, bob) = (phones.remove(0), phones.remove(0));
    alice
        .report_leg(
            &report("+442079460001", "+442079460002", Direction::Outgoing),
            Duration::ZERO,
        )
        .await
        .unwrap();
    let key = bob
        .report_leg(
            &report("+442079460002", "+442079460001", Direction::Incoming),
            Duration::ZERO,
        )
        .await
        .unwrap()
        .session
        .unwrap()
        .key;

    // Bob's app: records every message it is given (client id → times seen) and acks it.
    let received: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let mut bob_ch = Channel::connect(&bob).await.unwrap();
    let bob_task = {
        let received = received.clone();
        let key = key.clone();
        tokio::spawn(async move {
            while let Some(e) = bob_ch.next_event().await {
                if let Event::Message(m) = e {
                    if m.session == key && m.kind == "text" {
                        received
                            .lock()
                            .unwrap()
                            .push((m.seq, m.id.clone().unwrap()));
                        let _ = bob_ch.ack(&key, m.seq).await;
                        if received.lock().unwrap().len() >= MESSAGES {
                            break;
                        }
                    }
                }
            }
            bob_ch.close().await;
        })
    };

    // Alice's app sends with its own ids, many in flight, recording what the server accepted.
    let alice_ch = Channel::connect(&alice).await.unwrap();
    let sender = alice_ch.sender();
    let accepted: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..MESSAGES {
        let (sender2, key2, accepted2) = (sender.clone(), key.clone(), accepted.clone());
        sends.spawn(async move {
            let (sender, key, accepted) = (sender2, key2, accepted2);
            let id = format!("alice-{i:05}");
            let body = serde_json::json!({ "text": format!("message {i}") });
            let a = tokio::time::timeout(
                Duration::from_secs(90),
                sender.send_with_id(&key, id.clone(), "text", body),
            )
            .await
            .expect("accepted in the end")
            .expect("accepted");
            accepted.lock().unwrap().insert(id, a.seq);
        });
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if i == KILL_AFTER {
            // Wait until some are acknowledged, then kill the server mid-traffic.
            while accepted.lock().unwrap().len() < KILL_AFTER / 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let before = accepted.lock().unwrap().clone();
            let received_before = received.lock().unwrap().len();
            server.kill().expect("SIGKILL");
            server.wait().unwrap();
            server = spawn(dir.path(), port, database);
            wait_healthy(&base).await;
            // Everything acknowledged before the kill is still on the log, with its number.
            let page = alice
                .messages(
                    &key,
                    callside_client::MessageQuery {
                        after: Some(0),
                        limit: Some(500),
                        wait: None,
                    },
                )
                .await
                .unwrap();
            let stored: HashMap<String, u64> = page
                .messages
                .iter()
                .map(|m| (m.id.clone().unwrap(), m.seq))
                .collect();
            for (id, seq) in before.iter().filter(|(_, s)| **s <= 500) {
                assert_eq!(
                    stored.get(id),
                    Some(seq),
                    "acknowledged {id} lost by the kill"
                );
            }
            eprintln!(
                "killed with {} of {} sends acknowledged and {received_before} delivered to Bob",
                before.len(),
                i + 1
            );
            assert!(
                before.len() < MESSAGES,
                "the kill came in the middle of traffic"
            );
        }
    }
    while let Some(r) = sends.join_next().await {
        r.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(60), bob_task)
        .await
        .expect("Bob receives everything")
        .unwrap();

    let accepted = accepted.lock().unwrap().clone();
    let received = received.lock().unwrap().clone();
    assert_eq!(accepted.len(), MESSAGES);
    let seqs: Vec<u64> = received.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (1..=MESSAGES as u64).collect::<Vec<_>>(),
        "in order, no gaps, no repeats"
    );
    let ids: HashSet<&String> = received.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), MESSAGES, "no message delivered twice");
    for (id, seq) in &accepted {
        assert!(
            received.contains(&(*seq, id.clone())),
            "{id} (#{seq}) was acknowledged but not delivered"
        );
    }
    alice_ch.close().await;
    server.kill().unwrap();
    server.wait().unwrap();
}
