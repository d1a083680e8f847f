//! Browsers linked to a device (issue 14): a one-time code, short-lived access tokens with
//! rotating refresh tokens, what a browser may not do, unlinking, WebSocket tickets and CORS.

use super::*;
use std::time::Duration;

impl Api {
    async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, token, None).await
    }

    /// A link code from device `token`, exchanged; returns the tokens' answer.
    async fn linked_browser(&self, token: &str, name: &str) -> Value {
        let code = self.post("/v1/me/browser-links", token, json!({})).await;
        assert_eq!(code.status, StatusCode::CREATED, "{:?}", code.body);
        let r = self
            .post(
                "/v1/browser/link",
                "",
                json!({"code": code.body["code"], "name": name}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_browser_acts_as_its_device_with_tokens_that_rotate() {
    let api = api().await;
    let (alice_id, alice) = api.device("Alice", &[ALICE]).await;
    let (_, bob) = api.device("Bob", &[BOB]).await;

    let code = api.post("/v1/me/browser-links", &alice, json!({})).await;
    assert_eq!(code.status, StatusCode::CREATED, "{:?}", code.body);
    let typed = s(&code.body["code"]).to_lowercase().replace('-', " ");
    let linked = api
        .post(
            "/v1/browser/link",
            "",
            json!({"code": typed, "name": "Firefox on the office PC"}),
        )
        .await;
    assert_eq!(linked.status, StatusCode::CREATED, "{:?}", linked.body);
    assert_eq!(linked.body["browser"]["device"], alice_id.as_str());
    let access = s(&linked.body["access_token"]);
    assert!(access.starts_with("cs_brw_"), "{access}");

    // The code worked once.
    let again = api
        .post("/v1/browser/link", "", json!({"code": code.body["code"]}))
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::UNAUTHORIZED, "invalid_link_code")
    );

    // It is the device for sessions and messages.
    assert_eq!(
        api.get("/v1/me", &access).await.body["id"],
        alice_id.as_str()
    );
    let key = {
        api.leg(&alice, ALICE, Some(BOB), "outgoing").await;
        let r = api.leg(&bob, BOB, Some(ALICE), "incoming").await;
        s(&r.body["session"]["key"])
    };
    let sent = api
        .send(&access, &key, "m1", "text", json!({"text": "from the PC"}))
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{:?}", sent.body);
    assert_eq!(api.messages(&bob, &key, 0).await.len(), 1);

    // But it does not manage the device's identity.
    for (path, body) in [
        ("/v1/me/token", json!({})),
        ("/v1/me/browser-links", json!({})),
        ("/v1/me/numbers/proofs", json!({})),
        ("/v1/me/emails", json!({"email": "a@example.com"})),
    ] {
        let r = api.post(path, &access, body).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "device_only"),
            "{path}"
        );
    }
    assert_eq!(
        api.get("/v1/me/browsers", &access).await.code(),
        "device_only"
    );

    // A refresh replaces both tokens; the old access token stops at once.
    let refreshed = api
        .post(
            "/v1/browser/refresh",
            "",
            json!({"refresh_token": linked.body["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{:?}", refreshed.body);
    let access2 = s(&refreshed.body["access_token"]);
    assert_ne!(access2, access);
    assert_eq!(
        api.get("/v1/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(api.get("/v1/me", &access2).await.status, StatusCode::OK);

    // The replaced refresh token presented again: a copy exists, so the browser is unlinked.
    let reused = api
        .post(
            "/v1/browser/refresh",
            "",
            json!({"refresh_token": linked.body["refresh_token"]}),
        )
        .await;
    assert_eq!(
        (reused.status, reused.code()),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused")
    );
    assert_eq!(
        api.get("/v1/me", &access2).await.status,
        StatusCode::UNAUTHORIZED
    );
    let current = api
        .post(
            "/v1/browser/refresh",
            "",
            json!({"refresh_token": refreshed.body["refresh_token"]}),
        )
        .await;
    assert_eq!(current.code(), "invalid_refresh_token");
    assert!(api.get("/v1/me/browsers", &alice).await.body["browsers"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn devices_list_and_unlink_browsers_and_browsers_sign_out() {
    let api = api().await;
    let (alice_id, alice) = api.device("Alice", &[ALICE]).await;
    let (_, bob) = api.device("Bob", &[BOB]).await;
    let office = api.linked_browser(&alice, "office").await;
    let home = api.linked_browser(&alice, "home").await;
    let bobs = api.linked_browser(&bob, "Bob's").await;

    let list = api.get("/v1/me/browsers", &alice).await;
    let mut names: Vec<&str> = list.body["browsers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    // Oldest first, ties (the same millisecond) by id: either order here.
    names.sort_unstable();
    assert_eq!(names, ["home", "office"]);

    // Another device's browser is not Alice's to unlink.
    let r = api
        .delete(
            &format!(
                "/v1/me/browsers/{}",
                bobs["browser"]["id"].as_str().unwrap()
            ),
            &alice,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let bobs_access = s(&bobs["access_token"]);
    assert_eq!(api.get("/v1/me", &bobs_access).await.status, StatusCode::OK);

    let r = api
        .delete(
            &format!(
                "/v1/me/browsers/{}",
                office["browser"]["id"].as_str().unwrap()
            ),
            &alice,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/v1/me", &s(&office["access_token"])).await.status,
        StatusCode::UNAUTHORIZED
    );
    let home_access = s(&home["access_token"]);
    assert_eq!(api.get("/v1/me", &home_access).await.status, StatusCode::OK);

    // A browser signs itself out; a device's own token is not a browser's.
    let r = api.delete("/v1/browser", &alice).await;
    assert_eq!(r.code(), "not_a_browser");
    assert_eq!(
        api.delete("/v1/browser", &home_access).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get("/v1/me", &home_access).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Deleting a device ends its browsers.
    let bob_id = api.get("/v1/me", &bob).await.body["id"].clone();
    let r = api
        .delete(
            &format!("/v1/admin/devices/{}", bob_id.as_str().unwrap()),
            &api.admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(
        api.get("/v1/me", &bobs_access).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Only devices link browsers.
    let svc = api.service("ivr", &["automated_system"], &["+4420"]).await;
    for token in [&svc, &api.admin] {
        let r = api.post("/v1/me/browser-links", token, json!({})).await;
        assert_eq!(r.code(), "devices_only");
    }
    assert_eq!(
        api.get("/v1/me", &alice).await.body["id"],
        alice_id.as_str()
    );
}

#[tokio::test]
async fn bad_codes_expired_tokens_and_guessing_are_refused() {
    let api = api_with(|c| {
        c.browsers.link_ttl = Duration::ZERO;
        c.limits.link_attempts_per_source_minute = 3;
    })
    .await;
    let (_, alice) = api.device("Alice", &[ALICE]).await;
    let code = api.post("/v1/me/browser-links", &alice, json!({})).await;
    for (body, code) in [
        (json!({"code": code.body["code"]}), "invalid_link_code"), // expired at once
        (json!({"code": "not a code"}), "invalid_link_code"),
        (
            json!({"code": "ABCDE-FGHJK", "name": "x\u{7}"}),
            "invalid_name",
        ),
        (json!({"code": "ABCDE-FGHJK", "extra": 1}), "invalid_json"),
    ] {
        let r = api.post("/v1/browser/link", "", body.clone()).await;
        assert_eq!(r.code(), code, "{body}: {:?}", r.body);
    }
    // Three attempts a minute here: the two codes above and this refresh token (a bad name or
    // body never reached the check); the fourth is refused whatever it presents.
    let r = api
        .post(
            "/v1/browser/refresh",
            "",
            json!({"refresh_token": "cs_brr_guess"}),
        )
        .await;
    assert_eq!(r.code(), "invalid_refresh_token");
    let r = api
        .post(
            "/v1/browser/refresh",
            "",
            json!({"refresh_token": "cs_brr_guess2"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    assert!(api.get("/v1/me/browsers", &alice).await.body["browsers"]
        .as_array()
        .unwrap()
        .is_empty());

    // An access token past its time says so.
    let api = api_with(|c| c.browsers.access_ttl = Duration::ZERO).await;
    let (_, alice) = api.device("Alice", &[ALICE]).await;
    let linked = api.linked_browser(&alice, "old").await;
    let r = api.get("/v1/me", &s(&linked["access_token"])).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "token_expired")
    );
    assert!(r.body["detail"].as_str().unwrap().contains("refresh"));
}

#[tokio::test]
async fn websocket_tickets_are_for_principals_with_sessions() {
    let api = api().await;
    let (_, alice) = api.device("Alice", &[ALICE]).await;
    let linked = api.linked_browser(&alice, "PC").await;
    for token in [alice.clone(), s(&linked["access_token"])] {
        let r = api.post("/v1/ws/tickets", &token, json!({})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert!(r.body["ticket"].as_str().unwrap().starts_with("cs_wst_"));
    }
    let r = api.post("/v1/ws/tickets", &api.admin, json!({})).await;
    assert_eq!(r.code(), "admin_only");
    let r = api.post("/v1/ws/tickets", "", json!({})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn only_configured_origins_get_cors_answers() {
    let api = api_with(|c| c.browsers.origins = vec!["https://app.example.com".into()]).await;
    let preflight = |origin: &'static str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/v1/sessions")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .unwrap()
    };
    let ok = api.raw(preflight("https://app.example.com")).await;
    assert_eq!(
        ok.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    assert!(ok.headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .contains("authorization"));
    let other = api.raw(preflight("https://evil.example.com")).await;
    assert!(!other
        .headers
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));

    // Without configured origins there are no CORS answers at all.
    let plain = super::api().await;
    let none = plain.raw(preflight("https://app.example.com")).await;
    assert!(!none
        .headers
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn the_operators_site_exchanges_its_token_for_a_users_browser_link() {
    let api = api().await;
    let (alice_id, alice) = api.device("Alice", &[ALICE]).await;
    let r = api
        .post(
            &format!("/v1/admin/devices/{alice_id}/browser-links"),
            &api.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let linked = api
        .post(
            "/v1/browser/link",
            "",
            json!({"code": r.body["code"], "name": "signed in on example.com"}),
        )
        .await;
    assert_eq!(linked.status, StatusCode::CREATED, "{:?}", linked.body);
    assert_eq!(
        api.get("/v1/me", &s(&linked.body["access_token"]))
            .await
            .body["id"],
        alice_id.as_str()
    );

    // Only the operator, only for devices that exist.
    let r = api
        .post(
            &format!("/v1/admin/devices/{alice_id}/browser-links"),
            &alice,
            json!({}),
        )
        .await;
    assert_eq!(r.code(), "admin_only");
    let svc = api.service("ivr", &["automated_system"], &["+4420"]).await;
    let svc_id = api.get("/v1/me", &svc).await.body["id"].clone();
    for id in ["dev_nobody", svc_id.as_str().unwrap()] {
        let r = api
            .post(
                &format!("/v1/admin/devices/{id}/browser-links"),
                &api.admin,
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}: {:?}", r.body);
    }
}
