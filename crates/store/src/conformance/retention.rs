//! Retention: purges delete bounded batches of the oldest records of one kind, and nothing newer.

use super::fixtures::*;
use super::Database;
use crate::{
    AuditRecord, BlobRecord, CallNoteRecord, CallRecord, ClickRecord, LegRecord, LegState,
    MerchantRecord, PrincipalRecord, Purge, ScreenRecord, Store, Write,
};
use callside_core::leg::{Direction, Leg, LegId};
use callside_core::matching::CallId;
use callside_core::message::BlobId;
use callside_core::principal::{Principal, PrincipalId, PrincipalKind, Scope};
use callside_core::session::{CallState, CloseReason, Lifecycle};
use callside_core::{Millis, SessionKey, Token};
use std::collections::{BTreeMap, BTreeSet};

/// What the purges are told: older than this is old.
const BEFORE: Millis = 1_000;
/// When the new records were made.
const NEW: Millis = 2_000;

/// Session `key` between dev_a and dev_b, created at `created_at`, closed unless `open`.
fn session_at(key: &SessionKey, created_at: Millis, open: bool) -> Write {
    let mut r = session(key, &["dev_a", "dev_b"]);
    r.session.created_at = created_at;
    r.last_activity = created_at;
    if !open {
        r.session.call = CallState::Ended;
        r.session.closed = Some(CloseReason::CallEnded);
    }
    Write::Session(r)
}

/// Message `seq` of `key` from dev_a, sent at `at`.
fn sent(key: &SessionKey, seq: u64, at: Millis) -> Write {
    let mut m = msg(key, seq, "dev_a", &format!("c{seq}"));
    m.sent_at = at;
    Write::Message(m)
}

/// Leg `id` of dev_a, reported at `at`, in `state`.
fn leg(id: &str, at: Millis, state: LegState) -> Write {
    Write::Leg(LegRecord {
        leg: Leg {
            id: LegId(id.into()),
            principal: PrincipalId("dev_a".into()),
            own: n("+442079460000"),
            other: None,
            direction: Direction::Incoming,
            call_ref: Some(id.into()),
            extension: None,
            conference_id: None,
            reported_at: at,
            expires_at: at + 100,
        },
        registry: None,
        lifecycle: Some(Lifecycle::CloseWithCall),
        state,
        reason: None,
        session: None,
    })
}

/// Network call `id` (its own call reference) created at `at`, in `state`.
fn call(id: &str, at: Millis, state: CallState) -> Write {
    Write::Call(CallRecord {
        id: CallId(id.into()),
        reporter: PrincipalId("svc_sip".into()),
        call_ref: id.into(),
        caller: n("+442079460000"),
        callee: n("+442079460001"),
        state,
        session: SessionKey::generate(at),
        diverted_to: None,
        created_at: at,
        expires_at: at + 100,
    })
}

/// Post-call note `id` to dev_b's number, created at `at`.
fn note(id: &str, at: Millis) -> Write {
    Write::CallNote(CallNoteRecord {
        id: id.into(),
        kind: "note".into(),
        leg: LegId(format!("leg_{id}")),
        sender: PrincipalId("dev_a".into()),
        sender_name: "dev_a phone".into(),
        from: n("+442079460000"),
        to: n("+442079460001"),
        body: "{}".into(),
        created_at: at,
    })
}

/// Audit line about `subject`, at `at`.
fn audit(subject: &str, at: Millis) -> Write {
    Write::Audit(AuditRecord {
        at,
        actor: PrincipalId("dev_a".into()),
        action: "sms_invitation".into(),
        subject: subject.into(),
        detail: String::new(),
    })
}

/// Click `id` on mer_a's button, routed at `at`.
fn click(id: &str, at: Millis) -> Write {
    Write::Click(ClickRecord {
        id: id.into(),
        merchant: "mer_a".into(),
        link: None,
        customer: None,
        button_destination: None,
        context: "{}".into(),
        destination: "agents:sales".into(),
        rule: None,
        state: "ended".into(),
        agent: None,
        outcome: Some("completed".into()),
        created_at: at,
        answered_at: None,
        ended_at: Some(at + 10),
        session: None,
        channel: None,
    })
}

/// Merchant mer_a with its API account svc_a.
fn merchant() -> Vec<Write> {
    let account = PrincipalRecord {
        principal: Principal {
            id: PrincipalId("svc_a".into()),
            name: "svc_a server".into(),
            kind: PrincipalKind::Service {
                scopes: vec![Scope::Merchant],
                ranges: vec![],
            },
        },
        created_at: 1,
    };
    vec![
        Write::Principal(account, Token::generate("svc").hash()),
        Write::Merchant(MerchantRecord {
            id: "mer_a".into(),
            name: "mer_a shop".into(),
            principal: PrincipalId("svc_a".into()),
            button_secret: "mer_a-secret".into(),
            created_at: 1,
        }),
    ]
}

