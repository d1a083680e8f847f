//! End-to-end: a real server on a loopback port, driven by the real SDK over real sockets.

use callside_client::proto::admin::CreateDevice;
use callside_client::proto::call::{Direction, LegState, ReportLeg};
use callside_client::{Channel, Client, Event};
use callside_server::config::Config;
use std::time::Duration;

mod cards;
mod components;
mod content;
mod derived;
mod invitations;
mod numbers;
mod operator;
mod screens;
mod sessions;

const ALICE: &str = "+442079460001";
const BOB: &str = "+442079460002";

struct World {
    running: Option<callside_server::Running>,
    config: Config,
    base: String,
    admin: Client,
    _dir: tempfile::TempDir,
}

async fn world(tweak: impl FnOnce(&mut Config)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_dir(dir.path());
    config.heartbeat = Duration::from_secs(1);
    tweak(&mut config);
    let running = callside_server::start(config.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    let admin = Client::new(&base, &running.admin_token).unwrap();
    // A restart comes back on the same address, so clients keep working.
    config.listen = running.addr;
    World {
        running: Some(running),
        config,
        base,
        admin,
        _dir: dir,
    }
}

impl World {
    async fn device(
        &self,
        name: &str,
        number: &str,
    ) -> callside_client::proto::admin::CreatedDevice {
        self.admin
            .create_device(&CreateDevice {
                name: name.into(),
                numbers: vec![number.into()],
            })
            .await
            .unwrap()
    }

    async fn phone(&self, name: &str, number: &str) -> Client {
        let created = self.device(name, number).await;
        Client::new(&self.base, &created.token).unwrap()
    }

    /// Stops the server gracefully and starts it again on the same data and address.
    async fn restart(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        self.running = Some(callside_server::start(self.config.clone()).await.unwrap());
    }

    async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

fn leg(own: &str, other: Option<&str>, direction: Direction) -> ReportLeg {
    ReportLeg::new(own, other.map(Into::into), direction)
}

/// Alice and Bob on a call, paired over HTTP; returns their clients and the session key.
async fn paired(w: &World) -> (Client, Client, String) {
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    let key = pair(&alice, &bob).await;
    (alice, bob, key)
}

async fn pair(alice: &Client, bob: &Client) -> String {
    alice
        .report_leg(&leg(ALICE, Some(BOB), Direction::Outgoing), Duration::ZERO)
        .await
        .unwrap();
    bob.report_leg(&leg(BOB, Some(ALICE), Direction::Incoming), Duration::ZERO)
        .await
        .unwrap()
        .session
        .unwrap()
        .key
}

/// The next event that `pick` accepts, within a few seconds.
async fn next<T>(ch: &mut Channel, mut pick: impl FnMut(Event) -> Option<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = ch.next_event().await.expect("channel ended");
            if let Some(t) = pick(e) {
                return t;
            }
        }
    })
    .await
    .expect("event within 10 s")
}

async fn message(ch: &mut Channel) -> callside_client::proto::message::Message {
    next(ch, |e| match e {
        Event::Message(m) => Some(m),
        _ => None,
    })
    .await
}

/// Whether a webhook request to `url` carries callside's signature (`X-Callside-Signature:
/// t=..,id=..,v1=..`, HMAC-SHA256 of "<t>.<id>.<url>.<body>", the id also in
/// `X-Callside-Delivery`), checked here independently of the server's code.
fn signed(headers: &axum::http::HeaderMap, url: &str, body: &str, secret: &str) -> bool {
    use hmac::{Hmac, Mac};
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(sig) = header("x-callside-signature") else {
        return false;
    };
    let mut parts = sig.split(',');
    let (Some(t), Some(id), Some(v1), None) = (
        parts.next().and_then(|p| p.strip_prefix("t=")),
        parts.next().and_then(|p| p.strip_prefix("id=")),
        parts.next().and_then(|p| p.strip_prefix("v1=")),
        parts.next(),
    ) else {
        return false;
    };
    if header("x-callside-delivery") != Some(id) {
        return false;
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{id}.{url}.{body}").as_bytes());
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    want == v1
}
