//! Blobs and who may read them.

use super::fixtures::*;
use super::Database;
use crate::{BlobRecord, Write};
use callside_core::message::BlobId;
use callside_core::{PrincipalId, SessionKey};

pub async fn blobs_are_readable_by_uploader_and_participants_only(db: &dyn Database) {
    let store = db.open().await;
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
