//! Authentication, provisioning, tokens, operational endpoints and the API description.

use super::*;

#[tokio::test]
async fn every_request_needs_a_valid_token_and_errors_are_problem_documents() {
    let api = api().await;
    for (token, code) in [
        ("", "unauthenticated"),
        ("cs_dev_not-a-real-token", "unknown_token"),
    ] {
        let r = api.get("/v1/me", token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.code(), code);
        assert_eq!(r.headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(r.body["status"], 401);
        assert_eq!(
            r.body["type"],
            format!("https://callside.dev/problems/{code}")
        );
    }
    let r = api.get("/v1/me", &api.admin).await;
    assert_eq!(r.body["kind"], "admin");
    let r = api.get("/v1/nope", &api.admin).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn provisioning_normalises_numbers_and_rejects_bad_input() {
    let api = api_with(|c| c.default_region = Some("GB".parse().unwrap())).await;
    let r = api
        .post(
            "/v1/admin/devices",
            &api.admin,
            json!({"name": "Alice", "numbers": ["020 7946 0001", "+44-20-7946-0001"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["device"]["numbers"], json!(["+442079460001"]));
    let token = r.body["token"].as_str().unwrap().to_owned();
    let me = api.get("/v1/me", &token).await;
    assert_eq!(
        (me.body["kind"].as_str(), me.body["numbers"][0].as_str()),
        (Some("device"), Some("+442079460001"))
    );

    let r = api
        .post(
            "/v1/admin/devices",
            &api.admin,
            json!({"name": "X", "numbers": ["12"]}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_number")
    );
    assert!(
        r.body["detail"].as_str().unwrap().contains("`12`"),
        "{:?}",
        r.body
    );
    let r = api
        .post(
            "/v1/admin/devices",
            &api.admin,
            json!({"name": "X", "numbers": []}),
        )
        .await;
    assert_eq!(r.code(), "invalid_device");
    let r = api
        .post(
            "/v1/admin/devices",
            &api.admin,
            json!({"name": "X", "numbers": ["+442079460009"], "extra": 1}),
        )
        .await;
    assert_eq!(r.code(), "invalid_json");
    let r = api
        .call(Method::POST, "/v1/admin/devices", &api.admin, None)
        .await;
    assert_eq!(r.code(), "invalid_json");
    // Bodies are objects: serde would take an array of a struct's fields (and `[]` for one
    // whose fields all have defaults).
    for body in [json!([]), json!(["X", ["+442079460009"]])] {
        let r = api
            .call(Method::POST, "/v1/admin/devices", &api.admin, Some(body))
            .await;
        assert_eq!(r.code(), "invalid_json");
    }
    let r = api
        .call(Method::PUT, "/v1/me/capabilities", &token, Some(json!([])))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    // Devices are not operators.
    let r = api
        .post(
            "/v1/admin/devices",
            &token,
            json!({"name": "X", "numbers": [BOB]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "admin_only"));
    // Nothing of the refused requests was stored.
    let list = api.get("/v1/admin/devices", &api.admin).await;
    assert_eq!(list.body["devices"].as_array().unwrap().len(), 1);

    let r = api
        .post(
            "/v1/admin/service-accounts",
            &api.admin,
            json!({"name": "sip", "scopes": ["network_element"], "ranges": ["+44 20"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["account"]["ranges"], json!(["+4420"]));
    let r = api
        .post(
            "/v1/admin/service-accounts",
            &api.admin,
            json!({"name": "sip", "scopes": ["network_element"], "ranges": ["44"]}),
        )
        .await;
    assert_eq!(r.code(), "invalid_number");
}

#[tokio::test]
async fn rotated_and_deleted_tokens_stop_working_at_once() {
    let api = api().await;
    let (id, token) = api.device("Alice", &[ALICE]).await;
    assert_eq!(api.get("/v1/me", &token).await.status, StatusCode::OK);
    let r = api
        .post(
            &format!("/v1/admin/devices/{id}/token"),
            &api.admin,
            json!(null),
        )
        .await;
    let fresh = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get("/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(api.get("/v1/me", &fresh).await.status, StatusCode::OK);
    let r = api
        .call(
            Method::DELETE,
            &format!("/v1/admin/devices/{id}"),
            &api.admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/v1/me", &fresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = api
        .call(
            Method::DELETE,
            &format!("/v1/admin/devices/{id}"),
            &api.admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let api = api().await;
    let r = api.get("/v1/openapi.json", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = r.body["paths"].as_object().unwrap();
    for p in [
        "/v1/me",
        "/v1/admin/devices",
        "/v1/admin/devices/{id}",
        "/v1/admin/devices/{id}/token",
        "/v1/admin/service-accounts",
        "/v1/admin/service-accounts/{id}",
        "/v1/admin/service-accounts/{id}/token",
        "/v1/legs",
        "/v1/legs/{id}",
        "/v1/legs/{id}/answer",
        "/v1/legs/{id}/end",
        "/v1/network/calls",
        "/v1/sessions",
        "/v1/sessions/{key}",
        "/v1/sessions/{key}/close",
        "/v1/sessions/{key}/transfer",
        "/v1/sessions/{key}/history",
        "/v1/sessions/{key}/messages",
        "/v1/sessions/{key}/ack",
        "/v1/blobs",
        "/v1/blobs/{id}",
        "/v1/me/token",
        "/v1/me/numbers/proofs",
        "/v1/me/numbers/proofs/{id}",
        "/v1/me/numbers/proofs/{id}/complete",
        "/v1/me/numbers/{number}",
        "/v1/devices",
        "/v1/sms/inbound",
        "/v1/connection-data",
        "/v1/invitations",
        "/v1/invitations/{id}",
        "/v1/invitations/{id}/accept",
        "/v1/invitations/{id}/decline",
        "/v1/invitations/{id}/cancel",
        "/v1/me/push",
        "/v1/me/push/{id}",
        "/v1/admin/audit",
        "/v1/me/emails",
        "/v1/me/emails/validations/{id}",
        "/v1/me/emails/validations/{id}/complete",
        "/v1/me/emails/{email}",
        "/v1/me/card",
        "/v1/me/audiences",
        "/v1/legs/{id}/note",
        "/v1/me/call-log",
        "/v1/me/card-policy",
        "/v1/me/card/fetch",
        "/v1/passports",
        "/v1/me/card-cache",
        "/v1/admin/components/{id}",
        "/v1/components",
        "/v1/components/{id}",
        "/v1/me/capabilities",
        "/v1/sessions/{key}/capabilities",
        "/v1/sessions/{key}/components",
        "/v1/sessions/{key}/components/{id}/installed",
        "/v1/legs/{id}/component",
        "/v1/me/screen",
        "/v1/network/click-to-dial",
        "/v1/sessions/{key}/end-call",
        "/v1/me/coupling",
        "/v1/me/near",
        "/v1/me/browser-links",
        "/v1/me/browsers",
        "/v1/me/browsers/{id}",
        "/v1/browser",
        "/v1/browser/link",
        "/v1/browser/refresh",
        "/v1/ws/tickets",
        "/v1/admin/devices/{id}/browser-links",
        "/v1/admin/merchants",
        "/v1/admin/merchants/{id}",
        "/v1/admin/merchants/{id}/button-secret",
        "/v1/merchant",
        "/v1/merchant/links",
        "/v1/merchant/links/{id}",
        "/v1/merchant/pages",
        "/v1/merchant/pages/{code}",
        "/v1/merchant/routing",
        "/v1/merchant/routing/dry-run",
        "/v1/merchant/calls",
        "/v1/merchant/calls/{id}",
        "/v1/merchant/calls/{id}/state",
        "/v1/clicks",
        "/v1/admin/tokens/unused",
        "/v1/admin/devices/{id}/export",
        "/v1/admin/devices/{id}/erase",
        "/v1/me/export",
        "/v1/clicks/{id}",
        "/v1/clicks/{id}/hangup",
        "/v1/merchant/agents",
        "/v1/merchant/agents/{id}",
        "/v1/agent/presence",
        "/v1/agent/call",
        "/v1/agent/calls/{id}/accept",
        "/v1/agent/calls/{id}/decline",
        "/v1/agent/calls/{id}/end",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    assert_eq!(
        paths.len(),
        105,
        "a route was added without documenting it here"
    );
}

#[tokio::test]
async fn health_and_metrics() {
    let api = api().await;
    assert_eq!(api.get("/healthz", "").await.status, StatusCode::OK);
    assert_eq!(api.get("/readyz", "").await.status, StatusCode::OK);
    let (alice, _, _) = api.paired().await;
    // The counters are the operator's (issue 17): no token, or a device's, gets nothing.
    assert_eq!(
        api.get("/metrics", "").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get("/metrics", &alice).await.status,
        StatusCode::FORBIDDEN
    );
    let r = api.get("/metrics", &api.admin).await;
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8(r.bytes).unwrap();
    assert!(text.contains("callside_sessions_created_total 1"), "{text}");
    assert!(text.contains("callside_legs_matched_total 2"), "{text}");
    let rss = text
        .lines()
        .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
        .expect("RSS is exported");
    assert!(rss.parse::<u64>().unwrap() > 1_000_000, "{rss}");
}

#[tokio::test]
async fn names_shown_to_others_refuse_bidirectional_formatting() {
    let api = api().await;
    // U+202E turns the rest around: "Bank\u{202E}lapyap" shows as "Bank" + "paypal".
    let spoof = "Bank\u{202E}lapyap";
    let r = api
        .post(
            "/v1/admin/devices",
            &api.admin,
            json!({"name": spoof, "numbers": [ALICE]}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_name")
    );
    let (_, alice) = api.device("Alice", &[ALICE]).await;
    let req = Request::put("/v1/me/card")
        .header(header::AUTHORIZATION, format!("Bearer {alice}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"fields": [{"id": "name", "kind": "name", "value": spoof}]}).to_string(),
        ))
        .unwrap();
    let r = api.raw(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(
        api.get("/v1/me/card", &alice).await.body["fields"],
        json!([])
    );
    let r = api
        .post("/v1/admin/merchants", &api.admin, json!({"name": spoof}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    // Left-to-right marks inside a name are refused too; ordinary names in any script pass.
    let r = api
        .post(
            "/v1/admin/devices",
            &api.admin,
            json!({"name": "Ali\u{200E}ce", "numbers": [BOB]}),
        )
        .await;
    assert_eq!(r.code(), "invalid_name");
    let r = api
        .post(
            "/v1/admin/devices",
            &api.admin,
            json!({"name": "مريم Ōsaka Δ", "numbers": [BOB]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

/// Export and erasure are the operator's (a device exports only itself, and only a device has
/// such data); an erased device's pending call leaves matching, so nobody pairs with it.
#[tokio::test]
async fn only_the_operator_erases_and_an_erased_devices_call_pairs_with_nobody() {
    let api = api().await;
    let (alice_id, alice) = api.device("Alice", &[ALICE]).await;
    let (_, bob) = api.device("Bob", &[BOB]).await;
    let system = api
        .service("vm", &["automated_system"], &["+442079460900"])
        .await;
    for (method, path) in [
        (Method::GET, format!("/v1/admin/devices/{alice_id}/export")),
        (Method::POST, format!("/v1/admin/devices/{alice_id}/erase")),
    ] {
        let r = api.call(method, &path, &bob, None).await;
        assert_eq!(r.code(), "admin_only", "{path}");
    }
    assert_eq!(
        api.get("/v1/me/export", &system).await.code(),
        "devices_only"
    );
    let mine = api.get("/v1/me/export", &alice).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(mine.body["device"], alice_id.as_str());

    // Alice's call to Bob is pending when she is erased.
    assert_eq!(
        api.leg(&alice, ALICE, Some(BOB), "outgoing").await.status,
        StatusCode::ACCEPTED
    );
    let r = api
        .post(
            &format!("/v1/admin/devices/{alice_id}/erase"),
            &api.admin,
            json!(null),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["deleted"].as_u64().unwrap() >= 3, "{:?}", r.body);
    assert_eq!(
        api.get("/v1/me", &alice).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = api.leg(&bob, BOB, Some(ALICE), "incoming").await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "Bob's leg waits: {:?}",
        r.body
    );
    assert!(r.body["session"].is_null(), "{:?}", r.body);

    // Gone: a second erasure and the export find nothing.
    let again = api
        .post(
            &format!("/v1/admin/devices/{alice_id}/erase"),
            &api.admin,
            json!(null),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let export = api
        .get(&format!("/v1/admin/devices/{alice_id}/export"), &api.admin)
        .await;
    assert_eq!(export.status, StatusCode::NOT_FOUND);
}
