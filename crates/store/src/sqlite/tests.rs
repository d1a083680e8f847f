use super::migrate::SCHEMA_VERSION;
use super::*;
use crate::prelude::*;
use callside_core::leg::{Direction, Leg};
use callside_core::principal::{Principal, PrincipalKind};
use callside_core::session::{CallState, CloseReason, Lifecycle, Origin, Session};
use callside_core::{NumberRange, Token};
use std::ops::Deref;

fn open(dir: &tempfile::TempDir) -> Arc<SqliteStore> {
    super::open(&dir.path().join("t.sqlite"), SqliteOptions::default()).unwrap()
}

fn n(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s, None).unwrap()
}

fn device(id: &str, number: &str) -> PrincipalRecord {
    PrincipalRecord {
        principal: Principal {
            id: PrincipalId(id.into()),
            name: format!("{id} phone"),
            kind: PrincipalKind::Device {
                numbers: vec![n(number)],
            },
        },
        created_at: 1,
    }
}

async fn seed(store: &impl Deref<Target: Store>, ids: &[&str]) {
    let writes = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            Write::Principal(
                device(id, &format!("+44207946000{i}")),
                Token::generate("d").hash(),
            )
        })
        .collect();
    store.apply(writes).await.unwrap();
}

fn session(key: &SessionKey, who: &[&str]) -> SessionRecord {
    let participants: Vec<ParticipantRecord> = who
        .iter()
        .map(|p| ParticipantRecord {
            principal: PrincipalId((*p).into()),
            name: format!("{p} phone"),
            number: None,
            acked_seq: 0,
        })
        .collect();
    SessionRecord {
        session: Session::new(
            key.clone(),
            Origin::PairedLegs,
            Lifecycle::KeepAfterCall,
            participants.iter().map(|p| p.principal.clone()).collect(),
            10,
        ),
        call_id: None,
        participants,
        last_seq: 0,
        last_activity: 10,
    }
}

fn msg(key: &SessionKey, seq: u64, sender: &str, id: &str) -> MessageRecord {
    MessageRecord {
        session: key.clone(),
        seq,
        sender: sender.into(),
        client_id: Some(id.into()),
        kind: "text".into(),
        body: format!("{{\"text\":\"m{seq}\"}}"),
        sent_at: 20 + seq as i64,
        blob: None,
    }
}

#[tokio::test]
async fn principals_are_found_by_token_hash_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let token = Token::generate("dev");
    store
        .apply(vec![Write::Principal(
            device("dev_a", "+442079460001"),
            token.hash(),
        )])
        .await
        .unwrap();
    let found = store
        .principal_by_token(token.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, device("dev_a", "+442079460001"));
    assert!(store
        .principal_by_token(Token::generate("dev").hash())
        .await
        .unwrap()
        .is_none());

    // Same id twice is a duplicate and leaves the first intact.
    let err = store
        .apply(vec![Write::Principal(
            device("dev_a", "+442079460009"),
            Token::generate("dev").hash(),
        )])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate), "{err}");
    assert_eq!(store.principals("device").await.unwrap().len(), 1);

    // Rotation revokes the old token; deletion revokes everything.
    let fresh = Token::generate("dev");
    store
        .apply(vec![Write::ReplaceToken(
            PrincipalId("dev_a".into()),
            fresh.hash(),
        )])
        .await
        .unwrap();
    assert!(store
        .principal_by_token(token.hash())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .principal_by_token(fresh.hash())
        .await
        .unwrap()
        .is_some());
    store
        .apply(vec![Write::DeletePrincipal(PrincipalId("dev_a".into()))])
        .await
        .unwrap();
    assert!(store
        .principal_by_token(fresh.hash())
        .await
        .unwrap()
        .is_none());
    assert!(store.principals("device").await.unwrap().is_empty());
}

