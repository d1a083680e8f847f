//! Cards, audiences and the ledger.

use super::fixtures::*;
use super::Database;
use crate::Write;
use callside_core::{NumberRange, PrincipalId};

pub async fn cards_audiences_and_the_ledger_round_trip(db: &dyn Database) {
    use callside_core::card::*;
    let store = db.open().await;
    seed(&store, &["a", "b"]).await;
    let a = PrincipalId("a".into());
    let card = Card {
        fields: vec![
            CardField {
                id: "name".into(),
                kind: FieldKind::Name,
                value: FieldValue::Text("Alice".into()),
                label: None,
                version: 3,
                updated_at: 10,
            },
            CardField {
                id: "address.home".into(),
                kind: FieldKind::Address,
                value: FieldValue::Address(Address {
                    street: "1 High St".into(),
                    locality: "London".into(),
                    region: String::new(),
                    postal_code: "N1 1AA".into(),
                    country: "UK".into(),
                }),
                label: Some("home".into()),
                version: 1,
                updated_at: 11,
            },
        ],
    };
    let audiences = vec![Audience {
        name: "family".into(),
        members: vec![NumberRange::parse("+447400123456").unwrap()],
        fields: vec![FieldKind::Name, FieldKind::Address],
    }];
    store
        .apply(vec![
            Write::Card {
                principal: a.clone(),
                card: card.clone(),
            },
            Write::Audiences {
                principal: a.clone(),
                audiences: audiences.clone(),
            },
        ])
        .await
        .unwrap();
    assert_eq!(store.card(a.clone()).await.unwrap(), card);
    assert_eq!(store.audiences(a.clone()).await.unwrap(), audiences);
    assert_eq!(
        store.card(PrincipalId("b".into())).await.unwrap(),
        Card::default()
    );
    let delivered = |v: u64| Write::Delivered {
        sender: a.clone(),
        receiver: PrincipalId("b".into()),
        field: "name".into(),
        version: v,
        at: 5,
    };
    store.apply(vec![delivered(3)]).await.unwrap();
    store.apply(vec![delivered(2)]).await.unwrap();
    let ledger = store
        .ledger(a.clone(), PrincipalId("b".into()))
        .await
        .unwrap();
    assert_eq!(ledger.get("name"), Some(&3), "the ledger never moves back");
    assert!(store
        .ledger(PrincipalId("b".into()), a)
        .await
        .unwrap()
        .is_empty());
}
