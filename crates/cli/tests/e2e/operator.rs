//! What the operator runs: metrics, and the files the server keeps.

use super::*;

/// Issue 17 (privacy): `/metrics` is the operator's. On the main listener it needs the admin
/// token; a scraper that cannot send one gets a listener of its own (`metrics.listen`).
#[tokio::test]
async fn metrics_need_the_operators_token_or_their_own_listener() {
    let w = world(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let (_alice, _bob, _key) = paired(&w).await;
    let carol = w.device("Carol", "+442079460003").await.token;
    let http = reqwest::Client::new();
    let get = |url: String, token: Option<String>| {
        let http = http.clone();
        async move {
            let mut req = http.get(url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let main = format!("{}/metrics", w.base);
    assert_eq!(get(main.clone(), None).await.0, 401);
    assert_eq!(get(main.clone(), Some(carol)).await.0, 403);
    let admin = w.running.as_ref().unwrap().admin_token.clone();
    let (status, text) = get(main, Some(admin)).await;
    assert_eq!(status, 200);
    assert!(text.contains("callside_sessions_created_total 1"), "{text}");
    // The metrics listener serves the same figures without a token, and nothing else.
    let at = w
        .running
        .as_ref()
        .unwrap()
        .metrics_addr
        .expect("a metrics listener");
    let (status, open) = get(format!("http://{at}/metrics"), None).await;
    assert_eq!(status, 200);
    assert!(open.contains("callside_sessions_created_total 1"), "{open}");
    assert_eq!(get(format!("http://{at}/v1/me"), None).await.0, 404);
    w.stop().await;
}
