//! Merchants (S4): links, pages, routing, and the call records of clicks.

use super::Database;
use crate::prelude::*;
use crate::{
    AgentRecord, ClickRecord, LinkRecord, MerchantRecord, PageRecord, PrincipalRecord, StoreError,
    Write,
};
use callside_core::principal::{Principal, PrincipalId, PrincipalKind, Scope};
use callside_core::{Millis, Token};
use std::ops::Deref;

/// Merchant `id` whose API account is the service principal `principal`, created at 1.
fn merchant(id: &str, principal: &str) -> MerchantRecord {
    MerchantRecord {
        id: id.into(),
        name: format!("{id} shop"),
        principal: PrincipalId(principal.into()),
        button_secret: format!("{id}-secret"),
        created_at: 1,
    }
}

/// The service principal `id` with the `merchant` scope (a merchant's API account).
fn account(id: &str) -> Write {
    let record = PrincipalRecord {
        principal: Principal {
            id: PrincipalId(id.into()),
            name: format!("{id} server"),
            kind: PrincipalKind::Service {
                scopes: vec![Scope::Merchant],
                ranges: vec![],
            },
        },
        created_at: 1,
    };
    Write::Principal(record, Token::generate("svc").hash())
}

/// Creates the API account `principal` and merchant `id` on it.
async fn seed_merchant(store: &impl Deref<Target: Store>, id: &str, principal: &str) {
    store
        .apply(vec![
            account(principal),
            Write::Merchant(merchant(id, principal)),
        ])
        .await
        .unwrap();
}

fn link(merchant: &str, id: &str, name: &str) -> LinkRecord {
    LinkRecord {
        merchant: merchant.into(),
        id: id.into(),
        name: name.into(),
    }
}

fn page(merchant: &str, code: &str, url: &str) -> PageRecord {
    PageRecord {
        merchant: merchant.into(),
        code: code.into(),
        url: url.into(),
    }
}

/// Click `id` on `merchant`'s button, routed at `created_at`.
fn click(id: &str, merchant: &str, created_at: Millis) -> ClickRecord {
    ClickRecord {
        id: id.into(),
        merchant: merchant.into(),
        link: Some("sales".into()),
        customer: Some(format!("cust-{id}")),
        button_destination: None,
        context: format!("{{\"page\":\"https://shop.example/{id}\"}}"),
        destination: "agents:sales".into(),
        rule: Some(2),
        state: "routed".into(),
        agent: None,
        outcome: None,
        created_at,
        answered_at: None,
        ended_at: None,
        session: None,
        channel: None,
    }
}

