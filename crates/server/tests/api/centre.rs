//! A merchant's call centre (S4's ACD): agents with their own accounts, presence, a queue with
//! positions and expected waits, screen pop on ringing, declines and dropped agents putting
//! the call back at the front, visitors following and hanging up their own call only, and
//! two merchants kept apart.

use super::merchants::{button, click, merchant, now_secs, Merchant};
use super::webcall::shop_with_agents;
use super::*;

/// A visitor's click on `shop`'s sales button: its call id and visitor token.
async fn visit(api: &Api, shop: &Merchant, customer: &str, page: &str) -> (String, String) {
    let b = button(
        &shop.secret,
        json!({"iss": shop.id, "exp": now_secs() + 600, "lnk": "sales", "cus": customer}),
    );
    let r = click(
        api,
        &shop.id,
        &b,
        json!({"page": page, "referrer": "https://news.example/review", "form": {"size": "42"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["destination"], "agents:sales");
    (
        r.body["id"].as_str().unwrap().to_owned(),
        r.body["visitor_token"].as_str().unwrap().to_owned(),
    )
}

async fn agent(api: &Api, shop: &Merchant, id: &str, groups: Value) -> String {
    let r = api
        .put(
            &format!("/v1/merchant/agents/{id}"),
            &shop.token,
            json!({"name": format!("Agent {id}"), "groups": groups}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["token"].as_str().unwrap().to_owned()
}

async fn presence(api: &Api, token: &str, status: &str) {
    let r = api
        .post("/v1/agent/presence", token, json!({"status": status}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
}

/// What the agent's console shows now: (state, call id, page), or None.
async fn console(api: &Api, token: &str) -> Option<(String, String, String)> {
    let r = api.get("/v1/agent/call", token).await;
    if r.status == StatusCode::NO_CONTENT {
        return None;
    }
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    Some((
        r.body["state"].as_str().unwrap().to_owned(),
        r.body["call"]["id"].as_str().unwrap().to_owned(),
        r.body["call"]["context"]["page"]
            .as_str()
            .unwrap()
            .to_owned(),
    ))
}

async fn standing(api: &Api, call: &str, token: &str) -> Value {
    let r = api.get(&format!("/v1/clicks/{call}"), token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

async fn act(api: &Api, token: &str, call: &str, what: &str) -> Reply {
    api.post(&format!("/v1/agent/calls/{call}/{what}"), token, json!({}))
        .await
}

#[tokio::test]
async fn visitors_queue_for_agents_who_see_the_page_and_no_call_is_lost() {
    let api = api().await;
    let shop = shop_with_agents(&api, "Acme Shoes").await;
    let other = shop_with_agents(&api, "Other Store").await;
    let ann = agent(&api, &shop, "ann", json!(["sales"])).await;
    let bob = agent(&api, &shop, "bob", json!(["sales", "billing"])).await;
    // Another merchant's agent of a group with the same name never gets this shop's calls.
    let zed = agent(&api, &other, "zed", json!(["sales"])).await;
    presence(&api, &zed, "available").await;

    // Renaming keeps the account: no new token.
    let r = api
        .put(
            "/v1/merchant/agents/ann",
            &shop.token,
            json!({"name": "Ann Lee", "groups": ["sales"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body.get("token").is_none());
    assert_eq!(
        api.get("/v1/me", &ann).await.body["name"],
        "Ann Lee",
        "the account is renamed with the agent"
    );

    let (c1, v1) = visit(&api, &shop, "cust-1", "https://shoes.example/boots").await;
    let (c2, v2) = visit(&api, &shop, "cust-2", "https://shoes.example/sandals").await;
    let s = standing(&api, &c1, &v1).await;
    assert_eq!((&s["state"], &s["position"]), (&json!("queued"), &json!(1)));
    assert!(
        s.get("expected_wait_secs").is_none(),
        "no agent signed in: no estimate"
    );
    assert_eq!(standing(&api, &c2, &v2).await["position"], 2);
    assert_eq!(console(&api, &zed).await, None, "not the other merchant's");

    // Ann signs in: the first call rings her, with the page it came from (screen pop).
    presence(&api, &ann, "available").await;
    let r = api.get("/v1/agent/call", &ann).await;
    assert_eq!(r.body["state"], "ringing");
    assert_eq!(r.body["call"]["id"], json!(c1));
    assert_eq!(r.body["call"]["customer"], "cust-1");
    assert_eq!(r.body["call"]["context"]["form"]["size"], "42");
    assert_eq!(
        r.body["call"]["context"]["referrer"],
        "https://news.example/review"
    );
    assert_eq!(standing(&api, &c1, &v1).await["state"], "ringing");
    // A console that shows something else gets the call at once; one that shows it already
    // gets it again when its wait is up (here at once).
    for seen in [
        "clk_other/ringing",
        &format!("{c1}/talking"),
        &format!("{c1}/ringing"),
    ] {
        let r = api
            .get(&format!("/v1/agent/call?wait=0&seen={seen}"), &ann)
            .await;
        assert_eq!(r.body["call"]["id"], json!(c1), "{seen}");
    }
    let s = standing(&api, &c2, &v2).await;
    assert_eq!(s["position"], 1);
    assert_eq!(
        s["expected_wait_secs"], 60,
        "half the assumed 2-minute handle time"
    );

    // Ann declines: the call goes back to the front and rings Bob once he signs in.
    assert_eq!(
        act(&api, &ann, &c1, "decline").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(standing(&api, &c1, &v1).await["position"], 1);
    assert_eq!(console(&api, &ann).await, None, "Ann is away now");
    presence(&api, &bob, "available").await;
    assert_eq!(
        console(&api, &bob).await,
        Some((
            "ringing".into(),
            c1.clone(),
            "https://shoes.example/boots".into()
        ))
    );
    // Not Ann's to answer, nor the other merchant's agent's.
    for token in [&ann, &zed] {
        let r = act(&api, token, &c1, "accept").await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "not_ringing"));
    }
    assert_eq!(
        act(&api, &bob, &c1, "accept").await.status,
        StatusCode::NO_CONTENT
    );
    let s = standing(&api, &c1, &v1).await;
    assert_eq!(
        (&s["state"], &s["agent"]),
        (&json!("answered"), &json!("Agent bob"))
    );

    // Bob signs out mid-call: the call is queued again at the front, and rings Ann.
    presence(&api, &bob, "offline").await;
    let s = standing(&api, &c1, &v1).await;
    assert_eq!((&s["state"], &s["position"]), (&json!("queued"), &json!(1)));
    assert_eq!(standing(&api, &c2, &v2).await["position"], 2);
    presence(&api, &ann, "available").await;
    assert_eq!(console(&api, &ann).await.unwrap().1, c1);
    assert_eq!(
        act(&api, &ann, &c1, "accept").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(console(&api, &ann).await.unwrap().0, "talking");
    let r = api
        .post(
            &format!("/v1/agent/calls/{c1}/end"),
            &ann,
            json!({"outcome": "won"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    let r = api
        .post(&format!("/v1/agent/calls/{c1}/end"), &ann, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let s = standing(&api, &c1, &v1).await;
    assert_eq!(
        (&s["state"], &s["outcome"]),
        (&json!("ended"), &json!("completed"))
    );
    // Ann is free again: the second call rings her.
    assert_eq!(console(&api, &ann).await.unwrap().1, c2);

    // The visitor hangs up while it rings: abandoned, and only once.
    let hang = |call: String, token: String| {
        let api = &api;
        async move {
            api.post(&format!("/v1/clicks/{call}/hangup"), &token, json!({}))
                .await
        }
    };
    assert_eq!(
        hang(c2.clone(), v2.clone()).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(console(&api, &ann).await, None);
    let r = hang(c2.clone(), v2.clone()).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "call_ended"));
    let r = api
        .get(&format!("/v1/merchant/calls/{c2}"), &shop.token)
        .await;
    assert_eq!(
        (&r.body["state"], &r.body["outcome"]),
        (&json!("ended"), &json!("abandoned"))
    );
    let r = api
        .get(&format!("/v1/merchant/calls/{c1}"), &shop.token)
        .await;
    assert_eq!(
        r.body["agent"], "Ann Lee",
        "the name it had when it answered"
    );
    assert!(r.body["talk_ms"].is_i64(), "{:?}", r.body);
}

#[tokio::test]
async fn visitors_agents_and_merchants_reach_only_what_is_theirs() {
    let api = api().await;
    let shop = merchant(&api, "Acme Shoes").await;
    let other = merchant(&api, "Other Store").await;
    let r = api
        .put(
            "/v1/merchant/links/sales",
            &shop.token,
            json!({"name": "Sales"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let rules = json!({"rules": [{"links": ["sales"], "to": "agents:sales"}]});
    assert_eq!(
        api.put("/v1/merchant/routing", &shop.token, rules)
            .await
            .status,
        StatusCode::OK
    );
    let ann = agent(&api, &shop, "ann", json!(["sales"])).await;
    let (c1, v1) = visit(&api, &shop, "cust-1", "https://shoes.example/boots").await;
    let (c2, v2) = visit(&api, &shop, "cust-2", "https://shoes.example/boots").await;

    // A visitor token opens its own call only; none, or a made-up one, opens nothing.
    assert_eq!(
        api.get(&format!("/v1/clicks/{c2}"), &v1).await.code(),
        "not_found"
    );
    assert_eq!(
        api.get(&format!("/v1/clicks/{c1}"), "").await.status,
        StatusCode::UNAUTHORIZED
    );
    // Without its prefix, not base64, or one character short: nothing either.
    for forged in [
        v1.trim_start_matches("vis_").to_owned(),
        "vis_not*base64".to_owned(),
        v1[..v1.len() - 1].to_owned(),
    ] {
        let r = api.get(&format!("/v1/clicks/{c1}"), &forged).await;
        assert_eq!(r.code(), "not_found", "{forged}");
    }
    let r = api
        .post(&format!("/v1/clicks/{c1}/hangup"), &v2, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        standing(&api, &c1, &v1).await["state"],
        "queued",
        "nothing changed"
    );
    // A visitor is not an agent, an agent not a merchant, a merchant not an agent.
    for (path, token, code) in [
        ("/v1/agent/presence", v1.as_str(), "unknown_token"),
        ("/v1/agent/presence", shop.token.as_str(), "not_an_agent"),
        ("/v1/agent/presence", api.admin.as_str(), "not_an_agent"),
    ] {
        let r = api.post(path, token, json!({"status": "available"})).await;
        assert_eq!(r.code(), code, "{path} {:?}", r.body);
    }
    assert_eq!(
        api.get("/v1/merchant/agents", &ann).await.code(),
        "not_a_merchant"
    );
    let r = act(&api, &ann, &c1, "accept").await;
    assert_eq!(r.code(), "not_ringing", "Ann has not signed in");
    assert_eq!(api.get("/v1/agent/call", &ann).await.code(), "signed_out");
    // Agents are made by their merchant only, with a valid id and groups.
    let r = api
        .post(
            "/v1/admin/service-accounts",
            &api.admin,
            json!({"name": "sneaky", "scopes": ["agent"], "ranges": ["+44"]}),
        )
        .await;
    assert_eq!(r.code(), "invalid_account");
    for body in [
        json!({"name": "X", "groups": ["no spaces"]}),
        json!({"name": "", "groups": []}),
        json!({"name": "X", "groups": (0..21).map(|i| format!("g{i}")).collect::<Vec<_>>()}),
        json!({"name": "X", "groups": [], "admin": true}),
    ] {
        let r = api
            .put("/v1/merchant/agents/ok", &shop.token, body.clone())
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {:?}", r.body);
    }
    // The merchant's own call centre ends the first call: it leaves the queue, so signing in
    // rings the second.
    let r = api
        .post(
            &format!("/v1/merchant/calls/{c1}/state"),
            &shop.token,
            json!({"state": "ended", "outcome": "failed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(standing(&api, &c2, &v2).await["position"], 1);
    presence(&api, &ann, "available").await;
    assert_eq!(console(&api, &ann).await.unwrap().1, c2);
    presence(&api, &ann, "offline").await;
    // Each merchant sees its own agents; deleting one ends its account.
    let r = api.get("/v1/merchant/agents", &other.token).await;
    assert_eq!(r.body["agents"], json!([]));
    let r = api.get("/v1/merchant/agents", &shop.token).await;
    assert_eq!(r.body["agents"][0]["id"], "ann");
    assert_eq!(r.body["agents"][0]["signed_in"], false);
    let r = api
        .call(
            Method::DELETE,
            "/v1/merchant/agents/ann",
            &other.token,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "not the other's to delete");
    let r = api
        .call(Method::DELETE, "/v1/merchant/agents/ann", &shop.token, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api
        .post("/v1/agent/presence", &ann, json!({"status": "available"}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_supervisor_sees_its_merchants_whole_call_centre_and_an_agent_does_not() {
    let api = api().await;
    let shop = shop_with_agents(&api, "Acme Shoes").await;
    let other = shop_with_agents(&api, "Other Store").await;
    let ann = agent(&api, &shop, "ann", json!(["sales"])).await;
    let r = api
        .put(
            "/v1/merchant/agents/sue",
            &shop.token,
            json!({"name": "Sue Boss", "groups": [], "supervisor": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["agent"]["supervisor"], true);
    let sue = r.body["token"].as_str().unwrap().to_owned();
    agent(&api, &other, "zed", json!(["sales"])).await;
    let (c1, v1) = visit(&api, &shop, "cust-1", "https://shoes.example/a").await;
    let (c2, _) = visit(&api, &shop, "cust-2", "https://shoes.example/b").await;
    visit(&api, &other, "cust-9", "https://other.example/").await;
    presence(&api, &ann, "available").await;
    assert_eq!(console(&api, &ann).await.unwrap().1, c1);

    let r = api.get("/v1/agent/board", &sue).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let queues = r.body["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 1);
    assert_eq!(queues[0]["group"], "sales");
    let waiting: Vec<&str> = queues[0]["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(waiting, [c2.as_str()], "the ringing call is not waiting");
    assert_eq!(queues[0]["calls"][0]["page"], "https://shoes.example/b");
    let status = |board: &Value, id: &str| {
        let a = board["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {board}"))
            .clone();
        (a["status"].as_str().unwrap().to_owned(), a["call"].clone())
    };
    assert_eq!(status(&r.body, "ann"), ("ringing".into(), json!(c1)));
    assert_eq!(status(&r.body, "sue"), ("offline".into(), Value::Null));
    assert_eq!(
        r.body["agents"].as_array().unwrap().len(),
        2,
        "not the other's agents"
    );

    let r = api
        .post(&format!("/v1/agent/calls/{c1}/accept"), &ann, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let merchant_view = api.get("/v1/merchant/board", &shop.token).await;
    assert_eq!(merchant_view.status, StatusCode::OK);
    assert_eq!(
        status(&merchant_view.body, "ann"),
        ("talking".into(), json!(c1))
    );
    let other_view = api.get("/v1/merchant/board", &other.token).await;
    assert_eq!(other_view.body["agents"][0]["id"], "zed");
    assert_eq!(other_view.body["agents"].as_array().unwrap().len(), 1);
    assert_eq!(
        other_view.body["queues"][0]["calls"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // An agent who is not a supervisor, a visitor, another merchant's token: refused.
    assert_eq!(
        api.get("/v1/agent/board", &ann).await.code(),
        "not_a_supervisor"
    );
    assert_eq!(api.get("/v1/agent/board", &v1).await.code(), "not_an_agent");
    assert_eq!(
        api.get("/v1/merchant/board", &ann).await.code(),
        "not_a_merchant"
    );
    assert_eq!(
        api.get("/v1/agent/board", &shop.token).await.code(),
        "not_an_agent"
    );
}
