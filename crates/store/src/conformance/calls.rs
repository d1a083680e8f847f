//! Legs.

use super::fixtures::*;
use super::Database;
use crate::{LegRecord, LegState, Write};
use callside_core::leg::{Direction, Leg, LegId};
use callside_core::session::Lifecycle;
use callside_core::{Millis, PrincipalId};

pub async fn pending_legs_come_back_in_report_order(db: &dyn Database) {
    let store = db.open().await;
    let leg = |id: &str, at: Millis| LegRecord {
        leg: Leg {
            id: LegId(id.into()),
            principal: PrincipalId("dev_a".into()),
            own: n("+442079460001"),
            other: None,
            direction: Direction::Incoming,
            call_ref: Some("r".into()),
            extension: None,
            conference_id: None,
            reported_at: at,
            expires_at: at + 100,
        },
        registry: Some("cs.example".into()),
        lifecycle: Some(Lifecycle::CloseWithCall),
        state: LegState::Pending,
        reason: None,
        session: None,
    };
    store
        .apply(vec![
            Write::Leg(leg("l2", 5)),
            Write::Leg(leg("l1", 3)),
            Write::Leg(leg("l3", 9)),
        ])
        .await
        .unwrap();
    store
        .apply(vec![Write::LegOutcome {
            id: LegId("l3".into()),
            state: LegState::NoMatch,
            reason: Some("expired".into()),
            session: None,
        }])
        .await
        .unwrap();
    let pending = store.pending_legs().await.unwrap();
    assert_eq!(pending, vec![leg("l1", 3), leg("l2", 5)]);
    let l3 = store.leg(LegId("l3".into())).await.unwrap().unwrap();
    assert_eq!(
        (l3.state, l3.reason.as_deref()),
        (LegState::NoMatch, Some("expired"))
    );
}

pub async fn call_notes_reach_a_number_only_from_when_the_device_owns_it(db: &dyn Database) {
    use crate::{CallNoteRecord, NumberSource};
    let store = db.open().await;
    seed(&store, &["a", "b"]).await;
    let to = n("+447400123456");
    let note = |id: &str, at: Millis| {
        Write::CallNote(CallNoteRecord {
            id: id.into(),
            kind: "note".into(),
            leg: LegId(format!("leg_{id}")),
            sender: PrincipalId("a".into()),
            sender_name: "a phone".into(),
            from: n("+442079460000"),
            to: to.clone(),
            body: "{}".into(),
            created_at: at,
        })
    };
    let bind = |at: Millis| Write::BindNumber {
        device: PrincipalId("b".into()),
        number: to.clone(),
        source: NumberSource::Sms,
        at,
        stale_before: None,
    };
    // A note to the number before b held it, then b proves it, then two more notes; b proves it
    // again later (a refresh), which does not make the first note b's.
    store.apply(vec![note("n1", 100)]).await.unwrap();
    store.apply(vec![bind(200)]).await.unwrap();
    store
        .apply(vec![note("n2", 300), note("n3", 300)])
        .await
        .unwrap();
    store.apply(vec![bind(400)]).await.unwrap();
    let ids = |notes: Vec<CallNoteRecord>| notes.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let b = PrincipalId("b".into());
    assert_eq!(
        ids(store.call_notes_for(b.clone(), 10).await.unwrap()),
        ["n3", "n2"],
        "newest first, ties by id, only since b owns the number"
    );
    assert_eq!(ids(store.call_notes_for(b, 1).await.unwrap()), ["n3"]);
    // a never owned that number: nothing.
    assert!(store
        .call_notes_for(PrincipalId("a".into()), 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn network_calls_end_once_and_follow_a_diversion(db: &dyn Database) {
    use crate::CallRecord;
    use callside_core::matching::CallId;
    use callside_core::session::CallState;
    use callside_core::{PhoneNumber, SessionKey};
    let store = db.open().await;
    seed(&store, &["svc_sip", "dev_a"]).await;
    let (first, second) = (SessionKey::generate(0), SessionKey::generate(1));
    let n = |s: &str| PhoneNumber::parse(s, None).unwrap();
    store
        .apply(vec![
            Write::Session(session(&first, &["dev_a"])),
            Write::Session(session(&second, &["dev_a"])),
        ])
        .await
        .unwrap();
    let mut call = CallRecord {
        id: CallId("call_1".into()),
        reporter: PrincipalId("svc_sip".into()),
        call_ref: "abc@proxy".into(),
        caller: n("+442079460001"),
        callee: n("+442079460002"),
        state: CallState::Ringing,
        session: first.clone(),
        diverted_to: None,
        created_at: 1,
        expires_at: 100,
    };
    store.apply(vec![Write::Call(call.clone())]).await.unwrap();
    let by_ref = |r: &str| store.call_by_ref(PrincipalId("svc_sip".into()), r.into());
    assert_eq!(by_ref("abc@proxy").await.unwrap(), Some(call.clone()));
    assert_eq!(by_ref("other").await.unwrap(), None);
    assert_eq!(
        store.call(call.id.clone()).await.unwrap(),
        Some(call.clone())
    );
    assert_eq!(store.call(CallId("call_2".into())).await.unwrap(), None);
    assert_eq!(store.live_calls().await.unwrap(), vec![call.clone()]);
    // Diverted: the call now points at the caller's session with the voicemail.
    call.session = second.clone();
    call.diverted_to = Some(n("+442079460900"));
    store.apply(vec![Write::Call(call.clone())]).await.unwrap();
    assert_eq!(by_ref("abc@proxy").await.unwrap(), Some(call.clone()));
    // Ended stays ended, whatever is written after.
    call.state = CallState::Ended;
    store.apply(vec![Write::Call(call.clone())]).await.unwrap();
    call.state = CallState::Answered;
    store.apply(vec![Write::Call(call.clone())]).await.unwrap();
    let stored = by_ref("abc@proxy").await.unwrap().unwrap();
    assert_eq!(stored.state, CallState::Ended);
    assert_eq!(stored.diverted_to, Some(n("+442079460900")));
    assert!(store.live_calls().await.unwrap().is_empty());
}

pub async fn a_conference_maps_to_its_newest_session(db: &dyn Database) {
    use callside_core::{PhoneNumber, SessionKey};
    let store = db.open().await;
    let bridge = PhoneNumber::parse("+442079460700", None).unwrap();
    let (first, second) = (SessionKey::generate(0), SessionKey::generate(1));
    store
        .apply(vec![
            Write::Session(session(&first, &[])),
            Write::Session(session(&second, &[])),
            Write::Conference {
                bridge: bridge.clone(),
                id: "4521".into(),
                session: first.clone(),
                at: 1,
            },
        ])
        .await
        .unwrap();
    let of = |id: &str| store.conference(bridge.clone(), id.into());
    assert_eq!(of("4521").await.unwrap(), Some(first));
    assert_eq!(of("4522").await.unwrap(), None);
    let elsewhere = PhoneNumber::parse("+442079460701", None).unwrap();
    assert_eq!(
        store.conference(elsewhere, "4521".into()).await.unwrap(),
        None,
        "per dial-in number"
    );
    store
        .apply(vec![Write::Conference {
            bridge: bridge.clone(),
            id: "4521".into(),
            session: second.clone(),
            at: 2,
        }])
        .await
        .unwrap();
    assert_eq!(of("4521").await.unwrap(), Some(second));
}