#[tokio::test]
async fn messages_append_in_order_and_client_ids_are_unique() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let key = SessionKey::generate(0);
    store
        .apply(vec![Write::Session(session(&key, &[]))])
        .await
        .unwrap();
    for seq in 1..=5 {
        store
            .apply(vec![Write::Message(msg(
                &key,
                seq,
                "dev_a",
                &format!("c{seq}"),
            ))])
            .await
            .unwrap();
    }
    let err = store
        .apply(vec![Write::Message(msg(&key, 6, "dev_a", "c3"))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate));
    // The same client id from another sender is a different message.
    store
        .apply(vec![Write::Message(msg(&key, 6, "dev_b", "c3"))])
        .await
        .unwrap();

    let page = store.messages_after(key.clone(), 2, 3).await.unwrap();
    assert_eq!(
        page.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert_eq!(
        page[0],
        MessageRecord {
            blob: None,
            ..msg(&key, 3, "dev_a", "c3")
        }
    );
    assert_eq!(
        store
            .client_id_seq(key.clone(), "dev_a".into(), "c4".into())
            .await
            .unwrap(),
        Some(4)
    );
    assert_eq!(
        store.session(key.clone()).await.unwrap().unwrap().last_seq,
        6
    );
    let recent = store.recent_client_ids(key.clone(), 2).await.unwrap();
    assert_eq!(
        recent,
        vec![
            ("dev_b".into(), "c3".into(), 6),
            ("dev_a".into(), "c5".into(), 5)
        ]
    );
}

#[tokio::test]
async fn a_sessions_sequence_and_activity_come_from_its_newest_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let busy = SessionKey::generate(0);
    let quiet = SessionKey::generate(0);
    store
        .apply(vec![
            Write::Session(session(&busy, &[])),
            Write::Session(session(&quiet, &[])),
        ])
        .await
        .unwrap();
    // Created at 10; messages 1..=5 sent at 21..=25, one commit each.
    append(&store, &busy, 1, 5).await;
    let rec = store.session(busy.clone()).await.unwrap().unwrap();
    assert_eq!((rec.last_seq, rec.last_activity), (5, 25));
    let rec = store.session(quiet.clone()).await.unwrap().unwrap();
    assert_eq!((rec.last_seq, rec.last_activity), (0, 10));

    // Idle means no activity since `before`: creation for the quiet one, the newest message for
    // the busy one.
    assert_eq!(store.idle_sessions(11).await.unwrap(), vec![quiet.clone()]);
    assert_eq!(store.idle_sessions(25).await.unwrap(), vec![quiet.clone()]);
    let mut both = store.idle_sessions(26).await.unwrap();
    both.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut want = vec![busy, quiet];
    want.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(both, want);
}

#[tokio::test]
async fn one_failing_request_does_not_fail_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let key = SessionKey::generate(0);
    store
        .apply(vec![Write::Session(session(&key, &[]))])
        .await
        .unwrap();
    store
        .apply(vec![Write::Message(msg(&key, 1, "a", "x"))])
        .await
        .unwrap();
    // Queue many requests at once so they share a transaction; every odd one is a duplicate.
    let mut waits = Vec::new();
    for i in 0..200u64 {
        let m = if i % 2 == 1 {
            msg(&key, 1000 + i, "a", "x")
        } else {
            msg(&key, 2 + i / 2, "a", &format!("y{i}"))
        };
        waits.push(store.submit(vec![Write::Message(m)], None).await.unwrap());
    }
    let mut ok = 0;
    for (i, w) in waits.into_iter().enumerate() {
        let r = w.await.unwrap();
        assert_eq!(r.is_ok(), i % 2 == 0, "request {i}: {r:?}");
        ok += r.is_ok() as usize;
    }
    assert_eq!(ok, 100);
    assert_eq!(
        store
            .messages_after(key.clone(), 0, 1000)
            .await
            .unwrap()
            .len(),
        101
    );
    // The failed requests' sequence numbers (1001, 1003, …) did not move the session's mark.
    assert_eq!(store.session(key).await.unwrap().unwrap().last_seq, 101);
}

