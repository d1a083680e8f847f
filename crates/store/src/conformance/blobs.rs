//! Blobs and who may read them.

use super::fixtures::*;
use super::Database;
use crate::{BlobRecord, Write};
use callside_core::message::BlobId;
use callside_core::{PrincipalId, SessionKey};

/// Three bytes of text stored by `uploader`.
fn stored(blob: &BlobId, uploader: &str) -> Write {
    let rec = BlobRecord {
        id: blob.clone(),
        size: 3,
        mime: "text/plain".into(),
        created_at: 1,
    };
    Write::Blob(rec, PrincipalId(uploader.into()))
}

pub async fn blobs_are_readable_by_uploader_and_participants_only(db: &dyn Database) {
    let store = db.open().await;
    let key = SessionKey::generate(0);
    let blob = BlobId::from_digest(&[7; 32]);
    seed(&store, &["dev_a", "dev_b"]).await;
    store
        .apply(vec![
            Write::Session(session(&key, &["dev_a", "dev_b"])),
            stored(&blob, "dev_u"),
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

pub async fn a_later_participant_reads_a_blob_only_if_a_message_it_may_see_names_it(
    db: &dyn Database,
) {
    use callside_core::session::HistoryConsent;
    let store = db.open().await;
    let key = SessionKey::generate(0);
    let blob = BlobId::from_digest(&[9; 32]);
    seed(&store, &["dev_a", "dev_b", "dev_c"]).await;
    let with_blob = |seq: u64| {
        let mut m = msg(&key, seq, "dev_a", &format!("f{seq}"));
        m.blob = Some(blob.clone());
        Write::Message(m)
    };
    store
        .apply(vec![
            Write::Session(session(&key, &["dev_a", "dev_b"])),
            stored(&blob, "dev_a"),
            with_blob(1),
            // c joins after message 1; b's word on history is kept with it.
            Write::Participant {
                session: key.clone(),
                principal: PrincipalId("dev_c".into()),
                number: None,
                joined_at: 5,
                joined_seq: 1,
            },
            Write::History {
                session: key.clone(),
                principal: PrincipalId("dev_b".into()),
                consent: Some(HistoryConsent::Withhold),
            },
        ])
        .await
        .unwrap();
    let rec = store.session(key.clone()).await.unwrap().unwrap();
    let c = rec
        .participants
        .iter()
        .find(|p| p.principal.0 == "dev_c")
        .unwrap();
    assert_eq!(c.joined_seq, 1);
    let b = rec
        .participants
        .iter()
        .find(|p| p.principal.0 == "dev_b")
        .unwrap();
    assert_eq!(
        (b.joined_seq, b.history),
        (0, Some(HistoryConsent::Withhold))
    );
    let may = |p: &str| store.may_read_blob(PrincipalId(p.into()), blob.clone());
    assert!(may("dev_b").await.unwrap());
    assert!(!may("dev_c").await.unwrap(), "named only before c joined");
    // Named again after c joined: now c may read it.
    store.apply(vec![with_blob(2)]).await.unwrap();
    assert!(may("dev_c").await.unwrap());
}

pub async fn messages_committed_together_keep_their_order_and_the_newest_blob_reference(
    db: &dyn Database,
) {
    let store = db.open().await;
    let key = SessionKey::generate(0);
    let blob = BlobId::from_digest(&[7; 32]);
    seed(&store, &["dev_a", "dev_b", "dev_c"]).await;
    store
        .apply(vec![
            Write::Session(session(&key, &["dev_a", "dev_b"])),
            stored(&blob, "dev_a"),
            Write::Participant {
                session: key.clone(),
                principal: PrincipalId("dev_c".into()),
                number: None,
                joined_at: 5,
                joined_seq: 20,
            },
        ])
        .await
        .unwrap();
    // Fifty requests queued at once, so a backend may commit them together; the blob is named
    // before c joined (10) and after (40), and one request holds two messages.
    let mut waits = Vec::new();
    for seq in 1..=50u64 {
        let mut m = msg(&key, seq, "dev_a", &format!("m{seq}"));
        if seq == 10 || seq == 40 {
            m.blob = Some(blob.clone());
        }
        let mut writes = vec![Write::Message(m)];
        if seq == 25 {
            writes.push(Write::Message(msg(&key, 51, "dev_b", "extra")));
        }
        waits.push(store.submit(writes, None).await.unwrap());
    }
    for w in waits {
        w.await.unwrap().unwrap();
    }
    let log = store.messages_after(key.clone(), 0, 100).await.unwrap();
    let seqs: Vec<u64> = log.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=51).collect::<Vec<_>>());
    // Past the end is nothing, however large (a sequence number must not wrap to negative).
    for after in [51, u64::MAX] {
        assert!(store
            .messages_after(key.clone(), after, 100)
            .await
            .unwrap()
            .is_empty());
    }
    let ids: Vec<&str> = log.iter().filter_map(|m| m.client_id.as_deref()).collect();
    assert_eq!(ids[9], "m10");
    assert_eq!(ids[50], "extra");
    // c joined at 20: it may read the blob because message 40 names it (the newest reference
    // counts, whichever order a backend wrote them in).
    assert!(store
        .may_read_blob(PrincipalId("dev_c".into()), blob.clone())
        .await
        .unwrap());
    assert_eq!(store.session(key).await.unwrap().unwrap().last_seq, 51);
}

pub async fn only_unreferenced_blobs_are_collected(db: &dyn Database) {
    use callside_core::card::{Card, CardField, FieldKind, FieldValue};
    let store = db.open().await;
    let key = SessionKey::generate(0);
    seed(&store, &["dev_a", "dev_b"]).await;
    let ids: Vec<BlobId> = (1..=5u8).map(|i| BlobId::from_digest(&[i; 32])).collect();
    let [orphan, sent, granted, photo, fresh] = [0, 1, 2, 3, 4].map(|i| ids[i].clone());
    let mut with_file = msg(&key, 1, "dev_a", "f");
    with_file.blob = Some(sent.clone());
    let mut young = BlobRecord {
        id: fresh.clone(),
        size: 3,
        mime: "text/plain".into(),
        created_at: 500,
    };
    store
        .apply(vec![
            Write::Session(session(&key, &["dev_a", "dev_b"])),
            stored(&orphan, "dev_a"),
            stored(&sent, "dev_a"),
            stored(&granted, "dev_a"),
            stored(&photo, "dev_a"),
            Write::Blob(young.clone(), PrincipalId("dev_a".into())),
            Write::Message(with_file),
            Write::BlobGrant {
                blob: granted.clone(),
                principal: PrincipalId("dev_b".into()),
            },
            Write::Card {
                principal: PrincipalId("dev_a".into()),
                card: Card {
                    fields: vec![CardField {
                        id: "photo".into(),
                        kind: FieldKind::Photo,
                        value: FieldValue::Text(photo.as_str().to_owned()),
                        label: None,
                        version: 1,
                        updated_at: 1,
                    }],
                },
            },
        ])
        .await
        .unwrap();
    // Only the orphan is old enough and held by nothing but its uploader.
    assert_eq!(
        store.unreferenced_blobs(100, 10).await.unwrap(),
        std::slice::from_ref(&orphan)
    );
    assert_eq!(
        store.unreferenced_blobs(1000, 10).await.unwrap(),
        [orphan.clone(), fresh.clone()],
        "oldest first"
    );
    assert_eq!(
        store.unreferenced_blobs(1000, 1).await.unwrap(),
        std::slice::from_ref(&orphan)
    );
    let collect = |before| {
        ids.iter()
            .map(|b| Write::CollectBlob {
                id: b.clone(),
                before,
            })
            .collect::<Vec<_>>()
    };
    store.apply(collect(100)).await.unwrap();
    assert!(store.blob(orphan.clone()).await.unwrap().is_none());
    assert!(
        store.blob(fresh.clone()).await.unwrap().is_some(),
        "too young"
    );
    // Uploaded again since the list was made: not collected at the old time.
    let mut again = young.clone();
    again.created_at = 2000;
    store
        .apply(vec![Write::Blob(again, PrincipalId("dev_b".into()))])
        .await
        .unwrap();
    store.apply(collect(1000)).await.unwrap();
    assert!(
        store.blob(fresh.clone()).await.unwrap().is_some(),
        "uploaded again"
    );
    store.apply(collect(3000)).await.unwrap();
    assert!(store.blob(fresh.clone()).await.unwrap().is_none());
    for kept in [&sent, &granted, &photo] {
        assert!(store.blob(kept.clone()).await.unwrap().is_some(), "{kept}");
        assert!(store
            .may_read_blob(PrincipalId("dev_a".into()), kept.clone())
            .await
            .unwrap());
    }
    assert!(!store
        .may_read_blob(PrincipalId("dev_a".into()), orphan.clone())
        .await
        .unwrap());
    // Uploading the same bytes again stores them anew.
    young.id = orphan.clone();
    store
        .apply(vec![Write::Blob(young, PrincipalId("dev_b".into()))])
        .await
        .unwrap();
    assert!(store.blob(orphan).await.unwrap().is_some());
    assert!(store.unreferenced_blobs(100, 10).await.unwrap().is_empty());
}
