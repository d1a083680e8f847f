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
