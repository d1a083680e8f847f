//! Invitations.

use super::fixtures::*;
use super::Database;
use crate::{InvitationRecord, Write};
use callside_core::{LegId, PrincipalId, SessionKey};

pub async fn invitations_keep_their_devices_and_ring_until_settled(db: &dyn Database) {
    use callside_core::invitation::{Invitation, InvitationState};
    let store = db.open().await;
    let mut rec = InvitationRecord {
        invitation: Invitation {
            id: "inv_1".into(),
            inviter: PrincipalId("a".into()),
            invitee: callside_core::email::Endpoint::Number(n("+442079460002")),
            from: Some(n("+442079460001")),
            devices: vec![PrincipalId("b2".into()), PrincipalId("b1".into())],
            session: None,
            leg: Some(LegId("leg_1".into())),
            via_sms: false,
            state: InvitationState::Pending,
            answered_by: None,
            created_at: 10,
            expires_at: 100,
        },
        inviter_name: "Alice".into(),
        offer: Some("{\"nat\":\"symmetric\"}".into()),
        answer: None,
        path: None,
        component: Some("com.example.menu".into()),
    };
    store
        .apply(vec![Write::Invitation(rec.clone())])
        .await
        .unwrap();
    assert_eq!(
        store.invitation("inv_1".into()).await.unwrap(),
        Some(rec.clone())
    );
    let ringing = store
        .invitations_for(PrincipalId("b1".into()))
        .await
        .unwrap();
    assert_eq!(ringing, vec![rec.clone()]);
    assert!(store
        .invitations_for(PrincipalId("a".into()))
        .await
        .unwrap()
        .is_empty());
    assert!(store.expired_invitations(99).await.unwrap().is_empty());
    assert_eq!(store.expired_invitations(100).await.unwrap().len(), 1);

    let key = SessionKey::generate(20);
    rec.invitation.state = InvitationState::Accepted;
    rec.invitation.answered_by = Some(PrincipalId("b1".into()));
    rec.invitation.session = Some(key);
    rec.answer = Some("{}".into());
    rec.path = Some("direct".into());
    store
        .apply(vec![Write::Invitation(rec.clone())])
        .await
        .unwrap();
    assert_eq!(store.invitation("inv_1".into()).await.unwrap(), Some(rec));
    assert!(store
        .invitations_for(PrincipalId("b1".into()))
        .await
        .unwrap()
        .is_empty());
    assert!(store.expired_invitations(1_000).await.unwrap().is_empty());
}
