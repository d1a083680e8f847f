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
