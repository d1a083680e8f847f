//! Wake-up pushes end to end: a device registers a Web Push subscription whose endpoint is an
//! independent push service stand-in (`crates/push/tests/webpush_receiver.py`: it verifies the
//! VAPID signature and decrypts per RFC 8291 with `http_ece`, not callside's code); while the
//! device is not connected, an invitation and a message each wake it with an opaque id and no
//! content (also after a restart, which wakes again what is still unread); a `410 Gone` from the
//! push service removes the subscription.

use callside_client::proto::invitation::CreateInvitation;
use callside_client::proto::push::PushSubscription;
use callside_client::{Channel, Client};
use callside_server::config::Config;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

struct PushService {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    hello: Value,
}

impl PushService {
    async fn start(statuses: &str) -> PushService {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../push/tests/webpush_receiver.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--statuses", statuses])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the push service starts")
            .unwrap()
            .expect("it prints its subscription (is http-ece installed? run scripts/install-deps)");
        PushService {
            _child: child,
            lines,
            hello: serde_json::from_str(&first).unwrap(),
        }
    }

    fn subscription(&self, path: &str) -> PushSubscription {
        PushSubscription::WebPush {
            endpoint: format!("http://127.0.0.1:{}{path}", self.hello["port"]),
            p256dh: self.hello["p256dh"].as_str().unwrap().into(),
            auth: self.hello["auth"].as_str().unwrap().into(),
        }
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(15), self.lines.next_line())
            .await
            .expect("a push within 15 s")
            .unwrap()
            .expect("the push service runs");
        serde_json::from_str(&line).unwrap()
    }

    async fn nothing_for(&mut self, d: Duration) {
        if let Ok(Ok(Some(line))) = tokio::time::timeout(d, self.lines.next_line()).await {
            panic!("an unexpected push: {line}");
        }
    }
}

fn wake_id(report: &Value) -> String {
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    let payload: Value = serde_json::from_str(report["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["t"], "wake", "{payload}");
    assert_eq!(
        payload.as_object().unwrap().len(),
        2,
        "nothing but the wake-up travels: {payload}"
    );
    payload["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn devices_that_are_away_are_woken_without_content() {
    let mut service = PushService::start("201,201,201,201,410").await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_dir(dir.path());
    config.push.allow_http_endpoints = true;
    config.push.wake_interval = Duration::from_millis(200);
    let running = callside_server::start(config.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    // A restart comes back on the same address.
    config.listen = running.addr;
    let admin = Client::new(&base, &running.admin_token).unwrap();
    let phone = |name: &str, number: &str| {
        let admin = admin.clone();
        let (name, number, base) = (name.to_owned(), number.to_owned(), base.clone());
        async move {
            let created = admin
                .create_device(&callside_client::proto::admin::CreateDevice {
                    name,
                    numbers: vec![number],
                })
                .await
                .unwrap();
            Client::new(&base, &created.token).unwrap()
        }
    };
    let alice = phone("Alice", "+442079460001").await;
    let bob = phone("Bob", "+442079460002").await;

    let list = bob.push_subscriptions().await.unwrap();
    let vapid = list
        .vapid_public_key
        .expect("a VAPID key from the first start");
    assert_eq!(vapid.len(), 87, "a base64url P-256 point");
    bob.register_push(&service.subscription("/push/bob"))
        .await
        .unwrap();
    // The same endpoint again replaces rather than adds.
    bob.register_push(&service.subscription("/push/bob"))
        .await
        .unwrap();
    assert_eq!(
        bob.push_subscriptions().await.unwrap().subscriptions.len(),
        1
    );

    // Bob is not connected: an invitation wakes him, with its id only.
    let inv = alice
        .invite(&CreateInvitation {
            to: "+442079460002".into(),
            from: None,
            session: None,
            connection: None,
            component: None,
        })
        .await
        .unwrap();
    let report = service.next().await;
    assert_eq!(report["path"], "/push/bob");
    assert_eq!(report["k"], vapid, "signed with the server's VAPID key");
    assert_eq!(wake_id(&report), inv.id);
    let accepted = bob
        .accept_invitation(&inv.id, &Default::default())
        .await
        .unwrap();
    let key = accepted.session.unwrap();

    // A message while Bob is away wakes him (the text stays on the server). Wake-ups for
    // messages are coalesced per device over `wake_interval`, so wait that out first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice.send_text(&key, "secret menu").await.unwrap();
    let report = service.next().await;
    let id = wake_id(&report);
    assert!(id.starts_with("wk_"), "{id}");
    assert!(!report["payload"].as_str().unwrap().contains("secret"));

    // After a restart the server wakes Bob again by itself: a wake-up may have been lost with
    // the old process, and he has not read the message yet.
    running.shutdown().await;
    let running = callside_server::start(config.clone()).await.unwrap();
    let report = service.next().await;
    assert!(wake_id(&report).starts_with("wk_"), "{report}");
    // And it still knows Bob can be woken (it learns from the store which devices have push).
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice.send_text(&key, "after the restart").await.unwrap();
    let report = service.next().await;
    assert!(wake_id(&report).starts_with("wk_"));

    // While connected, Bob is not pushed.
    let mut channel = Channel::connect(&bob).await.unwrap();
    channel.next_event().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice.send_text(&key, "live").await.unwrap();
    service.nothing_for(Duration::from_millis(800)).await;
    channel.close().await;

    // Away again; the push service now says the subscription is gone: it is removed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    alice.send_text(&key, "are you there").await.unwrap();
    let report = service.next().await;
    assert_eq!(report["status"], 410);
    wake_id(&report);
    for _ in 0..50 {
        if bob
            .push_subscriptions()
            .await
            .unwrap()
            .subscriptions
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(bob
        .push_subscriptions()
        .await
        .unwrap()
        .subscriptions
        .is_empty());
    running.shutdown().await;
}
