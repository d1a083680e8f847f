//! Merchants (S4): accounts, links, pages, routing with a dry run, clicks on signed buttons, and
//! call records each merchant alone can read.

use super::*;
use chrono::TimeZone;

pub(super) struct Merchant {
    pub(super) id: String,
    pub(super) token: String,
    pub(super) secret: String,
}

pub(super) async fn merchant(api: &Api, name: &str) -> Merchant {
    let r = api
        .post("/v1/admin/merchants", &api.admin, json!({"name": name}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    Merchant {
        id: r.body["merchant"]["id"].as_str().unwrap().to_owned(),
        token: r.body["token"].as_str().unwrap().to_owned(),
        secret: r.body["button_secret"].as_str().unwrap().to_owned(),
    }
}

pub(super) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A button as a merchant's server signs it (HS256 JWT).
pub(super) fn button(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub(super) async fn click(api: &Api, merchant: &str, button: &str, context: Value) -> Reply {
    api.post(
        "/v1/clicks",
        "",
        json!({"merchant": merchant, "button": button, "context": context}),
    )
    .await
}

fn new_york(h: u32, m: u32) -> i64 {
    // Monday 7 December 2026.
    chrono_tz::America::New_York
        .with_ymd_and_hms(2026, 12, 7, h, m, 0)
        .unwrap()
        .timestamp_millis()
}

#[tokio::test]
async fn a_merchant_routes_clicks_by_its_rules_and_reads_only_its_own_calls() {
    let api = api().await;
    let shop = merchant(&api, "Acme Shoes").await;
    let other = merchant(&api, "Other Store").await;
    for (id, name) in [("sales", "Sales"), ("returns", "Returns")] {
        let r = api
            .put(
                &format!("/v1/merchant/links/{id}"),
                &shop.token,
                json!({"name": name}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let r = api
        .put(
            "/v1/merchant/pages/*76",
            &shop.token,
            json!({"url": "https://shoes.example/returns"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = api.get("/v1/merchant/pages", &shop.token).await;
    assert_eq!(r.body["pages"][0]["code"], "*76");

    // The east centre closes at 7 pm New York time; then sales go to the west group.
    let rules = json!({
        "rules": [
            {"links": ["sales"], "days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00",
             "until": "19:00", "time_zone": "America/New_York", "to": "+12125550100"},
            {"links": ["sales"], "to": "agents:west"}
        ],
        "default": "button"
    });
    let r = api.put("/v1/merchant/routing", &shop.token, rules).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["rules"][0]["time_zone"], "America/New_York");
    for (at, destination, rule) in [
        (new_york(18, 59), "+12125550100", json!(0)),
        (new_york(19, 0), "agents:west", json!(1)),
    ] {
        let r = api
            .post(
                "/v1/merchant/routing/dry-run",
                &shop.token,
                json!({"link": "sales", "at": at}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(
            (&r.body["destination"], &r.body["rule"]),
            (&json!(destination), &rule)
        );
    }
    // Returns have no rule: the default is the button's number, which a dry run may give.
    let r = api
        .post(
            "/v1/merchant/routing/dry-run",
            &shop.token,
            json!({"link": "returns", "destination": "+442079460009"}),
        )
        .await;
    assert_eq!(r.body["destination"], "+442079460009", "{:?}", r.body);
    assert!(r.body.get("rule").is_none());
    // A rule naming a link that does not exist is refused, naming the rule; nothing changes.
    let r = api
        .put(
            "/v1/merchant/routing",
            &shop.token,
            json!({"rules": [{"links": ["salse"], "to": "agents:east"}]}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_routing")
    );
    assert!(
        r.body["detail"].as_str().unwrap().contains("rule 0"),
        "{:?}",
        r.body
    );
    let r = api.get("/v1/merchant/routing", &shop.token).await;
    assert_eq!(r.body["rules"].as_array().unwrap().len(), 2);

    // A visitor clicks the returns button on the shop's page.
    let b = button(
        &shop.secret,
        json!({"iss": shop.id, "exp": now_secs() + 600, "lnk": "returns",
               "cus": "order-5531", "dst": "+442079460009", "cty": "GB"}),
    );
    let context = json!({"page": "https://shoes.example/orders/5531",
                         "referrer": "https://news.example/deals",
                         "recent_pages": ["https://shoes.example/", "https://shoes.example/orders"],
                         "form": {"reason": "too small"}});
    let r = click(&api, &shop.id, &b, context.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["destination"], "+442079460009");
    let id = r.body["id"].as_str().unwrap().to_owned();

    // The shop sees it with its context; the other merchant sees nothing of it.
    let r = api
        .get(&format!("/v1/merchant/calls/{id}"), &shop.token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["context"], context);
    assert_eq!(
        (r.body["customer"].as_str(), r.body["link"].as_str()),
        (Some("order-5531"), Some("returns"))
    );
    let r = api
        .get(&format!("/v1/merchant/calls/{id}"), &other.token)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api.get("/v1/merchant/calls", &other.token).await;
    assert_eq!(r.body["calls"], json!([]));
    let r = api
        .post(
            &format!("/v1/merchant/calls/{id}/state"),
            &other.token,
            json!({"state": "ended", "outcome": "abandoned"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The call centre reports the call answered and ended; an ended call does not change.
    let r = api
        .post(
            &format!("/v1/merchant/calls/{id}/state"),
            &shop.token,
            json!({"state": "answered", "agent": "Dana"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (StatusCode::OK, Some("answered"))
    );
    let r = api
        .post(
            &format!("/v1/merchant/calls/{id}/state"),
            &shop.token,
            json!({"state": "ended", "outcome": "completed"}),
        )
        .await;
    assert_eq!(r.body["agent"], "Dana", "{:?}", r.body);
    assert!(r.body["talk_ms"].as_i64().unwrap() >= 0);
    let r = api
        .post(
            &format!("/v1/merchant/calls/{id}/state"),
            &shop.token,
            json!({"state": "answered"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "call_ended"));

    // Records as CSV: the source page credits the referrer.
    let r = api.get("/v1/merchant/calls?format=csv", &shop.token).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = String::from_utf8(r.bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("id,created_at,link,customer,source_page,referrer"));
    assert!(lines[1].contains(",returns,order-5531,https://shoes.example/orders/5531,https://news.example/deals,+442079460009,,ended,Dana,completed,"), "{text}");
}

#[tokio::test]
async fn forged_expired_and_foreign_buttons_are_refused_and_record_nothing() {
    let api = api().await;
    let shop = merchant(&api, "Acme Shoes").await;
    let other = merchant(&api, "Other Store").await;
    let r = api
        .put(
            "/v1/merchant/routing",
            &shop.token,
            json!({"default": "agents:all"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let exp = now_secs() + 600;
    let good = json!({"iss": shop.id, "exp": exp});
    let cases = [
        // Signed with another merchant's secret.
        (shop.id.clone(), button(&other.secret, good.clone())),
        // Signed by the shop but presented as the other merchant's.
        (other.id.clone(), button(&shop.secret, good.clone())),
        // Claims to be the other merchant, signed with the shop's secret.
        (
            other.id.clone(),
            button(&shop.secret, json!({"iss": other.id, "exp": exp})),
        ),
        // Expired an hour ago.
        (
            shop.id.clone(),
            button(
                &shop.secret,
                json!({"iss": shop.id, "exp": now_secs() - 3600}),
            ),
        ),
        // No expiry.
        (
            shop.id.clone(),
            button(&shop.secret, json!({"iss": shop.id})),
        ),
        // Unsigned.
        (
            shop.id.clone(),
            "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.".to_owned(),
        ),
        // An unknown merchant.
        ("mer_nobody".to_owned(), button(&shop.secret, good.clone())),
    ];
    for (m, b) in &cases {
        let r = click(&api, m, b, json!({})).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "bad_button"),
            "{m}: {:?}",
            r.body
        );
    }
    // A rotated secret retires every button signed before.
    let old = button(&shop.secret, good.clone());
    let r = api
        .post(
            &format!("/v1/admin/merchants/{}/button-secret", shop.id),
            &api.admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let rotated = r.body["button_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        click(&api, &shop.id, &old, json!({})).await.code(),
        "bad_button"
    );
    // Bad input with a good button: a script address as the page, an unknown link.
    let fresh = button(&rotated, good.clone());
    let r = click(
        &api,
        &shop.id,
        &fresh,
        json!({"page": "javascript:alert(1)"}),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let r = click(
        &api,
        &shop.id,
        &button(&rotated, json!({"iss": shop.id, "exp": exp, "lnk": "nope"})),
        json!({}),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "unknown_link")
    );
    // Nothing was recorded.
    let r = api.get("/v1/merchant/calls", &shop.token).await;
    assert_eq!(r.body["calls"], json!([]));
    // The good button works.
    assert_eq!(
        click(&api, &shop.id, &fresh, json!({})).await.status,
        StatusCode::CREATED
    );

    // A merchant with no routing and a button without a number: the call goes nowhere.
    let b = button(&other.secret, json!({"iss": other.id, "exp": exp}));
    let r = click(&api, &other.id, &b, json!({})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "no_destination")
    );

    // Merchant endpoints need a merchant's account; visitors and devices get nowhere.
    assert_eq!(
        api.get("/v1/merchant/calls", "").await.status,
        StatusCode::UNAUTHORIZED
    );
    let (_, device) = api.device("Alice", &[ALICE]).await;
    let r = api.get("/v1/merchant/calls", &device).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_a_merchant")
    );
    // Only the operator creates merchants, and not as a plain service account.
    let r = api
        .post("/v1/admin/merchants", &shop.token, json!({"name": "X"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api
        .post(
            "/v1/admin/service-accounts",
            &api.admin,
            json!({"name": "X", "scopes": ["merchant"], "ranges": []}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_account")
    );
}
