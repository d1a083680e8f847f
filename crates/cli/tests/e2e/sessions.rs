//! Calls and the session channel: pairing, talking, files, reconnecting and resuming, restarts, idle closing, revocation, the raw WebSocket.

use super::*;

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
    async fn a_browser_opens_its_socket_with_a_ticket_once_and_unlinking_closes_it() {
        let w = world(|_| {}).await;
        let created = w.device("Alice", ALICE).await;
        let alice = Client::new(&w.base, &created.token).unwrap();
        let code = alice.create_browser_link().await.unwrap();
        let (browser, tokens) = Client::link_browser(&w.base, &code.code, Some("office PC"))
            .await
            .unwrap();
        let ws_url = format!("{}/v1/ws", w.base.replace("http://", "ws://"));

        // No token in the URL: a single-use ticket.
        let ticket = browser.ws_ticket().await.unwrap().ticket;
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("{ws_url}?ticket={ticket}"))
            .await
            .unwrap();
        let ready = frame(&mut ws).await;
        assert_eq!(
            (ready["type"].as_str(), ready["principal"].as_str()),
            (Some("ready"), Some(created.device.id.as_str()))
        );
        let again = tokio_tungstenite::connect_async(format!("{ws_url}?ticket={ticket}")).await;
        assert!(again.unwrap_err().to_string().contains("401"), "used once");
        let token_in_url = tokio_tungstenite::connect_async(format!(
            "{ws_url}?access_token={}",
            tokens.access_token
        ))
        .await;
        assert!(token_in_url.unwrap_err().to_string().contains("401"));

        // The phone's own socket stays when the browser is unlinked; the browser's closes.
        let mut phone = connect(&w, &created.token).await;
        assert_eq!(frame(&mut phone).await["type"], "ready");
        alice.unlink_browser(&tokens.browser.id).await.unwrap();
        let last = frame(&mut ws).await;
        assert_eq!(
            (last["type"].as_str(), last["code"].as_str()),
            (Some("error"), Some("token_revoked")),
            "{last}"
        );
        phone
            .send(Message::Text(r#"{"type":"ping","nonce":1}"#.into()))
            .await
            .unwrap();
        assert_eq!(frame(&mut phone).await["type"], "pong");
        assert!(
            browser.ws_ticket().await.is_err(),
            "its token no longer works"
        );
        w.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_device_holds_at_most_sixteen_sockets() {
        let w = world(|_| {}).await;
        let created = w.device("Alice", ALICE).await;
        let mut open = Vec::new();
        for _ in 0..16 {
            let mut ws = connect(&w, &created.token).await;
            assert_eq!(frame(&mut ws).await["type"], "ready");
            open.push(ws);
        }
        let url = format!("{}/v1/ws", w.base.replace("http://", "ws://"));
        let request = || {
            let mut req = url.clone().into_client_request().unwrap();
            req.headers_mut().insert(
                "authorization",
                format!("Bearer {}", created.token).parse().unwrap(),
            );
            req
        };
        let err = tokio_tungstenite::connect_async(request())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("429"), "{err}");
        // Another device is not held up, and closing one socket frees a place.
        let bob = w.device("Bob", BOB).await;
        let mut other = connect(&w, &bob.token).await;
        assert_eq!(frame(&mut other).await["type"], "ready");
        let mut first = open.remove(0);
        first.close(None).await.unwrap();
        drop(first);
        let mut reopened = None;
        for _ in 0..50 {
            if let Ok((ws, _)) = tokio_tungstenite::connect_async(request()).await {
                reopened = Some(ws);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut ws = reopened.expect("a place is free again once a socket closed");
        assert_eq!(frame(&mut ws).await["type"], "ready");
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

/// Legs reported over the devices' open sockets (`report` frames) pair as over HTTP; a bad
/// report is refused on the socket with the HTTP code and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legs_reported_over_the_socket_pair_and_a_bad_one_is_refused() {
    let w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    let mut alice_ch = Channel::connect(&alice).await.unwrap();
    let bob_ch = Channel::connect(&bob).await.unwrap();
    let bad = bob_ch
        .report_leg(&leg("+999", Some(ALICE), Direction::Incoming))
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, callside_client::Error::Refused { code, .. } if code == "invalid_number"),
        "{bad}"
    );
    let pending = alice_ch
        .report_leg(&leg(ALICE, Some(BOB), Direction::Outgoing))
        .await
        .unwrap();
    assert_eq!(pending.state, LegState::Pending);
    let matched = bob_ch
        .report_leg(&leg(BOB, Some(ALICE), Direction::Incoming))
        .await
        .unwrap();
    assert_eq!(matched.state, LegState::Matched);
    let key = matched.session.expect("a session").key;
    // Alice hears on the same socket that her leg matched, into the same session.
    let settled = next(&mut alice_ch, |e| match e {
        Event::Leg(l) if l.id == pending.id => Some(l),
        _ => None,
    })
    .await;
    assert_eq!(settled.state, LegState::Matched);
    assert_eq!(settled.session.unwrap().key, key);
    alice_ch.close().await;
    bob_ch.close().await;
    w.stop().await;
}
