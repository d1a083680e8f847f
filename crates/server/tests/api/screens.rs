//! Screens (S1-F11–F21): an automated system reconfigures the caller's screen; the caller
//! acknowledges and activates regions; nobody else sends screens, and nobody acts on what was
//! never offered.

use super::*;

const VOICEMAIL: &str = "+442079460901";

/// Alice on a call with the voicemail system; returns (alice, system, its id, session key).
async fn with_voicemail(api: &Api) -> (String, String, String, String) {
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let vm = api
        .service("voicemail", &["automated_system"], &["+4420794609"])
        .await;
    let me = api.get("/v1/me", &vm).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.leg(&a, ALICE, Some(VOICEMAIL), "outgoing").await;
    let r = api.leg(&vm, VOICEMAIL, Some(ALICE), "incoming").await;
    assert_eq!(r.body["state"], "matched", "{:?}", r.body);
    let key = r.body["session"]["key"].as_str().unwrap().to_owned();
    (a, vm, me, key)
}

fn voicemail_screen() -> Value {
    json!({
        "id": "voicemail",
        "owner": {"number": VOICEMAIL},
        "mode": "predetermined",
        "target": "call",
        "automated": true,
        "title": "Bob's voicemail",
        "regions": [
            {"id": "message", "label": "Send Bob a message instead", "icon": "message",
             "action": {"type": "send_message", "to": BOB, "template": "Hi Bob, I tried to call."}},
            {"id": "record", "label": "Record", "icon": "record", "display": "flashing",
             "position": {"row": 1, "col": 0, "width": 6, "height": 1},
             "action": {"type": "voicemail", "command": "record"}},
            {"id": "end", "label": "End call", "icon": "end_call", "action": {"type": "end_call"}}
        ]
    })
}

