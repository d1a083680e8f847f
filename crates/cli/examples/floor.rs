//! The floor under `callside bench` on this machine: the same client stack (reqwest over HTTP/1.1,
//! tokio-tungstenite) and the same server stack (axum on tokio, jemalloc) on loopback, with the
//! server doing no work at all: no authentication lookup, no matching, no store. Whatever this
//! reaches is the most `callside bench match` and `callside bench relay` could reach here, so it
//! says how far a target is from what the machine allows (see docs/PERFORMANCE.md).
//!
//! ```text
//! cargo run --release --example floor -- http [PAIRS] [SECS]
//! cargo run --release --example floor -- ws [PAIRS] [SECS] [WINDOW]
//! ```
//!
//! `http` plays calls as `bench match` does: per pair, two clients (two connections), the caller
//! POSTs its leg, then the callee POSTs its own; a call is two request/response round trips.
//! `ws` plays `bench relay`: per pair, a sender keeps up to WINDOW messages unacknowledged, the
//! server answers each with an `accepted` frame and forwards it to the receiver, which
//! acknowledges it. Both sides run in this one process, each on its own two-thread runtime.

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{FutureExt, SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| -> anyhow::Result<u64> {
        Ok(match args.get(i) {
            Some(v) => v.parse()?,
            None => default,
        })
    };
    let mode = args.first().map(String::as_str).unwrap_or("http");
    let pairs = arg(1, 50)? as usize;
    let secs = Duration::from_secs(arg(2, 10)?);
    let window = arg(3, 32)? as usize;
    let server = runtime("floor-server")?;
    let client = runtime("floor-client")?;
    let listener = server.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let peers: Peers = Arc::default();
    let app = Router::new()
        .route("/v1/legs", post(leg))
        .route("/ws/{who}", get(ws))
        .with_state(peers);
    // TCP_NODELAY on every socket, as callside's server and SDK set it.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    server.spawn(async move { axum::serve(listener, app).await });
    let ((count, elapsed, cpu), unit) = match mode {
        "http" => (client.block_on(calls(addr, pairs, secs))?, "calls"),
        "ws" => (
            client.block_on(relay(addr, pairs, secs, window))?,
            "messages",
        ),
        other => anyhow::bail!("unknown mode {other}: http or ws"),
    };
    let cpu = match cpu {
        (Some(a), Some(b)) => {
            let per = |secs: f64| {
                format!(
                    "{:.0}% ({:.1} µs per {})",
                    secs / elapsed * 100.0,
                    secs * 1e6 / count.max(1) as f64,
                    &unit[..unit.len() - 1]
                )
            };
            format!("server {}, client {}", per(b.0 - a.0), per(b.1 - a.1))
        }
        _ => "?".into(),
    };
    println!(
        "{mode}, {pairs} pairs: {count} {unit} in {elapsed:.1} s = {:.0} {unit}/s; CPU (100% = one core): {cpu}",
        count as f64 / elapsed
    );
    Ok(())
}

fn runtime(name: &str) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
}

/// User plus system CPU seconds of this process's server and client threads (Linux).
fn cpu_secs() -> Option<(f64, f64)> {
    let (mut server, mut client) = (0.0, 0.0);
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
        let (head, after) = stat.rsplit_once(')')?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        if head.ends_with("floor-server") {
            server += ticks / 100.0;
        } else if head.ends_with("floor-client") {
            client += ticks / 100.0;
        }
    }
    Some((server, client))
}

// ---------------------------------------------------------------- http

/// A leg report answered without looking at it beyond parsing, the size of a real answer.
async fn leg(Json(body): Json<serde_json::Value>) -> Json<serde_json::Value> {
    let pending = body["direction"] == "outgoing";
    Json(serde_json::json!({
        "id": "leg_0000018f6a3b2c1d4e5f60718293a4b5",
        "state": if pending { "pending" } else { "matched" },
        "registry": "127.0.0.1",
        "session": if pending { serde_json::Value::Null } else {
            serde_json::json!({"key": "ses_0000018f6a3b2c1d4e5f60718293a4b5c6d7e8f9", "participants": 2})
        },
    }))
}

/// What a run measured: its count, its seconds, and the CPU times before and after.
type Run = (u64, f64, (Option<(f64, f64)>, Option<(f64, f64)>));

