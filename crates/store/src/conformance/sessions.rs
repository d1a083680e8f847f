//! Sessions, messages, client ids and acknowledgements.

use super::fixtures::*;
use super::Database;
use crate::{MessageRecord, ScreenRecord, StoreError, Write};
use callside_core::session::{CallState, CloseReason};
use callside_core::{PrincipalId, SessionKey};

pub async fn messages_append_in_order_and_client_ids_are_unique(db: &dyn Database) {
    let store = db.open().await;
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

pub async fn a_sessions_sequence_and_activity_come_from_its_newest_message(db: &dyn Database) {
    let store = db.open().await;
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

pub async fn sessions_round_trip_with_state_and_acks(db: &dyn Database) {
    let key = SessionKey::generate(0);
    {
        let store = db.open().await;
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
    let store = db.open().await;
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

pub async fn screens_are_kept_per_session_and_replaced_by_id(db: &dyn Database) {
    let store = db.open().await;
    let key = SessionKey::generate(0);
    let other = SessionKey::generate(1);
    seed(&store, &["dev_a", "svc_vm"]).await;
    let screen = |session: &SessionKey, seq: u64, regions: &[&str]| {
        Write::Screen(ScreenRecord {
            session: session.clone(),
            id: "menu".into(),
            sender: PrincipalId("svc_vm".into()),
            seq,
            regions: regions.iter().map(|r| (*r).to_owned()).collect(),
        })
    };
    store
        .apply(vec![
            Write::Session(session(&key, &["dev_a", "svc_vm"])),
            Write::Session(session(&other, &["dev_a", "svc_vm"])),
            screen(&key, 1, &["record", "end"]),
        ])
        .await
        .unwrap();
    let got = store.screen(key.clone(), "menu".into()).await.unwrap();
    let got = got.expect("the screen is kept");
    assert_eq!((got.seq, got.regions.len()), (1, 2));
    assert_eq!(got.sender, PrincipalId("svc_vm".into()));
    assert_eq!(
        store.screen(other.clone(), "menu".into()).await.unwrap(),
        None,
        "per session"
    );
    assert_eq!(
        store.screen(key.clone(), "nope".into()).await.unwrap(),
        None
    );
    store.apply(vec![screen(&key, 4, &["play"])]).await.unwrap();
    let got = store.screen(key, "menu".into()).await.unwrap().unwrap();
    assert_eq!((got.seq, got.regions), (4, vec!["play".to_owned()]));
}

pub async fn transformer_work_is_kept_until_done(db: &dyn Database) {
    let store = db.open().await;
    let key = SessionKey::generate(0);
    seed(&store, &["a"]).await;
    let mut m = msg(&key, 1, "a", "c1");
    m.kind = "app/order".into();
    m.body = "{\"order\":\"A-1\"}".into();
    let job = |seq: u64, at: i64| Write::DerivedJob {
        session: key.clone(),
        seq,
        app: "order".into(),
        at,
    };
    store
        .apply(vec![
            Write::Session(session(&key, &["a"])),
            Write::Message(m),
            job(1, 50),
            Write::Message(msg(&key, 2, "a", "c2")),
            job(2, 40),
        ])
        .await
        .unwrap();
    // A store opened again (a restart) has the work, oldest first, with its messages.
    drop(store);
    let store = db.open().await;
    let jobs = store.derived_jobs(10).await.unwrap();
    assert_eq!(jobs.iter().map(|j| j.seq).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(jobs[1].body, "{\"order\":\"A-1\"}");
    assert_eq!(
        (jobs[1].sender.as_str(), jobs[1].app.as_str()),
        ("a", "order")
    );
    assert_eq!(store.derived_jobs(1).await.unwrap().len(), 1);
    assert!(store.derived_job_pending(key.clone(), 1).await.unwrap());
    // Queued twice (a re-send), it is one job.
    store.apply(vec![job(1, 60)]).await.unwrap();
    assert_eq!(store.derived_jobs(10).await.unwrap().len(), 2);
    store
        .apply(vec![Write::DerivedDone {
            session: key.clone(),
            seq: 1,
        }])
        .await
        .unwrap();
    assert!(!store.derived_job_pending(key.clone(), 1).await.unwrap());
    assert_eq!(store.derived_jobs(10).await.unwrap().len(), 1);
}

pub async fn a_restart_knows_whom_to_wake_again(db: &dyn Database) {
    use crate::{InvitationRecord, PushRecord};
    use callside_core::invitation::{Invitation, InvitationState};
    let store = db.open().await;
    let (open, closed) = (SessionKey::generate(0), SessionKey::generate(1));
    seed(&store, &["a", "b", "c"]).await;
    let p = |id: &str| PrincipalId(id.into());
    let push = |device: &str, n: u8| {
        Write::Push(PushRecord {
            id: format!("psh_{device}"),
            device: p(device),
            provider: "web_push".into(),
            identity: [n; 32],
            data: "{}".into(),
            created_at: 1,
        })
    };
    let ringing = |id: &str, expires_at: i64| {
        Write::Invitation(InvitationRecord {
            invitation: Invitation {
                id: id.into(),
                inviter: p("a"),
                invitee: callside_core::email::Endpoint::Number(n("+442079460001")),
                from: None,
                devices: vec![p("b"), p("a")],
                session: None,
                leg: None,
                via_sms: false,
                state: InvitationState::Pending,
                answered_by: None,
                created_at: 10,
                expires_at,
            },
            inviter_name: "a phone".into(),
            offer: None,
            answer: None,
            path: None,
            component: None,
        })
    };
    store
        .apply(vec![
            push("b", 1),
            push("c", 2),
            Write::Session(session(&open, &["a", "b", "c"])),
            Write::Session(session(&closed, &["a", "b"])),
            // Messages from a (sent at 21 and 22) on both; c read everything on the open one.
            Write::Message(msg(&open, 1, "a", "o1")),
            Write::Message(msg(&open, 2, "a", "o2")),
            Write::Message(msg(&closed, 1, "a", "c1")),
            Write::Ack {
                session: open.clone(),
                principal: p("c"),
                seq: 2,
            },
            Write::SessionState {
                key: closed.clone(),
                call: CallState::Ended,
                closed: Some(("closed".into(), None)),
                call_id: None,
            },
            ringing("inv_live", 1000),
            ringing("inv_over", 400),
        ])
        .await
        .unwrap();
    // b has unread messages on an open session and a subscription; a sent them and has none;
    // c read them. The live invitation rings on b (a has no subscription).
    let (behind, rings) = store.wakes_due(0, 500).await.unwrap();
    assert_eq!(behind, [p("b")]);
    assert_eq!(rings, [("inv_live".to_owned(), p("b"))]);
    // Only messages sent after `since` count.
    let (behind, _) = store.wakes_due(22, 500).await.unwrap();
    assert!(behind.is_empty());
    let (behind, _) = store.wakes_due(21, 500).await.unwrap();
    assert_eq!(behind, [p("b")]);
}

/// Two writers numbering one session (two nodes of a cluster): the second to append a sequence
/// number gets `Conflict` and changes nothing, and what it queued behind that append on the same
/// chain fails too instead of committing ahead of it; a new chain appends again.
pub async fn a_taken_sequence_number_conflicts_and_breaks_its_chain(db: &dyn Database) {
    let store = db.open().await;
    let key = SessionKey::generate(0);
    store
        .apply(vec![
            Write::Session(session(&key, &[])),
            Write::Message(msg(&key, 1, "dev_a", "a1")),
        ])
        .await
        .unwrap();
    let stale = crate::Chain::default();
    let fenced = |m| vec![Write::Fence(stale.clone()), Write::Message(m)];
    // Queued together, as a node pipelines them: the first lost its number, the second must
    // not land at 2 ahead of it.
    let first = store
        .submit(fenced(msg(&key, 1, "dev_b", "b1")), None)
        .await
        .unwrap();
    let second = store
        .submit(fenced(msg(&key, 2, "dev_b", "b2")), None)
        .await
        .unwrap();
    assert!(matches!(first.await.unwrap(), Err(StoreError::Conflict)));
    assert!(matches!(second.await.unwrap(), Err(StoreError::Conflict)));
    assert!(stale.is_broken());
    let err = store
        .apply(fenced(msg(&key, 3, "dev_b", "b3")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err}");
    assert_eq!(
        store.session(key.clone()).await.unwrap().unwrap().last_seq,
        1,
        "nothing of the broken chain was written"
    );
    // The holder reloads (last_seq 1) and numbers again on a new chain.
    let fresh = crate::Chain::default();
    store
        .apply(vec![
            Write::Fence(fresh.clone()),
            Write::Message(msg(&key, 2, "dev_b", "b1")),
            Write::Message(msg(&key, 3, "dev_b", "b2")),
        ])
        .await
        .unwrap();
    assert!(!fresh.is_broken());
    let senders: Vec<(u64, String)> = store
        .messages_after(key.clone(), 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.seq, m.client_id.unwrap()))
        .collect();
    assert_eq!(
        senders,
        vec![(1, "a1".into()), (2, "b1".into()), (3, "b2".into())]
    );
}
