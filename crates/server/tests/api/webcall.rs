//! A visitor's web call (S4): the agent's answer opens a session between the agent and the
//! visitor (whose visitor token opens it); chat, page follow (`page/view`), page push from the
//! merchant's table (`system/page`) and media control (`media/control`, agents only) ride it;
//! the end of the call closes it and the visitor's token opens nothing but the call's state.

use super::merchants::{button, click, merchant, now_secs, Merchant};
use super::*;

/// A merchant whose `sales` button sends its calls to its agents of group `sales`.
pub(super) async fn shop_with_agents(api: &Api, name: &str) -> Merchant {
    let shop = merchant(api, name).await;
    let r = api
        .put(
            "/v1/merchant/links/sales",
            &shop.token,
            json!({"name": "Sales"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let rules = json!({"rules": [{"links": ["sales"], "to": "agents:sales"}]});
    let r = api.put("/v1/merchant/routing", &shop.token, rules).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    shop
}

/// An agent of `shop`, signed in: its token.
async fn signed_in(api: &Api, shop: &Merchant, id: &str) -> String {
    let r = api
        .put(
            &format!("/v1/merchant/agents/{id}"),
            &shop.token,
            json!({"name": format!("Agent {id}"), "groups": ["sales"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let token = r.body["token"].as_str().unwrap().to_owned();
    let r = api
        .post("/v1/agent/presence", &token, json!({"status": "available"}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    token
}

/// A visitor's click on `shop`'s sales button: (call id, visitor token).
async fn visit(api: &Api, shop: &Merchant) -> (String, String) {
    let b = button(
        &shop.secret,
        json!({"iss": shop.id, "exp": now_secs() + 600, "lnk": "sales"}),
    );
    let r = click(
        api,
        &shop.id,
        &b,
        json!({"page": "https://shoes.example/boots"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    (
        r.body["id"].as_str().unwrap().to_owned(),
        r.body["visitor_token"].as_str().unwrap().to_owned(),
    )
}

fn kinds(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_answered_web_call_is_a_session_for_chat_pages_and_media_that_closes_with_the_call() {
    let api = api().await;
    let shop = shop_with_agents(&api, "Acme Shoes").await;
    let other = shop_with_agents(&api, "Other Store").await;
    let r = api
        .put(
            "/v1/merchant/pages/*76",
            &shop.token,
            json!({"url": "https://shoes.example/returns"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let ann = signed_in(&api, &shop, "ann").await;
    let zed = signed_in(&api, &other, "zed").await;
    let (call, visitor) = visit(&api, &shop).await;

    // Ringing: no session yet, and the visitor token is no account.
    let r = api.get("/v1/agent/call", &ann).await;
    assert_eq!(r.body["state"], "ringing");
    assert!(r.body.get("session").is_none(), "{:?}", r.body);
    assert_eq!(
        api.get("/v1/sessions", &visitor).await.code(),
        "unknown_token"
    );

    let r = api
        .post(&format!("/v1/agent/calls/{call}/accept"), &ann, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = api.get("/v1/agent/call", &ann).await;
    assert_eq!(r.body["state"], "talking");
    let key = r.body["session"].as_str().unwrap().to_owned();
    let r = api.get(&format!("/v1/clicks/{call}"), &visitor).await;
    assert_eq!(r.body["state"], "answered");
    assert_eq!(
        r.body["session"],
        key.as_str(),
        "the visitor learns the session"
    );

    // The visitor token opens that session, and nothing more of the server.
    let r = api.get("/v1/sessions", &visitor).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["sessions"].as_array().unwrap().len(), 1);
    let s = &r.body["sessions"][0];
    assert_eq!(s["key"], key.as_str());
    assert_eq!(s["origin"], "click");
    assert_eq!(s["call"], "answered");
    let names: Vec<&str> = s["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Agent ann", "Visitor"]);
    for (path, code) in [
        ("/v1/agent/call", "not_an_agent"),
        ("/v1/merchant/calls", "not_a_merchant"),
        ("/v1/admin/devices", "admin_only"),
    ] {
        let r = api.get(path, &visitor).await;
        assert_eq!(r.code(), code, "{path}: {:?}", r.body);
    }
    let r = api
        .post(
            &format!("/v1/agent/calls/{call}/push"),
            &visitor,
            json!({"code": "*76"}),
        )
        .await;
    assert_eq!(r.code(), "not_an_agent", "a visitor cannot push pages");
    assert_eq!(
        api.get(&format!("/v1/sessions/{key}"), &zed).await.status,
        StatusCode::FORBIDDEN,
        "another merchant's agent sees nothing of it"
    );

    // Chat both ways, and the visitor's page as it changes.
    let r = api
        .send(
            &visitor,
            &key,
            "v1",
            "text",
            json!({"text": "Do these come in 42?"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = api
        .send(&ann, &key, "a1", "text", json!({"text": "They do."}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let page = json!({"url": "https://shoes.example/boots?size=42", "title": "Boots"});
    let r = api.send(&visitor, &key, "v2", "page/view", page).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    for bad in [
        json!({"url": "javascript:alert(1)"}),
        json!({"url": "https://shoes.example/", "title": "x".repeat(201)}),
        json!({"url": format!("https://shoes.example/{}", "a".repeat(2048))}),
        json!({"url": "https://shoes.example/", "extra": 1}),
    ] {
        let r = api
            .send(&visitor, &key, "bad", "page/view", bad.clone())
            .await;
        assert_eq!(r.code(), "invalid_message", "{bad}");
    }

    // Media control is the agent's, bounded.
    let r = api
        .send(
            &visitor,
            &key,
            "v3",
            "media/control",
            json!({"volume": 0.2}),
        )
        .await;
    assert_eq!(r.code(), "agents_only");
    for bad in [json!({"volume": 1.5}), json!({})] {
        let r = api
            .send(&ann, &key, "bad", "media/control", bad.clone())
            .await;
        assert_eq!(r.code(), "invalid_message", "{bad}");
    }
    let r = api
        .send(
            &ann,
            &key,
            "a2",
            "media/control",
            json!({"volume": 0.5, "echo_cancellation": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // Page push: only the merchant's own codes; an unknown one changes nothing.
    let before = api.messages(&visitor, &key, 0).await.len();
    let r = api
        .post(
            &format!("/v1/agent/calls/{call}/push"),
            &ann,
            json!({"code": "*99"}),
        )
        .await;
    assert_eq!(r.code(), "unknown_code");
    let r = api
        .post(
            &format!("/v1/agent/calls/{call}/push"),
            &zed,
            json!({"code": "*76"}),
        )
        .await;
    assert_eq!(
        r.code(),
        "not_talking",
        "not the other merchant's agent's call"
    );
    assert_eq!(api.messages(&visitor, &key, 0).await.len(), before);
    let r = api.get("/v1/agent/pages", &ann).await;
    assert_eq!(
        r.body["pages"],
        json!([{"code": "*76", "url": "https://shoes.example/returns"}])
    );
    assert_eq!(
        api.get("/v1/agent/pages", &zed).await.body["pages"],
        json!([])
    );
    let r = api
        .post(
            &format!("/v1/agent/calls/{call}/push"),
            &ann,
            json!({"code": "*76"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["url"], "https://shoes.example/returns");

    let log = api.messages(&visitor, &key, 0).await;
    assert_eq!(
        kinds(&log),
        [
            "system/call",
            "text",
            "text",
            "page/view",
            "media/control",
            "system/page"
        ]
    );
    let pushed = &log[5]["body"];
    assert_eq!(pushed["url"], "https://shoes.example/returns");
    assert_eq!(pushed["code"], "*76");
    assert_eq!(log[1]["body"]["text"], "Do these come in 42?");
    assert_eq!(log[3]["body"]["title"], "Boots");

    // The visitor hangs up: the session closes with the call, and its token opens only the
    // call's state from now on.
    let r = api
        .post(&format!("/v1/clicks/{call}/hangup"), &visitor, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = api.get(&format!("/v1/sessions/{key}"), &ann).await;
    assert_eq!(r.body["closed"], "call_ended", "{:?}", r.body);
    assert_eq!(
        api.get(&format!("/v1/sessions/{key}"), &visitor)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = api.get(&format!("/v1/clicks/{call}"), &visitor).await;
    assert_eq!(r.body["state"], "ended");
    assert_eq!(r.body["outcome"], "completed");
    assert!(r.body.get("session").is_none());
    let r = api
        .post(
            &format!("/v1/agent/calls/{call}/push"),
            &ann,
            json!({"code": "*76"}),
        )
        .await;
    assert_eq!(r.code(), "not_talking");
}

#[tokio::test]
async fn an_agent_ending_the_call_or_the_merchant_reporting_it_closes_its_session() {
    let api = api().await;
    let shop = shop_with_agents(&api, "Acme Shoes").await;
    let ann = signed_in(&api, &shop, "ann").await;
    for how in ["agent", "merchant"] {
        let (call, visitor) = visit(&api, &shop).await;
        let r = api
            .post(&format!("/v1/agent/calls/{call}/accept"), &ann, json!({}))
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
        let key = api.get("/v1/agent/call", &ann).await.body["session"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            api.get(&format!("/v1/sessions/{key}"), &visitor)
                .await
                .status,
            StatusCode::OK
        );
        let r = match how {
            "agent" => {
                api.post(&format!("/v1/agent/calls/{call}/end"), &ann, json!({}))
                    .await
            }
            _ => {
                api.post(
                    &format!("/v1/merchant/calls/{call}/state"),
                    &shop.token,
                    json!({"state": "ended", "outcome": "completed"}),
                )
                .await
            }
        };
        assert!(r.status.is_success(), "{how}: {:?}", r.body);
        let r = api.get(&format!("/v1/sessions/{key}"), &ann).await;
        assert_eq!(r.body["closed"], "call_ended", "{how}: {:?}", r.body);
        assert_eq!(
            api.get("/v1/sessions", &visitor).await.status,
            StatusCode::UNAUTHORIZED,
            "{how}"
        );
        let r = api
            .send(&ann, &key, "late", "text", json!({"text": "still there?"}))
            .await;
        assert!(
            r.status.is_client_error(),
            "{how}: a closed session takes nothing"
        );
    }
}

#[tokio::test]
async fn a_call_its_agent_dropped_is_answered_again_in_a_new_session_with_the_same_visitor() {
    let api = api().await;
    let shop = shop_with_agents(&api, "Acme Shoes").await;
    let ann = signed_in(&api, &shop, "ann").await;
    let (call, visitor) = visit(&api, &shop).await;
    let r = api
        .post(&format!("/v1/agent/calls/{call}/accept"), &ann, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let first = api.get("/v1/agent/call", &ann).await.body["session"]
        .as_str()
        .unwrap()
        .to_owned();
    // Ann signs out mid-call: her session with the visitor ends, the call waits again.
    let r = api
        .post("/v1/agent/presence", &ann, json!({"status": "offline"}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api.get(&format!("/v1/sessions/{first}"), &visitor).await;
    assert_eq!(r.body["closed"], "call_ended", "{:?}", r.body);
    let r = api.get(&format!("/v1/clicks/{call}"), &visitor).await;
    assert_eq!(r.body["state"], "queued");
    assert!(r.body.get("session").is_none());
    // Bob answers: a new session, which the same visitor token opens.
    let bob = signed_in(&api, &shop, "bob").await;
    let r = api
        .post(&format!("/v1/agent/calls/{call}/accept"), &bob, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let second = api.get(&format!("/v1/clicks/{call}"), &visitor).await.body["session"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, second);
    let r = api.get(&format!("/v1/sessions/{second}"), &visitor).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["participants"][0]["name"], "Agent bob");
    assert_eq!(
        api.get(&format!("/v1/sessions/{second}"), &ann)
            .await
            .status,
        StatusCode::FORBIDDEN,
        "Ann is not in Bob's call"
    );
}

#[tokio::test]
async fn an_agent_keys_a_phone_calls_channel_id_and_gets_its_chat_and_pages() {
    let api = api().await;
    let shop = shop_with_agents(&api, "Acme Shoes").await;
    let other = shop_with_agents(&api, "Other Store").await;
    let r = api
        .put(
            "/v1/merchant/routing",
            &shop.token,
            json!({"rules": [], "default": "+12125550100"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = api
        .put(
            "/v1/merchant/pages/*76",
            &shop.token,
            json!({"url": "https://shoes.example/returns"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let b = button(
        &shop.secret,
        json!({"iss": shop.id, "exp": now_secs() + 600, "lnk": "sales"}),
    );
    let r = click(
        &api,
        &shop.id,
        &b,
        json!({"page": "https://shoes.example/boots"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["destination"], "+12125550100");
    let call = r.body["id"].as_str().unwrap().to_owned();
    let visitor = r.body["visitor_token"].as_str().unwrap().to_owned();
    let channel = r.body["channel"].as_str().unwrap().to_owned();
    assert!(
        channel.len() == 6 && channel.bytes().all(|b| b.is_ascii_digit()),
        "{channel}"
    );
    assert_eq!(
        api.get(&format!("/v1/clicks/{call}"), &visitor).await.body["state"],
        "routed"
    );

    let ann = signed_in(&api, &shop, "ann").await;
    let zed = signed_in(&api, &other, "zed").await;
    let join = |token: String, channel: String| {
        let api = &api;
        async move {
            api.post("/v1/agent/channels", &token, json!({"channel": channel}))
                .await
        }
    };
    let wrong = if channel == "000000" {
        "000001"
    } else {
        "000000"
    };
    assert_eq!(
        join(ann.clone(), wrong.into()).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        join(ann.clone(), "12ab56".into()).await.code(),
        "invalid_request"
    );
    assert_eq!(
        join(zed.clone(), channel.clone()).await.status,
        StatusCode::NOT_FOUND,
        "not the other shop's"
    );
    assert_eq!(
        join(visitor.clone(), channel.clone()).await.code(),
        "unknown_token"
    );
    assert_eq!(
        api.get(&format!("/v1/clicks/{call}"), &visitor).await.body["state"],
        "routed"
    );

    let r = join(ann.clone(), channel.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["state"], "talking");
    assert_eq!(r.body["call"]["id"], call.as_str());
    let key = r.body["session"].as_str().unwrap().to_owned();
    let s = api.get(&format!("/v1/clicks/{call}"), &visitor).await;
    assert_eq!(
        (&s.body["state"], &s.body["session"]),
        (&json!("answered"), &json!(key))
    );
    assert_eq!(
        api.get("/v1/agent/call", &ann).await.body["session"],
        key.as_str()
    );
    // Keyed again, by anyone: the call is taken.
    let bob = signed_in(&api, &shop, "bob").await;
    assert_eq!(
        join(bob.clone(), channel.clone()).await.status,
        StatusCode::NOT_FOUND
    );
    // Chat and page push, as on any web call.
    let r = api
        .send(
            &visitor,
            &key,
            "v1",
            "text",
            json!({"text": "Hello from the phone"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = api
        .post(
            &format!("/v1/agent/calls/{call}/push"),
            &ann,
            json!({"code": "*76"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let kinds: Vec<String> = api
        .messages(&ann, &key, 0)
        .await
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["system/call", "text", "system/page"]);
    // A second phone call's code while on this one: busy.
    let r = click(&api, &shop.id, &b, json!({})).await;
    let second = r.body["channel"].as_str().unwrap().to_owned();
    assert_eq!(join(ann.clone(), second.clone()).await.code(), "busy");
    // Ann closes it: the session closes and the record ends.
    let r = api
        .post(&format!("/v1/agent/calls/{call}/end"), &ann, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = api.get(&format!("/v1/sessions/{key}"), &ann).await;
    assert_eq!(r.body["closed"], "call_ended");
    assert_eq!(
        join(ann.clone(), second.clone()).await.status,
        StatusCode::OK,
        "free again"
    );
}

#[tokio::test]
async fn a_merchants_webhook_must_be_a_public_https_url_and_its_own() {
    let api = api().await;
    let shop = shop_with_agents(&api, "Acme Shoes").await;
    let ann = signed_in(&api, &shop, "ann").await;
    assert_eq!(
        api.get("/v1/merchant/webhook", &shop.token).await.status,
        StatusCode::NOT_FOUND
    );
    for (url, why) in [
        ("http://crm.example/hook", "must be https"),
        ("https://127.0.0.1/hook", "private or loopback"),
        ("ftp://crm.example/hook", "must be https"),
        ("not a url", "is not a URL"),
    ] {
        let r = api
            .put("/v1/merchant/webhook", &shop.token, json!({"url": url}))
            .await;
        assert_eq!(r.code(), "invalid_request", "{url}: {:?}", r.body);
        assert!(
            r.body["detail"].as_str().unwrap().contains(why),
            "{url}: {:?}",
            r.body
        );
    }
    assert_eq!(
        api.get("/v1/merchant/webhook", &shop.token).await.status,
        StatusCode::NOT_FOUND
    );
    let r = api
        .put(
            "/v1/merchant/webhook",
            &ann,
            json!({"url": "https://crm.example/hook"}),
        )
        .await;
    assert_eq!(r.code(), "not_a_merchant");
}

#[tokio::test]
async fn a_visitor_resolves_a_code_keyed_on_the_phone_to_its_merchants_page_only() {
    let api = api().await;
    let shop = shop_with_agents(&api, "Acme Shoes").await;
    let other = shop_with_agents(&api, "Other Store").await;
    for (m, url) in [
        (&shop, "https://shoes.example/returns"),
        (&other, "https://other.example/x"),
    ] {
        let r = api
            .put("/v1/merchant/pages/*76", &m.token, json!({"url": url}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let (call, visitor) = visit(&api, &shop).await;
    let r = api
        .get(&format!("/v1/clicks/{call}/pages/*76"), &visitor)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["url"], "https://shoes.example/returns",
        "its own shop's page"
    );
    assert_eq!(
        api.get(&format!("/v1/clicks/{call}/pages/*99"), &visitor)
            .await
            .code(),
        "unknown_code"
    );
    assert_eq!(
        api.get(&format!("/v1/clicks/{call}/pages/*76"), "vis_forged")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get(&format!("/v1/clicks/{call}/pages/*76"), "")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}
