//! The write contract: group commits in which one request fails alone.

use super::fixtures::*;
use super::Database;
use crate::Write;
use callside_core::SessionKey;

pub async fn one_failing_request_does_not_fail_its_batch(db: &dyn Database) {
    let store = db.open().await;
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
