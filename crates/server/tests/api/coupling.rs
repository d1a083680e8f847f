//! A PC coupled to a plain phone's number (S1-F0/F3): it gets the sessions of calls the network
//! reports for the number always, only while it says it is near, or never.

use super::*;

#[tokio::test]
async fn a_device_gets_network_calls_as_it_is_coupled() {
    let api = api().await;
    let (_, pc) = api.device("Bob's PC", &[BOB]).await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let sip = api
        .service("kamailio", &["network_element"], &["+44"])
        .await;
    let call = |r: &str| {
        api.post(
            "/v1/network/calls",
            &sip,
            json!({"call_ref": r, "caller": ALICE, "callee": BOB, "event": "ringing"}),
        )
    };
    let sessions = |t: &str| {
        let t = t.to_owned();
        let api = &api;
        async move {
            api.get("/v1/sessions", &t).await.body["sessions"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        api.get("/v1/me/coupling", &pc).await.body,
        json!({"mode": "always"})
    );
    call("c1").await;
    assert_eq!(sessions(&pc).await, 1, "coupled always, by default");

    let r = api
        .put("/v1/me/coupling", &pc, json!({"mode": "when_near"}))
        .await;
    assert_eq!(r.body["mode"], "when_near", "{:?}", r.body);
    call("c2").await;
    assert_eq!(
        sessions(&pc).await,
        1,
        "not near: not in the call's session"
    );
    let r = api.post("/v1/me/near", &pc, json!({"secs": 600})).await;
    assert!(r.body["near_until"].as_i64().unwrap() > 0, "{:?}", r.body);
    call("c3").await;
    assert_eq!(sessions(&pc).await, 2, "near: in it");
    api.post("/v1/me/near", &pc, json!({"secs": 0})).await;
    call("c4").await;
    assert_eq!(sessions(&pc).await, 2, "left");
    api.put("/v1/me/coupling", &pc, json!({"mode": "never"}))
        .await;
    api.post("/v1/me/near", &pc, json!({"secs": 600})).await;
    call("c5").await;
    assert_eq!(sessions(&pc).await, 2, "never, near or not");
    assert_eq!(sessions(&a).await, 5, "the caller's app is in every one");

    // Bad input changes nothing; only devices are coupled.
    for bad in [
        json!({"mode": "sometimes"}),
        json!({}),
        json!({"mode": "always", "x": 1}),
    ] {
        let r = api.put("/v1/me/coupling", &pc, bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", r.body);
    }
    let r = api.post("/v1/me/near", &pc, json!({"secs": 86_400})).await;
    assert_eq!(r.code(), "invalid_near");
    assert_eq!(api.get("/v1/me/coupling", &pc).await.body["mode"], "never");
    let r = api.get("/v1/me/coupling", &sip).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "devices_only")
    );
}
