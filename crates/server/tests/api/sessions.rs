//! Sessions and their logs over HTTP, files, invitations and transfers.

use super::*;

#[tokio::test]
async fn messages_are_ordered_idempotent_and_only_for_participants() {
    let api = api().await;
    let (a, b, key) = api.paired().await;
    let (_, c) = api.device("Carol", &[CAROL]).await;

    let r = api
        .send(&a, &key, "m1", "text", json!({"text": "hello"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        (r.body["seq"].as_u64(), r.body["duplicate"].as_bool()),
        (Some(1), Some(false))
    );
    let r = api
        .send(&a, &key, "m1", "text", json!({"text": "hello again"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (r.body["seq"].as_u64(), r.body["duplicate"].as_bool()),
        (Some(1), Some(true))
    );
    let r = api
        .send(
            &b,
            &key,
            "m1",
            "app/order-status",
            json!({"order": 42, "state": "baking"}),
        )
        .await;
    assert_eq!(r.body["seq"], 2, "ids are per sender");

    let msgs = api.messages(&b, &key, 0).await;
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["body"]["text"], "hello");
    assert_eq!(msgs[1]["kind"], "app/order-status");
    assert_eq!(api.messages(&a, &key, 1).await.len(), 1);

    // The key alone grants nothing.
    let r = api.send(&c, &key, "x", "text", json!({"text": "hi"})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_participant")
    );
    let r = api.get(&format!("/v1/sessions/{key}/messages"), &c).await;
    assert_eq!(r.code(), "not_participant");
    let r = api
        .get("/v1/sessions/sk_019a00000000AAAAAAAAAAAAAAAAAAAAAAAA", &a)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    for (kind, body, code) in [
        ("system/call", json!({"state": "ended"}), "invalid_message"),
        ("video", json!({}), "invalid_message"),
        ("text", json!({"text": ""}), "invalid_message"),
        ("text", json!({"txt": "x"}), "invalid_message"),
        ("app/x", json!([1, 2]), "invalid_message"),
        (
            "file",
            json!({"blob": "sha256:00", "name": "a"}),
            "invalid_message",
        ),
    ] {
        let r = api.send(&a, &key, "bad", kind, body).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, code),
            "{kind}"
        );
    }
    let big = "x".repeat(70_000);
    let r = api
        .send(&a, &key, "big", "text", json!({"text": big}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    // None of the refused messages reached the log.
    assert_eq!(api.messages(&a, &key, 0).await.len(), 2);

    // Acks move forward only, and only up to the newest message.
    let r = api
        .post(&format!("/v1/sessions/{key}/ack"), &b, json!({"seq": 9}))
        .await;
    assert_eq!(r.code(), "invalid_ack");
    let r = api
        .post(&format!("/v1/sessions/{key}/ack"), &b, json!({"seq": 2}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_session_outlives_the_call_by_default_and_closes_on_request() {
    let api = api().await;
    let (a, b, key) = api.paired().await;
    let legs = api.get("/v1/sessions", &a).await;
    assert_eq!(legs.body["sessions"][0]["key"], key.as_str());
    let r = api
        .send(
            &b,
            &key,
            "after",
            "text",
            json!({"text": "the call is over"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "usable after the call");
    let r = api
        .post(&format!("/v1/sessions/{key}/close"), &b, json!(null))
        .await;
    assert_eq!(r.body["closed"], "closed");
    let r = api
        .send(&a, &key, "late", "text", json!({"text": "still there?"}))
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::GONE, "session_closed"));
    let msgs = api.messages(&a, &key, 0).await;
    assert_eq!(msgs.last().unwrap()["kind"], "system/closed");
    assert_eq!(
        msgs.last().unwrap()["body"]["by"]
            .as_str()
            .map(|s| s.starts_with("dev_")),
        Some(true)
    );
    assert!(api.get("/v1/sessions", &a).await.body["sessions"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        api.get("/v1/sessions?all=true", &a).await.body["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn call_end_is_announced_and_close_with_call_invalidates_the_key() {
    for (lifecycle, closes) in [("keep_after_call", false), ("close_with_call", true)] {
        let api = api().await;
        let (_, a) = api.device("Alice", &[ALICE]).await;
        let (_, b) = api.device("Bob", &[BOB]).await;
        let r = api
            .post("/v1/legs", &a, json!({"self": ALICE, "other": BOB, "direction": "outgoing", "lifecycle": lifecycle}))
            .await;
        let leg_a = r.body["id"].as_str().unwrap().to_owned();
        let r = api.leg(&b, BOB, Some(ALICE), "incoming").await;
        let key = r.body["session"]["key"].as_str().unwrap().to_owned();
        assert_eq!(
            r.body["session"]["lifecycle"], lifecycle,
            "the first reporter chose"
        );
        let r = api
            .post(&format!("/v1/legs/{leg_a}/answer"), &a, json!(null))
            .await;
        assert_eq!(r.body["session"]["call"], "answered");
        let r = api
            .post(&format!("/v1/legs/{leg_a}/end"), &a, json!(null))
            .await;
        assert_eq!(r.body["session"]["call"], "ended");
        let kinds: Vec<String> = api
            .messages(&b, &key, 0)
            .await
            .iter()
            .map(|m| {
                format!(
                    "{}:{}",
                    m["kind"].as_str().unwrap(),
                    m["body"]["state"]
                        .as_str()
                        .or(m["body"]["reason"].as_str())
                        .unwrap()
                )
            })
            .collect();
        let send = api
            .send(&b, &key, "after", "text", json!({"text": "after the call"}))
            .await;
        if closes {
            assert_eq!(
                kinds,
                vec![
                    "system/call:answered",
                    "system/call:ended",
                    "system/closed:call_ended"
                ]
            );
            assert_eq!(send.code(), "session_closed");
        } else {
            assert_eq!(kinds, vec!["system/call:answered", "system/call:ended"]);
            assert_eq!(send.status, StatusCode::CREATED);
        }
    }
}

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 2, 0, 0, 0,
];

#[tokio::test]
async fn files_are_content_addressed_typed_by_their_bytes_and_private() {
    let api = api_with(|c| c.max_blob_bytes = 1024).await;
    let (a, b, key) = api.paired().await;
    let (_, c) = api.device("Carol", &[CAROL]).await;
    let upload = |token: String, bytes: Vec<u8>| {
        let req = Request::post("/v1/blobs")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(bytes))
            .unwrap();
        api.raw(req)
    };
    let r = upload(a.clone(), PNG.to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["mime"], "image/png");
    assert_eq!(r.body["size"], PNG.len());
    let blob = r.body["id"].as_str().unwrap().to_owned();
    assert!(blob.starts_with("sha256:"));
    assert_eq!(
        upload(a.clone(), PNG.to_vec()).await.body["id"],
        blob.as_str(),
        "same bytes, same id"
    );
    let r = upload(a.clone(), vec![0u8; 2000]).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    let r = upload(a.clone(), vec![]).await;
    assert_eq!(r.code(), "empty_upload");
    let text = upload(a.clone(), b"hello, world".to_vec()).await;
    assert_eq!(text.body["mime"], "text/plain; charset=utf-8");

    // Bob cannot fetch it until it is shared in a session he is in.
    let path = format!("/v1/blobs/{blob}");
    assert_eq!(api.get(&path, &b).await.status, StatusCode::NOT_FOUND);
    let r = api
        .send(
            &b,
            &key,
            "f0",
            "file",
            json!({"blob": blob, "name": "x.png"}),
        )
        .await;
    assert_eq!(
        r.code(),
        "unknown_blob",
        "you cannot share what you cannot read, nor tell that it exists"
    );
    let r = api
        .send(
            &a,
            &key,
            "f1",
            "file",
            json!({"blob": blob, "name": "pixel.png"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let msg = &api.messages(&b, &key, 0).await[0];
    assert_eq!(msg["body"]["size"], PNG.len());
    assert_eq!(msg["body"]["mime"], "image/png");

    let r = api.get(&path, &b).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.bytes, PNG);
    assert_eq!(r.headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(r.headers[header::CONTENT_DISPOSITION], "attachment");
    assert!(r.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .starts_with("sandbox; default-src 'none'"));
    let ranged = api
        .raw(
            Request::get(&path)
                .header(header::AUTHORIZATION, format!("Bearer {b}"))
                .header(header::RANGE, "bytes=1-3")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(ranged.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.bytes, b"PNG");
    assert_eq!(
        api.get(&path, &c).await.status,
        StatusCode::NOT_FOUND,
        "outsiders cannot probe"
    );
    let r = api.get("/v1/blobs/not-a-blob", &a).await;
    assert_eq!(r.code(), "invalid_blob_id");
}

#[tokio::test]
async fn the_http_fallback_long_polls_for_new_messages() {
    let api = api().await;
    let (a, b, key) = api.paired().await;
    let poll = {
        let router = api.router.clone();
        let path = format!("/v1/sessions/{key}/messages?after=0&wait=10");
        tokio::spawn(async move {
            let req = Request::get(path)
                .header(header::AUTHORIZATION, format!("Bearer {b}"))
                .body(Body::empty())
                .unwrap();
            let started = std::time::Instant::now();
            let res = router.oneshot(req).await.unwrap();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (
                started.elapsed(),
                serde_json::from_slice::<Value>(&bytes).unwrap(),
            )
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!poll.is_finished(), "nothing to return yet: the poll waits");
    api.send(&a, &key, "m1", "text", json!({"text": "wake up"}))
        .await;
    let (took, page) = poll.await.unwrap();
    assert!(
        took < std::time::Duration::from_secs(10),
        "answered by the message, not the timeout"
    );
    assert_eq!(page["messages"][0]["body"]["text"], "wake up");
    assert_eq!(page["last_seq"], 1);
}

#[tokio::test]
async fn an_invitation_brings_a_third_party_into_a_call_session() {
    let api = api().await;
    let (a, _b, key) = api.paired().await;
    let (_, c) = api.device("Carol", &[CAROL]).await;
    let (_, outsider) = api.device("Dave", &["+44 20 7946 0004"]).await;
    // Only participants may invite into a session; bad input changes nothing.
    let r = api
        .post(
            "/v1/invitations",
            &outsider,
            json!({"to": CAROL, "session": key}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    for bad in [
        json!({"to": "not a number"}),
        json!({"to": CAROL, "from": "+44 20 7946 0009"}),
        json!({"to": CAROL, "connection": {"candidates": vec!["x"; 33]}}),
        json!({"to": CAROL, "connection": {"nat": "weird"}}),
    ] {
        let r = api.post("/v1/invitations", &a, bad.clone()).await;
        assert!(r.status.is_client_error(), "{bad}: {:?}", r.body);
    }
    assert!(api.get("/v1/invitations", &c).await.body["invitations"]
        .as_array()
        .unwrap()
        .is_empty());

    let r = api
        .post("/v1/invitations", &a, json!({"to": CAROL, "session": key}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["session"], key);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.post(
            &format!("/v1/invitations/{id}/accept"),
            &outsider,
            json!({})
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let r = api
        .post(&format!("/v1/invitations/{id}/accept"), &c, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["path"], "direct");
    // Carol is in the call's session now, and its log says so.
    let r = api
        .send(&c, &key, "c1", "text", json!({"text": "hi all"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let kinds: Vec<String> = api
        .messages(&a, &key, 0)
        .await
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["system/joined", "text"]);
    let r = api.get(&format!("/v1/sessions/{key}"), &c).await;
    assert_eq!(r.body["participants"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_session_moves_to_another_device_of_the_same_user() {
    let api = api().await;
    let (a, b, key) = api.paired().await;
    let (tablet_id, tablet) = api.device("Alice's tablet", &[ALICE]).await;
    let (carol_id, _) = api.device("Carol", &[CAROL]).await;
    let path = format!("/v1/sessions/{key}/transfer");
    // Only to a device sharing a number, and only by a participant.
    let r = api.post(&path, &a, json!({"to": carol_id})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_same_user")
    );
    let r = api.post(&path, &tablet, json!({"to": tablet_id})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_participant")
    );
    let r = api.post(&path, &a, json!({"to": "dev_nobody"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    api.send(&a, &key, "a1", "text", json!({"text": "before"}))
        .await;

    let r = api.post(&path, &a, json!({"to": tablet_id})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let ids: Vec<&str> = r.body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&tablet_id.as_str()) && ids.len() == 2,
        "{ids:?}"
    );
    let moved = r.body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == tablet_id)
        .unwrap();
    assert_eq!(
        moved["number"], "+442079460001",
        "the number goes with the place"
    );
    // The tablet reads the whole log, the phone no longer can; Bob sees the move.
    let log = api.messages(&tablet, &key, 0).await;
    let kinds: Vec<&str> = log.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["text", "system/transferred"]);
    assert_eq!(log[1]["body"]["to"]["id"], tablet_id);
    let r = api.get(&format!("/v1/sessions/{key}/messages"), &a).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(api.messages(&b, &key, 0).await.len(), 2);
    let r = api.post(&path, &tablet, json!({"to": tablet_id})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "already_participant")
    );
}

/// Issue 17 (privacy): whether someone else stored the same bytes already shows neither in the
/// answer to an upload nor in the counters.
#[tokio::test]
async fn uploading_bytes_someone_else_stored_looks_like_the_first_upload() {
    let api = api().await;
    let (a, b, _) = api.paired().await;
    let upload = |token: String| {
        let req = Request::post("/v1/blobs")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(PNG.to_vec()))
            .unwrap();
        api.raw(req)
    };
    let uploaded = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("callside_blob_bytes_total "))
            .expect("the counter is exported")
            .parse()
            .unwrap()
    };
    let metrics =
        || async { String::from_utf8(api.get("/metrics", &api.admin).await.bytes).unwrap() };
    let first = upload(a).await;
    let after_first = uploaded(&metrics().await);
    let second = upload(b).await;
    let after_second = uploaded(&metrics().await);
    assert_eq!((first.status, &first.bytes), (second.status, &second.bytes));
    assert_eq!(after_first, PNG.len() as u64);
    assert_eq!(
        after_second,
        2 * PNG.len() as u64,
        "the second upload counts too"
    );
}

#[tokio::test]
async fn webrtc_signalling_is_typed_bounded_and_for_participants_only() {
    let api = api().await;
    let (a, b, key) = api.paired().await;
    let offer = json!({"call": "v-1", "media": "video", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n", "relay": true});
    let r = api.send(&a, &key, "o1", "rtc/offer", offer.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = api
        .send(&b, &key, "c1", "rtc/candidate", json!({"call": "v-1", "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host", "sdp_mid": "0", "sdp_m_line_index": 0}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = api
        .send(
            &b,
            &key,
            "e1",
            "rtc/end",
            json!({"call": "v-1", "reason": "declined"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // S2's rule travels with the signalling: the offerer's NAT type and retry count, the
    // answerer's type and its choice of the relay.
    let retry = json!({"call": "v-2", "media": "data", "sdp": "v=0\r\n", "relay": false, "nat": "symmetric", "retry": true, "failures": 2, "replaces": "v-1"});
    let r = api.send(&a, &key, "o2", "rtc/offer", retry.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let answer = json!({"call": "v-2", "sdp": "v=0\r\n", "nat": "unknown", "relay": true});
    let r = api.send(&b, &key, "a2", "rtc/answer", answer.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let log = api.messages(&b, &key, 0).await;
    let bodies = |kind: &str| -> Vec<serde_json::Value> {
        log.iter()
            .filter(|m| m["kind"] == kind)
            .map(|m| m["body"].clone())
            .collect()
    };
    assert_eq!(bodies("rtc/offer"), vec![offer.clone(), retry]);
    assert_eq!(bodies("rtc/answer"), vec![answer]);

    for (kind, body) in [
        (
            "rtc/offer",
            json!({"call": "v 1", "media": "data", "sdp": "v=0\r\n"}),
        ),
        (
            "rtc/offer",
            json!({"call": "v-1", "media": "hologram", "sdp": "v=0\r\n"}),
        ),
        (
            "rtc/offer",
            json!({"call": "v-1", "media": "data", "sdp": "not sdp"}),
        ),
        (
            "rtc/offer",
            json!({"call": "v-1", "media": "data", "sdp": "v=0\r\n", "extra": 1}),
        ),
        ("rtc/answer", json!({"call": "v-1"})),
        (
            "rtc/offer",
            json!({"call": "v-3", "media": "data", "sdp": "v=0\r\n", "nat": "very_strict"}),
        ),
        (
            "rtc/offer",
            json!({"call": "v-3", "media": "data", "sdp": "v=0\r\n", "retry": true, "failures": 101}),
        ),
        (
            "rtc/offer",
            json!({"call": "v-3", "media": "data", "sdp": "v=0\r\n", "replaces": "v 2"}),
        ),
        (
            "rtc/answer",
            json!({"call": "v-3", "sdp": "v=0\r\n", "relay": "yes"}),
        ),
        (
            "rtc/candidate",
            json!({"call": "v-1", "candidate": "a\r\nb"}),
        ),
        ("rtc/end", json!({"call": "v-1", "reason": "x".repeat(201)})),
        ("rtc/hangup", json!({"call": "v-1"})),
    ] {
        let r = api.send(&a, &key, "bad", kind, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{kind} {body}: {:?}",
            r.body
        );
    }
    let big = json!({"call": "v-2", "media": "data", "sdp": format!("v=0{}", "a".repeat(40_000))});
    assert_eq!(
        api.send(&a, &key, "big", "rtc/offer", big).await.status,
        StatusCode::BAD_REQUEST
    );

    // Someone outside the session cannot signal into it.
    let (_, eve) = api.device("Eve", &[CAROL]).await;
    let r = api.send(&eve, &key, "x", "rtc/offer", offer).await;
    assert_eq!(r.code(), "not_participant");
    assert_eq!(
        api.messages(&a, &key, 0).await.len(),
        log.len(),
        "nothing changed"
    );
}

#[tokio::test]
async fn turn_credentials_go_to_devices_only_and_are_rate_limited() {
    let api = api_with(|c| {
        c.turn.urls = vec!["turn:127.0.0.1:3478?transport=udp".into()];
        c.turn.stun_urls = vec!["stun:127.0.0.1:3478".into()];
        c.turn.secret = Some("s3cret".into());
        c.limits.turn_credentials_per_device_hour = 2;
    })
    .await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let has_turn = |r: &Reply| {
        r.body["ice_servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["credential"].is_string())
    };
    for _ in 0..2 {
        let r = api.get("/v1/connection-data", &a).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert!(has_turn(&r));
    }
    let r = api.get("/v1/connection-data", &a).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    // Not for a service account or the operator: STUN only.
    let svc = api.service("ivr", &["automated_system"], &["+4420"]).await;
    for token in [&svc, &api.admin] {
        let r = api.get("/v1/connection-data", token).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert!(!has_turn(&r), "{:?}", r.body);
        assert_eq!(r.body["ice_servers"][0]["urls"][0], "stun:127.0.0.1:3478");
    }
}

#[tokio::test]
async fn reading_after_the_end_of_the_log_is_an_error_not_the_whole_log() {
    let api = api().await;
    let (a, b, key) = api.paired().await;
    for i in 0..2 {
        let r = api
            .send(&a, &key, &format!("m{i}"), "text", json!({"text": "hi"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let newest = api.messages(&b, &key, 0).await.last().unwrap()["seq"]
        .as_u64()
        .unwrap();
    assert_eq!(api.messages(&b, &key, newest).await, Vec::<Value>::new());
    // u64::MAX once wrapped to -1 in the store and returned everything.
    for after in [newest + 1, u64::MAX] {
        let r = api
            .get(&format!("/v1/sessions/{key}/messages?after={after}"), &b)
            .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "after_beyond_log"),
            "{after}: {:?}",
            r.body
        );
    }
}

#[tokio::test]
async fn uploads_stop_at_a_daily_quota_and_a_free_space_floor_while_messages_go_on() {
    // 10 bytes a day each (and files of at most 10 bytes).
    let api = api_with(|c| {
        c.max_blob_bytes = 10;
        c.blob_bytes_per_principal_day = 10;
    })
    .await;
    let (a, b, key) = api.paired().await;
    assert_eq!(
        api.upload(&a, b"12345678").await.status,
        StatusCode::CREATED
    );
    // 8 + 8 is over the day's 10: refused mid-way, nothing stored.
    let r = api.upload(&a, b"abcdefgh").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "upload_quota"),
        "{:?}",
        r.body
    );
    assert_eq!(
        api.upload(&a, b"xy").await.status,
        StatusCode::CREATED,
        "2 bytes are left"
    );
    assert_eq!(api.upload(&a, b"z").await.code(), "upload_quota");
    // Someone else's quota is their own.
    assert_eq!(
        api.upload(&b, b"abcdefgh").await.status,
        StatusCode::CREATED
    );
    // Accounts that never send files may not fill the disk at all.
    let element = api.service("proxy", &["network_element"], &["+44"]).await;
    let r = api.upload(&element, b"x").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "uploads_not_allowed")
    );
    assert_eq!(
        api.upload(&api.admin, b"x").await.code(),
        "uploads_not_allowed"
    );

    // A disk nearer full than the floor: uploads wait, messages keep working.
    let api = api_with(|c| c.blob_min_free_bytes = u64::MAX).await;
    let (a, _, key2) = api.paired().await;
    let r = api.upload(&a, b"hello").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::INSUFFICIENT_STORAGE, "storage_full"),
        "{:?}",
        r.body
    );
    let r = api
        .send(&a, &key2, "m1", "text", json!({"text": "still here"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let _ = key;
}
