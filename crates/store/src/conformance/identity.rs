//! Principals, tokens, number bindings and proofs.

use super::fixtures::*;
use super::Database;
use crate::{NumberSource, ProofRecord, StoreError, Write};
use callside_core::principal::PrincipalKind;
use callside_core::{Millis, PrincipalId, Token};

pub async fn principals_are_found_by_token_hash_only(db: &dyn Database) {
    let store = db.open().await;
    let token = Token::generate("dev");
    store
        .apply(vec![Write::Principal(
            device("dev_a", "+442079460001"),
            token.hash(),
        )])
        .await
        .unwrap();
    let found = store
        .principal_by_token(token.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, device("dev_a", "+442079460001"));
    assert!(store
        .principal_by_token(Token::generate("dev").hash())
        .await
        .unwrap()
        .is_none());

    // Same id twice is a duplicate and leaves the first intact.
    let err = store
        .apply(vec![Write::Principal(
            device("dev_a", "+442079460009"),
            Token::generate("dev").hash(),
        )])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate), "{err}");
    assert_eq!(store.principals("device").await.unwrap().len(), 1);

    // Rotation revokes the old token; deletion revokes everything.
    let fresh = Token::generate("dev");
    store
        .apply(vec![Write::ReplaceToken(
            PrincipalId("dev_a".into()),
            fresh.hash(),
        )])
        .await
        .unwrap();
    assert!(store
        .principal_by_token(token.hash())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .principal_by_token(fresh.hash())
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.token_retired_at(fresh.hash()).await.unwrap(), None);
    store
        .apply(vec![Write::DeletePrincipal(PrincipalId("dev_a".into()))])
        .await
        .unwrap();
    assert!(store
        .principal_by_token(fresh.hash())
        .await
        .unwrap()
        .is_none());
    assert!(store.principals("device").await.unwrap().is_empty());
    // Both retired tokens are known as retired; one never issued is not.
    for t in [&token, &fresh] {
        let at = store.token_retired_at(t.hash()).await.unwrap();
        assert!(at.is_some_and(|at| at > 0), "{at:?}");
    }
    assert_eq!(
        store
            .token_retired_at(Token::generate("dev").hash())
            .await
            .unwrap(),
        None
    );
}

pub async fn sms_bindings_refresh_and_stale_ones_are_replaced(db: &dyn Database) {
    let store = db.open().await;
    seed(&store, &["a", "b", "c"]).await;
    let num = n("+447400123456");
    let bind = |dev: &str, at: Millis, stale_before: Option<Millis>| Write::BindNumber {
        device: PrincipalId(dev.into()),
        number: num.clone(),
        source: NumberSource::Sms,
        at,
        stale_before,
    };
    store
        .apply(vec![bind("a", 100, None), bind("b", 200, None)])
        .await
        .unwrap();
    // Provisioned numbers are never "stale": give c the number by provisioning.
    store
        .apply(vec![Write::BindNumber {
            device: PrincipalId("c".into()),
            number: num.clone(),
            source: NumberSource::Provisioned,
            at: 50,
            stale_before: None,
        }])
        .await
        .unwrap();
    let owners = store.devices_owning(num.clone()).await.unwrap();
    assert_eq!(owners.len(), 3);
    // Binding again refreshes the time instead of adding a row; proving a provisioned number
    // by SMS keeps it provisioned.
    store
        .apply(vec![bind("a", 300, None), bind("c", 60, None)])
        .await
        .unwrap();
    let stale = store
        .stale_bindings(num.clone(), PrincipalId("x".into()), i64::MAX)
        .await
        .unwrap();
    assert_eq!(
        stale,
        vec![PrincipalId("a".into()), PrincipalId("b".into())]
    );
    let stale = store
        .stale_bindings(num.clone(), PrincipalId("c".into()), 250)
        .await
        .unwrap();
    assert_eq!(stale, vec![PrincipalId("b".into())]);
    // c proves the number: b (bound at 200) is stale before 250; a (300) stays; c's own stays.
    store.apply(vec![bind("c", 400, Some(250))]).await.unwrap();
    let mut owners: Vec<String> = store
        .devices_owning(num.clone())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.0)
        .collect();
    owners.sort();
    assert_eq!(owners, ["a", "c"]);
    let b = store
        .principal(PrincipalId("b".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        b.principal.kind,
        PrincipalKind::Device {
            numbers: vec![n("+442079460001")]
        }
    );
    store
        .apply(vec![Write::UnbindNumber {
            device: PrincipalId("a".into()),
            number: num.clone(),
        }])
        .await
        .unwrap();
    assert_eq!(store.devices_owning(num).await.unwrap().len(), 1);
}

