//! Software components: catalogue, capability checks, offers, paid components, offers on one-sided calls.

use super::*;

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

    // One asker has at most 32 questions waiting; the 33rd is refused and appends nothing.
    let ask = |who: &Client, request: String| {
        let m = send(
            "capability/query",
            serde_json::json!({"request": request, "features": ["x"], "timeout_secs": 60}),
        );
        let (who, key) = (who.clone(), key.clone());
        async move { who.send_message(&key, &m).await }
    };
    let newest = || async {
        alice
            .messages(&key, callside_client::MessageQuery::default())
            .await
            .unwrap()
            .last_seq
    };
    for i in 0..32 {
        ask(&alice, format!("many{i}")).await.unwrap();
    }
    let before = newest().await;
    let err = ask(&alice, "one-too-many".into()).await.unwrap_err();
    assert_eq!(err.code(), Some("too_many_pending_requests"));
    assert_eq!(newest().await, before);
    // Bob is not held up by Alice's questions, and an answer frees a place for her.
    ask(&bob, "b1".into()).await.unwrap();
    bob.send_message(
        &key,
        &send(
            "capability/answer",
            serde_json::json!({"request": "many0", "features": []}),
        ),
    )
    .await
    .unwrap();
    ask(&alice, "one-more".into()).await.unwrap();
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/authorize", listener.local_addr().unwrap());
    let hook_url = url.clone();
    let router = axum::Router::new().route(
        "/authorize",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let seen_tx = seen_tx.clone();
            let hook_url = hook_url.clone();
            async move {
                let ok = signed(&headers, &hook_url, &body, SECRET);
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