pub async fn merchants_links_pages_and_routing_round_trip(db: &dyn Database) {
    let store = db.open().await;
    let s = || String::from("mer_a");
    assert_eq!(store.merchant(s()).await.unwrap(), None);
    seed_merchant(&store, "mer_a", "svc_a").await;
    seed_merchant(&store, "mer_b", "svc_b").await;
    assert_eq!(
        store.merchant(s()).await.unwrap(),
        Some(merchant("mer_a", "svc_a"))
    );
    assert_eq!(
        store
            .merchant_of(PrincipalId("svc_b".into()))
            .await
            .unwrap(),
        Some(merchant("mer_b", "svc_b"))
    );
    assert_eq!(
        store
            .merchant_of(PrincipalId("svc_x".into()))
            .await
            .unwrap(),
        None
    );

    // A known id is a duplicate, and changes nothing (not even the rest of its commit).
    let mut again = merchant("mer_a", "svc_c");
    again.name = "Other".into();
    let err = store
        .apply(vec![
            account("svc_c"),
            Write::Link(link("mer_a", "x", "X")),
            Write::Merchant(again),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate), "{err}");
    assert_eq!(
        store.merchant(s()).await.unwrap(),
        Some(merchant("mer_a", "svc_a"))
    );
    assert!(store.links(s()).await.unwrap().is_empty());
    assert_eq!(
        store.principal(PrincipalId("svc_c".into())).await.unwrap(),
        None
    );
    // So is a second merchant on the same account.
    let err = store
        .apply(vec![Write::Merchant(merchant("mer_c", "svc_a"))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate), "{err}");
    assert_eq!(store.merchant("mer_c".into()).await.unwrap(), None);

    // Rotating the button secret.
    store
        .apply(vec![Write::MerchantSecret {
            merchant: s(),
            secret: "rotated".into(),
        }])
        .await
        .unwrap();
    assert_eq!(
        store.merchant(s()).await.unwrap().unwrap().button_secret,
        "rotated"
    );

    // Links: by id; a link written again is renamed; a deleted one is gone.
    store
        .apply(vec![
            Write::Link(link("mer_a", "sales", "Sales")),
            Write::Link(link("mer_a", "billing", "Billing")),
            Write::Link(link("mer_b", "sales", "B sales")),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.links(s()).await.unwrap(),
        vec![
            link("mer_a", "billing", "Billing"),
            link("mer_a", "sales", "Sales")
        ]
    );
    store
        .apply(vec![
            Write::Link(link("mer_a", "sales", "Sales desk")),
            Write::DeleteLink {
                merchant: s(),
                id: "billing".into(),
            },
            Write::DeleteLink {
                merchant: s(),
                id: "none".into(),
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        store.links(s()).await.unwrap(),
        vec![link("mer_a", "sales", "Sales desk")]
    );
    assert_eq!(
        store.links("mer_b".into()).await.unwrap(),
        vec![link("mer_b", "sales", "B sales")]
    );

    // Pages: by code; a page written again changes its URL; a deleted one is gone.
    store
        .apply(vec![
            Write::Page(page("mer_a", "*76", "https://shop.example/cart")),
            Write::Page(page("mer_a", "*11", "https://shop.example/help")),
            Write::Page(page("mer_b", "*76", "https://b.example/")),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.pages(s()).await.unwrap(),
        vec![
            page("mer_a", "*11", "https://shop.example/help"),
            page("mer_a", "*76", "https://shop.example/cart")
        ]
    );
    store
        .apply(vec![
            Write::Page(page("mer_a", "*76", "https://shop.example/checkout")),
            Write::DeletePage {
                merchant: s(),
                code: "*11".into(),
            },
            Write::DeletePage {
                merchant: s(),
                code: "*99".into(),
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        store.pages(s()).await.unwrap(),
        vec![page("mer_a", "*76", "https://shop.example/checkout")]
    );
    assert_eq!(
        store.pages("mer_b".into()).await.unwrap(),
        vec![page("mer_b", "*76", "https://b.example/")]
    );

    // Routing: none until stored; stored again, replaced.
    assert_eq!(store.routing(s()).await.unwrap(), None);
    store
        .apply(vec![Write::Routing {
            merchant: s(),
            rules: "[]".into(),
            at: 5,
        }])
        .await
        .unwrap();
    assert_eq!(store.routing(s()).await.unwrap(), Some("[]".into()));
    let rules = r#"[{"when":{"link":"sales"},"to":"agents:sales"}]"#;
    store
        .apply(vec![Write::Routing {
            merchant: s(),
            rules: rules.into(),
            at: 6,
        }])
        .await
        .unwrap();
    assert_eq!(store.routing(s()).await.unwrap(), Some(rules.into()));
    assert_eq!(store.routing("mer_b".into()).await.unwrap(), None);

    // All of it survives reopening.
    drop(store);
    let store = db.open().await;
    assert_eq!(
        store.links(s()).await.unwrap(),
        vec![link("mer_a", "sales", "Sales desk")]
    );
    assert_eq!(store.routing(s()).await.unwrap(), Some(rules.into()));
    // A webhook: set, replaced, another merchant's apart, removed.
    let hook = |url: &str, secret: &str| Some((url.to_owned(), secret.to_owned()));
    store
        .apply(vec![Write::MerchantWebhook {
            merchant: "mer_a".into(),
            hook: hook("https://crm.example/a", "s1"),
            at: 1,
        }])
        .await
        .unwrap();
    store
        .apply(vec![Write::MerchantWebhook {
            merchant: "mer_a".into(),
            hook: hook("https://crm.example/a2", "s2"),
            at: 2,
        }])
        .await
        .unwrap();
    assert_eq!(
        store.merchant_webhook("mer_a".into()).await.unwrap(),
        hook("https://crm.example/a2", "s2")
    );
    assert_eq!(store.merchant_webhook("mer_b".into()).await.unwrap(), None);
    store
        .apply(vec![Write::MerchantWebhook {
            merchant: "mer_a".into(),
            hook: None,
            at: 3,
        }])
        .await
        .unwrap();
    assert_eq!(store.merchant_webhook("mer_a".into()).await.unwrap(), None);
}

pub async fn clicks_are_the_merchants_own_newest_first_and_end_once(db: &dyn Database) {
    let store = db.open().await;
    seed_merchant(&store, "mer_a", "svc_a").await;
    seed_merchant(&store, "mer_b", "svc_b").await;
    let mut full = click("clk_a3", "mer_a", 30);
    full.button_destination = Some("+442079460001".into());
    full.rule = None;
    store
        .apply(vec![
            Write::Click(click("clk_a1", "mer_a", 10)),
            Write::Click(click("clk_b1", "mer_b", 15)),
            Write::Click(click("clk_a2", "mer_a", 20)),
            Write::Click(full.clone()),
            Write::Click(click("clk_b2", "mer_b", 35)),
            Write::Click(click("clk_a4", "mer_a", 40)),
        ])
        .await
        .unwrap();
    assert_eq!(store.click("clk_a3".into()).await.unwrap(), Some(full));
    assert_eq!(store.click("clk_x".into()).await.unwrap(), None);

    let ids = |v: Vec<ClickRecord>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let a = || String::from("mer_a");
    assert_eq!(
        ids(store.clicks(a(), None, 100).await.unwrap()),
        ["clk_a4", "clk_a3", "clk_a2", "clk_a1"]
    );
    assert_eq!(
        ids(store.clicks("mer_b".into(), None, 100).await.unwrap()),
        ["clk_b2", "clk_b1"]
    );
    assert_eq!(
        ids(store.clicks(a(), None, 2).await.unwrap()),
        ["clk_a4", "clk_a3"]
    );
    // `before` is exclusive.
    assert_eq!(
        ids(store.clicks(a(), Some(30), 100).await.unwrap()),
        ["clk_a2", "clk_a1"]
    );
    assert_eq!(
        ids(store.clicks(a(), Some(31), 1).await.unwrap()),
        ["clk_a3"]
    );
    assert!(store.clicks(a(), Some(10), 100).await.unwrap().is_empty());
    assert!(store
        .clicks("mer_x".into(), None, 100)
        .await
        .unwrap()
        .is_empty());

    // A known id is a duplicate and changes nothing.
    let mut again = click("clk_a1", "mer_a", 99);
    again.state = "ended".into();
    let err = store.apply(vec![Write::Click(again)]).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate), "{err}");
    assert_eq!(
        store.click("clk_a1".into()).await.unwrap(),
        Some(click("clk_a1", "mer_a", 10))
    );

    // Answered, then ended; after that, nothing changes it.
    let state =
        |state: &str, agent: Option<&str>, outcome: Option<&str>, at: Millis| Write::ClickState {
            id: "clk_a2".into(),
            state: state.into(),
            agent: agent.map(str::to_owned),
            outcome: outcome.map(str::to_owned),
            at,
        };
    // The answer opens the web call's session, recorded in the same batch.
    let key = callside_core::SessionKey::generate(25);
    store
        .apply(vec![
            state("answered", Some("agent7"), None, 25),
            Write::ClickSession {
                id: "clk_a2".into(),
                session: key.clone(),
            },
        ])
        .await
        .unwrap();
    let mut want = click("clk_a2", "mer_a", 20);
    want.state = "answered".into();
    want.agent = Some("agent7".into());
    want.answered_at = Some(25);
    want.session = Some(key);
    assert_eq!(
        store.click("clk_a2".into()).await.unwrap(),
        Some(want.clone())
    );
    store
        .apply(vec![state("ended", None, Some("completed"), 80)])
        .await
        .unwrap();
    want.state = "ended".into();
    want.outcome = Some("completed".into());
    want.ended_at = Some(80);
    assert_eq!(
        store.click("clk_a2".into()).await.unwrap(),
        Some(want.clone())
    );
    store
        .apply(vec![
            state("answered", Some("agent9"), None, 90),
            state("ended", None, Some("abandoned"), 95),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.click("clk_a2".into()).await.unwrap(),
        Some(want.clone())
    );

    // A click that never was answered ends with its outcome and no answer time; the others
    // are untouched.
    store
        .apply(vec![Write::ClickState {
            id: "clk_a1".into(),
            state: "ended".into(),
            agent: None,
            outcome: Some("no_answer".into()),
            at: 70,
        }])
        .await
        .unwrap();
    let mut ended = click("clk_a1", "mer_a", 10);
    ended.state = "ended".into();
    ended.outcome = Some("no_answer".into());
    ended.ended_at = Some(70);
    assert_eq!(store.click("clk_a1".into()).await.unwrap(), Some(ended));
    assert_eq!(
        store.click("clk_b1".into()).await.unwrap(),
        Some(click("clk_b1", "mer_b", 15))
    );
    let listed = store.clicks(a(), Some(21), 1).await.unwrap();
    assert_eq!(listed, vec![want]);
}

fn agent(merchant: &str, id: &str, principal: &str, groups: &[&str]) -> AgentRecord {
    AgentRecord {
        merchant: merchant.into(),
        id: id.into(),
        principal: PrincipalId(principal.into()),
        name: format!("Agent {id}"),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        supervisor: false,
        created_at: 5,
    }
}

pub async fn agents_belong_to_one_merchant_and_waiting_calls_come_back_oldest_first(
    db: &dyn Database,
) {
    let store = db.open().await;
    seed_merchant(&store, "mer_a", "svc_a").await;
    seed_merchant(&store, "mer_b", "svc_b").await;
    let ann = agent("mer_a", "ann", "svc_ann", &["sales"]);
    let mut bob = agent("mer_a", "bob", "svc_bob", &["sales", "billing"]);
    bob.supervisor = true;
    let cat = agent("mer_b", "ann", "svc_cat", &[]);
    for a in [&ann, &bob, &cat] {
        store
            .apply(vec![
                account(a.principal.as_str()),
                Write::Agent((*a).clone()),
            ])
            .await
            .unwrap();
    }
    let agents = |m: &str| store.agents(m.to_owned());
    assert_eq!(
        agents("mer_a").await.unwrap(),
        vec![ann.clone(), bob.clone()]
    );
    assert_eq!(agents("mer_b").await.unwrap(), vec![cat.clone()]);
    assert_eq!(
        store.agent_of(PrincipalId("svc_cat".into())).await.unwrap(),
        Some(cat.clone())
    );
    assert_eq!(
        store.agent_of(PrincipalId("svc_a".into())).await.unwrap(),
        None
    );
    // Renaming, regrouping and making a supervisor keeps the account and the creation time.
    let mut renamed = agent("mer_a", "ann", "svc_other", &["billing"]);
    renamed.name = "Ann Lee".into();
    renamed.created_at = 99;
    renamed.supervisor = true;
    store.apply(vec![Write::Agent(renamed)]).await.unwrap();
    let now = agents("mer_a").await.unwrap();
    assert_eq!(
        (
            &now[0].name,
            &now[0].groups,
            &now[0].principal,
            now[0].created_at,
            now[0].supervisor
        ),
        (
            &"Ann Lee".to_owned(),
            &vec!["billing".to_owned()],
            &ann.principal,
            5,
            true
        )
    );
    // The account is renamed with it.
    store
        .apply(vec![Write::RenamePrincipal {
            id: ann.principal.clone(),
            name: "Ann Lee".into(),
        }])
        .await
        .unwrap();
    let account = store
        .principal(ann.principal.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.principal.name, "Ann Lee");
    // Another agent cannot take an account that is already an agent's.
    let thief = agent("mer_b", "zed", "svc_bob", &[]);
    assert!(matches!(
        store.apply(vec![Write::Agent(thief)]).await,
        Err(StoreError::Duplicate)
    ));
    store
        .apply(vec![
            Write::DeleteAgent {
                merchant: "mer_a".into(),
                id: "bob".into(),
            },
            Write::DeleteAgent {
                merchant: "mer_a".into(),
                id: "nobody".into(),
            },
        ])
        .await
        .unwrap();
    assert_eq!(agents("mer_a").await.unwrap().len(), 1);
    assert_eq!(store.agent_of(bob.principal.clone()).await.unwrap(), None);

    // Calls queued, ringing or answered, every merchant's, oldest first; others are not open.
    let state = |id: &str, state: &str| Write::ClickState {
        id: id.into(),
        state: state.into(),
        agent: None,
        outcome: None,
        at: 50,
    };
    store
        .apply(vec![
            Write::Click(click("k3", "mer_a", 30)),
            Write::Click(click("k1", "mer_b", 10)),
            Write::Click(click("k2", "mer_a", 20)),
            Write::Click(click("k4", "mer_a", 40)),
            Write::Click(click("k5", "mer_a", 5)),
            state("k3", "queued"),
            state("k1", "ringing"),
            state("k2", "queued"),
            state("k4", "answered"),
        ])
        .await
        .unwrap();
    let waiting: Vec<String> = store
        .open_clicks()
        .await
        .unwrap()
        .into_iter()
        .map(|c| format!("{} {}", c.id, c.state))
        .collect();
    assert_eq!(
        waiting,
        ["k1 ringing", "k2 queued", "k3 queued", "k4 answered"]
    );
    store.apply(vec![state("k2", "ended")]).await.unwrap();
    assert_eq!(store.open_clicks().await.unwrap().len(), 3);

    // Calls to a number by their channel id: the merchant's newest still routed, made after
    // `since`; not another merchant's, not one answered or ended.
    let phoned = |id: &str, merchant: &str, at: Millis, channel: &str| {
        let mut c = click(id, merchant, at);
        c.destination = "+12125550100".into();
        c.channel = Some(channel.into());
        Write::Click(c)
    };
    store
        .apply(vec![
            phoned("p1", "mer_a", 100, "482913"),
            phoned("p2", "mer_a", 200, "482913"),
            phoned("p3", "mer_b", 300, "482913"),
            phoned("p4", "mer_a", 400, "111111"),
            state("p4", "answered"),
        ])
        .await
        .unwrap();
    let by = |merchant: &str, channel: &str, since: Millis| {
        store.click_by_channel(merchant.into(), channel.into(), since)
    };
    let found = by("mer_a", "482913", 0).await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.channel.as_deref()),
        ("p2", Some("482913"))
    );
    assert_eq!(by("mer_b", "482913", 0).await.unwrap().unwrap().id, "p3");
    assert_eq!(by("mer_a", "482913", 250).await.unwrap(), None, "too old");
    assert_eq!(
        by("mer_a", "111111", 0).await.unwrap(),
        None,
        "answered already"
    );
    assert_eq!(by("mer_a", "999999", 0).await.unwrap(), None);
}
