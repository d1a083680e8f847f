//! What rides on a session besides text: locations, composer data and notes, signed caller data, app objects and derived data.

use super::*;

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

/// Issue 17: calling one number again and again with composer data (report, withdraw, report…)
/// rings and wakes its devices only a few times an hour; the rest stay in the call log.
#[tokio::test]
async fn one_caller_rings_one_number_only_a_few_times_an_hour() {
    use callside_client::proto::call::{Composer, Importance};
    let w = world(|_| {}).await;
    let alice = w.phone("Alice", ALICE).await;
    let bob = w.phone("Bob", BOB).await;
    let carol = w.phone("Carol", "+442079460003").await;
    let mut on_bob = Channel::connect(&bob).await.unwrap();
    next(&mut on_bob, |e| {
        matches!(e, Event::Ready { .. }).then_some(())
    })
    .await;
    let call = |subject: &str| {
        let mut l = leg(ALICE, Some(BOB), Direction::Outgoing);
        l.composer = Some(Composer {
            subject: Some(subject.into()),
            importance: Importance::Normal,
            picture: None,
            location: None,
        });
        l
    };
    for i in 0..12 {
        let status = alice
            .report_leg(&call(&format!("try {i}")), Duration::ZERO)
            .await
            .unwrap();
        alice.end_leg(&status.id).await.unwrap();
    }
    // Another caller is not held up; once its ring arrives, every earlier one has too.
    let mut from_carol = leg("+442079460003", Some(BOB), Direction::Outgoing);
    from_carol.composer = call("Carol here").composer;
    carol.report_leg(&from_carol, Duration::ZERO).await.unwrap();
    let mut rang_from_alice = 0;
    loop {
        let note = next(&mut on_bob, |e| match e {
            Event::CallNote(n) => Some(n),
            _ => None,
        })
        .await;
        if note.from == "+442079460003" {
            break;
        }
        rang_from_alice += 1;
    }
    assert_eq!(rang_from_alice, 10, "rang at most 10 times from one caller");
    let log = bob.call_log().await.unwrap();
    assert_eq!(log.notes.len(), 13, "all are kept in the call log");
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
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<(bool, String)>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/transform", listener.local_addr().unwrap());
    let hook_url = url.clone();
    let router = axum::Router::new().route(
        "/transform",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let seen_tx = seen_tx.clone();
            let hook_url = hook_url.clone();
            async move {
                let ok = signed(&headers, &hook_url, &body, SECRET);
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                seen_tx
                    .send((ok, v["session"].as_str().unwrap_or_default().to_owned()))
                    .unwrap();
                let order = v["body"]["order"].as_str().unwrap_or("?").to_owned();
                axum::Json(serde_json::json!({"order": order, "eta": "12:40", "signed": ok}))
            }
        }),
    );
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
    let (ok, session) = seen.recv().await.unwrap();
    assert!(ok, "the webhook got a valid signature");
    // The transformer learns which session, never its key.
    assert!(
        !session.contains(&key) && !session.starts_with("sk_"),
        "{session}"
    );
    assert_eq!(session.len(), 43, "the key's SHA-256, base64url: {session}");
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
