//! Number proofs by SMS (an in-process SMS API stands in for the gateway here; the Kannel suite is in the CLI crate), push subscriptions and email identities.

use super::*;

/// An SMS provider of the generic HTTP kind, in this test: collects what callside sends.
async fn sms_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let router = Router::new().route(
        "/send",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                tx.send(v).unwrap();
                StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/send", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, rx)
}

const GATEWAY_NUMBER: &str = "+447400100000";

const HANDSET: &str = "+447400123456";

async fn sms_api(
    tweak: impl FnOnce(&mut Config),
) -> (Api, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (url, rx) = sms_receiver().await;
    let api = api_with(|c| {
        c.sms.provider = callside_server::config::SmsProvider::Http { url, bearer: None };
        c.sms.number = Some(callside_core::PhoneNumber::parse(GATEWAY_NUMBER, None).unwrap());
        tweak(c)
    })
    .await;
    (api, rx)
}

impl Api {
    /// An SMS as a gateway on `source` forwards it (Kannel's query form).
    async fn inbound(&self, token: &str, source: Option<&str>, from: &str, text: &str) -> Reply {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        let uri = format!(
            "/v1/sms/inbound?token={}&from={}&to={}&text={}",
            enc(token),
            enc(from),
            enc(GATEWAY_NUMBER),
            enc(text)
        );
        let mut req = Request::builder().uri(uri).body(Body::empty()).unwrap();
        if let Some(ip) = source {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(
                    ip.parse().unwrap(),
                    40000,
                )));
        }
        self.raw(req).await
    }

    async fn enroll(&self, enrollment: &str, name: &str) -> (String, String) {
        let r = self
            .post("/v1/devices", enrollment, json!({"name": name}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(r.body["device"]["numbers"], json!([]));
        (
            r.body["device"]["id"].as_str().unwrap().to_owned(),
            r.body["token"].as_str().unwrap().to_owned(),
        )
    }
}

async fn next_sms(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("an SMS within 10 s")
        .unwrap()
}

#[tokio::test]
async fn a_number_is_proven_by_an_sms_round_trip() {
    let (api, mut sms) = sms_api(|_| {}).await;
    let enrollment = api.service("app", &["device_enrollment"], &[]).await;
    let gateway = api.service("kannel", &["sms_gateway"], &["+44"]).await;
    let (dev, token) = api.enroll(&enrollment, "Pixel").await;
    // Owning no number, the device may not report calls yet.
    let r = api.leg(&token, HANDSET, Some(BOB), "outgoing").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);

    let r = api.post("/v1/me/numbers/proofs", &token, json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["state"], "awaiting_sms");
    assert_eq!(r.body["sms_to"], GATEWAY_NUMBER);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let code = r.body["code"].as_str().unwrap().to_owned();
    let body = r.body["sms_body"].as_str().unwrap().to_owned();
    assert_eq!(body, format!("CS1 R {dev} {code}"));
    assert!(body.len() <= 160);

    // Completing before the SMS arrived is refused and changes nothing.
    let r = api
        .post(
            &format!("/v1/me/numbers/proofs/{id}/complete"),
            &token,
            json!({"code": code, "number": HANDSET, "signature": "x".repeat(43)}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "sms_not_received")
    );

    let r = api
        .inbound(&gateway, Some("127.0.0.1"), HANDSET, &body)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mt = next_sms(&mut sms).await;
    assert_eq!(mt["to"], HANDSET);
    assert_eq!(mt["from"], GATEWAY_NUMBER);
    let text = mt["text"].as_str().unwrap();
    let proof = callside_proto::numbers::MtProof::parse(text).unwrap();
    assert_eq!(proof.number, HANDSET);
    let r = api
        .get(&format!("/v1/me/numbers/proofs/{id}"), &token)
        .await;
    assert_eq!(r.body["state"], "sms_sent");
    assert_eq!(r.body["number"], HANDSET);
    assert!(r.body.get("code").is_none(), "the code is shown only once");

    // A duplicate of the same SMS gets the same answer again.
    let r = api
        .inbound(&gateway, Some("127.0.0.1"), HANDSET, &body)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(next_sms(&mut sms).await["text"], text);
    // The same code from another number is refused.
    let r = api
        .inbound(&gateway, Some("127.0.0.1"), "+447400123457", &body)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "proof_claimed")
    );

    // A forged signature, or the right one with another number or code, fails and counts.
    let complete = |code: &str, number: &str, signature: &str| json!({"code": code, "number": number, "signature": signature});
    let path = format!("/v1/me/numbers/proofs/{id}/complete");
    let mut forged = proof.signature.clone();
    forged.replace_range(0..1, if forged.starts_with('A') { "B" } else { "A" });
    for (c, n, sig) in [
        (code.as_str(), HANDSET, forged.as_str()),
        (code.as_str(), "+447400123457", proof.signature.as_str()),
        ("wrongcode", HANDSET, proof.signature.as_str()),
    ] {
        let r = api.post(&path, &token, complete(c, n, sig)).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "wrong_signature")
        );
    }
    assert!(api.get("/v1/me", &token).await.body["numbers"] == json!([]));
    // Another device cannot use this device's proof.
    let (_, other) = api.enroll(&enrollment, "Other").await;
    let r = api
        .post(&path, &other, complete(&code, HANDSET, &proof.signature))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = api
        .post(
            &path,
            &token,
            complete(&code, "+44 7400 123456", &proof.signature),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"number": HANDSET, "replaced": 0}));
    assert_eq!(
        api.get("/v1/me", &token).await.body["numbers"],
        json!([HANDSET])
    );
    // Replaying it is refused.
    let r = api
        .post(&path, &token, complete(&code, HANDSET, &proof.signature))
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::GONE, "proof_used"));
    let r = api
        .inbound(&gateway, Some("127.0.0.1"), HANDSET, &body)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Now the device reports calls from its proven number.
    let r = api.leg(&token, HANDSET, Some(BOB), "outgoing").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);

    // A second device proves the same number: both keep it (the first binding is fresh).
    let r = api.post("/v1/me/numbers/proofs", &other, json!({})).await;
    let (id2, code2, body2) = (
        r.body["id"].as_str().unwrap().to_owned(),
        r.body["code"].as_str().unwrap().to_owned(),
        r.body["sms_body"].as_str().unwrap().to_owned(),
    );
    api.inbound(&gateway, Some("127.0.0.1"), HANDSET, &body2)
        .await;
    let sig2 =
        callside_proto::numbers::MtProof::parse(next_sms(&mut sms).await["text"].as_str().unwrap())
            .unwrap()
            .signature;
    assert_ne!(sig2, proof.signature, "each proof has its own nonce");
    let r = api
        .post(
            &format!("/v1/me/numbers/proofs/{id2}/complete"),
            &other,
            complete(&code2, HANDSET, &sig2),
        )
        .await;
    assert_eq!(r.body, json!({"number": HANDSET, "replaced": 0}));
    assert_eq!(
        api.get("/v1/me", &token).await.body["numbers"],
        json!([HANDSET])
    );

    // De-registering a number, and rotating a token.
    let r = api
        .call(Method::DELETE, "/v1/me/numbers/+447400123456", &other, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/v1/me", &other).await.body["numbers"], json!([]));
    let r = api
        .call(Method::DELETE, "/v1/me/numbers/+447400123456", &other, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api.post("/v1/me/token", &token, json!({})).await;
    let fresh = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        api.get("/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.get("/v1/me", &fresh).await.body["numbers"],
        json!([HANDSET])
    );
    let r = api.post("/v1/me/token", &api.admin, json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn inbound_sms_are_authenticated_and_bad_ones_change_nothing() {
    let (api, mut sms) = sms_api(|c| c.limits.sms_per_number_hour = 2).await;
    let enrollment = api.service("app", &["device_enrollment"], &[]).await;
    let gateway = api.service("kannel", &["sms_gateway"], &["+44"]).await;
    let (_, token) = api.enroll(&enrollment, "Pixel").await;
    let r = api.post("/v1/me/numbers/proofs", &token, json!({})).await;
    let body = r.body["sms_body"].as_str().unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();

    let r = api
        .inbound("cs_svc_wrong", Some("127.0.0.1"), HANDSET, &body)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = api.inbound(&token, Some("127.0.0.1"), HANDSET, &body).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_sms_gateway")
    );
    for source in [None, Some("192.0.2.10")] {
        let r = api.inbound(&gateway, source, HANDSET, &body).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "source_not_allowed")
        );
    }
    let r = api
        .inbound(&gateway, Some("127.0.0.1"), "+12125550123", &body)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "sender_out_of_range")
    );
    let r = api
        .inbound(&gateway, Some("127.0.0.1"), "not a number", &body)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_number")
    );
    let r = api
        .inbound(&gateway, Some("127.0.0.1"), HANDSET, "hello, how are you")
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "not_registration")
    );
    let r = api
        .inbound(
            &gateway,
            Some("127.0.0.1"),
            HANDSET,
            "CS1 R dev_nobody AAAAAAAA",
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // None of that moved the proof or sent an SMS.
    assert_eq!(
        api.get(&format!("/v1/me/numbers/proofs/{id}"), &token)
            .await
            .body["state"],
        "awaiting_sms"
    );
    assert!(sms.try_recv().is_err());
    // The per-number limit (2 an hour here) counts only SMS that get an answer: the refused
    // ones above spent nothing; this SMS and its duplicate spend both.
    for _ in 0..2 {
        let r = api
            .inbound(&gateway, Some("127.0.0.1"), HANDSET, &body)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        next_sms(&mut sms).await;
    }
    let r = api
        .inbound(&gateway, Some("127.0.0.1"), HANDSET, &body)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(sms.try_recv().is_err());
    // Another number of the same gateway is not limited by it (and cannot take the code).
    let r = api
        .inbound(&gateway, Some("127.0.0.1"), "+447400200200", &body)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "proof_claimed")
    );
}

