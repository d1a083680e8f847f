//! Derived data under load and across a restart: transformer work runs several at a time, and
//! work under way when the server stops is done after it starts again, once.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[tokio::test]
async fn transformer_work_runs_side_by_side_and_survives_a_restart() {
    const SECRET: &str = "a-shared-secret-for-tests";
    // The transformer holds every request until it is released, counting how many it holds.
    let holding = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let released = Arc::new(AtomicBool::new(false));
    let (h, m, r) = (holding.clone(), most.clone(), released.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/count", listener.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/count",
        axum::routing::post(move |body: String| {
            let (h, m, r) = (h.clone(), m.clone(), r.clone());
            async move {
                let now = h.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                while !r.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                h.fetch_sub(1, Ordering::SeqCst);
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                axum::Json(serde_json::json!({"twice": v["body"]["n"].as_i64().unwrap() * 2}))
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let mut w = world(move |c| {
        c.transformers
            .insert("count".into(), (url.clone(), SECRET.into()));
    })
    .await;
    let (alice, bob, key) = paired(&w).await;
    for n in 1..=3 {
        alice
            .send_message(
                &key,
                &callside_client::proto::message::SendMessage {
                    id: callside_client::new_message_id(),
                    kind: "app/count".into(),
                    body: serde_json::json!({ "n": n }),
                },
            )
            .await
            .unwrap();
    }
    // All three are with the transformer at once: one at a time would stop at the first.
    for _ in 0..500 {
        if most.load(Ordering::SeqCst) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(most.load(Ordering::SeqCst), 3, "posts run side by side");

    // The server stops with the three under way; started again, it does them, once each.
    w.restart().await;
    released.store(true, Ordering::SeqCst);
    let derived = |log: &[callside_client::proto::message::Message]| -> Vec<i64> {
        let mut v: Vec<i64> = log
            .iter()
            .filter(|m| m.kind == "derived/count")
            .map(|m| m.body["data"]["twice"].as_i64().unwrap())
            .collect();
        v.sort();
        v
    };
    let mut log = Vec::new();
    for _ in 0..300 {
        log = bob
            .messages(&key, callside_client::MessageQuery::default())
            .await
            .unwrap()
            .messages;
        if derived(&log).len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(derived(&log), [2, 4, 6], "{log:?}");
    // And nothing more arrives later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = bob
        .messages(&key, callside_client::MessageQuery::default())
        .await
        .unwrap()
        .messages;
    assert_eq!(derived(&log), [2, 4, 6]);
    w.stop().await;
}