#[tokio::test]
async fn sessions_round_trip_with_state_and_acks() {
    let dir = tempfile::tempdir().unwrap();
    let key = SessionKey::generate(0);
    {
        let store = open(&dir);
        seed(&store, &["dev_a", "dev_b"]).await;
        store
            .apply(vec![Write::Session(session(&key, &["dev_a", "dev_b"]))])
            .await
            .unwrap();
        store
            .apply(vec![
                Write::Ack {
                    session: key.clone(),
                    principal: PrincipalId("dev_a".into()),
                    seq: 7,
                },
                Write::Ack {
                    session: key.clone(),
                    principal: PrincipalId("dev_a".into()),
                    seq: 3,
                },
                Write::SessionState {
                    key: key.clone(),
                    call: CallState::Ended,
                    closed: Some(("closed".into(), Some(PrincipalId("dev_a".into())))),
                    call_id: None,
                },
            ])
            .await
            .unwrap();
    }
    // Reopen: everything acknowledged is still there.
    let store = open(&dir);
    let rec = store.session(key.clone()).await.unwrap().unwrap();
    assert_eq!(rec.session.call, CallState::Ended);
    assert_eq!(
        rec.session.closed,
        Some(CloseReason::ClosedBy(PrincipalId("dev_a".into())))
    );
    assert_eq!(rec.participants[0].acked_seq, 7, "acks never move back");
    assert_eq!(rec.participants[0].name, "dev_a phone");
    assert!(store
        .sessions_of(PrincipalId("dev_b".into()), false)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .sessions_of(PrincipalId("dev_b".into()), true)
            .await
            .unwrap(),
        vec![key]
    );
}

#[tokio::test]
async fn blobs_are_readable_by_uploader_and_participants_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let key = SessionKey::generate(0);
    let blob = BlobId::from_digest(&[7; 32]);
    seed(&store, &["dev_a", "dev_b"]).await;
    store
        .apply(vec![
            Write::Session(session(&key, &["dev_a", "dev_b"])),
            Write::Blob(
                BlobRecord {
                    id: blob.clone(),
                    size: 3,
                    mime: "text/plain".into(),
                    created_at: 1,
                },
                PrincipalId("dev_u".into()),
            ),
        ])
        .await
        .unwrap();
    let may = |p: &str| store.may_read_blob(PrincipalId(p.into()), blob.clone());
    assert!(may("dev_u").await.unwrap());
    assert!(!may("dev_a").await.unwrap());
    let mut m = msg(&key, 1, "dev_a", "f");
    m.blob = Some(blob.clone());
    store.apply(vec![Write::Message(m)]).await.unwrap();
    assert!(may("dev_a").await.unwrap());
    assert!(may("dev_b").await.unwrap());
    assert!(!may("dev_z").await.unwrap());
    assert_eq!(store.blob(blob.clone()).await.unwrap().unwrap().size, 3);
}

#[tokio::test]
async fn pending_legs_come_back_in_report_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
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