#[tokio::test]
async fn a_system_reconfigures_the_callers_screen_and_hears_what_is_pressed() {
    let api = api().await;
    let (a, vm, vm_id, key) = with_voicemail(&api).await;
    let r = api
        .send(&vm, &key, "s1", "screen", voicemail_screen())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let shown = api.messages(&a, &key, 0).await;
    let screen = shown.iter().find(|m| m["kind"] == "screen").unwrap();
    assert_eq!(screen["body"]["owner"]["system"], vm_id.as_str());
    assert_eq!(screen["body"]["owner"]["number"], VOICEMAIL);
    assert_eq!(screen["body"]["regions"][1]["display"], "flashing");
    assert_eq!(screen["body"]["regions"][2]["action"]["type"], "end_call");

    let r = api
        .send(
            &a,
            &key,
            "k1",
            "screen/ack",
            json!({"screen": "voicemail", "status": "shown"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = api
        .send(
            &a,
            &key,
            "p1",
            "screen/action",
            json!({"screen": "voicemail", "region": "record"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let heard: Vec<(String, Value)> = api
        .messages(&vm, &key, 0)
        .await
        .into_iter()
        .filter(|m| m["kind"].as_str().unwrap().starts_with("screen/"))
        .map(|m| (m["kind"].as_str().unwrap().to_owned(), m["body"].clone()))
        .collect();
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert_eq!(heard[0].1["status"], "shown");
    assert_eq!(heard[1].1["region"], "record");

    // A dynamic screen of the same id replaces it: "record" is no longer offered.
    let mut next = voicemail_screen();
    next["mode"] = json!("dynamic");
    next["regions"] = json!([{"id": "stop", "label": "Stop", "action": {"type": "voicemail", "command": "stop"}}]);
    let r = api.send(&vm, &key, "s2", "screen", next).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = api
        .send(
            &a,
            &key,
            "p2",
            "screen/action",
            json!({"screen": "voicemail", "region": "record"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "unknown_region")
    );
    let r = api
        .send(
            &a,
            &key,
            "p3",
            "screen/action",
            json!({"screen": "voicemail", "region": "stop"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[tokio::test]
async fn only_systems_send_screens_and_only_what_was_offered_is_acted_on() {
    let api = api().await;
    let (a, vm, _, key) = with_voicemail(&api).await;
    let before = api.messages(&a, &key, 0).await.len();
    // A phone cannot dress itself up as a bank's menu.
    let r = api.send(&a, &key, "x1", "screen", voicemail_screen()).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "systems_only")
    );

    let with = |path: &[&str], value: Value| {
        let mut s = voicemail_screen();
        let mut at = &mut s;
        for p in &path[..path.len() - 1] {
            at = match p.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*p],
            };
        }
        at[path[path.len() - 1]] = value;
        s
    };
    let too_many: Vec<Value> = (0..25)
        .map(|i| json!({"id": format!("r{i}"), "label": "x", "action": {"type": "end_call"}}))
        .collect();
    for (bad, code) in [
        (
            with(
                &["regions", "0", "action"],
                json!({"type": "open_url", "url": "javascript:alert(1)"}),
            ),
            "invalid_screen",
        ),
        (
            with(
                &["regions", "0", "action"],
                json!({"type": "launch_missiles"}),
            ),
            "invalid_message",
        ),
        (
            with(&["regions", "0", "label"], json!("Pay \u{202e}001 GBP")),
            "invalid_screen",
        ),
        (
            with(&["regions", "1", "id"], json!("message")),
            "invalid_screen",
        ),
        (
            with(
                &["regions", "0", "position"],
                json!({"row": 0, "col": 10, "width": 4, "height": 1}),
            ),
            "invalid_screen",
        ),
        (
            with(&["owner", "number"], json!("+442079460002")),
            "invalid_screen",
        ),
        (with(&["regions"], json!(too_many)), "invalid_screen"),
        (
            with(&["image"], json!("sha256:".to_owned() + &"0".repeat(64))),
            "unknown_blob",
        ),
        (with(&["colour"], json!("red")), "invalid_message"),
    ] {
        let r = api.send(&vm, &key, "bad", "screen", bad.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, code),
            "{bad}: {:?}",
            r.body
        );
    }
    // Nothing offered yet: acknowledging or pressing anything is refused.
    let r = api
        .send(
            &a,
            &key,
            "k0",
            "screen/ack",
            json!({"screen": "voicemail", "status": "shown"}),
        )
        .await;
    assert_eq!(r.code(), "unknown_screen", "{:?}", r.body);

    api.send(&vm, &key, "s1", "screen", voicemail_screen())
        .await;
    for (who, body, code) in [
        (
            &a,
            json!({"screen": "other", "region": "record"}),
            "unknown_screen",
        ),
        (
            &a,
            json!({"screen": "voicemail", "region": "pay"}),
            "unknown_region",
        ),
        (
            &a,
            json!({"screen": "voicemail", "region": "record", "value": 3}),
            "invalid_message",
        ),
        (
            &vm,
            json!({"screen": "voicemail", "region": "record"}),
            "own_screen",
        ),
    ] {
        let r = api
            .send(who, &key, "p", "screen/action", body.clone())
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, code),
            "{body}: {:?}",
            r.body
        );
    }
    // Only the screen and nothing of the refused attempts reached the log.
    let log = api.messages(&a, &key, 0).await;
    assert_eq!(log.len(), before + 1, "{log:?}");
    // Someone outside the session learns nothing about its screens.
    let (_, c) = api.device("Carol", &[CAROL]).await;
    let r = api
        .send(
            &c,
            &key,
            "p",
            "screen/action",
            json!({"screen": "voicemail", "region": "record"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn only_systems_keep_screens_and_only_predetermined_ones() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let vm = api
        .service("voicemail", &["automated_system"], &["+4420794609"])
        .await;
    let me = api.get("/v1/me", &vm).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kept = voicemail_screen();
    let r = api.put("/v1/me/screen", &a, kept.clone()).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "systems_only")
    );
    let mut dynamic = kept.clone();
    dynamic["mode"] = json!("dynamic");
    let r = api.put("/v1/me/screen", &vm, dynamic).await;
    assert_eq!(r.code(), "invalid_screen", "{:?}", r.body);
    let mut bad = kept.clone();
    bad["regions"][0]["action"] = json!({"type": "open_url", "url": "javascript:x"});
    let r = api.put("/v1/me/screen", &vm, bad).await;
    assert_eq!(r.code(), "invalid_screen", "{:?}", r.body);
    assert_eq!(
        api.get("/v1/me/screen", &vm).await.status,
        StatusCode::NOT_FOUND
    );
    let r = api.put("/v1/me/screen", &vm, kept).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["owner"]["system"], me.as_str());
    assert_eq!(api.get("/v1/me/screen", &vm).await.body["id"], "voicemail");
    let r = api.call(Method::DELETE, "/v1/me/screen", &vm, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/v1/me/screen", &vm).await.status,
        StatusCode::NOT_FOUND
    );
    let r = api.call(Method::DELETE, "/v1/me/screen", &vm, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