async fn calls(addr: std::net::SocketAddr, pairs: usize, secs: Duration) -> anyhow::Result<Run> {
    let url = format!("http://{addr}/v1/legs");
    let count = Arc::new(AtomicU64::new(0));
    let cpu = cpu_secs();
    let started = Instant::now();
    let deadline = started + secs;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..pairs {
        let client = || reqwest::Client::builder().tcp_nodelay(true).build();
        let (a, b) = (client()?, client()?);
        let (url, count) = (url.clone(), count.clone());
        tasks.spawn(async move {
            let body = |own: usize, direction: &str| {
                serde_json::json!({"own": format!("+4420794{own:05}"), "other": "+442079460000",
                    "direction": direction, "lifecycle": "keep_after_call"})
            };
            while Instant::now() < deadline {
                for (client, direction) in [(&a, "outgoing"), (&b, "incoming")] {
                    let answer: serde_json::Value = client
                        .post(&url)
                        .bearer_auth("cs_floor_token")
                        .json(&body(i, direction))
                        .send()
                        .await?
                        .error_for_status()?
                        .json()
                        .await?;
                    anyhow::ensure!(answer["state"].is_string(), "unexpected answer {answer}");
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((count.load(Ordering::Relaxed), elapsed, (cpu, cpu_secs())))
}

// ---------------------------------------------------------------- ws

/// Each connected socket's outbox, by name.
type Peers = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<String>>>>;

async fn ws(
    Path(who): Path<String>,
    State(peers): State<Peers>,
    upgrade: WebSocketUpgrade,
) -> axum::response::Response {
    upgrade.on_upgrade(move |socket| serve_socket(socket, who, peers))
}

/// Answers each `send` with `accepted` and forwards it to the frame's `to`; drops `ack`s.
async fn serve_socket(socket: WebSocket, who: String, peers: Peers) {
    let (tx, mut outbox) = mpsc::unbounded_channel::<String>();
    peers.lock().expect("peers").insert(who.clone(), tx.clone());
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            incoming = stream.next() => {
                let Some(Ok(AxMessage::Text(t))) = incoming else { break };
                let frame: serde_json::Value = match serde_json::from_str(t.as_str()) {
                    Ok(f) => f,
                    Err(_) => break,
                };
                if frame["type"] == "send" {
                    let to = frame["to"].as_str().unwrap_or_default().to_owned();
                    let accepted = serde_json::json!({"type": "accepted", "id": frame["id"],
                        "session": "ses_0000018f6a3b2c1d4e5f60718293a4b5c6d7e8f9", "seq": 1});
                    let _ = tx.send(accepted.to_string());
                    let message = serde_json::json!({"type": "message",
                        "session": "ses_0000018f6a3b2c1d4e5f60718293a4b5c6d7e8f9",
                        "seq": 1, "from": who, "kind": "text", "body": frame["body"]});
                    let peer = peers.lock().expect("peers").get(&to).cloned();
                    if let Some(peer) = peer {
                        let _ = peer.send(message.to_string());
                    }
                }
            }
            Some(out) = outbox.recv() => {
                if sink.feed(AxMessage::Text(out.into())).await.is_err() {
                    break;
                }
                while let Ok(more) = outbox.try_recv() {
                    if sink.feed(AxMessage::Text(more.into())).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    break;
                }
            }
        }
    }
}

async fn relay(
    addr: std::net::SocketAddr,
    pairs: usize,
    secs: Duration,
    window: usize,
) -> anyhow::Result<Run> {
    let count = Arc::new(AtomicU64::new(0));
    let mut sockets = Vec::with_capacity(pairs);
    for i in 0..pairs {
        let connect = |url: String| tokio_tungstenite::connect_async_with_config(url, None, true);
        let (receiver, _) = connect(format!("ws://{addr}/ws/b{i}")).await?;
        let (sender, _) = connect(format!("ws://{addr}/ws/a{i}")).await?;
        sockets.push((receiver, sender));
    }
    let cpu = cpu_secs();
    let started = Instant::now();
    let deadline = started + secs;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (receiver, sender)) in sockets.into_iter().enumerate() {
        // The receiver acknowledges what arrived, once per read burst.
        tasks.spawn(async move {
            let (mut sink, mut stream) = receiver.split();
            let mut next = stream.next().await;
            while let Some(Ok(Message::Text(t))) = next {
                let frame: serde_json::Value = serde_json::from_str(t.as_str())?;
                let ack = serde_json::json!({"type": "ack", "seq": frame["seq"]});
                sink.feed(Message::Text(ack.to_string().into())).await?;
                // Frames already read go out with one flush, as the SDK does.
                next = match stream.next().now_or_never() {
                    Some(more) => more,
                    None => {
                        sink.flush().await?;
                        stream.next().await
                    }
                };
            }
            anyhow::Ok(())
        });
        let count = count.clone();
        tasks.spawn(async move {
            let (mut sink, mut stream) = sender.split();
            let mut in_flight = 0usize;
            let mut next = 0u64;
            while Instant::now() < deadline {
                while in_flight < window {
                    let send = serde_json::json!({"type": "send", "to": format!("b{i}"),
                        "id": format!("{next:032x}"), "kind": "text", "body": {"text": "hello"}});
                    sink.feed(Message::Text(send.to_string().into())).await?;
                    in_flight += 1;
                    next += 1;
                }
                sink.flush().await?;
                let mut next = stream.next().await;
                loop {
                    let Some(Ok(Message::Text(t))) = next else {
                        anyhow::bail!("sender's socket closed");
                    };
                    let frame: serde_json::Value = serde_json::from_str(t.as_str())?;
                    anyhow::ensure!(frame["type"] == "accepted", "unexpected frame {frame}");
                    in_flight -= 1;
                    count.fetch_add(1, Ordering::Relaxed);
                    match stream.next().now_or_never() {
                        Some(more) => next = more,
                        None => break,
                    }
                }
            }
            sink.close().await?;
            anyhow::Ok(())
        });
    }
    tokio::time::sleep_until(deadline.into()).await;
    let (counted, end) = (count.load(Ordering::Relaxed), cpu_secs());
    // Senders stop at the deadline (an error of any task is reported); receivers run on until
    // the process ends.
    let wait = tokio::time::sleep(Duration::from_millis(500));
    tokio::pin!(wait);
    loop {
        tokio::select! {
            done = tasks.join_next() => match done {
                Some(r) => r??,
                None => break,
            },
            _ = &mut wait => break,
        }
    }
    Ok((counted, secs.as_secs_f64(), (cpu, end)))
}
