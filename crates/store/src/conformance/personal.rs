//! One device's personal data: exported whole, erased without touching anyone else's.

use super::fixtures::*;
use super::Database;
use crate::personal::{OnErase, PersonalTable, HOLDINGS};
use crate::{
    AuditRecord, BlobRecord, CallNoteRecord, InvitationRecord, LegRecord, LegState, Write,
};
use callside_core::invitation::{Invitation, InvitationState};
use callside_core::leg::{Direction, Leg, LegId};
use callside_core::message::BlobId;
use callside_core::{PrincipalId, SessionKey};
use serde_json::json;

fn p(id: &str) -> PrincipalId {
    PrincipalId(id.into())
}

fn blob(id: &BlobId, uploader: &str) -> Write {
    let rec = BlobRecord {
        id: id.clone(),
        size: 3,
        mime: "image/png".into(),
        created_at: 1,
    };
    Write::Blob(rec, p(uploader))
}

fn leg(id: &str, who: &str, own: &str) -> Write {
    Write::Leg(LegRecord {
        leg: Leg {
            id: LegId(id.into()),
            principal: p(who),
            own: n(own),
            other: None,
            direction: Direction::Outgoing,
            call_ref: None,
            extension: None,
            conference_id: None,
            reported_at: 5,
            expires_at: 500,
        },
        registry: None,
        lifecycle: None,
        state: LegState::NoMatch,
        reason: None,
        session: None,
    })
}

fn note(id: &str, to: &str) -> Write {
    Write::CallNote(CallNoteRecord {
        id: id.into(),
        kind: "note".into(),
        leg: LegId(format!("leg_{id}")),
        sender: p("dev_b"),
        sender_name: "dev_b phone".into(),
        from: n("+442079460001"),
        to: n(to),
        body: "{\"text\":\"call me\"}".into(),
        created_at: 7,
    })
}

fn invitation(id: &str, to: &str) -> Write {
    Write::Invitation(InvitationRecord {
        invitation: Invitation {
            id: id.into(),
            inviter: p("dev_b"),
            invitee: callside_core::email::Endpoint::Number(n(to)),
            from: Some(n("+442079460001")),
            devices: vec![p("dev_a"), p("dev_c")],
            session: None,
            leg: None,
            via_sms: false,
            state: InvitationState::Pending,
            answered_by: None,
            created_at: 10,
            expires_at: 100,
        },
        inviter_name: "dev_b phone".into(),
        offer: None,
        answer: None,
        path: None,
        component: None,
    })
}

fn table<'a>(data: &'a [PersonalTable], name: &str) -> &'a PersonalTable {
    data.iter()
        .find(|t| t.table == name)
        .unwrap_or_else(|| panic!("no {name} in the export"))
}