pub async fn proofs_are_found_by_id_and_code_hash_and_purged_when_old(db: &dyn Database) {
    let store = db.open().await;
    seed(&store, &["a"]).await;
    let code = Token::from_presented("abcdefgh").hash();
    let mut rec = ProofRecord {
        id: "prf_1".into(),
        device: PrincipalId("a".into()),
        code_hash: code,
        number: None,
        nonce: None,
        state: callside_core::proof::ProofState::AwaitingSms,
        failures: 0,
        created_at: 10,
        expires_at: 1_000,
    };
    store.apply(vec![Write::Proof(rec.clone())]).await.unwrap();
    assert_eq!(store.proof_by_code(code).await.unwrap(), Some(rec.clone()));
    rec.number = Some(n("+447400123456"));
    rec.nonce = Some(vec![1, 2, 3]);
    rec.state = callside_core::proof::ProofState::SmsSent;
    store.apply(vec![Write::Proof(rec.clone())]).await.unwrap();
    assert_eq!(store.proof("prf_1".into()).await.unwrap(), Some(rec));
    assert!(store
        .proof_by_code(Token::from_presented("other").hash())
        .await
        .unwrap()
        .is_none());
    store
        .apply(vec![Write::PurgeProofs {
            expired_before: 999,
        }])
        .await
        .unwrap();
    assert!(store.proof("prf_1".into()).await.unwrap().is_some());
    store
        .apply(vec![Write::PurgeProofs {
            expired_before: 1_001,
        }])
        .await
        .unwrap();
    assert!(store.proof("prf_1".into()).await.unwrap().is_none());
}

pub async fn sms_bindings_lapse_unless_proven_again(db: &dyn Database) {
    let store = db.open().await;
    seed(&store, &["a", "b", "c"]).await;
    let bind = |dev: &str, number: &str, source: NumberSource, at: Millis| Write::BindNumber {
        device: PrincipalId(dev.into()),
        number: n(number),
        source,
        at,
        stale_before: None,
    };
    store
        .apply(vec![
            bind("a", "+447400123456", NumberSource::Sms, 100),
            bind("b", "+447400123457", NumberSource::Sms, 100),
            // Provisioned numbers never lapse, however old.
            bind("c", "+447400123458", NumberSource::Provisioned, 100),
        ])
        .await
        .unwrap();
    // b proves its number again.
    store
        .apply(vec![bind("b", "+447400123457", NumberSource::Sms, 500)])
        .await
        .unwrap();
    let lapsed = store.lapsed_bindings(400).await.unwrap();
    assert_eq!(lapsed, vec![(PrincipalId("a".into()), n("+447400123456"))]);
    // A deleted device's bindings are not reported.
    store
        .apply(vec![Write::DeletePrincipal(PrincipalId("a".into()))])
        .await
        .unwrap();
    assert!(store.lapsed_bindings(400).await.unwrap().is_empty());
    assert_eq!(
        store.lapsed_bindings(600).await.unwrap().len(),
        1,
        "b's, by then"
    );
}