fn purge(what: Purge, before: Millis, limit: u32) -> Write {
    Write::Purge {
        what,
        before,
        limit,
    }
}

const KINDS: [Purge; 6] = [
    Purge::Sessions,
    Purge::Legs,
    Purge::Calls,
    Purge::CallNotes,
    Purge::Audit,
    Purge::Clicks,
];

/// The names of the seeded records the store's reads still find (sessions by their names in
/// `sessions`, the rest by their ids, audit lines by their subjects).
async fn left(store: &dyn Store, sessions: &BTreeMap<&str, SessionKey>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (name, key) in sessions {
        if store.session(key.clone()).await.unwrap().is_some() {
            found.insert((*name).to_owned());
        }
    }
    for id in ["leg_pending", "leg_oldest", "leg_old", "leg_new"] {
        if store.leg(LegId(id.into())).await.unwrap().is_some() {
            found.insert(id.to_owned());
        }
    }
    for id in ["call_live", "call_oldest", "call_old", "call_new"] {
        if store.call(CallId(id.into())).await.unwrap().is_some() {
            found.insert(id.to_owned());
        }
    }
    for r in store
        .call_notes_for(PrincipalId("dev_b".into()), 100)
        .await
        .unwrap()
    {
        found.insert(r.id);
    }
    for a in store.audit(100).await.unwrap() {
        found.insert(a.subject);
    }
    let listed: BTreeSet<String> = store
        .clicks("mer_a".into(), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    for id in ["click_oldest", "click_old", "click_new"] {
        let one = store.click(id.into()).await.unwrap().is_some();
        assert_eq!(one, listed.contains(id), "click and clicks agree on {id}");
        if one {
            found.insert(id.to_owned());
        }
    }
    found
}

pub async fn old_records_are_purged_in_bounded_batches_and_new_ones_kept(db: &dyn Database) {
    let store = db.open().await;
    seed(&store, &["dev_a", "dev_b"]).await;
    store.apply(merchant()).await.unwrap();
    // Among the old sessions the oldest has neither the smallest key nor the largest: "oldest" is
    // by activity, not by key.
    let sessions: BTreeMap<&str, SessionKey> = [
        ("session_oldest", 50),
        ("session_old", 10),
        ("session_old_empty", 90),
        ("session_recent", 20),
        ("session_recent_empty", 30),
        ("session_open", 40),
    ]
    .into_iter()
    .map(|(name, at)| (name, SessionKey::generate(at)))
    .collect();
    let key = |name: &str| sessions[name].clone();
    let blob = BlobId::from_digest(&[5; 32]);
    let bridge = n("+442079460700");
    let mut with_blob = msg(&key("session_oldest"), 2, "dev_a", "c2");
    with_blob.blob = Some(blob.clone());
    store
        .apply(vec![
            // Last active at 22, with a screen, a blob reference and a conference.
            session_at(&key("session_oldest"), 10, false),
            sent(&key("session_oldest"), 1, 21),
            Write::Blob(
                BlobRecord {
                    id: blob.clone(),
                    size: 3,
                    mime: "text/plain".into(),
                    created_at: 1,
                },
                PrincipalId("dev_a".into()),
            ),
            Write::Message(with_blob),
            Write::Screen(ScreenRecord {
                session: key("session_oldest"),
                id: "menu".into(),
                sender: PrincipalId("dev_a".into()),
                seq: 2,
                regions: vec!["end".into()],
            }),
            Write::Conference {
                bridge: bridge.clone(),
                id: "4521".into(),
                session: key("session_oldest"),
                at: 21,
            },
            // Created earlier than session_oldest, but last active later (at 500).
            session_at(&key("session_old"), 5, false),
            sent(&key("session_old"), 1, 500),
            // No messages: its creation (600) is its last activity.
            session_at(&key("session_old_empty"), 600, false),
            // Created long ago, but its newest message is new.
            session_at(&key("session_recent"), 10, false),
            sent(&key("session_recent"), 1, 21),
            sent(&key("session_recent"), 2, NEW),
            session_at(&key("session_recent_empty"), NEW, false),
            // Old, but still open.
            session_at(&key("session_open"), 10, true),
            sent(&key("session_open"), 1, 30),
        ])
        .await
        .unwrap();
    // Each kind is written out of time order: "oldest" is by time, not by insertion.
    store
        .apply(vec![
            leg("leg_pending", 50, LegState::Pending),
            leg("leg_old", 200, LegState::NoMatch),
            leg("leg_oldest", 100, LegState::Matched),
            leg("leg_new", NEW, LegState::Matched),
            call("call_live", 50, CallState::Answered),
            call("call_old", 300, CallState::Ended),
            call("call_oldest", 100, CallState::Ended),
            call("call_new", NEW, CallState::Ended),
            note("note_old", 200),
            note("note_oldest", 100),
            note("note_new", NEW),
            audit("audit_old", 200),
            audit("audit_oldest", 100),
            audit("audit_new", NEW),
            click("click_old", 200),
            click("click_oldest", 100),
            click("click_new", NEW),
        ])
        .await
        .unwrap();
    let mut want: BTreeSet<String> = sessions.keys().map(|s| (*s).to_owned()).collect();
    want.extend(
        [
            "leg_pending",
            "leg_oldest",
            "leg_old",
            "leg_new",
            "call_live",
            "call_oldest",
            "call_old",
            "call_new",
            "note_oldest",
            "note_old",
            "note_new",
            "audit_oldest",
            "audit_old",
            "audit_new",
            "click_oldest",
            "click_old",
            "click_new",
        ]
        .map(String::from),
    );
    assert_eq!(left(&*store, &sessions).await, want, "all seeded");
    let may_b = || store.may_read_blob(PrincipalId("dev_b".into()), blob.clone());
    assert!(
        may_b().await.unwrap(),
        "dev_b reads the blob through session_oldest"
    );

    // Nothing older than 1, and a batch of none: nothing to delete is no error.
    for what in KINDS {
        store.apply(vec![purge(what, 1, 1_000)]).await.unwrap();
        store.apply(vec![purge(what, BEFORE, 0)]).await.unwrap();
    }
    assert_eq!(left(&*store, &sessions).await, want, "nothing purged");

    // One at a time: each purge takes the oldest old record of its kind, and only that.
    let oldest = [
        (Purge::Sessions, "session_oldest"),
        (Purge::Legs, "leg_oldest"),
        (Purge::Calls, "call_oldest"),
        (Purge::CallNotes, "note_oldest"),
        (Purge::Audit, "audit_oldest"),
        (Purge::Clicks, "click_oldest"),
    ];
    for (what, name) in oldest {
        store.apply(vec![purge(what, BEFORE, 1)]).await.unwrap();
        want.remove(name);
        assert_eq!(left(&*store, &sessions).await, want, "{what:?}, limit 1");
    }
    // The session went with everything naming it.
    let gone = key("session_oldest");
    assert!(store
        .messages_after(gone.clone(), 0, 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.screen(gone.clone(), "menu".into()).await.unwrap(),
        None
    );
    assert_eq!(store.conference(bridge, "4521".into()).await.unwrap(), None);
    assert!(!may_b().await.unwrap(), "no reference, no participant");
    assert!(!store
        .sessions_of(PrincipalId("dev_b".into()), true)
        .await
        .unwrap()
        .contains(&gone));

    // The rest of what is old, in one batch each.
    for what in KINDS {
        store.apply(vec![purge(what, BEFORE, 1_000)]).await.unwrap();
    }
    for name in [
        "session_old",
        "session_old_empty",
        "leg_old",
        "call_old",
        "note_old",
        "audit_old",
        "click_old",
    ] {
        want.remove(name);
    }
    assert_eq!(
        left(&*store, &sessions).await,
        want,
        "every old record went"
    );
    assert!(store
        .messages_after(key("session_old"), 0, 100)
        .await
        .unwrap()
        .is_empty());

    // What is new, open, pending or live is all still there and whole.
    let seqs = |key: SessionKey| {
        let store = store.clone();
        async move {
            let page = store.messages_after(key, 0, 100).await.unwrap();
            page.into_iter().map(|m| m.seq).collect::<Vec<_>>()
        }
    };
    assert_eq!(seqs(key("session_recent")).await, [1, 2]);
    assert_eq!(seqs(key("session_open")).await, [1]);
    let recent = store.session(key("session_recent")).await.unwrap().unwrap();
    assert_eq!((recent.last_seq, recent.last_activity), (2, NEW));
    assert_eq!(recent.participants.len(), 2);
    let open = store.session(key("session_open")).await.unwrap().unwrap();
    assert_eq!(open.session.closed, None);
    let pending: Vec<_> = store.pending_legs().await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|l| l.leg.id.0.as_str())
            .collect::<Vec<_>>(),
        ["leg_pending"]
    );
    let live = store.live_calls().await.unwrap();
    assert_eq!(
        live.iter().map(|c| c.id.0.as_str()).collect::<Vec<_>>(),
        ["call_live"]
    );

    // Nothing old is left: purging again deletes nothing and is no error.
    for what in KINDS {
        store.apply(vec![purge(what, BEFORE, 1_000)]).await.unwrap();
    }
    assert_eq!(
        left(&*store, &sessions).await,
        want,
        "nothing more to purge"
    );
}