pub async fn a_devices_data_is_exported_whole_and_erased_without_touching_others(
    db: &dyn Database,
) {
    let store = db.open().await;
    // dev_a owns +442079460000, dev_b +442079460001, dev_c +442079460002.
    seed(&store, &["dev_a", "dev_b", "dev_c"]).await;
    let key = SessionKey::generate(0);
    let (photo, reply, shared) = (
        BlobId::from_digest(&[1; 32]),
        BlobId::from_digest(&[2; 32]),
        BlobId::from_digest(&[3; 32]),
    );
    let with_blob = |seq: u64, sender: &str, b: &BlobId| {
        let mut m = msg(&key, seq, sender, &format!("c{seq}"));
        m.kind = "file".into();
        m.blob = Some(b.clone());
        Write::Message(m)
    };
    store
        .apply(vec![
            Write::BindEmail {
                device: p("dev_a"),
                email: callside_core::email::Email::parse("a@example.com").unwrap(),
                at: 3,
            },
            Write::BindEmail {
                device: p("dev_b"),
                email: callside_core::email::Email::parse("b@example.com").unwrap(),
                at: 3,
            },
            Write::Session(session(&key, &["dev_a", "dev_b"])),
            blob(&photo, "dev_a"),
            blob(&reply, "dev_b"),
            // The same bytes uploaded by both: b's upload is b's own.
            blob(&shared, "dev_a"),
            blob(&shared, "dev_b"),
            // a's photo granted to c (a composer picture, say): a grant of a's data.
            Write::BlobGrant {
                blob: photo.clone(),
                principal: p("dev_c"),
            },
            with_blob(1, "dev_a", &photo),
            with_blob(2, "dev_b", &reply),
            Write::Message(msg(&key, 3, "dev_a", "c3")),
            leg("leg_a", "dev_a", "+442079460000"),
            leg("leg_b", "dev_b", "+442079460001"),
            note("cn_to_a", "+442079460000"),
            note("cn_to_c", "+442079460002"),
            invitation("inv_to_a", "+442079460000"),
            invitation("inv_to_c", "+442079460002"),
            Write::Audit(AuditRecord {
                at: 8,
                actor: p("dev_a"),
                action: "sms_invitation".into(),
                subject: "+442079460005".into(),
                detail: String::new(),
            }),
        ])
        .await
        .unwrap();

    // The export: every holding, the device's rows, no secrets.
    let data = store.personal_data(p("dev_a")).await.unwrap();
    let names: Vec<&str> = data.iter().map(|t| t.table).collect();
    let listed: Vec<&str> = HOLDINGS.iter().map(|h| h.table).collect();
    assert_eq!(names, listed);
    let rows = |name: &str| table(&data, name).rows.len();
    assert_eq!(rows("emails"), 1);
    assert_eq!(table(&data, "emails").rows[0]["email"], "a@example.com");
    assert_eq!(rows("numbers"), 1);
    assert_eq!(rows("messages"), 2, "the messages a sent");
    assert_eq!(
        table(&data, "messages").rows[1]["body"],
        json!({"text": "m3"}),
        "JSON columns are JSON"
    );
    assert_eq!(rows("legs"), 1);
    assert_eq!(table(&data, "call_notes").rows[0]["id"], "cn_to_a");
    assert_eq!(rows("call_notes"), 1);
    assert_eq!(table(&data, "invitations").rows[0]["id"], "inv_to_a");
    assert_eq!(rows("invitations"), 1);
    assert_eq!(rows("audit_log"), 1);
    assert_eq!(rows("tokens"), 1);
    assert_eq!(rows("principals"), 1);
    for t in &data {
        for row in &t.rows {
            for secret in crate::personal::SECRET_COLUMNS {
                assert!(!row.contains_key(*secret), "{}.{secret} exported", t.table);
            }
        }
    }
    let b_before = store.personal_data(p("dev_b")).await.unwrap();

    store
        .apply(vec![Write::ErasePrincipal {
            id: p("dev_a"),
            at: 99,
        }])
        .await
        .unwrap();

    // a is gone, and so is everything the list deletes.
    assert!(store.principal(p("dev_a")).await.unwrap().is_none());
    let after = store.personal_data(p("dev_a")).await.unwrap();
    for t in &after {
        match t.on_erase {
            OnErase::Delete => assert!(t.rows.is_empty(), "{} kept {:?}", t.table, t.rows),
            OnErase::Keep(_) => assert_eq!(
                t.rows.len(),
                table(&data, t.table).rows.len(),
                "{} is kept",
                t.table
            ),
            OnErase::Redact(_) => {}
        }
    }
    let messages = &table(&after, "messages").rows;
    assert_eq!(messages.len(), 2, "a's messages keep their places");
    for m in messages {
        assert_eq!(m["kind"], "erased");
        assert_eq!(m["body"], json!({}));
        assert!(m["client_id"].is_null());
    }
    let participant = &table(&after, "participants").rows[0];
    assert!(participant["number"].is_null());
    assert_eq!(table(&after, "principals").rows[0]["name"], "");
    assert!(!table(&after, "principals").rows[0]["deleted_at"].is_null());

    // Nobody reads a's photo any more; b keeps its own upload of the shared bytes, its reply
    // and its readable copy of the log.
    let may = |who: &str, b: &BlobId| store.may_read_blob(p(who), b.clone());
    assert!(!may("dev_b", &photo).await.unwrap());
    assert!(!may("dev_c", &photo).await.unwrap(), "the grant went too");
    assert!(may("dev_b", &shared).await.unwrap());
    assert!(may("dev_b", &reply).await.unwrap());
    assert_eq!(store.blobs_of(p("dev_b")).await.unwrap(), {
        let mut v = vec![reply.clone(), shared.clone()];
        v.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        v
    });
    let log = store.messages_after(key.clone(), 0, 10).await.unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[1].body, "{\"text\":\"m2\"}");

    // Of b's data only what named a went: the note and invitation to a's number.
    let b_after = store.personal_data(p("dev_b")).await.unwrap();
    for t in &b_after {
        let before = table(&b_before, t.table).rows.len();
        let expected = match t.table {
            "call_notes" | "invitations" => before - 1,
            // Its invitations rang a and c: all went with the one to a, and a's entry of the
            // one to c.
            "invitation_devices" => 1,
            _ => before,
        };
        assert_eq!(t.rows.len(), expected, "b's {}", t.table);
    }
    assert_eq!(
        table(&b_after, "invitations").rows[0]["id"],
        "inv_to_c",
        "the invitation to c stays"
    );

    // Unused blobs go (their bytes are the caller's to remove); used ones stay.
    store
        .apply(vec![
            Write::DeleteBlobIfUnused(photo.clone()),
            Write::DeleteBlobIfUnused(shared.clone()),
            Write::DeleteBlobIfUnused(reply.clone()),
        ])
        .await
        .unwrap();
    assert!(store.blob(photo).await.unwrap().is_none());
    assert!(store.blob(shared).await.unwrap().is_some());
    assert!(store.blob(reply).await.unwrap().is_some());

    // Erasing again changes nothing and fails nothing.
    store
        .apply(vec![Write::ErasePrincipal {
            id: p("dev_a"),
            at: 100,
        }])
        .await
        .unwrap();
    let again = store.personal_data(p("dev_a")).await.unwrap();
    assert_eq!(again, after);
}