pub async fn devices_get_network_calls_as_they_are_coupled(db: &dyn Database) {
    use callside_core::principal::Coupling;
    let store = db.open().await;
    let number = callside_core::PhoneNumber::parse("+442079460005", None).unwrap();
    let writes = ["dev_phone", "dev_pc", "dev_tablet"]
        .iter()
        .map(|id| Write::Principal(device(id, "+442079460005"), Token::generate("d").hash()))
        .collect();
    store.apply(writes).await.unwrap();
    let id = |s: &str| PrincipalId(s.into());
    let coupled = |now: Millis| store.coupled_devices(number.clone(), now);
    assert_eq!(
        coupled(0).await.unwrap().len(),
        3,
        "always, until said otherwise"
    );
    assert_eq!(
        store.coupling(id("dev_pc")).await.unwrap(),
        (Coupling::Always, 0)
    );
    store
        .apply(vec![
            Write::Coupling {
                principal: id("dev_pc"),
                mode: Coupling::WhenNear,
            },
            Write::Coupling {
                principal: id("dev_tablet"),
                mode: Coupling::Never,
            },
        ])
        .await
        .unwrap();
    assert_eq!(coupled(1_000).await.unwrap(), vec![id("dev_phone")]);
    store
        .apply(vec![Write::Near {
            principal: id("dev_pc"),
            until: 5_000,
        }])
        .await
        .unwrap();
    assert_eq!(
        coupled(4_999).await.unwrap(),
        vec![id("dev_pc"), id("dev_phone")]
    );
    assert_eq!(
        coupled(5_000).await.unwrap(),
        vec![id("dev_phone")],
        "no longer near"
    );
    assert_eq!(
        store.coupling(id("dev_pc")).await.unwrap(),
        (Coupling::WhenNear, 5_000)
    );
    // Saying it is near does not change how a device is coupled.
    store
        .apply(vec![Write::Near {
            principal: id("dev_tablet"),
            until: 9_000,
        }])
        .await
        .unwrap();
    assert_eq!(coupled(1_000).await.unwrap().len(), 2);
}

pub async fn token_use_is_recorded_and_unused_tokens_are_listed(db: &dyn Database) {
    let store = db.open().await;
    let (a, b, c) = (
        Token::generate("dev"),
        Token::generate("dev"),
        Token::generate("dev"),
    );
    let rec = |id: &str, number: &str, at: Millis| {
        let mut r = device(id, number);
        r.created_at = at;
        r
    };
    store
        .apply(vec![
            Write::Principal(rec("dev_a", "+442079460001", 1_000), a.hash()),
            Write::Principal(rec("dev_b", "+442079460002", 2_000), b.hash()),
            Write::Principal(rec("dev_c", "+442079460003", 3_000), c.hash()),
        ])
        .await
        .unwrap();
    let issued = |t: Option<(Millis, Option<Millis>)>| t.map(|(i, _)| i);
    let a_issued = issued(store.token_times(a.hash()).await.unwrap()).expect("a token");
    assert_eq!(
        store.token_times(a.hash()).await.unwrap(),
        Some((a_issued, None))
    );
    assert_eq!(
        store
            .token_times(Token::generate("dev").hash())
            .await
            .unwrap(),
        None
    );
    // Marks only move forward.
    let now = a_issued + 100_000;
    store
        .apply(vec![Write::TokensUsed(vec![
            (a.hash(), now),
            (b.hash(), now - 50_000),
        ])])
        .await
        .unwrap();
    store
        .apply(vec![Write::TokensUsed(vec![(a.hash(), now - 90_000)])])
        .await
        .unwrap();
    assert_eq!(
        store.token_times(a.hash()).await.unwrap(),
        Some((a_issued, Some(now)))
    );
    // Unused before `now - 10_000`: c (never used), then b (used earlier); not a, and not the
    // deleted one.
    let ids = |v: Vec<crate::UnusedToken>| -> Vec<String> {
        v.into_iter().map(|u| u.principal.0).collect()
    };
    let before = now - 10_000;
    let mut listed = ids(store.unused_tokens(before).await.unwrap());
    listed.sort();
    assert_eq!(listed, ["dev_b", "dev_c"]);
    store
        .apply(vec![Write::DeletePrincipal(PrincipalId("dev_c".into()))])
        .await
        .unwrap();
    let unused = store.unused_tokens(before).await.unwrap();
    assert_eq!(unused.len(), 1);
    assert_eq!(unused[0].principal.0, "dev_b");
    assert_eq!(unused[0].kind, "device");
    assert_eq!(unused[0].last_used_at, Some(now - 50_000));
}
