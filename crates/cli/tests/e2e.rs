//! End-to-end: a real server on a loopback port, driven by the real SDK over real sockets.

use callside_client::proto::admin::CreateDevice;
use callside_client::proto::call::{Direction, LegState, ReportLeg};
use callside_client::{Channel, Client, Event};
use callside_server::config::Config;
use std::time::Duration;

const ALICE: &str = "+442079460001";
const BOB: &str = "+442079460002";

struct World {
    running: Option<callside_server::Running>,
    base: String,
    admin: Client,
    _dir: tempfile::TempDir,
}

async fn world(tweak: impl FnOnce(&mut Config)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_dir(dir.path());
    config.heartbeat = Duration::from_secs(1);
    tweak(&mut config);
    let running = callside_server::start(config).await.unwrap();
    let base = format!("http://{}", running.addr);
    let admin = Client::new(&base, &running.admin_token).unwrap();
    World {
        running: Some(running),
        base,
        admin,
        _dir: dir,
    }
}

impl World {
    async fn phone(&self, name: &str, number: &str) -> Client {
        let created = self
            .admin
            .create_device(&CreateDevice {
                name: name.into(),
                numbers: vec![number.into()],
            })
            .await
            .unwrap();
        Client::new(&self.base, &created.token).unwrap()
    }

    async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

fn leg(own: &str, other: Option<&str>, direction: Direction) -> ReportLeg {
    ReportLeg {
        own: own.into(),
        other: other.map(Into::into),
        direction,
        call_ref: None,
        extension: None,
        conference_id: None,
        registry: None,
        lifecycle: None,
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_phones_pair_talk_share_a_file_and_hang_up() {
    let w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    let mut a_ch = Channel::connect(&alice).await.unwrap();
    let mut b_ch = Channel::connect(&bob).await.unwrap();
    next(&mut a_ch, |e| {
        matches!(e, Event::Ready { .. }).then_some(())
    })
    .await;
    next(&mut b_ch, |e| {
        matches!(e, Event::Ready { .. }).then_some(())
    })
    .await;

    let a_leg = alice
        .report_leg(&leg(ALICE, Some(BOB), Direction::Outgoing), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(a_leg.state, LegState::Pending);
    let b_leg = bob
        .report_leg(
            &leg(BOB, Some(ALICE), Direction::Incoming),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(b_leg.state, LegState::Matched);
    let key = b_leg.session.unwrap().key;

    // The first registrant hears it on its socket: the session, then its leg's outcome.
    let s = next(&mut a_ch, |e| match e {
        Event::Session(s) => Some(s),
        _ => None,
    })
    .await;
    assert_eq!(s.key, key);
    let l = next(&mut a_ch, |e| match e {
        Event::Leg(l) => Some(l),
        _ => None,
    })
    .await;
    assert_eq!(
        (l.id.as_str(), l.state),
        (a_leg.id.as_str(), LegState::Matched)
    );

    let acc = a_ch.send_text(&key, "hello Bob").await.unwrap();
    assert_eq!(acc.seq, 1);
    let m = message(&mut b_ch).await;
    assert_eq!((m.seq, m.body["text"].as_str()), (1, Some("hello Bob")));
    b_ch.ack(&key, m.seq).await.unwrap();
    // The sender receives its own message too, in order.
    assert_eq!(message(&mut a_ch).await.seq, 1);

    let blob = alice.upload_bytes(b"%PDF-1.4 menu".to_vec()).await.unwrap();
    assert_eq!(blob.mime, "application/pdf");
    alice.send_file(&key, &blob.id, "menu.pdf").await.unwrap();
    let f = message(&mut b_ch).await;
    assert_eq!(f.kind, "file");
    let bytes = bob
        .download_bytes(f.body["blob"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"%PDF-1.4 menu");

    alice.end_leg(&a_leg.id).await.unwrap();
    let ended = message(&mut b_ch).await;
    assert_eq!(
        (ended.kind.as_str(), ended.body["state"].as_str()),
        ("system/call", Some("ended"))
    );
    // The session goes on after the call.
    b_ch.send_text(&key, "talk later").await.unwrap();
    alice.close_session(&key).await.unwrap();
    let closed = next(&mut b_ch, |e| match e {
        Event::Message(m) if m.kind == "system/closed" => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(closed.body["reason"], "closed");
    let err = b_ch.send_text(&key, "anyone?").await.unwrap_err();
    assert_eq!(err.code(), Some("session_closed"), "{err:?}");
    a_ch.close().await;
    b_ch.close().await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_device_gets_what_it_missed_in_order_and_once() {
    let w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    alice
        .report_leg(&leg(ALICE, Some(BOB), Direction::Outgoing), Duration::ZERO)
        .await
        .unwrap();
    let key = bob
        .report_leg(&leg(BOB, Some(ALICE), Direction::Incoming), Duration::ZERO)
        .await
        .unwrap()
        .session
        .unwrap()
        .key;
    for i in 1..=5 {
        alice.send_text(&key, &format!("m{i}")).await.unwrap();
    }
    // Bob was offline: on connect he gets all five, in order.
    let mut b = Channel::connect(&bob).await.unwrap();
    let mut seqs = Vec::new();
    for _ in 0..5 {
        let m = message(&mut b).await;
        seqs.push(m.seq);
        if m.seq <= 3 {
            b.ack(&key, m.seq).await.unwrap();
        }
    }
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    b.close().await;
    // The server kept his cursor at 3: a new connection (a new process) starts at 4.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut b = Channel::connect(&bob).await.unwrap();
    assert_eq!(message(&mut b).await.seq, 4);
    assert_eq!(message(&mut b).await.seq, 5);
    alice.send_text(&key, "m6").await.unwrap();
    assert_eq!(message(&mut b).await.seq, 6);
    b.close().await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmatched_leg_ends_with_a_clear_outcome_when_its_window_passes() {
    let w = world(|c| c.match_window = Duration::from_secs(1)).await;
    let alice = w.phone("Alice", ALICE).await;
    let mut ch = Channel::connect(&alice).await.unwrap();
    let l = alice
        .report_leg(
            &leg(ALICE, Some(BOB), Direction::Outgoing),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(
        (l.state, l.reason.as_deref()),
        (LegState::NoMatch, Some("expired"))
    );
    let e = next(&mut ch, |e| match e {
        Event::Leg(l) => Some(l),
        _ => None,
    })
    .await;
    assert_eq!(e.reason.as_deref(), Some("expired"));
    ch.close().await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_error_frames_and_change_nothing() {
    let w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    let carol = w.phone("Carol", "+442079460003").await;
    alice
        .report_leg(&leg(ALICE, Some(BOB), Direction::Outgoing), Duration::ZERO)
        .await
        .unwrap();
    let key = bob
        .report_leg(&leg(BOB, Some(ALICE), Direction::Incoming), Duration::ZERO)
        .await
        .unwrap()
        .session
        .unwrap()
        .key;
    let c = Channel::connect(&carol).await.unwrap();
    let err = c.send_text(&key, "let me in").await.unwrap_err();
    assert_eq!(err.code(), Some("not_participant"), "{err:?}");
    let a = Channel::connect(&alice).await.unwrap();
    let err = a
        .send(&key, "app/Bad Name", serde_json::json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_message"), "{err:?}");
    assert!(alice
        .messages(&key, Default::default())
        .await
        .unwrap()
        .messages
        .is_empty());
    a.close().await;
    c.close().await;
    w.stop().await;
}
