//! Cards: delivery as calls pair, audiences, the ledger, receiving policies, caches, temporary entries, restarts.

use super::*;

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

/// Issue 17 (privacy): the name shown in place of the number is a card field like any other, so
/// an audience that may not see names does not get it as the display name either.
#[tokio::test]
async fn a_card_shows_no_name_to_an_audience_that_may_not_see_names() {
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
    alice
        .put_card(&PutCard {
            fields: vec![
                field("name", FieldKind::Name, "Alice Example"),
                field("org", FieldKind::Organization, "ACME"),
            ],
        })
        .await
        .unwrap();
    // Bob's numbers see Alice's organisation only.
    alice
        .put_audiences(&Audiences {
            audiences: vec![Audience {
                name: "suppliers".into(),
                members: vec!["+4420794600".into()],
                fields: vec![FieldKind::Organization],
            }],
            default_fields: vec![],
        })
        .await
        .unwrap();
    let mut on_bob = Channel::connect(&bob).await.unwrap();
    let alice_id = alice.me().await.unwrap().id;
    pair(&alice, &bob).await;
    let got = next(&mut on_bob, |e| match e {
        Event::Message(m) if m.kind == "card" && m.sender == alice_id => {
            Some(serde_json::from_value::<CardBody>(m.body).unwrap())
        }
        _ => None,
    })
    .await;
    let ids: Vec<&str> = got.fields.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["org"]);
    assert_eq!(got.display.name, None, "the name is not Bob's to see");
    assert!(!got.display.replace_number);
    w.stop().await;
}
