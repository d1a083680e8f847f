//! The component catalogue and capabilities.

use super::fixtures::*;
use super::Database;
use crate::Write;
use callside_core::PrincipalId;

pub async fn catalogue_and_capabilities_round_trip(db: &dyn Database) {
    use callside_core::component::{Capabilities, Component, ComponentId};
    let store = db.open().await;
    let menu = Component {
        id: ComponentId::parse("com.example.menu").unwrap(),
        name: "Menu".into(),
        version: "1.0".into(),
        url: "https://apps.example.com/menu".into(),
        sha256: Some("ab".repeat(32)),
        authorization: true,
    };
    store
        .apply(vec![Write::Component {
            component: menu.clone(),
            at: 1,
        }])
        .await
        .unwrap();
    let mut newer = menu.clone();
    newer.version = "1.1".into();
    newer.sha256 = None;
    store
        .apply(vec![Write::Component {
            component: newer.clone(),
            at: 2,
        }])
        .await
        .unwrap();
    assert_eq!(
        store.component("com.example.menu".into()).await.unwrap(),
        Some(newer.clone())
    );
    assert_eq!(store.components().await.unwrap(), vec![newer]);
    store
        .apply(vec![Write::DeleteComponent(menu.id.clone())])
        .await
        .unwrap();
    assert!(store.components().await.unwrap().is_empty());

    seed(&store, &["d"]).await;
    let dev = PrincipalId("d".into());
    assert_eq!(store.capabilities(dev.clone()).await.unwrap(), None);
    let caps = Capabilities::new(
        vec!["location.share".into(), "image.view".into()],
        vec![("com.example.menu".into(), "1.0".into())],
    )
    .unwrap();
    store
        .apply(vec![Write::Capabilities {
            principal: dev.clone(),
            capabilities: caps.clone(),
            at: 3,
        }])
        .await
        .unwrap();
    assert_eq!(store.capabilities(dev.clone()).await.unwrap(), Some(caps));
    // An installation confirmation adds to what was declared; a new declaration replaces all.
    store
        .apply(vec![Write::Installed {
            principal: dev.clone(),
            component: ComponentId::parse("org.maps").unwrap(),
            version: "7".into(),
            at: 4,
        }])
        .await
        .unwrap();
    let got = store.capabilities(dev.clone()).await.unwrap().unwrap();
    assert_eq!(got.components.len(), 2);
    assert!(got.has_feature("location.share"));
    store
        .apply(vec![Write::Capabilities {
            principal: dev.clone(),
            capabilities: Capabilities::default(),
            at: 5,
        }])
        .await
        .unwrap();
    assert_eq!(
        store.capabilities(dev).await.unwrap(),
        Some(Capabilities::default())
    );
}

pub async fn a_systems_predetermined_screen_is_replaced_and_deleted(db: &dyn Database) {
    let store = db.open().await;
    seed(&store, &["svc_vm", "svc_ivr"]).await;
    let screen = |id: &str, regions: &[&str]| crate::SystemScreenRecord {
        principal: PrincipalId("svc_vm".into()),
        id: id.into(),
        regions: regions.iter().map(|r| (*r).to_owned()).collect(),
        body: format!("{{\"id\":\"{id}\"}}"),
        image: (id == "menu").then(|| callside_core::message::BlobId::from_digest(&[3; 32])),
        updated_at: 5,
    };
    let vm = || PrincipalId("svc_vm".into());
    assert_eq!(store.system_screen(vm()).await.unwrap(), None);
    let first = screen("voicemail", &["record", "end"]);
    store
        .apply(vec![Write::SystemScreen(first.clone())])
        .await
        .unwrap();
    assert_eq!(store.system_screen(vm()).await.unwrap(), Some(first));
    let second = screen("menu", &["one"]);
    store
        .apply(vec![Write::SystemScreen(second.clone())])
        .await
        .unwrap();
    assert_eq!(store.system_screen(vm()).await.unwrap(), Some(second));
    assert_eq!(
        store
            .system_screen(PrincipalId("svc_ivr".into()))
            .await
            .unwrap(),
        None,
        "per system"
    );
    store
        .apply(vec![Write::DeleteSystemScreen(vm())])
        .await
        .unwrap();
    assert_eq!(store.system_screen(vm()).await.unwrap(), None);
}