#[tokio::test]
async fn proofs_need_an_sms_gateway_and_are_rate_limited() {
    let api = api().await;
    let (_, token) = api.device("a", &[ALICE]).await;
    let r = api.post("/v1/me/numbers/proofs", &token, json!({})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "sms_not_configured")
    );
    let (api, _sms) = sms_api(|c| c.limits.proofs_per_device_hour = 2).await;
    let (_, token) = api.device("a", &[ALICE]).await;
    for _ in 0..2 {
        let r = api.post("/v1/me/numbers/proofs", &token, json!({})).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = api.post("/v1/me/numbers/proofs", &token, json!({})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let r = api
        .post("/v1/me/numbers/proofs", &api.admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Enrolment needs its scope.
    let r = api.post("/v1/devices", &token, json!({"name": "x"})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_enrollment")
    );
}

#[tokio::test]
async fn push_subscriptions_are_checked_when_registered() {
    let api = api().await;
    let (_, token) = api.device("a", &[ALICE]).await;
    let r = api.get("/v1/me/push", &token).await;
    assert_eq!(r.body["subscriptions"], json!([]));
    assert!(r.body["vapid_public_key"].as_str().unwrap().len() > 80);
    let good_keys = json!({
        "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        "auth": "BTBZMqHH6r4Tts7J_aSIgg"
    });
    for (body, code) in [
        (
            json!({"provider": "web_push", "endpoint": "http://push.example.com/x", "p256dh": good_keys["p256dh"], "auth": good_keys["auth"]}),
            "invalid_subscription",
        ),
        (
            json!({"provider": "web_push", "endpoint": "https://10.0.0.1/x", "p256dh": good_keys["p256dh"], "auth": good_keys["auth"]}),
            "invalid_subscription",
        ),
        (
            json!({"provider": "web_push", "endpoint": "https://8.8.8.8/x", "p256dh": "AAAA", "auth": good_keys["auth"]}),
            "invalid_subscription",
        ),
        (
            json!({"provider": "apns", "device_token": "ab", "topic": "com.example"}),
            "push_not_configured",
        ),
        (
            json!({"provider": "fcm", "registration_token": "x"}),
            "push_not_configured",
        ),
        (json!({"provider": "pager", "number": "1"}), "invalid_json"),
    ] {
        let r = api.post("/v1/me/push", &token, body.clone()).await;
        assert_eq!(r.code(), code, "{body}: {:?}", r.body);
    }
    let r = api
        .post(
            "/v1/me/push",
            &token,
            json!({"provider": "web_push", "endpoint": "https://8.8.8.8/push/x", "p256dh": good_keys["p256dh"], "auth": good_keys["auth"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["provider"], "web_push");
    assert!(r.body.get("endpoint").is_none(), "tokens are not echoed");
    let id = r.body["id"].as_str().unwrap().to_owned();
    let (_, other) = api.device("b", &[BOB]).await;
    let r = api
        .call(Method::DELETE, &format!("/v1/me/push/{id}"), &other, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api
        .call(Method::DELETE, &format!("/v1/me/push/{id}"), &token, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/v1/me/push", &token).await.body["subscriptions"],
        json!([])
    );
}

#[tokio::test]
async fn email_identities_need_a_mail_server_and_good_input() {
    let api = api().await;
    let (_, token) = api.device("a", &[ALICE]).await;
    let r = api
        .post("/v1/me/emails", &token, json!({"email": "not an address"}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_email")
    );
    let r = api
        .post("/v1/me/emails", &token, json!({"email": "a@callside.test"}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "mail_not_configured")
    );
    let r = api
        .post(
            "/v1/me/emails",
            &api.admin,
            json!({"email": "a@callside.test"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api
        .call(
            Method::DELETE,
            "/v1/me/emails/a@callside.test",
            &token,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api.get("/v1/me/emails/validations/ev_nope", &token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Inviting an address nobody validated.
    let r = api
        .post("/v1/invitations", &token, json!({"to": "b@callside.test"}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "not_registered")
    );
    assert_eq!(api.get("/v1/me", &token).await.body["emails"], json!([]));
}

#[tokio::test]
async fn validation_mail_to_one_address_is_limited_whoever_asks() {
    // A mail server that is not there: each try is counted before the mail is sent.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let api = api_with(|c| {
        c.mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        c.limits.emails_per_address_day = 2;
    })
    .await;
    let (_, a) = api.device("a", &[ALICE]).await;
    let (_, b) = api.device("b", &[BOB]).await;
    let (_, c) = api.device("c", &[CAROL]).await;
    let ask = |token: String, email: &'static str| {
        let api = &api;
        async move {
            api.post("/v1/me/emails", &token, json!({ "email": email }))
                .await
        }
    };
    for token in [&a, &b] {
        let r = ask(token.clone(), "Victim@Example.com").await;
        assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    }
    // A third device, and the same address in other letters: refused.
    let r = ask(c.clone(), "victim@example.com").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    // Another address is not affected.
    let r = ask(c.clone(), "someone@example.com").await;
    assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
}

/// Issue 17 (secrets): the APNs topic is the operator's — the bundle ids of its apps — not
/// whatever a device names; a device may leave it out when the server serves one app.
#[tokio::test]
async fn apns_topics_come_from_the_operators_configuration() {
    // A throw-away P-256 key in PKCS#8, as Apple's .p8 files are.
    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqZHfWa8qTW8FZJKm
69H3zh5KJhZg7v69b3BVHsfd0TChRANCAAT6ojyCDhAs93zeO5mCPMI8py6zkjgW
nbPb9ycrkWQp+n/M5jOamt/0oCwUbqM4+YgWGCxwe1O/qt94w1B9S1Xr
-----END PRIVATE KEY-----
";
    let keys = tempfile::tempdir().unwrap();
    let file = keys.path().join("AuthKey.p8");
    std::fs::write(&file, KEY).unwrap();
    let api = api_with(|c| {
        c.push.apns = Some(("TEAM123456".into(), "KEY1234567".into(), file.clone()));
        c.push.apns_topics = vec!["com.example.phone".into()];
    })
    .await;
    let (_, token) = api.device("a", &[ALICE]).await;
    let token_hex = "ab".repeat(32);
    let r = api
        .post(
            "/v1/me/push",
            &token,
            json!({"provider": "apns", "device_token": token_hex, "topic": "com.attacker.app"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "unknown_topic")
    );
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .contains("com.example.phone"));
    assert_eq!(
        api.get("/v1/me/push", &token).await.body["subscriptions"],
        json!([])
    );
    for body in [
        json!({"provider": "apns", "device_token": token_hex, "topic": "com.example.phone"}),
        json!({"provider": "apns", "device_token": token_hex}),
    ] {
        let r = api.post("/v1/me/push", &token, body.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{body}: {:?}", r.body);
    }
}