#[tokio::test]
async fn a_failed_commit_stops_all_writing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let key = SessionKey::generate(0);
    store
        .apply(vec![Write::Session(session(&key, &[]))])
        .await
        .unwrap();
    // Another process holds the database: the writer cannot begin its transaction.
    let blocker = rusqlite::Connection::open(dir.path().join("t.sqlite")).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = store
        .apply(vec![Write::Message(msg(&key, 1, "a", "x"))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Failed(_)), "{err}");
    assert!(store.has_failed());
    blocker.execute_batch("ROLLBACK").unwrap();
    // Fail-stop: nothing is written any more, even though the database is free again.
    let err = store
        .apply(vec![Write::Message(msg(&key, 2, "a", "y"))])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Failed(_) | StoreError::Closed),
        "{err}"
    );
    assert!(store.messages_after(key, 0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn sms_bindings_refresh_and_stale_ones_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    seed(&store, &["a", "b", "c"]).await;
    let num = n("+447400123456");
    let bind = |dev: &str, at: Millis, stale_before: Option<Millis>| Write::BindNumber {
        device: PrincipalId(dev.into()),
        number: num.clone(),
        source: NumberSource::Sms,
        at,
        stale_before,
    };
    store
        .apply(vec![bind("a", 100, None), bind("b", 200, None)])
        .await
        .unwrap();
    // Provisioned numbers are never "stale": give c the number by provisioning.
    store
        .apply(vec![Write::BindNumber {
            device: PrincipalId("c".into()),
            number: num.clone(),
            source: NumberSource::Provisioned,
            at: 50,
            stale_before: None,
        }])
        .await
        .unwrap();
    let owners = store.devices_owning(num.clone()).await.unwrap();
    assert_eq!(owners.len(), 3);
    // Binding again refreshes the time instead of adding a row; proving a provisioned number
    // by SMS keeps it provisioned.
    store
        .apply(vec![bind("a", 300, None), bind("c", 60, None)])
        .await
        .unwrap();
    let stale = store
        .stale_bindings(num.clone(), PrincipalId("x".into()), i64::MAX)
        .await
        .unwrap();
    assert_eq!(
        stale,
        vec![PrincipalId("a".into()), PrincipalId("b".into())]
    );
    let stale = store
        .stale_bindings(num.clone(), PrincipalId("c".into()), 250)
        .await
        .unwrap();
    assert_eq!(stale, vec![PrincipalId("b".into())]);
    // c proves the number: b (bound at 200) is stale before 250; a (300) stays; c's own stays.
    store.apply(vec![bind("c", 400, Some(250))]).await.unwrap();
    let mut owners: Vec<String> = store
        .devices_owning(num.clone())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.0)
        .collect();
    owners.sort();
    assert_eq!(owners, ["a", "c"]);
    let b = store
        .principal(PrincipalId("b".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        b.principal.kind,
        PrincipalKind::Device {
            numbers: vec![n("+442079460001")]
        }
    );
    store
        .apply(vec![Write::UnbindNumber {
            device: PrincipalId("a".into()),
            number: num.clone(),
        }])
        .await
        .unwrap();
    assert_eq!(store.devices_owning(num).await.unwrap().len(), 1);
}

#[tokio::test]
async fn proofs_are_found_by_id_and_code_hash_and_purged_when_old() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    seed(&store, &["a"]).await;
    let code = Token::from_presented("abcdefgh").hash();
    let mut rec = ProofRecord {
        id: "prf_1".into(),
        device: PrincipalId("a".into()),
        code_hash: code,
        number: None,
        nonce: None,
        state: callside_core::proof::ProofState::AwaitingSms,
        failures: 0,
        created_at: 10,
        expires_at: 1_000,
    };
    store.apply(vec![Write::Proof(rec.clone())]).await.unwrap();
    assert_eq!(store.proof_by_code(code).await.unwrap(), Some(rec.clone()));
    rec.number = Some(n("+447400123456"));
    rec.nonce = Some(vec![1, 2, 3]);
    rec.state = callside_core::proof::ProofState::SmsSent;
    store.apply(vec![Write::Proof(rec.clone())]).await.unwrap();
    assert_eq!(store.proof("prf_1".into()).await.unwrap(), Some(rec));
    assert!(store
        .proof_by_code(Token::from_presented("other").hash())
        .await
        .unwrap()
        .is_none());
    store
        .apply(vec![Write::PurgeProofs {
            expired_before: 999,
        }])
        .await
        .unwrap();
    assert!(store.proof("prf_1".into()).await.unwrap().is_some());
    store
        .apply(vec![Write::PurgeProofs {
            expired_before: 1_001,
        }])
        .await
        .unwrap();
    assert!(store.proof("prf_1".into()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_version_1_database_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(include_str!("schema.sql")).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute(
            "INSERT INTO principals (id, kind, name, created_at) VALUES ('d', 'device', 'd', 1)",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO numbers (principal, number) VALUES ('d', '+442079460000')",
            [],
        )
        .unwrap();
    }
    let store = super::open(&path, SqliteOptions::default()).unwrap();
    // The old binding counts as provisioned, so no SMS proof replaces it.
    let stale = store
        .stale_bindings(n("+442079460000"), PrincipalId("x".into()), i64::MAX)
        .await
        .unwrap();
    assert!(stale.is_empty());
    assert_eq!(
        store.devices_owning(n("+442079460000")).await.unwrap(),
        vec![PrincipalId("d".into())]
    );
    let version: i64 = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[tokio::test]
async fn invitations_keep_their_devices_and_ring_until_settled() {
    use callside_core::invitation::{Invitation, InvitationState};
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
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

#[tokio::test]
async fn cards_audiences_and_the_ledger_round_trip() {
    use callside_core::card::*;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
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

#[tokio::test]
async fn catalogue_and_capabilities_round_trip() {
    use callside_core::component::{Capabilities, Component, ComponentId};
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let menu = Component {
        id: ComponentId::parse("com.example.menu").unwrap(),
        name: "Menu".into(),
        version: "1.0".into(),
        url: "https://apps.example.com/menu".into(),
        sha256: Some("ab".repeat(32)),
        authorization: true,
    };
    store
        .apply(vec![Write::Component {
            component: menu.clone(),
            at: 1,
        }])
        .await
        .unwrap();
    let mut newer = menu.clone();
    newer.version = "1.1".into();
    newer.sha256 = None;
    store
        .apply(vec![Write::Component {
            component: newer.clone(),
            at: 2,
        }])
        .await
        .unwrap();
    assert_eq!(
        store.component("com.example.menu".into()).await.unwrap(),
        Some(newer.clone())
    );
    assert_eq!(store.components().await.unwrap(), vec![newer]);
    store
        .apply(vec![Write::DeleteComponent(menu.id.clone())])
        .await
        .unwrap();
    assert!(store.components().await.unwrap().is_empty());

    seed(&store, &["d"]).await;
    let dev = PrincipalId("d".into());
    assert_eq!(store.capabilities(dev.clone()).await.unwrap(), None);
    let caps = Capabilities::new(
        vec!["location.share".into(), "image.view".into()],
        vec![("com.example.menu".into(), "1.0".into())],
    )
    .unwrap();
    store
        .apply(vec![Write::Capabilities {
            principal: dev.clone(),
            capabilities: caps.clone(),
            at: 3,
        }])
        .await
        .unwrap();
    assert_eq!(store.capabilities(dev.clone()).await.unwrap(), Some(caps));
    // An installation confirmation adds to what was declared; a new declaration replaces all.
    store
        .apply(vec![Write::Installed {
            principal: dev.clone(),
            component: ComponentId::parse("org.maps").unwrap(),
            version: "7".into(),
            at: 4,
        }])
        .await
        .unwrap();
    let got = store.capabilities(dev.clone()).await.unwrap().unwrap();
    assert_eq!(got.components.len(), 2);
    assert!(got.has_feature("location.share"));
    store
        .apply(vec![Write::Capabilities {
            principal: dev.clone(),
            capabilities: Capabilities::default(),
            at: 5,
        }])
        .await
        .unwrap();
    assert_eq!(
        store.capabilities(dev).await.unwrap(),
        Some(Capabilities::default())
    );
}

fn wal_len(dir: &tempfile::TempDir) -> u64 {
    std::fs::metadata(dir.path().join("t.sqlite-wal")).map_or(0, |m| m.len())
}

/// Appends `n` messages to `key`, one commit each, with bodies large enough to dirty a page.
async fn append(store: &impl Deref<Target: Store>, key: &SessionKey, from: u64, n: u64) {
    for seq in from..from + n {
        let mut m = msg(key, seq, "a", &format!("c{seq}"));
        m.body = format!("{{\"text\":\"{}\"}}", "x".repeat(3000));
        store.apply(vec![Write::Message(m)]).await.unwrap();
    }
}

/// A store with `options` and one session in it.
async fn store_with_session(
    dir: &tempfile::TempDir,
    options: SqliteOptions,
) -> (Arc<SqliteStore>, SessionKey) {
    let store = super::open(&dir.path().join("t.sqlite"), options).unwrap();
    let key = SessionKey::generate(10);
    store
        .apply(vec![Write::Session(session(&key, &[]))])
        .await
        .unwrap();
    (store, key)
}

/// Options under which only the writer's request can make the log start over (never the
/// clock), after 64 frames.
fn restart_options() -> SqliteOptions {
    SqliteOptions {
        checkpoint_interval: std::time::Duration::from_secs(3600),
        wal_reset_frames: 64,
        ..Default::default()
    }
}

fn restarts(store: &SqliteStore) -> u64 {
    store.health.wal_restarts.load(Ordering::Relaxed)
}

/// Commits of at least two pages each, without pause, until the log has started over twice
/// (how many that takes depends on how fast the checkpoint thread gets the disk; without the
/// reset it never would, and the loop gives up). Returns how many messages it wrote.
async fn append_until_two_restarts(store: &Arc<SqliteStore>, key: &SessionKey) -> u64 {
    let mut written = 0;
    while restarts(store) < 2 && written < 30_000 {
        append(store, key, written + 1, 100).await;
        written += 100;
    }
    written
}

#[tokio::test]
async fn the_wal_starts_over_under_steady_writes_instead_of_growing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, key) = store_with_session(&dir, restart_options()).await;
    let written = append_until_two_restarts(&store, &key).await;
    assert!(
        restarts(&store) >= 2,
        "the WAL never started over in {written} commits ({} bytes)",
        wal_len(&dir)
    );
    // Nothing was lost by starting over.
    let all = store
        .messages_after(key.clone(), written - 10, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(all.last().unwrap().seq, written);
    assert_eq!(
        store.messages_after(key.clone(), 0, 1).await.unwrap()[0].seq,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_while_readers_keep_reading() {
    let dir = tempfile::tempdir().unwrap();
    let (store, key) = store_with_session(&dir, restart_options()).await;
    // Readers that are nearly always inside a read transaction, as under a busy server: some
    // of them hold a snapshot older than the newest commit whenever the log is to start over.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (store, key, stop) = (store.clone(), key.clone(), stop.clone());
            tokio::spawn(async move {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    store.messages_after(key.clone(), 0, 50).await.unwrap();
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let written = append_until_two_restarts(&store, &key).await;
    stop.store(true, Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    assert!(
        restarts(&store) >= 2,
        "the WAL never started over in {written} commits with {reads} reads alongside ({} bytes)",
        wal_len(&dir)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_while_a_reader_holds_snapshots_most_of_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let (store, key) = store_with_session(&dir, restart_options()).await;
    // A reader (its own connection, as a slow catch-up would be) that keeps a read transaction
    // open for 5 ms at a time with only short gaps: its snapshot is nearly always older than
    // the newest commit, which keeps a passive checkpoint from letting the log start over.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = std::thread::spawn({
        let path = dir.path().join("t.sqlite");
        let stop = stop.clone();
        move || {
            let conn = Connection::open(path).unwrap();
            while !stop.load(Ordering::Relaxed) {
                conn.execute_batch("BEGIN").unwrap();
                let _: i64 = conn
                    .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
                    .unwrap();
                std::thread::sleep(std::time::Duration::from_millis(5));
                conn.execute_batch("COMMIT").unwrap();
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
    });
    let written = append_until_two_restarts(&store, &key).await;
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    assert!(
        restarts(&store) >= 2,
        "the WAL never started over in {written} commits ({} bytes)",
        wal_len(&dir)
    );
}

#[tokio::test]
async fn an_idle_store_truncates_a_large_wal() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        checkpoint_interval: std::time::Duration::from_millis(50),
        wal_idle_truncate_bytes: 0,
        ..Default::default()
    };
    let (store, key) = store_with_session(&dir, options).await;
    append(&store, &key, 1, 50).await;
    // Truncated within a few idle intervals (polled, so a slow machine only waits longer).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while wal_len(&dir) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the WAL is still {} bytes after 20 s idle",
            wal_len(&dir)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // And the store goes on working from an empty log.
    append(&store, &key, 51, 5).await;
    let all = store.messages_after(key.clone(), 0, 100).await.unwrap();
    assert_eq!(all.len(), 55);
}
