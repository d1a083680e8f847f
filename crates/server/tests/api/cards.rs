//! Cards: checking, versions, vCard/jCard export, and cards by reference.

use super::*;

#[tokio::test]
async fn cards_are_checked_versioned_and_exported() {
    let api = api_with(|c| c.default_region = Some("GB".parse().unwrap())).await;
    let (_, token) = api.device("a", &[ALICE]).await;
    let put = |fields: Value| {
        let api = &api;
        let token = token.clone();
        async move {
            let req = Request::builder()
                .method(Method::PUT)
                .uri("/v1/me/card")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json!({ "fields": fields }).to_string()))
                .unwrap();
            api.raw(req).await
        }
    };
    // Bad input is refused and changes nothing.
    for bad in [
        json!([{"id": "org", "kind": "organization", "value": "ACME"}]),
        json!([{"id": "name", "kind": "name", "value": "A"}, {"id": "tel", "kind": "phone", "value": "nope"}]),
        json!([{"id": "name", "kind": "name", "value": "A"}, {"id": "adr", "kind": "address", "value": "1 High St"}]),
        json!([{"id": "name", "kind": "pet", "value": "A"}]),
    ] {
        let r = put(bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", r.body);
    }
    assert_eq!(
        api.get("/v1/me/card", &token).await.body["fields"],
        json!([])
    );
    let r = put(json!([
        {"id": "name", "kind": "name", "value": "Alice Example"},
        {"id": "phone.mobile", "kind": "phone", "value": "07400 123456", "label": "mobile"},
        {"id": "address.home", "kind": "address", "value": {"street": "1 High St", "locality": "London", "country": "UK"}, "label": "home"}
    ]))
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["fields"][1]["value"], "+447400123456");
    assert_eq!(r.body["fields"][0]["version"], 1);
    // vCard out, and back in: the same card, versions unchanged.
    let req = Request::builder()
        .uri("/v1/me/card")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::ACCEPT, "text/vcard")
        .body(Body::empty())
        .unwrap();
    let r = api.raw(req).await;
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/vcard; charset=utf-8");
    let vcf = String::from_utf8(r.bytes).unwrap();
    assert!(vcf.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\n"), "{vcf}");
    assert!(
        vcf.contains("\r\nFN;") && vcf.contains(":Alice Example\r\n"),
        "{vcf}"
    );
    let req = Request::builder()
        .method(Method::PUT)
        .uri("/v1/me/card")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "text/vcard")
        .body(Body::from(vcf))
        .unwrap();
    let r = api.raw(req).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["fields"].as_array().unwrap().len(), 3);
    assert!(
        r.body["fields"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["version"] == 1),
        "{:?}",
        r.body
    );
    // A broken vCard is refused.
    let req = Request::builder()
        .method(Method::PUT)
        .uri("/v1/me/card")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "text/vcard")
        .body(Body::from("BEGIN:VCARD\r\nVERSION:4.0\r\nEND:VCARD\r\n"))
        .unwrap();
    let r = api.raw(req).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_card")
    );
    // Audiences: numbers normalised, bad members refused.
    let r = api
        .call(
            Method::PUT,
            "/v1/me/audiences",
            &token,
            Some(json!({"audiences": [{"name": "family", "members": ["07400 123456", "+4420"], "fields": ["name", "phone"]}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["audiences"][0]["members"],
        json!(["+447400123456", "+4420"])
    );
    assert_eq!(r.body["default_fields"], json!(["name"]));
    let r = api
        .call(
            Method::PUT,
            "/v1/me/audiences",
            &token,
            Some(json!({"audiences": [{"name": "x", "members": ["not a number"], "fields": ["name"]}]})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_audience")
    );
}

/// Serves `body` with `content_type` on a loopback port; returns its URL.
async fn serve_file(content_type: &'static str, body: Vec<u8>) -> String {
    let router = Router::new().route(
        "/card",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, content_type)], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/card", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test]
async fn cards_by_reference_are_fetched_only_from_public_https_urls() {
    // The default: nothing private, nothing plain http.
    let api = api().await;
    let (_, token) = api.device("a", &[ALICE]).await;
    let local = serve_file(
        "text/vcard",
        b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:X\r\nEND:VCARD\r\n".to_vec(),
    )
    .await;
    for url in [
        local.as_str(),
        "https://127.0.0.1/card",
        "https://10.0.0.1/card",
        "https://[::1]/card",
        "https://localhost/card",
        "https://169.254.169.254/latest/meta-data",
        "ftp://example.com/card",
        "not a url",
    ] {
        let r = api
            .post("/v1/me/card/fetch", &token, json!({ "url": url }))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_card_url"),
            "{url}"
        );
    }
    assert_eq!(
        api.get("/v1/me/card", &token).await.body["fields"],
        json!([])
    );

    // With private URLs allowed (a test set-up): content type and size are still checked.
    let api = api_with(|c| c.cards_allow_private_urls = true).await;
    let (_, token) = api.device("a", &[ALICE]).await;
    let vcard = serve_file(
        "text/vcard; charset=utf-8",
        b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Alice Example\r\nORG:ACME\r\nEND:VCARD\r\n".to_vec(),
    )
    .await;
    let r = api
        .post("/v1/me/card/fetch", &token, json!({ "url": vcard }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["fields"][0]["value"], "Alice Example");
    assert_eq!(r.body["fields"][1]["kind"], "organization");
    let html = serve_file("text/html", b"<html>".to_vec()).await;
    let r = api
        .post("/v1/me/card/fetch", &token, json!({ "url": html }))
        .await;
    assert_eq!(r.code(), "invalid_card_url");
    let huge = serve_file("text/vcard", vec![b'x'; 300 * 1024]).await;
    let r = api
        .post("/v1/me/card/fetch", &token, json!({ "url": huge }))
        .await;
    assert_eq!(r.code(), "invalid_card_url");
    assert!(r.body["detail"].as_str().unwrap().contains("256 KiB"));
    // The card from before is still there.
    assert_eq!(
        api.get("/v1/me/card", &token).await.body["fields"][0]["value"],
        "Alice Example"
    );
    // Each fetch makes the server go out to the internet: 20 an hour per device (3 made above).
    for _ in 3..20 {
        let r = api
            .post("/v1/me/card/fetch", &token, json!({ "url": html }))
            .await;
        assert_eq!(r.code(), "invalid_card_url");
    }
    let r = api
        .post("/v1/me/card/fetch", &token, json!({ "url": vcard }))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    let (_, other) = api.device("b", &[BOB]).await;
    let r = api
        .post("/v1/me/card/fetch", &other, json!({ "url": vcard }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "another device is not held up");
}
