//! Router tests: the HTTP API through `tower::ServiceExt::oneshot`, against a real SQLite store
//! in a temporary directory.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use callside_server::config::Config;
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use tower::ServiceExt as _;

struct Api {
    router: Router,
    admin: String,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    body: Value,
    headers: axum::http::HeaderMap,
    bytes: Vec<u8>,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

const ALICE: &str = "+44 20 7946 0001";
const BOB: &str = "+44 20 7946 0002";
const CAROL: &str = "+44 20 7946 0003";

async fn api() -> Api {
    api_with(|_| {}).await
}

async fn api_with(tweak: impl FnOnce(&mut Config)) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_dir(dir.path());
    tweak(&mut config);
    let (app, admin) = callside_server::build(config).await.unwrap();
    Api {
        router: callside_server::router(app),
        admin,
        _dir: dir,
    }
}

impl Api {
    async fn raw(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
            bytes,
        }
    }

    async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if !token.is_empty() {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        self.raw(req.unwrap()).await
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    async fn device(&self, name: &str, numbers: &[&str]) -> (String, String) {
        let r = self
            .post(
                "/v1/admin/devices",
                &self.admin,
                json!({"name": name, "numbers": numbers}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (
            r.body["device"]["id"].as_str().unwrap().to_owned(),
            r.body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// A service account; returns its token.
    async fn service(&self, name: &str, scopes: &[&str], ranges: &[&str]) -> String {
        let r = self
            .post(
                "/v1/admin/service-accounts",
                &self.admin,
                json!({"name": name, "scopes": scopes, "ranges": ranges}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    }

    async fn leg(&self, token: &str, own: &str, other: Option<&str>, direction: &str) -> Reply {
        self.post(
            "/v1/legs",
            token,
            json!({"self": own, "other": other, "direction": direction}),
        )
        .await
    }

    /// Two devices, paired on a call; returns (alice token, bob token, session key).
    async fn paired(&self) -> (String, String, String) {
        let (_, a) = self.device("Alice", &[ALICE]).await;
        let (_, b) = self.device("Bob", &[BOB]).await;
        assert_eq!(
            self.leg(&a, ALICE, Some(BOB), "outgoing").await.status,
            StatusCode::ACCEPTED
        );
        let r = self.leg(&b, BOB, Some(ALICE), "incoming").await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let key = r.body["session"]["key"].as_str().unwrap().to_owned();
        (a, b, key)
    }

    async fn send(&self, token: &str, key: &str, id: &str, kind: &str, body: Value) -> Reply {
        self.post(
            &format!("/v1/sessions/{key}/messages"),
            token,
            json!({"id": id, "kind": kind, "body": body}),
        )
        .await
    }

    async fn messages(&self, token: &str, key: &str, after: u64) -> Vec<Value> {
        let r = self
            .get(&format!("/v1/sessions/{key}/messages?after={after}"), token)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["messages"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn every_request_needs_a_valid_token_and_errors_are_problem_documents() {
    let api = api().await;
    for token in ["", "cs_dev_not-a-real-token"] {
        let r = api.get("/v1/me", token).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.code(), "unauthenticated");
        assert_eq!(r.headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(r.body["status"], 401);
        assert_eq!(
            r.body["type"],
            "https://callside.dev/problems/unauthenticated"
        );
    }
    let r = api.get("/v1/me", &api.admin).await;
    assert_eq!(r.body["kind"], "admin");
    let r = api.get("/v1/nope", &api.admin).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn provisioning_normalises_numbers_and_rejects_bad_input() {
    let api = api_with(|c| c.default_region = "GB".parse().unwrap()).await;
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
async fn both_legs_get_the_same_key_and_devices_report_only_their_numbers() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let (_, b) = api.device("Bob", &[BOB]).await;
    let r = api.leg(&a, BOB, Some(ALICE), "incoming").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_your_number")
    );
    let r = api.leg(&a, ALICE, Some(ALICE), "outgoing").await;
    assert_eq!(r.code(), "invalid_leg");
    let r = api.leg(&a, ALICE, None, "outgoing").await;
    assert_eq!(r.code(), "invalid_leg");

    let first = api
        .post("/v1/legs", &a, json!({"self": ALICE, "other": BOB, "direction": "outgoing", "registry": "cs.example.net"}))
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.body["state"], "pending");
    assert_eq!(
        first.body["registry"], "cs.example.net",
        "S0 claim 7: the FQDN is echoed"
    );
    let leg_a = first.body["id"].as_str().unwrap().to_owned();

    // Alice long-polls while Bob reports.
    let poll = {
        let router = api.router.clone();
        let a = a.clone();
        let leg_a = leg_a.clone();
        tokio::spawn(async move {
            let req = Request::get(format!("/v1/legs/{leg_a}?wait=10"))
                .header(header::AUTHORIZATION, format!("Bearer {a}"))
                .body(Body::empty())
                .unwrap();
            let res = router.oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let second = api
        .leg(&b, "+442079460002", Some("+44 (20) 7946-0001"), "incoming")
        .await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body["state"], "matched");
    let key = second.body["session"]["key"].as_str().unwrap();
    assert_eq!(key.len(), 39, "sk_, 12 hex digits of time, 144 random bits");
    let (status, polled) = poll.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        polled["session"]["key"], key,
        "both registrants get the key"
    );
    let parts: Vec<&str> = polled["session"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_str().unwrap())
        .collect();
    assert_eq!(parts, vec!["+442079460001", "+442079460002"]);
    // Another device cannot see Alice's leg.
    let r = api.get(&format!("/v1/legs/{leg_a}"), &b).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn withheld_callers_are_matched_only_when_unambiguous() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let (_, b) = api.device("Bob", &[BOB]).await;
    let (_, c) = api.device("Carol", &[CAROL]).await;
    api.leg(&a, ALICE, Some(BOB), "outgoing").await;
    api.leg(&c, CAROL, Some(BOB), "outgoing").await;
    let r = api.leg(&b, BOB, None, "incoming").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (r.body["state"].as_str(), r.body["reason"].as_str()),
        (Some("no_match"), Some("ambiguous"))
    );
    // With one caller only, the withheld leg pairs.
    let (_, d) = api.device("Dan", &["+44 20 7946 0004"]).await;
    api.leg(&a, ALICE, Some("+44 20 7946 0004"), "outgoing")
        .await;
    let r = api.leg(&d, "+44 20 7946 0004", None, "incoming").await;
    assert_eq!(r.body["state"], "matched");
}

#[tokio::test]
async fn hanging_up_before_a_match_withdraws_the_leg() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let (_, b) = api.device("Bob", &[BOB]).await;
    let r = api.leg(&a, ALICE, Some(BOB), "outgoing").await;
    let id = r.body["id"].as_str().unwrap();
    let r = api.get(&format!("/v1/legs/{id}?wait=0"), &a).await;
    assert_eq!(r.body["state"], "pending");
    let r = api
        .post(&format!("/v1/legs/{id}/end"), &a, json!(null))
        .await;
    assert_eq!(
        (r.body["state"].as_str(), r.body["reason"].as_str()),
        (Some("no_match"), Some("withdrawn"))
    );
    // Bob's leg no longer finds it.
    assert_eq!(
        api.leg(&b, BOB, Some(ALICE), "incoming").await.body["state"],
        "pending"
    );
}

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

#[tokio::test]
async fn network_calls_are_authoritative_and_reach_the_numbers_devices() {
    let api = api().await;
    let (a_id, a) = api.device("Alice", &[ALICE]).await;
    let (b_id, b) = api.device("Bob PC", &[BOB]).await;
    let sip = api
        .service("kamailio", &["network_element"], &["+4420"])
        .await;
    let other_sip = api
        .service("elsewhere", &["network_element"], &["+1"])
        .await;

    let ev = |event: &str| json!({"call_ref": "abc@10.0.0.1", "caller": ALICE, "callee": BOB, "event": event});
    let r = api
        .post("/v1/network/calls", &other_sip, ev("ringing"))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_your_range")
    );
    let r = api.post("/v1/network/calls", &a, ev("ringing")).await;
    assert_eq!(
        r.code(),
        "not_your_range",
        "devices are not network elements"
    );
    let r = api.post("/v1/network/calls", &sip, ev("ended")).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "an end without a start creates nothing"
    );

    let r = api.post("/v1/network/calls", &sip, ev("ringing")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let key = r.body["session"].as_str().unwrap().to_owned();
    let again = api.post("/v1/network/calls", &sip, ev("ringing")).await;
    assert_eq!(again.body["session"], key.as_str(), "repeats are harmless");
    let s = api.get(&format!("/v1/sessions/{key}"), &b).await;
    assert_eq!(s.body["origin"], "network");
    let ids: Vec<&str> = s.body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a_id.as_str(), b_id.as_str()]);

    // A device leg of the call attaches to it rather than pairing on its own.
    let r = api.leg(&a, ALICE, Some(BOB), "outgoing").await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (StatusCode::OK, Some("matched"))
    );
    assert_eq!(r.body["session"]["key"], key.as_str());

    api.post("/v1/network/calls", &sip, ev("answered")).await;
    let r = api.post("/v1/network/calls", &sip, ev("ended")).await;
    assert_eq!(r.body["state"], "ended");
    let msgs = api.messages(&b, &key, 0).await;
    let states: Vec<&str> = msgs
        .iter()
        .filter(|m| m["kind"] == "system/call")
        .map(|m| m["body"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["answered", "ended"]);
}

#[tokio::test]
async fn a_network_report_binds_to_the_pair_that_formed_just_before() {
    let api = api().await;
    let (_, _, key) = api.paired().await;
    let sip = api
        .service("kamailio", &["network_element"], &["+44"])
        .await;
    let r = api
        .post(
            "/v1/network/calls",
            &sip,
            json!({"call_ref": "c1", "caller": ALICE, "callee": BOB, "event": "answered"}),
        )
        .await;
    assert_eq!(r.body["session"], key.as_str(), "one call, one session");
}

#[tokio::test]
async fn automated_systems_take_part_in_calls_to_their_numbers() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let vm = api
        .service("voicemail", &["automated_system"], &["+4420794609"])
        .await;
    let r = api.leg(&vm, ALICE, Some("+442079460901"), "incoming").await;
    assert_eq!(r.code(), "not_your_number");
    api.leg(&a, ALICE, Some("+442079460901"), "outgoing").await;
    let r = api.leg(&vm, "+442079460901", Some(ALICE), "incoming").await;
    assert_eq!(r.body["state"], "matched");
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
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    assert_eq!(
        paths.len(),
        56,
        "a route was added without documenting it here"
    );
}

#[tokio::test]
async fn health_and_metrics() {
    let api = api().await;
    assert_eq!(api.get("/healthz", "").await.status, StatusCode::OK);
    assert_eq!(api.get("/readyz", "").await.status, StatusCode::OK);
    api.paired().await;
    let r = api.get("/metrics", "").await;
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
async fn concurrent_events_of_one_network_call_make_one_session() {
    let api = api().await;
    api.device("Alice", &[ALICE]).await;
    api.device("Bob", &[BOB]).await;
    let sip = api
        .service("kamailio", &["network_element"], &["+44"])
        .await;
    let mut tasks = Vec::new();
    for event in ["ringing", "answered", "ringing", "answered"] {
        let router = api.router.clone();
        let sip = sip.clone();
        tasks.push(tokio::spawn(async move {
            let body =
                json!({"call_ref": "dup@proxy", "caller": ALICE, "callee": BOB, "event": event});
            let req = Request::post("/v1/network/calls")
                .header(header::AUTHORIZATION, format!("Bearer {sip}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap();
            let res = router.oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }));
    }
    let mut keys = std::collections::HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        keys.insert(body["session"].as_str().unwrap().to_owned());
    }
    assert_eq!(keys.len(), 1, "one call, one session: {keys:?}");
    // Ended stays ended, whatever arrives after it.
    let ev = |e: &str| json!({"call_ref": "dup@proxy", "caller": ALICE, "callee": BOB, "event": e});
    api.post("/v1/network/calls", &sip, ev("ended")).await;
    let r = api.post("/v1/network/calls", &sip, ev("answered")).await;
    assert_eq!(r.body["state"], "ended");
}

#[tokio::test]
async fn a_device_cannot_keep_many_legs_waiting() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    for i in 0..8 {
        let r = api
            .leg(&a, ALICE, Some(&format!("+4420794610{i:02}")), "outgoing")
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    let r = api.leg(&a, ALICE, Some("+442079461099"), "outgoing").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_pending_legs")
    );
}

#[tokio::test]
async fn an_answer_before_the_match_is_applied_when_the_call_pairs() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let (_, b) = api.device("Bob", &[BOB]).await;
    let r = api.leg(&a, ALICE, Some(BOB), "outgoing").await;
    let leg = r.body["id"].as_str().unwrap().to_owned();
    let r = api
        .post(&format!("/v1/legs/{leg}/answer"), &a, json!(null))
        .await;
    assert_eq!(r.body["state"], "pending");
    let r = api.leg(&b, BOB, Some(ALICE), "incoming").await;
    assert_eq!(r.body["session"]["call"], "answered");
}

#[tokio::test]
async fn a_closed_network_session_releases_its_call() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let sip = api
        .service("kamailio", &["network_element"], &["+44"])
        .await;
    let r = api
        .post(
            "/v1/network/calls",
            &sip,
            json!({"call_ref": "c9", "caller": ALICE, "callee": BOB, "event": "answered"}),
        )
        .await;
    let key = r.body["session"].as_str().unwrap().to_owned();
    api.post(&format!("/v1/sessions/{key}/close"), &a, json!(null))
        .await;
    // The network's "ended" was lost; Alice's app reports the call: it is placed as a new leg
    // instead of failing against the closed session.
    let r = api.leg(&a, ALICE, Some(BOB), "outgoing").await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (StatusCode::ACCEPTED, Some("pending")),
        "{:?}",
        r.body
    );
}

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
async fn cards_are_checked_versioned_and_exported() {
    let api = api_with(|c| c.default_region = "GB".parse().unwrap()).await;
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
}
