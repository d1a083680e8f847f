//! Invitations: ringing every device, first accept wins, declining, cancelling, expiry, and one-sided calls offered to the other side.

use super::*;

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

/// Issue 17 (privacy): a participant invited into a running session hears, over its connection,
/// only what is sent from its joining on: not on joining, not when it asks to resume from the
/// start, not after reconnecting. Once the others share the history, a later joiner hears it.
#[tokio::test]
async fn a_joiner_hears_nothing_sent_before_it_joined_unless_the_history_is_shared() {
    use callside_client::proto::invitation::{AcceptInvitation, CreateInvitation};
    use callside_client::proto::session::History;
    let w = world(|_| {}).await;
    let (alice, bob, key) = paired(&w).await;
    let carol = w.phone("Carol", "+442079460003").await;
    let mut on_carol = Channel::connect(&carol).await.unwrap();
    next(&mut on_carol, |e| {
        matches!(e, Event::Ready { .. }).then_some(())
    })
    .await;
    alice.send_text(&key, "the old plan").await.unwrap();
    bob.send_text(&key, "keep it between us").await.unwrap();

    let invite_into = |to: &str| CreateInvitation {
        to: to.into(),
        from: None,
        session: Some(key.clone()),
        connection: None,
        component: None,
    };
    let inv = alice.invite(&invite_into("+442079460003")).await.unwrap();
    carol
        .accept_invitation(&inv.id, &AcceptInvitation::default())
        .await
        .unwrap();
    let first = message(&mut on_carol).await;
    assert_eq!(first.kind, "system/joined", "{first:?}");
    assert_eq!(first.seq, 3, "the two texts came first");
    // Asking to resume from the start replays from her joining, no earlier.
    on_carol.resume(&key, Some(0)).await.unwrap();
    let m = message(&mut on_carol).await;
    assert_eq!((m.seq, m.kind.as_str()), (3, "system/joined"), "{m:?}");
    alice.send_text(&key, "welcome, Carol").await.unwrap();
    let m = message(&mut on_carol).await;
    assert_eq!(m.body["text"], "welcome, Carol", "{m:?}");
    on_carol.close().await;
    // Nor after reconnecting with nothing acknowledged.
    let mut again = Channel::connect(&carol).await.unwrap();
    let m = message(&mut again).await;
    assert_eq!(m.kind, "system/joined", "{m:?}");
    let m = message(&mut again).await;
    assert_eq!(m.body["text"], "welcome, Carol", "{m:?}");
    again.close().await;

    // Alice and Bob share the history: Dave, joining next, hears it from the start.
    alice.set_history(&key, Some(History::Share)).await.unwrap();
    let dave = w.phone("Dave", "+442079460004").await;
    let mut on_dave = Channel::connect(&dave).await.unwrap();
    let inv = bob.invite(&invite_into("+442079460004")).await.unwrap();
    dave.accept_invitation(&inv.id, &AcceptInvitation::default())
        .await
        .unwrap();
    let m = message(&mut on_dave).await;
    assert_eq!(m.body["text"], "the old plan", "{m:?}");
    w.stop().await;
}
