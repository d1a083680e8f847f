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
    let (alice, bob, key) = paired(&w).await;
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
    let key = pair(&alice, &bob).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_legs_survive_a_restart() {
    let mut w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    let pending = alice
        .report_leg(&leg(ALICE, Some(BOB), Direction::Outgoing), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(pending.state, LegState::Pending);

    // Same data directory, same port: the acknowledged leg is still waiting for Bob.
    w.restart().await;
    let matched = bob
        .report_leg(&leg(BOB, Some(ALICE), Direction::Incoming), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(matched.state, LegState::Matched);
    let a = alice.leg(&pending.id, Duration::ZERO).await.unwrap();
    assert_eq!(a.session.unwrap().key, matched.session.unwrap().key);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_close_by_themselves() {
    let w = world(|c| c.idle_timeout = Duration::from_secs(2)).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    let mut ch = Channel::connect(&bob).await.unwrap();
    let key = pair(&alice, &bob).await;
    let closed = next(&mut ch, |e| match e {
        Event::Message(m) if m.kind == "system/closed" => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(
        (closed.session.as_str(), closed.body["reason"].as_str()),
        (key.as_str(), Some("idle"))
    );
    assert_eq!(
        alice.session(&key).await.unwrap().closed.as_deref(),
        Some("idle")
    );
    ch.close().await;
    w.stop().await;
}

mod raw_socket {
    //! The WebSocket without the SDK: malformed frames, and a peer that stops answering.
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    async fn connect(
        w: &World,
        token: &str,
    ) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>
    {
        let url = format!("{}/v1/ws", w.base.replace("http://", "ws://"));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        tokio_tungstenite::connect_async(req).await.unwrap().0
    }

    async fn frame(
        ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
    ) -> serde_json::Value {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if let Message::Text(t) = m {
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn malformed_frames_get_error_frames_and_the_connection_survives() {
        let w = world(|_| {}).await;
        let created = w.device("Alice", ALICE).await;
        let mut ws = connect(&w, &created.token).await;
        assert_eq!(frame(&mut ws).await["type"], "ready");
        for bad in [
            Message::Text("not json".into()),
            Message::Text(r#"{"type":"teleport"}"#.into()),
            Message::Text(r#"{"type":"send","session":"sk_x","id":"1"}"#.into()),
            Message::Text(
                r#"{"type":"ack","session":"sk_019a00000000AAAAAAAAAAAAAAAAAAAAAAAA","seq":1}"#
                    .into(),
            ),
            Message::Binary(vec![1, 2, 3].into()),
        ] {
            ws.send(bad).await.unwrap();
            let f = frame(&mut ws).await;
            assert_eq!(f["type"], "error", "{f}");
            assert!(
                ["invalid_frame", "not_found"].contains(&f["code"].as_str().unwrap()),
                "{f}"
            );
        }
        ws.send(Message::Text(r#"{"type":"ping","nonce":9}"#.into()))
            .await
            .unwrap();
        assert_eq!(
            frame(&mut ws).await,
            serde_json::json!({"type": "pong", "nonce": 9})
        );
        // Without a token there is no socket at all.
        let url = format!("{}/v1/ws", w.base.replace("http://", "ws://"));
        let err = tokio_tungstenite::connect_async(url).await.unwrap_err();
        assert!(err.to_string().contains("401"), "{err}");
        w.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_peer_that_stops_answering_heartbeats_is_disconnected() {
        let w = world(|c| c.heartbeat = Duration::from_secs(1)).await;
        let created = w.device("Alice", ALICE).await;
        let mut ws = connect(&w, &created.token).await;
        assert_eq!(frame(&mut ws).await["type"], "ready");
        // Not reading means not answering the server's pings.
        tokio::time::sleep(Duration::from_millis(3500)).await;
        let mut closed = false;
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
            match m {
                Ok(Message::Close(_)) | Err(_) => {
                    closed = true;
                    break;
                }
                Ok(_) => continue,
            }
        }
        if !closed {
            // A closed socket may also just end.
            closed = ws.next().await.is_none();
        }
        assert!(
            closed,
            "the server should have dropped the silent connection"
        );
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_are_kept_across_a_restart() {
    let mut w = world(|_| {}).await;
    let (alice, bob, key) = paired(&w).await;
    for i in 1..=3 {
        alice.send_text(&key, &format!("m{i}")).await.unwrap();
    }
    bob.ack(&key, 2).await.unwrap();

    w.restart().await;
    let mut ch = Channel::connect(&bob).await.unwrap();
    assert_eq!(
        message(&mut ch).await.seq,
        3,
        "the cursor was stored at shutdown"
    );
    ch.close().await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_cross_the_small_socket_buffers() {
    let w = world(|_| {}).await;
    let (alice, bob, key) = paired(&w).await;
    let a = Channel::connect(&alice).await.unwrap();
    let mut b = Channel::connect(&bob).await.unwrap();
    let big = "é".repeat(30_000); // 60,000 bytes, under the 64 KiB limit
    a.send_text(&key, &big).await.unwrap();
    let m = message(&mut b).await;
    assert_eq!(m.body["text"].as_str().map(str::len), Some(60_000));
    a.close().await;
    b.close().await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_closes_the_open_socket() {
    let w = world(|_| {}).await;
    let created = w.device("Alice", ALICE).await;
    let alice = Client::new(&w.base, &created.token).unwrap();
    let mut ch = Channel::connect(&alice).await.unwrap();
    next(&mut ch, |e| matches!(e, Event::Ready { .. }).then_some(())).await;
    w.admin
        .rotate_device_token(&created.device.id)
        .await
        .unwrap();
    // The server says why and closes; the old token cannot reconnect.
    let code = next(&mut ch, |e| match e {
        Event::Error { code, .. } => Some(code),
        _ => None,
    })
    .await;
    assert_eq!(code, "token_revoked");
    next(&mut ch, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    })
    .await;
    let err = alice.me().await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    ch.close().await;
    w.stop().await;
}

/// The next event `pick` accepts, skipping others, within 10 s.
#[tokio::test]
async fn an_invitation_rings_every_device_and_the_first_accept_wins() {
    use callside_client::proto::connect::{ConnectionOffer, NatType, Path};
    use callside_client::proto::invitation::{AcceptInvitation, CreateInvitation, InvitationState};
    let w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let phone = w.phone("Bob's phone", BOB).await;
    let tablet = w.phone("Bob's tablet", BOB).await;
    let mut on_phone = Channel::connect(&phone).await.unwrap();
    let mut on_tablet = Channel::connect(&tablet).await.unwrap();
    let mut on_alice = Channel::connect(&alice).await.unwrap();
    for c in [&mut on_phone, &mut on_tablet, &mut on_alice] {
        next(c, |e| matches!(e, Event::Ready { .. }).then_some(())).await;
    }

    // Nobody registered that number.
    let err = alice
        .invite(&CreateInvitation {
            to: "+442079460099".into(),
            from: None,
            session: None,
            connection: None,
            component: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_registered"));

    let offer = ConnectionOffer {
        candidates: vec!["candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host".into()],
        nat: NatType::PortRestrictedCone,
        retry: false,
        failures: 0,
    };
    let inv = alice
        .invite(&CreateInvitation {
            to: "+44 20 7946 0002".into(),
            from: None,
            session: None,
            connection: Some(offer.clone()),
            component: None,
        })
        .await
        .unwrap();
    assert_eq!((inv.state, inv.devices), (InvitationState::Pending, 2));
    assert_eq!(inv.from.as_deref(), Some(ALICE));
    // Both of Bob's devices ring, with Alice's connection data.
    for c in [&mut on_phone, &mut on_tablet] {
        let ringing = next(c, |e| match e {
            Event::Invitation(i) => Some(i),
            _ => None,
        })
        .await;
        assert_eq!(ringing.id, inv.id);
        assert_eq!(ringing.offer.as_ref(), Some(&offer));
    }
    assert_eq!(tablet.ringing_invitations().await.unwrap().len(), 1);
    assert!(alice.ringing_invitations().await.unwrap().is_empty());

    // The tablet answers first, from behind a symmetric NAT: the pair goes through the relay.
    let answer = AcceptInvitation {
        connection: Some(ConnectionOffer {
            candidates: vec![],
            nat: NatType::Symmetric,
            retry: false,
            failures: 0,
        }),
    };
    let accepted = tablet.accept_invitation(&inv.id, &answer).await.unwrap();
    assert_eq!(accepted.state, InvitationState::Accepted);
    assert_eq!(accepted.path, Some(Path::Relay));
    let key = accepted.session.clone().expect("a session");
    let err = phone
        .accept_invitation(&inv.id, &AcceptInvitation::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invitation_accepted"));

    // The phone stops ringing; Alice hears who answered and gets the session.
    let settled = next(&mut on_phone, |e| match e {
        Event::Invitation(i) if i.state != InvitationState::Pending => Some(i),
        _ => None,
    })
    .await;
    assert_eq!(settled.answered_by, accepted.answered_by);
    // Alice first heard that it was ringing (S2's status update), then the answer.
    let ringing = next(&mut on_alice, |e| match e {
        Event::Invitation(i) => Some(i),
        _ => None,
    })
    .await;
    assert_eq!(ringing.state, InvitationState::Pending);
    // The answer and the session, in either order.
    let (mut heard, mut session) = (None, None);
    while heard.is_none() || session.is_none() {
        match next(&mut on_alice, |e| match e {
            Event::Invitation(_) | Event::Session(_) => Some(e),
            _ => None,
        })
        .await
        {
            Event::Invitation(i) => heard = Some(i),
            Event::Session(s) => session = Some(s),
            _ => unreachable!(),
        }
    }
    let (heard, session) = (heard.unwrap(), session.unwrap());
    assert_eq!(heard.state, InvitationState::Accepted);
    assert_eq!(heard.answer, answer.connection);
    assert_eq!(session.key, key);
    assert_eq!(session.participants.len(), 2);

    // The session works for the two of them, and only for them.
    alice.send_text(&key, "hello tablet").await.unwrap();
    let got = next(&mut on_tablet, |e| match e {
        Event::Message(m) if m.kind == "text" => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(got.body["text"], "hello tablet");
    assert_eq!(
        phone.send_text(&key, "me too").await.unwrap_err().code(),
        Some("not_participant")
    );
    w.stop().await;
}

#[tokio::test]
async fn invitations_are_declined_cancelled_or_expire_and_everyone_hears() {
    use callside_client::proto::invitation::{AcceptInvitation, CreateInvitation, InvitationState};
    let w = world(|c| c.invitation_ttl = Duration::from_millis(1500)).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    let mut on_alice = Channel::connect(&alice).await.unwrap();
    next(&mut on_alice, |e| {
        matches!(e, Event::Ready { .. }).then_some(())
    })
    .await;
    let to_bob = CreateInvitation {
        to: BOB.into(),
        from: None,
        session: None,
        connection: None,
        component: None,
    };
    let invite = || alice.invite(&to_bob);
    let settled = |state: InvitationState| {
        move |e: Event| match e {
            Event::Invitation(i) if i.state == state => Some(i),
            _ => None,
        }
    };

    let inv = invite().await.unwrap();
    assert_eq!(
        bob.cancel_invitation(&inv.id).await.unwrap_err().code(),
        Some("not_inviter")
    );
    bob.decline_invitation(&inv.id).await.unwrap();
    let declined = next(&mut on_alice, settled(InvitationState::Declined)).await;
    assert_eq!(declined.id, inv.id);
    assert_eq!(
        bob.accept_invitation(&inv.id, &AcceptInvitation::default())
            .await
            .unwrap_err()
            .code(),
        Some("invitation_declined")
    );

    let inv = invite().await.unwrap();
    alice.cancel_invitation(&inv.id).await.unwrap();
    assert_eq!(
        bob.invitation(&inv.id).await.unwrap().state,
        InvitationState::Cancelled
    );

    // Nobody answers: the housekeeping expires it and tells the inviter.
    let inv = invite().await.unwrap();
    let expired = next(&mut on_alice, settled(InvitationState::Expired)).await;
    assert_eq!(expired.id, inv.id);
    assert_eq!(
        bob.accept_invitation(&inv.id, &AcceptInvitation::default())
            .await
            .unwrap_err()
            .code(),
        Some("invitation_expired")
    );
    assert!(bob.ringing_invitations().await.unwrap().is_empty());
    // Outsiders learn nothing about it.
    let carol = w.phone("Carol", "+442079460003").await;
    assert_eq!(
        carol.invitation(&inv.id).await.unwrap_err().code(),
        Some("not_found")
    );
    w.stop().await;
}

#[tokio::test]
async fn a_call_only_one_app_reported_is_offered_to_the_other_numbers_devices() {
    use callside_client::proto::invitation::{AcceptInvitation, InvitationState};
    let w = world(|c| c.one_sided_after = Duration::from_millis(300)).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    let mut on_bob = Channel::connect(&bob).await.unwrap();
    next(&mut on_bob, |e| {
        matches!(e, Event::Ready { .. }).then_some(())
    })
    .await;
    let ringing = |e: Event| match e {
        Event::Invitation(i) if i.state == InvitationState::Pending => Some(i),
        _ => None,
    };

    // Alice's app reports the call; Bob's app does not (it was in the background, say).
    let status = alice
        .report_leg(&leg(ALICE, Some(BOB), Direction::Outgoing), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(status.state, LegState::Pending);
    // Alice's app saw the call answered (Bob picked up; his app just never said so).
    alice.answer_leg(&status.id).await.unwrap();
    let offer = next(&mut on_bob, ringing).await;
    assert!(offer.call, "offered because of the call");
    assert_eq!(offer.from.as_deref(), Some(ALICE));
    assert_eq!(offer.inviter_name, "Alice");
    let accepted = bob
        .accept_invitation(&offer.id, &AcceptInvitation::default())
        .await
        .unwrap();
    let key = accepted.session.unwrap();
    // Alice's leg is matched into that session, as if Bob's app had reported the call.
    let settled = alice
        .wait_leg(&status.id, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(settled.state, LegState::Matched);
    assert_eq!(settled.session.unwrap().key, key);
    // The session knows the call was answered, as if both apps had reported it.
    assert_eq!(
        alice.session(&key).await.unwrap().call,
        callside_client::proto::session::CallState::Answered
    );
    alice.send_text(&key, "here is the menu").await.unwrap();

    // Next call: Bob's app reports late after all, and pairs normally; the offer is withdrawn.
    alice
        .report_leg(&leg(ALICE, Some(BOB), Direction::Outgoing), Duration::ZERO)
        .await
        .unwrap();
    let offer = next(&mut on_bob, ringing).await;
    assert_eq!(offer.state, InvitationState::Pending);
    let paired = bob
        .report_leg(&leg(BOB, Some(ALICE), Direction::Incoming), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(paired.state, LegState::Matched);
    let withdrawn = next(&mut on_bob, |e| match e {
        Event::Invitation(i) if i.id == offer.id && i.state != InvitationState::Pending => Some(i),
        _ => None,
    })
    .await;
    assert_eq!(withdrawn.state, InvitationState::Cancelled);
    assert_eq!(
        bob.accept_invitation(&offer.id, &AcceptInvitation::default())
            .await
            .unwrap_err()
            .code(),
        Some("invitation_cancelled")
    );
    w.stop().await;
}

#[tokio::test]
async fn cards_go_to_the_other_side_as_the_call_pairs_and_only_what_is_new() {
    use callside_client::proto::card::{
        Audience, Audiences, CardBody, FieldKind, FieldValue, NewCardField, PutCard,
    };
    let w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    let field = |id: &str, kind: FieldKind, v: &str| NewCardField {
        id: id.into(),
        kind,
        value: FieldValue::Text(v.into()),
        label: None,
    };
    let alice_card = |org: &str| PutCard {
        fields: vec![
            field("name", FieldKind::Name, "Alice Example"),
            field("org", FieldKind::Organization, org),
            field("birthday", FieldKind::Birthday, "--04-01"),
            field("phone.mobile", FieldKind::Phone, "+447400123456"),
        ],
    };
    alice.put_card(&alice_card("ACME")).await.unwrap();
    // Bob is a colleague: he gets the name and the organisation, not the rest.
    alice
        .put_audiences(&Audiences {
            audiences: vec![Audience {
                name: "work".into(),
                members: vec!["+4420794600".into()],
                fields: vec![FieldKind::Name, FieldKind::Organization],
            }],
            default_fields: vec![],
        })
        .await
        .unwrap();
    bob.put_card(&PutCard {
        fields: vec![field("name", FieldKind::Name, "Bob")],
    })
    .await
    .unwrap();
    let mut on_bob = Channel::connect(&bob).await.unwrap();
    let mut on_alice = Channel::connect(&alice).await.unwrap();
    let card_from = |from: String| {
        move |e: Event| match e {
            Event::Message(m) if m.kind == "card" && m.sender == from => {
                Some(serde_json::from_value::<CardBody>(m.body).unwrap())
            }
            _ => None,
        }
    };
    let alice_id = alice.me().await.unwrap().id;
    let bob_id = bob.me().await.unwrap().id;

    let call = |n: u32| {
        let (alice, bob) = (alice.clone(), bob.clone());
        async move {
            alice
                .report_leg(&leg(ALICE, Some(BOB), Direction::Outgoing), Duration::ZERO)
                .await
                .unwrap();
            let s = bob
                .report_leg(&leg(BOB, Some(ALICE), Direction::Incoming), Duration::ZERO)
                .await
                .unwrap();
            assert_eq!(s.state, LegState::Matched, "call {n}");
            s.session.unwrap().key
        }
    };
    let key = call(1).await;
    let got = next(&mut on_bob, card_from(alice_id.clone())).await;
    let ids: Vec<&str> = got.fields.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["name", "org"], "only what the work audience may see");
    assert_eq!(got.display.name.as_deref(), Some("Alice Example"));
    assert!(got.display.replace_number);
    let back = next(&mut on_alice, card_from(bob_id.clone())).await;
    assert_eq!(back.fields.len(), 1, "Bob's default audience: the name");
    let log = alice
        .messages(&key, callside_client::MessageQuery::default())
        .await
        .unwrap();
    assert_eq!(log.messages.iter().filter(|m| m.kind == "card").count(), 2);

    // A second call: both already have everything, so nothing is sent on it (checked below).
    let key2 = call(2).await;

    // Alice changes her organisation: the next call carries only that field, version 2.
    alice.put_card(&alice_card("ACME Ltd")).await.unwrap();
    let key3 = call(3).await;
    let got = next(&mut on_bob, card_from(alice_id.clone())).await;
    assert_eq!(got.fields.len(), 1);
    assert_eq!(
        (got.fields[0].id.as_str(), got.fields[0].version),
        ("org", 2)
    );
    // Over calls 2 and 3 together (whenever the task got to call 2), exactly that one field
    // went out: the ledger kept everything else from being sent again.
    let mut sent = Vec::new();
    for k in [&key2, &key3] {
        for m in bob
            .messages(k, callside_client::MessageQuery::default())
            .await
            .unwrap()
            .messages
        {
            if m.kind == "card" && m.sender == alice_id {
                let body: CardBody = serde_json::from_value(m.body).unwrap();
                sent.extend(body.fields.into_iter().map(|f| (f.id, f.version)));
            }
        }
    }
    assert_eq!(sent, [("org".to_owned(), 2)]);
    // A client cannot forge a card message.
    let err = alice
        .send_message(
            &key,
            &callside_client::proto::message::SendMessage {
                id: "forged".into(),
                kind: "card".into(),
                body: serde_json::json!({}),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_message"));
    w.stop().await;
}

#[tokio::test]
async fn locations_are_pushed_pulled_and_unanswered_requests_end_as_not_possible() {
    use callside_client::proto::message::{LocationBody, SendMessage, SystemLocationBody};
    let w = world(|_| {}).await;
    let (alice, bob, key) = paired(&w).await;
    let mut on_alice = Channel::connect(&alice).await.unwrap();
    let mut on_bob = Channel::connect(&bob).await.unwrap();
    let send = |c: &Client, id: &str, kind: &str, body: serde_json::Value| {
        let (c, key) = (c.clone(), key.clone());
        let msg = SendMessage {
            id: id.into(),
            kind: kind.into(),
            body,
        };
        async move { c.send_message(&key, &msg).await }
    };
    // A push: Bob sees Alice's position, with a map link (RFC 5870) added by the server.
    send(
        &alice,
        "l1",
        "location",
        serde_json::json!({"lat": 51.5007, "lon": -0.1246, "accuracy_m": 20.0}),
    )
    .await
    .unwrap();
    let got = next(&mut on_bob, |e| match e {
        Event::Message(m) if m.kind == "location" => {
            Some(serde_json::from_value::<LocationBody>(m.body).unwrap())
        }
        _ => None,
    })
    .await;
    assert_eq!(got.geo.as_deref(), Some("geo:51.5007,-0.1246;u=20"));
    // Nonsense is refused.
    for bad in [
        serde_json::json!({"lat": 91.0, "lon": 0.0}),
        serde_json::json!({"lat": 0.0}),
        serde_json::json!({"lat": 0.0, "lon": 0.0, "accuracy_m": -1.0}),
    ] {
        let err = send(&alice, "bad", "location", bad.clone())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("invalid_message"), "{bad}");
    }
    let err = send(
        &alice,
        "bad2",
        "location/request",
        serde_json::json!({"request": "r", "timeout_secs": 1}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some("invalid_message"));

    // A pull that is answered, then one that is not: that one ends as `not_possible`.
    send(
        &alice,
        "q1",
        "location/request",
        serde_json::json!({"request": "where-1", "timeout_secs": 5}),
    )
    .await
    .unwrap();
    send(
        &bob,
        "a1",
        "location",
        serde_json::json!({"lat": 48.8584, "lon": 2.2945, "request": "where-1"}),
    )
    .await
    .unwrap();
    send(
        &alice,
        "q2",
        "location/request",
        serde_json::json!({"request": "where-2", "timeout_secs": 5}),
    )
    .await
    .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Some(Event::Message(m)) = on_alice.next_event().await {
                if m.kind == "system/location" {
                    return serde_json::from_value::<SystemLocationBody>(m.body).unwrap();
                }
            }
        }
    })
    .await
    .expect("system/location within 15 s");
    assert_eq!(
        (ended.request.as_str(), ended.state.as_str()),
        ("where-2", "not_possible")
    );
    let log = alice
        .messages(&key, callside_client::MessageQuery::default())
        .await
        .unwrap();
    let ended_requests: Vec<String> = log
        .messages
        .iter()
        .filter(|m| m.kind == "system/location")
        .map(|m| m.body["request"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ended_requests,
        ["where-2"],
        "the answered request did not time out"
    );
    w.stop().await;
}

#[tokio::test]
async fn composer_data_rings_with_the_call_and_a_note_follows_a_missed_one() {
    use callside_client::proto::call::{CallNoteKind, Composer, Importance, Place, PostCallNote};
    let w = world(|c| c.match_window = Duration::from_secs(1)).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    let mut on_bob = Channel::connect(&bob).await.unwrap();
    next(&mut on_bob, |e| {
        matches!(e, Event::Ready { .. }).then_some(())
    })
    .await;
    // A PNG of one pixel as the picture.
    let png: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R', 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89,
    ];
    let picture = alice.upload_bytes(png.to_vec()).await.unwrap().id;
    let composer = Composer {
        subject: Some("Your parcel is at the door".into()),
        importance: Importance::Urgent,
        picture: Some(picture.clone()),
        location: Some(Place {
            lat: 51.5007,
            lon: -0.1246,
            accuracy_m: None,
        }),
    };
    // Bad composer data is refused, and no leg is left behind.
    let mut bad = leg(ALICE, Some(BOB), Direction::Outgoing);
    bad.composer = Some(Composer {
        subject: Some("x".repeat(61)),
        ..composer.clone()
    });
    let err = alice.report_leg(&bad, Duration::ZERO).await.unwrap_err();
    assert_eq!(err.code(), Some("invalid_composer"));

    let mut call = leg(ALICE, Some(BOB), Direction::Outgoing);
    call.composer = Some(composer.clone());
    let status = alice.report_leg(&call, Duration::ZERO).await.unwrap();
    assert_eq!(status.state, LegState::Pending);
    // Bob's phone shows it while it rings, and may fetch the picture.
    let rang = next(&mut on_bob, |e| match e {
        Event::CallNote(n) => Some(n),
        _ => None,
    })
    .await;
    assert_eq!(rang.kind, CallNoteKind::Composer);
    assert_eq!(rang.composer.as_ref(), Some(&composer));
    assert_eq!(
        (rang.from.as_str(), rang.from_name.as_str()),
        (ALICE, "Alice")
    );
    assert_eq!(bob.download_bytes(&picture).await.unwrap().as_ref(), png);
    // Bob never answers: the leg ends without a session, and Alice leaves a note.
    let ended = alice
        .wait_leg(&status.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(ended.state, LegState::NoMatch);
    let note = alice
        .leave_note(
            &status.id,
            &PostCallNote {
                text: Some("Left it with your neighbour".into()),
                picture: None,
            },
        )
        .await
        .unwrap();
    let got = next(&mut on_bob, |e| match e {
        Event::CallNote(n) if n.kind == CallNoteKind::Note => Some(n),
        _ => None,
    })
    .await;
    assert_eq!(got.id, note.id);
    // Both are in Bob's call log, newest first; not in Alice's.
    let log = bob.call_log().await.unwrap();
    let kinds: Vec<CallNoteKind> = log.notes.iter().map(|n| n.kind).collect();
    assert_eq!(kinds, [CallNoteKind::Note, CallNoteKind::Composer]);
    assert!(alice.call_log().await.unwrap().notes.is_empty());
    // A note goes only with an unanswered call of one's own.
    let err = bob
        .leave_note(
            &status.id,
            &PostCallNote {
                text: Some("not mine".into()),
                picture: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
    w.stop().await;
}

/// A call, then how many of Alice's cards are on its log once Bob's card has reached Alice (the
/// delivery task handles Alice's card first).
async fn call_cards(
    alice: &Client,
    bob: &Client,
    on_alice: &mut Channel,
    alice_id: &str,
    bob_id: &str,
) -> usize {
    let key = pair(alice, bob).await;
    next(on_alice, |e| match e {
        Event::Message(m) if m.kind == "card" && m.sender == bob_id && m.session == key => Some(()),
        _ => None,
    })
    .await;
    bob.messages(&key, callside_client::MessageQuery::default())
        .await
        .unwrap()
        .messages
        .into_iter()
        .filter(|m| m.kind == "card" && m.sender == alice_id)
        .count()
}

#[tokio::test]
async fn receiving_policies_keep_blocked_cards_off_the_line() {
    use callside_client::proto::card::{
        ContactPolicy, ContactRule, FieldKind, FieldValue, NewCardField, PutCard, ReceivePolicy,
    };
    let w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    for (c, name) in [(&alice, "Alice"), (&bob, "Bob")] {
        c.put_card(&PutCard {
            fields: vec![NewCardField {
                id: "name".into(),
                kind: FieldKind::Name,
                value: FieldValue::Text(name.into()),
                label: None,
            }],
        })
        .await
        .unwrap();
    }
    let mut on_alice = Channel::connect(&alice).await.unwrap();
    let alice_id = alice.me().await.unwrap().id;
    let bob_id = bob.me().await.unwrap().id;
    let policy = |rule: Option<ContactPolicy>| ReceivePolicy {
        known_only: false,
        contacts: rule
            .map(|policy| ContactRule {
                number: "+44 20 7946 0001".into(),
                policy,
            })
            .into_iter()
            .collect(),
    };
    bob.put_card_policy(&policy(Some(ContactPolicy::Block)))
        .await
        .unwrap();
    // (Bob's card still goes to Alice: her policy accepts everyone.)
    assert_eq!(
        call_cards(&alice, &bob, &mut on_alice, &alice_id, &bob_id).await,
        0,
        "blocked"
    );
    // Bob changes his card so it is new again for Alice's next call.
    bob.put_card(&PutCard {
        fields: vec![NewCardField {
            id: "name".into(),
            kind: FieldKind::Name,
            value: FieldValue::Text("Bob J".into()),
            label: None,
        }],
    })
    .await
    .unwrap();
    bob.put_card_policy(&policy(Some(ContactPolicy::Once)))
        .await
        .unwrap();
    assert_eq!(
        call_cards(&alice, &bob, &mut on_alice, &alice_id, &bob_id).await,
        1,
        "accepted once"
    );
    assert!(
        bob.card_policy().await.unwrap().contacts.is_empty(),
        "the `once` rule is used up"
    );
    // Known contacts only: Alice is not one.
    bob.put_card(&PutCard {
        fields: vec![NewCardField {
            id: "name".into(),
            kind: FieldKind::Name,
            value: FieldValue::Text("Bob Jones".into()),
            label: None,
        }],
    })
    .await
    .unwrap();
    alice
        .put_card(&PutCard {
            fields: vec![NewCardField {
                id: "name".into(),
                kind: FieldKind::Name,
                value: FieldValue::Text("Alice E".into()),
                label: None,
            }],
        })
        .await
        .unwrap();
    let mut known_only = policy(None);
    known_only.known_only = true;
    bob.put_card_policy(&known_only).await.unwrap();
    assert_eq!(
        call_cards(&alice, &bob, &mut on_alice, &alice_id, &bob_id).await,
        0,
        "not a known contact"
    );
    w.stop().await;
}

#[tokio::test]
async fn signed_caller_data_verifies_on_the_callee_and_tampering_shows() {
    use callside_client::proto::admin::{CreateServiceAccount, Scope};
    use callside_client::proto::rcd::SignCallerData;
    let logo: &'static [u8] = b"\x89PNG\r\n\x1a\n-a-logo";
    let router = axum::Router::new().route(
        "/logo.png",
        axum::routing::get(move || async move { ([("content-type", "image/png")], logo) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let logo_url = format!("http://{}/logo.png", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    // (A test on one machine: the logo is on loopback.)
    let w = world(|c| c.cards_allow_private_urls = true).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    let account = w
        .admin
        .create_service_account(&CreateServiceAccount {
            name: "ACME".into(),
            scopes: vec![Scope::CallerData],
            ranges: vec!["+4420794600".into()],
        })
        .await
        .unwrap();
    let business = Client::new(&w.base, &account.token).unwrap();
    let data = |dest: &str| SignCallerData {
        orig: ALICE.into(),
        dest: vec![dest.into()],
        name: "ACME Deliveries".into(),
        logo: Some(logo_url.clone()),
        reason: Some("Your parcel A-1042".into()),
        jcard: None,
    };
    let signed = business.sign_caller_data(&data(BOB)).await.unwrap();
    // Only a caller_data account, for numbers in its ranges.
    assert_eq!(
        alice.sign_caller_data(&data(BOB)).await.unwrap_err().code(),
        Some("may_not_sign")
    );
    let mut elsewhere = data(BOB);
    elsewhere.orig = "+12125550123".into();
    assert_eq!(
        business
            .sign_caller_data(&elsewhere)
            .await
            .unwrap_err()
            .code(),
        Some("may_not_sign")
    );
    // A PASSporT must name the call it goes with.
    let other = business
        .sign_caller_data(&data("+442079460003"))
        .await
        .unwrap();
    let mut wrong = leg(ALICE, Some(BOB), Direction::Outgoing);
    wrong.passport = Some(other.passport);
    assert_eq!(
        alice
            .report_leg(&wrong, Duration::ZERO)
            .await
            .unwrap_err()
            .code(),
        Some("invalid_caller_data")
    );

    let mut on_bob = Channel::connect(&bob).await.unwrap();
    let mut call = leg(ALICE, Some(BOB), Direction::Outgoing);
    call.passport = Some(signed.passport.clone());
    alice.report_leg(&call, Duration::ZERO).await.unwrap();
    let rang = next(&mut on_bob, |e| match e {
        Event::CallNote(n) => Some(n),
        _ => None,
    })
    .await;
    let passport = rang.passport.expect("the caller data rings with the call");
    // Bob's app checks it against the server's published keys.
    let jwks = bob.jwks().await.unwrap();
    let claims = callside_client::rcd::verify(&passport, &jwks).unwrap();
    assert_eq!(claims.rcd.nam, "ACME Deliveries");
    assert_eq!(claims.rcd.crn.as_deref(), Some("Your parcel A-1042"));
    assert_eq!(
        (claims.orig.tn.as_str(), claims.dest.tn[0].as_str()),
        (ALICE, BOB)
    );
    assert!(callside_client::rcd::logo_matches(&claims, logo));
    assert!(!callside_client::rcd::logo_matches(
        &claims,
        b"another logo"
    ));
    // Altered claims or another key's set do not verify.
    let mut parts: Vec<String> = passport.split('.').map(str::to_owned).collect();
    let mut forged = claims.clone();
    forged.rcd.nam = "Your Bank".into();
    use base64::Engine as _;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_string(&forged).unwrap());
    assert!(callside_client::rcd::verify(&parts.join("."), &jwks).is_err());
    assert!(callside_client::rcd::verify(&passport, r#"{"keys": []}"#).is_err());
    w.stop().await;
}

#[tokio::test]
async fn app_objects_are_relayed_and_a_signed_transformer_adds_derived_data() {
    const SECRET: &str = "a-shared-secret-for-tests";
    // The operator's transformer: checks the signature, answers with derived data.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<bool>();
    let router = axum::Router::new().route(
        "/transform",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let seen_tx = seen_tx.clone();
            async move {
                let ok = signed(&headers, &body, SECRET);
                seen_tx.send(ok).unwrap();
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                let order = v["body"]["order"].as_str().unwrap_or("?").to_owned();
                axum::Json(serde_json::json!({"order": order, "eta": "12:40", "signed": ok}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/transform", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let w = world(move |c| {
        c.transformers
            .insert("order-status".into(), (url.clone(), SECRET.into()));
    })
    .await;
    let (alice, bob, key) = paired(&w).await;
    let mut on_bob = Channel::connect(&bob).await.unwrap();
    let send = |kind: &str, body: serde_json::Value| callside_client::proto::message::SendMessage {
        id: callside_client::new_message_id(),
        kind: kind.into(),
        body,
    };
    alice
        .send_message(
            &key,
            &send("app/order-status", serde_json::json!({"order": "A-1042"})),
        )
        .await
        .unwrap();
    // An app object without a transformer is only relayed.
    alice
        .send_message(&key, &send("app/other", serde_json::json!({"x": 1})))
        .await
        .unwrap();
    assert!(
        seen.recv().await.unwrap(),
        "the webhook got a valid signature"
    );
    let derived = next(&mut on_bob, |e| match e {
        Event::Message(m) if m.kind == "derived/order-status" => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(derived.sender, "system");
    assert_eq!(derived.body["data"]["eta"], "12:40");
    assert_eq!(derived.body["data"]["order"], "A-1042");
    let log = bob
        .messages(&key, callside_client::MessageQuery::default())
        .await
        .unwrap()
        .messages;
    let source = log.iter().find(|m| m.kind == "app/order-status").unwrap();
    assert_eq!(
        derived.body["source"], source.seq,
        "it names the message it came from"
    );
    assert!(log.iter().any(|m| m.kind == "app/other"));
    assert_eq!(
        log.iter()
            .filter(|m| m.kind.starts_with("derived/"))
            .count(),
        1
    );
    // Clients cannot write derived data themselves.
    let err = alice
        .send_message(&key, &send("derived/order-status", serde_json::json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_message"));
    w.stop().await;
}

#[tokio::test]
async fn a_device_that_lost_its_cache_gets_the_card_again() {
    use callside_client::proto::card::{CardCache, FieldKind, FieldValue, NewCardField, PutCard};
    let w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    for (c, name) in [(&alice, "Alice"), (&bob, "Bob")] {
        c.put_card(&PutCard {
            fields: vec![NewCardField {
                id: "name".into(),
                kind: FieldKind::Name,
                value: FieldValue::Text(name.into()),
                label: None,
            }],
        })
        .await
        .unwrap();
    }
    let mut on_alice = Channel::connect(&alice).await.unwrap();
    let (alice_id, bob_id) = (alice.me().await.unwrap().id, bob.me().await.unwrap().id);
    let cleared = |sender: &str| CardCache {
        sender: sender.into(),
        fields: Default::default(),
    };
    assert_eq!(
        call_cards(&alice, &bob, &mut on_alice, &alice_id, &bob_id).await,
        1
    );
    // Both apps were reinstalled: they say their caches are empty, so the next call carries both
    // cards again (Alice's reset makes Bob's card reach her, which the helper waits for).
    bob.report_card_cache(&cleared(&alice_id)).await.unwrap();
    alice.report_card_cache(&cleared(&bob_id)).await.unwrap();
    assert_eq!(
        call_cards(&alice, &bob, &mut on_alice, &alice_id, &bob_id).await,
        1
    );
    // Saying it holds the current version stops the resend.
    bob.report_card_cache(&CardCache {
        sender: alice_id.clone(),
        fields: [("name".to_owned(), 1)].into_iter().collect(),
    })
    .await
    .unwrap();
    alice.report_card_cache(&cleared(&bob_id)).await.unwrap();
    assert_eq!(
        call_cards(&alice, &bob, &mut on_alice, &alice_id, &bob_id).await,
        0
    );
    let err = bob
        .report_card_cache(&cleared("dev_nobody"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
    w.stop().await;
}

/// Whether a webhook request carries callside's signature (`X-Callside-Signature: t=..,v1=..`,
/// HMAC-SHA256 of "<t>.<body>"), checked here independently of the server's code.
fn signed(headers: &axum::http::HeaderMap, body: &str, secret: &str) -> bool {
    use hmac::{Hmac, Mac};
    let Some(sig) = headers
        .get("x-callside-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((t, v1)) = sig.split_once(",v1=") else {
        return false;
    };
    let t = t.strip_prefix("t=").unwrap_or_default();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    want == v1
}

fn put_component(
    name: &str,
    version: &str,
    authorization: bool,
) -> callside_client::proto::component::PutComponent {
    callside_client::proto::component::PutComponent {
        name: name.into(),
        version: version.into(),
        url: format!("https://apps.example.com/{name}"),
        sha256: None,
        authorization,
    }
}

#[tokio::test]
async fn components_are_offered_after_a_capability_check_and_confirmed_installed() {
    use callside_client::proto::component::{Capabilities, InstalledComponent};
    let w = world(|_| {}).await;
    // The operator's catalogue; bad entries change nothing.
    w.admin
        .put_component("com.example.menu", &put_component("menu", "1.1", false))
        .await
        .unwrap();
    w.admin
        .put_component("com.example.film", &put_component("film", "2", true))
        .await
        .unwrap();
    let mut bad = put_component("menu", "1.2", false);
    bad.url = "ftp://apps.example.com/menu".into();
    let err = w
        .admin
        .put_component("com.example.menu", &bad)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_component"));
    // Plain http needs the download's digest.
    bad.url = "http://apps.example.com/menu".into();
    let err = w
        .admin
        .put_component("com.example.menu", &bad)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_component"));
    bad.sha256 = Some("ab".repeat(32));
    w.admin
        .put_component("com.example.plain", &bad)
        .await
        .unwrap();
    w.admin.delete_component("com.example.plain").await.unwrap();
    let err = w
        .admin
        .delete_component("com.example.plain")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
    let err = w
        .admin
        .put_component("Not An Id", &put_component("x", "1", false))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_component"));
    assert_eq!(
        w.admin.component("com.example.menu").await.unwrap().version,
        "1.1"
    );

    let (alice, bob, key) = paired(&w).await;
    let err = alice
        .put_component("com.example.menu", &put_component("mine", "9", false))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("admin_only"));
    assert_eq!(alice.components().await.unwrap().components.len(), 2);
    // Bob's app declares what it can do: share its position, and an old version of the menu.
    let declared = bob
        .declare_capabilities(&Capabilities {
            features: vec!["location.share".into()],
            components: vec![InstalledComponent {
                id: "com.example.menu".into(),
                version: "1.0".into(),
            }],
        })
        .await
        .unwrap();
    assert_eq!(declared.features, vec!["location.share"]);
    let err = bob
        .declare_capabilities(&Capabilities {
            features: vec!["Bad Feature".into()],
            components: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_component"));
    assert_eq!(bob.capabilities().await.unwrap(), declared, "unchanged");

    // Capability check by registry: Alice sees Bob's declaration; Bob sees Alice declared nothing.
    let seen = alice.session_capabilities(&key).await.unwrap();
    assert_eq!(seen.participants.len(), 1);
    assert!(seen.participants[0].declared);
    assert_eq!(seen.participants[0].number.as_deref(), Some(BOB));
    assert_eq!(seen.participants[0].features, vec!["location.share"]);
    let seen = bob.session_capabilities(&key).await.unwrap();
    assert!(!seen.participants[0].declared);

    // Alice offers the menu: Bob has 1.0, the catalogue 1.1, so Bob needs to install it.
    let bob_id = bob.me().await.unwrap().id;
    let mut on_alice = Channel::connect(&alice).await.unwrap();
    let mut on_bob = Channel::connect(&bob).await.unwrap();
    let offer = alice
        .offer_component(&key, "com.example.menu", None)
        .await
        .unwrap();
    assert_eq!(offer.state, "offered");
    assert_eq!(offer.needs_install, vec![bob_id.clone()]);
    let m = next(&mut on_bob, |e| match e {
        Event::Message(m) if m.kind == "system/component" => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(Some(m.seq), offer.seq);
    assert_eq!(m.body["component"]["url"], "https://apps.example.com/menu");
    assert_eq!(m.body["component"]["version"], "1.1");
    assert!(m.body.get("authorization").is_none());
    // Bob installs it and confirms: Alice hears of it, and the registry knows.
    bob.confirm_installed(&key, "com.example.menu", "1.1")
        .await
        .unwrap();
    let m = next(&mut on_alice, |e| match e {
        Event::Message(m) if m.kind == "system/component_installed" => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(m.body["by"], bob_id.as_str());
    assert_eq!(m.body["version"], "1.1");
    let again = alice
        .offer_component(&key, "com.example.menu", None)
        .await
        .unwrap();
    assert_eq!(again.installed, vec![bob_id.clone()]);
    assert!(again.needs_install.is_empty());
    assert!(bob.capabilities().await.unwrap().features == vec!["location.share"]);

    // Bad offers: unknown component, a stranger, a component needing an authorization server
    // this deployment lacks.
    let err = alice
        .offer_component(&key, "com.example.nothing", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
    let carol = w.phone("Carol", "+442079460003").await;
    let err = carol
        .offer_component(&key, "com.example.menu", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_participant"));
    let err = alice
        .offer_component(&key, "com.example.film", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("authorization_unavailable"));

    // Capability check by query: Bob's app answers; an unanswered query ends in `no_answer`.
    let send = |kind: &str, body: serde_json::Value| callside_client::proto::message::SendMessage {
        id: callside_client::new_message_id(),
        kind: kind.into(),
        body,
    };
    let err = alice
        .send_message(
            &key,
            &send("capability/query", serde_json::json!({"request": "q0"})),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_message"), "asks for nothing");
    alice
        .send_message(
            &key,
            &send(
                "capability/query",
                serde_json::json!({"request": "q1", "features": ["location.share"], "timeout_secs": 5}),
            ),
        )
        .await
        .unwrap();
    let q = next(&mut on_bob, |e| match e {
        Event::Message(m) if m.kind == "capability/query" => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(q.body["features"][0], "location.share");
    bob.send_message(
        &key,
        &send(
            "capability/answer",
            serde_json::json!({"request": "q1", "features": ["location.share"]}),
        ),
    )
    .await
    .unwrap();
    alice
        .send_message(
            &key,
            &send(
                "capability/query",
                serde_json::json!({"request": "q2", "components": ["org.maps"], "timeout_secs": 5}),
            ),
        )
        .await
        .unwrap();
    let answer = next(&mut on_alice, |e| match e {
        Event::Message(m) if m.kind == "capability/answer" => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(answer.body["request"], "q1");
    let none = next(&mut on_alice, |e| match e {
        Event::Message(m) if m.kind == "system/capability" => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(none.body["request"], "q2", "only the unanswered query");
    assert_eq!(none.body["state"], "no_answer");
    w.stop().await;
}

#[tokio::test]
async fn component_offers_are_rate_limited_per_requester_and_a_refused_one_appends_nothing() {
    let w = world(|_| {}).await;
    w.admin
        .put_component("com.example.menu", &put_component("menu", "1.1", false))
        .await
        .unwrap();
    let (alice, bob, key) = paired(&w).await;
    // A burst of 30 a minute passes (each may call the authorization server)...
    let mut last = None;
    for _ in 0..30 {
        let offer = alice
            .offer_component(&key, "com.example.menu", None)
            .await
            .unwrap();
        assert_eq!(offer.state, "offered");
        last = offer.seq;
    }
    // ...the next is refused with a retry time, and appends nothing to the session.
    let err = alice
        .offer_component(&key, "com.example.menu", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("rate_limited"));
    assert_eq!(err.status(), Some(429));
    // The limit is Alice's, not the session's: Bob's offer goes through, next in sequence.
    let offer = bob
        .offer_component(&key, "com.example.menu", None)
        .await
        .unwrap();
    assert_eq!(offer.seq, last.map(|s| s + 1));
}

#[tokio::test]
async fn a_paid_component_needs_consent_and_carries_a_purchase_token_the_peer_verifies() {
    use callside_client::components::{verify_purchase, Expect};
    use callside_client::proto::component::Fee;
    const SECRET: &str = "an-authorization-secret";
    // The authorization server: a copyright fee for the film; it refuses the concert.
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<(bool, serde_json::Value)>();
    let router = axum::Router::new().route(
        "/authorize",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let seen_tx = seen_tx.clone();
            async move {
                let ok = signed(&headers, &body, SECRET);
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                seen_tx.send((ok, v.clone())).unwrap();
                let answer = match (v["type"].as_str(), v["component"]["id"].as_str()) {
                    (Some("requirement"), _) => serde_json::json!({
                        "required": true,
                        "fee": {"amount": "2.50", "currency": "GBP"},
                        "description": "A copyright fee of 2.50 GBP",
                    }),
                    (Some("grant"), Some("com.example.film")) if ok => {
                        serde_json::json!({"granted": true, "reference": "pay-1"})
                    }
                    _ => serde_json::json!({"granted": false, "reason": "no licence"}),
                };
                axum::Json(answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/authorize", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let w = world(move |c| c.authorization = Some((url.clone(), SECRET.into()))).await;
    for (id, name) in [
        ("com.example.film", "film"),
        ("com.example.concert", "concert"),
    ] {
        w.admin
            .put_component(id, &put_component(name, "2", true))
            .await
            .unwrap();
    }
    let (alice, bob, key) = paired(&w).await;
    let (alice_id, bob_id) = (alice.me().await.unwrap().id, bob.me().await.unwrap().id);
    let mut on_bob = Channel::connect(&bob).await.unwrap();

    // The first offer states the fee and sends nothing.
    let offer = alice
        .offer_component(&key, "com.example.film", None)
        .await
        .unwrap();
    assert_eq!(offer.state, "consent_required");
    assert_eq!(
        offer.description.as_deref(),
        Some("A copyright fee of 2.50 GBP")
    );
    let fee = offer.fee.clone().unwrap();
    assert_eq!(
        (fee.amount.as_str(), fee.currency.as_str()),
        ("2.50", "GBP")
    );
    let (ok, asked) = seen.recv().await.unwrap();
    assert!(ok, "the webhook got a valid signature");
    assert_eq!(asked["type"], "requirement");
    assert_eq!(asked["requester"]["number"], ALICE);
    assert_eq!(asked["peers"][0]["number"], BOB);
    // Consent to another amount is refused; so is a malformed one.
    let err = alice
        .offer_component(
            &key,
            "com.example.film",
            Some(Fee {
                amount: "2.00".into(),
                currency: "GBP".into(),
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("fee_changed"));
    let err = alice
        .offer_component(
            &key,
            "com.example.film",
            Some(Fee {
                amount: "-1".into(),
                currency: "GBP".into(),
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("invalid_component"));
    let log = bob
        .messages(&key, callside_client::MessageQuery::default())
        .await
        .unwrap()
        .messages;
    assert!(
        !log.iter().any(|m| m.kind == "system/component"),
        "nothing offered without consent"
    );
    // Consent to the stated fee (however written): granted, charged, offered with a token.
    let offer = alice
        .offer_component(
            &key,
            "com.example.film",
            Some(Fee {
                amount: "2.5".into(),
                currency: "GBP".into(),
            }),
        )
        .await
        .unwrap();
    assert_eq!(offer.state, "offered");
    assert_eq!(offer.reference.as_deref(), Some("pay-1"));
    let m = next(&mut on_bob, |e| match e {
        Event::Message(m) if m.kind == "system/component" => Some(m),
        _ => None,
    })
    .await;
    let token = m.body["authorization"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwks = bob.jwks().await.unwrap();
    let expect = Expect {
        component: "com.example.film",
        session: &key,
        participant: &bob_id,
    };
    let claims = verify_purchase(&token, &jwks, expect).unwrap();
    assert_eq!(claims.payer, alice_id);
    assert_eq!(claims.fee.amount, "2.50");
    assert_eq!(claims.reference.as_deref(), Some("pay-1"));
    // The token is bound to its component, session and grantee, and to the server's key.
    for wrong in [
        Expect {
            component: "com.example.concert",
            ..expect
        },
        Expect {
            session: "sk_another_session",
            ..expect
        },
        Expect {
            participant: &alice_id,
            ..expect
        },
    ] {
        assert!(verify_purchase(&token, &jwks, wrong).is_err(), "{wrong:?}");
    }
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims.clone();
    forged.fee.amount = "0.01".into();
    use base64::Engine as _;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_string(&forged).unwrap());
    parts[1] = &forged;
    assert!(verify_purchase(&parts.join("."), &jwks, expect).is_err());
    assert!(verify_purchase(&token, r#"{"keys": []}"#, expect).is_err());
    assert!(
        callside_client::rcd::verify(&token, &jwks).is_err(),
        "a purchase token is no caller-data PASSporT"
    );
    // The operator can account for the charge.
    let audit = w.admin.audit_log(10).await.unwrap();
    assert!(audit
        .entries
        .iter()
        .any(|e| e.action == "purchase" && e.subject == "com.example.film"));
    // A refused grant is an error for the requester, and nothing is offered.
    let err = alice
        .offer_component(
            &key,
            "com.example.concert",
            Some(Fee {
                amount: "2.50".into(),
                currency: "GBP".into(),
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("authorization_refused"));
    let offers = bob
        .messages(&key, callside_client::MessageQuery::default())
        .await
        .unwrap()
        .messages
        .into_iter()
        .filter(|m| m.kind == "system/component")
        .count();
    assert_eq!(offers, 1, "only the granted film was offered");
    // A retried consent is the same purchase: the authorization server sees the same grant id.
    let mut grants = Vec::new();
    while let Ok((_, v)) = seen.try_recv() {
        if v["type"] == "grant" {
            grants.push(v["grant"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        grants.len(),
        2,
        "film, then the refused concert: {grants:?}"
    );
    alice
        .offer_component(
            &key,
            "com.example.film",
            Some(Fee {
                amount: "2.50".into(),
                currency: "GBP".into(),
            }),
        )
        .await
        .unwrap();
    let retried = loop {
        let (_, v) = seen.recv().await.unwrap();
        if v["type"] == "grant" {
            break v["grant"].as_str().unwrap().to_owned();
        }
    };
    assert_eq!(retried, grants[0]);
    assert_ne!(grants[0], grants[1]);
    // Paid components are not offered on invitations (no one could consent there).
    let leg = alice
        .report_leg(
            &leg(ALICE, Some("+442079460009"), Direction::Outgoing),
            Duration::ZERO,
        )
        .await
        .unwrap();
    let err = alice
        .offer_component_on_leg(&leg.id, "com.example.film")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("authorization_needs_session"));
    w.stop().await;
}

#[tokio::test]
async fn a_component_offered_on_a_one_sided_call_rings_the_other_devices_and_opens_the_session() {
    let w = world(|_| {}).await;
    w.admin
        .put_component("com.example.menu", &put_component("menu", "1.1", false))
        .await
        .unwrap();
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    // Only Alice's app reports the call; she offers the menu to the party she is speaking to.
    let leg = alice
        .report_leg(&leg(ALICE, Some(BOB), Direction::Outgoing), Duration::ZERO)
        .await
        .unwrap();
    let err = bob
        .offer_component_on_leg(&leg.id, "com.example.menu")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_found"), "not Bob's leg");
    let inv = alice
        .offer_component_on_leg(&leg.id, "com.example.menu")
        .await
        .unwrap();
    assert_eq!(inv.component.as_deref(), Some("com.example.menu"));
    assert_eq!(inv.devices, 1);
    let err = alice
        .offer_component_on_leg(&leg.id, "com.example.nothing")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_found"));
    // Offering again adds to the invitation already ringing instead of ringing twice.
    let again = alice
        .offer_component_on_leg(&leg.id, "com.example.menu")
        .await
        .unwrap();
    assert_eq!(again.id, inv.id);
    let ringing = bob.ringing_invitations().await.unwrap();
    assert_eq!(ringing.len(), 1);
    assert_eq!(ringing[0].component.as_deref(), Some("com.example.menu"));
    let accepted = bob
        .accept_invitation(&inv.id, &Default::default())
        .await
        .unwrap();
    let key = accepted.session.unwrap();
    let log = bob
        .messages(&key, callside_client::MessageQuery::default())
        .await
        .unwrap()
        .messages;
    let offer = log
        .iter()
        .find(|m| m.kind == "system/component")
        .expect("the session starts with the offer");
    assert_eq!(offer.body["by"], alice.me().await.unwrap().id.as_str());
    assert_eq!(offer.body["component"]["id"], "com.example.menu");
    w.stop().await;
}

#[tokio::test]
async fn a_card_received_in_a_call_is_a_temporary_entry_until_the_user_keeps_it() {
    use callside_client::contacts::{Decision, TemporaryContacts};
    use callside_client::proto::card::{
        ContactPolicy, FieldKind, FieldValue, NewCardField, PutCard,
    };
    let w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    alice
        .put_card(&PutCard {
            fields: vec![NewCardField {
                id: "name".into(),
                kind: FieldKind::Name,
                value: FieldValue::Text("Alice Liddell".into()),
                label: None,
            }],
        })
        .await
        .unwrap();
    let alice_id = alice.me().await.unwrap().id;
    let mut on_bob = Channel::connect(&bob).await.unwrap();
    let mut contacts = TemporaryContacts::default();
    let outgoing = alice
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
    // During the call Alice's card arrives and waits as a temporary entry.
    next(&mut on_bob, |e| {
        let due = contacts.observe(&e);
        assert!(due.is_empty(), "nothing to ask while the call lasts");
        matches!(e, Event::Message(m) if m.kind == "card").then_some(())
    })
    .await;
    let pending: Vec<_> = contacts.pending().cloned().collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].sender, alice_id);
    assert!(!pending[0].call_ended);
    // Alice hangs up: Bob's app is handed the entry to ask about.
    alice.end_leg(&outgoing.id).await.unwrap();
    let due = next(&mut on_bob, |e| {
        let due = contacts.observe(&e);
        (!due.is_empty()).then_some(due)
    })
    .await;
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].session, key);
    assert_eq!(due[0].display_name(), Some("Alice Liddell"));
    assert_eq!(due[0].number.as_deref(), Some(ALICE));
    // Bob keeps her as a known contact: the server's receiving policy says so from now on.
    let (kept, rule) = contacts
        .decide(&key, &alice_id, Decision::KeepAndAccept)
        .unwrap();
    assert_eq!(kept.fields.len(), 1);
    let policy = bob.apply_contact_rule(rule.unwrap()).await.unwrap();
    assert_eq!(policy.contacts.len(), 1);
    assert_eq!(policy.contacts[0].number, ALICE);
    assert_eq!(policy.contacts[0].policy, ContactPolicy::Always);
    assert_eq!(contacts.pending().count(), 0);
    w.stop().await;
}

#[tokio::test]
async fn cards_set_before_a_restart_are_still_delivered_and_deleted_ones_are_not() {
    use callside_client::proto::card::{FieldKind, FieldValue, NewCardField, PutCard};
    let mut w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    let carol = w.phone("Carol", "+442079460003").await;
    for (c, name) in [(&alice, "Alice"), (&carol, "Carol")] {
        c.put_card(&PutCard {
            fields: vec![NewCardField {
                id: "name".into(),
                kind: FieldKind::Name,
                value: FieldValue::Text(name.into()),
                label: None,
            }],
        })
        .await
        .unwrap();
    }
    // Carol takes her card back; after a restart the server knows who has a card from the store.
    carol.delete_card().await.unwrap();
    w.restart().await;
    let mut on_bob = Channel::connect(&bob).await.unwrap();
    // Carol calls Bob first: her session carries no card (Bob has none either).
    carol
        .report_leg(
            &leg("+442079460003", Some(BOB), Direction::Outgoing),
            Duration::ZERO,
        )
        .await
        .unwrap();
    let carols = bob
        .report_leg(
            &leg(BOB, Some("+442079460003"), Direction::Incoming),
            Duration::ZERO,
        )
        .await
        .unwrap()
        .session
        .unwrap()
        .key;
    // Then Alice: her card, set before the restart, arrives. Sessions are delivered in order,
    // so Carol's is done by then.
    let key = pair(&alice, &bob).await;
    let card = next(&mut on_bob, |e| match e {
        Event::Message(m) if m.kind == "card" && m.session == key => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(card.body["fields"][0]["value"], "Alice");
    let log = bob
        .messages(&carols, callside_client::MessageQuery::default())
        .await
        .unwrap()
        .messages;
    assert!(!log.iter().any(|m| m.kind == "card"), "{log:?}");
    w.stop().await;
}
