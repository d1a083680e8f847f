//! Browsers linked to devices: one-time codes, refresh tokens that rotate once, and deletion.

use super::fixtures::*;
use super::Database;
use crate::{BrowserLinkRecord, BrowserRecord, StoreError, Write};
use callside_core::{PrincipalId, Token, TokenHash};

fn h() -> TokenHash {
    Token::generate("t").hash()
}

fn browser(id: &str, device: &str, access: TokenHash, refresh: TokenHash) -> BrowserRecord {
    BrowserRecord {
        id: id.into(),
        device: PrincipalId(device.into()),
        name: "Firefox".into(),
        created_at: 1_000,
        access_hash: access,
        access_expires_at: 2_000,
        refresh_hash: refresh,
        refresh_expires_at: 9_000,
        previous_refresh_hash: None,
        refreshed_at: 1_000,
    }
}

pub async fn browsers_link_once_refresh_once_and_go_with_their_device(db: &dyn Database) {
    let store = db.open().await;
    seed(&store, &["dev_a", "dev_b"]).await;

    // A link code is found by its hash and used once; a second use changes nothing.
    let code = h();
    let link = BrowserLinkRecord {
        code_hash: code,
        device: PrincipalId("dev_a".into()),
        created_at: 1_000,
        expires_at: 1_300,
    };
    store
        .apply(vec![Write::BrowserLink(link.clone())])
        .await
        .unwrap();
    assert_eq!(store.browser_link(code).await.unwrap(), Some(link));
    assert_eq!(store.browser_link(h()).await.unwrap(), None);
    let (access, refresh) = (h(), h());
    store
        .apply(vec![
            Write::UseBrowserLink(code),
            Write::Browser(browser("brw_1", "dev_a", access, refresh)),
        ])
        .await
        .unwrap();
    assert_eq!(store.browser_link(code).await.unwrap(), None);
    let err = store
        .apply(vec![
            Write::UseBrowserLink(code),
            Write::Browser(browser("brw_2", "dev_a", h(), h())),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Gone), "{err}");
    assert_eq!(
        store.browsers(PrincipalId("dev_a".into())).await.unwrap(),
        [browser("brw_1", "dev_a", access, refresh)],
        "the failed use linked no second browser"
    );

    // Expired codes go when a new one is made.
    let old = h();
    store
        .apply(vec![Write::BrowserLink(BrowserLinkRecord {
            code_hash: old,
            device: PrincipalId("dev_b".into()),
            created_at: 1_000,
            expires_at: 1_300,
        })])
        .await
        .unwrap();
    store
        .apply(vec![Write::BrowserLink(BrowserLinkRecord {
            code_hash: h(),
            device: PrincipalId("dev_b".into()),
            created_at: 1_300,
            expires_at: 1_600,
        })])
        .await
        .unwrap();
    assert_eq!(store.browser_link(old).await.unwrap(), None);

    // Found by access token, by refresh token; refreshing replaces both, once.
    assert_eq!(
        store.browser_by_access(access).await.unwrap().unwrap().id,
        "brw_1"
    );
    assert_eq!(
        store.browser_by_refresh(refresh).await.unwrap().unwrap().id,
        "brw_1"
    );
    let (access2, refresh2) = (h(), h());
    let refreshing = |expected, access_hash, refresh_hash| Write::RefreshBrowser {
        id: "brw_1".into(),
        expected,
        access_hash,
        access_expires_at: 3_000,
        refresh_hash,
        refresh_expires_at: 10_000,
        at: 2_500,
    };
    store
        .apply(vec![refreshing(refresh, access2, refresh2)])
        .await
        .unwrap();
    let err = store
        .apply(vec![refreshing(refresh, h(), h())])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Gone), "{err}");
    assert_eq!(store.browser_by_access(access).await.unwrap(), None);
    let now = store.browser_by_access(access2).await.unwrap().unwrap();
    assert_eq!(
        (
            now.refresh_hash,
            now.previous_refresh_hash,
            now.access_expires_at,
            now.refresh_expires_at,
            now.refreshed_at
        ),
        (refresh2, Some(refresh), 3_000, 10_000, 2_500)
    );
    let by_old = store.browser_by_refresh(refresh).await.unwrap().unwrap();
    assert_eq!(
        (by_old.id.as_str(), by_old.previous_refresh_hash),
        ("brw_1", Some(refresh)),
        "the replaced refresh token still names its browser"
    );

    // The same id twice is a duplicate; unlinking ends a browser; deleting the device ends all.
    let err = store
        .apply(vec![Write::Browser(browser("brw_1", "dev_b", h(), h()))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate), "{err}");
    let (a3, r3) = (h(), h());
    store
        .apply(vec![
            Write::Browser(browser("brw_3", "dev_a", a3, r3)),
            Write::Browser(browser("brw_4", "dev_b", h(), h())),
        ])
        .await
        .unwrap();
    store
        .apply(vec![Write::DeleteBrowser("brw_1".into())])
        .await
        .unwrap();
    assert_eq!(store.browser_by_access(access2).await.unwrap(), None);
    assert_eq!(store.browser_by_refresh(refresh2).await.unwrap(), None);
    let code = h();
    store
        .apply(vec![
            Write::BrowserLink(BrowserLinkRecord {
                code_hash: code,
                device: PrincipalId("dev_a".into()),
                created_at: 2_000,
                expires_at: 2_300,
            }),
            Write::DeletePrincipal(PrincipalId("dev_a".into())),
        ])
        .await
        .unwrap();
    assert_eq!(store.browser_by_access(a3).await.unwrap(), None);
    assert_eq!(store.browser_link(code).await.unwrap(), None);
    assert!(store
        .browsers(PrincipalId("dev_a".into()))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .browsers(PrincipalId("dev_b".into()))
            .await
            .unwrap()
            .len(),
        1
    );
}
