//! Conferences (S1-F14, S3-F19): parties reporting legs with the same conference id and dial-in
//! number share one session; each reads from its joining on.

use super::*;

const BRIDGE: &str = "+442079460700";

async fn dial_in(api: &Api, token: &str, own: &str, conference: &str, bridge: &str) -> Reply {
    api.post(
        "/v1/legs",
        token,
        json!({"self": own, "other": bridge, "direction": "outgoing", "conference_id": conference}),
    )
    .await
}

#[tokio::test]
async fn parties_naming_one_conference_share_one_session_from_their_joining() {
    let api = api().await;
    let (alice_id, a) = api.device("Alice", &[ALICE]).await;
    let (_, b) = api.device("Bob", &[BOB]).await;
    let (_, c) = api.device("Carol", &[CAROL]).await;
    let r = dial_in(&api, &a, ALICE, "4521", BRIDGE).await;
    assert_eq!(
        r.body["state"], "matched",
        "the first party opens it: {:?}",
        r.body
    );
    assert_eq!(r.body["session"]["origin"], "conference");
    let key = r.body["session"]["key"].as_str().unwrap().to_owned();
    api.send(&a, &key, "a1", "text", json!({"text": "before Bob"}))
        .await;

    let r = dial_in(&api, &b, BOB, "4521", BRIDGE).await;
    assert_eq!(r.body["session"]["key"], key.as_str(), "{:?}", r.body);
    let r = dial_in(&api, &c, CAROL, "4521", BRIDGE).await;
    assert_eq!(r.body["session"]["key"], key.as_str());
    api.send(&a, &key, "a2", "text", json!({"text": "hello all"}))
        .await;
    let texts = |log: Vec<Value>| -> Vec<String> {
        log.into_iter()
            .filter(|m| m["kind"] == "text")
            .map(|m| m["body"]["text"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(texts(api.messages(&b, &key, 0).await), ["hello all"]);
    assert_eq!(texts(api.messages(&c, &key, 0).await), ["hello all"]);
    assert_eq!(
        texts(api.messages(&a, &key, 0).await),
        ["before Bob", "hello all"]
    );
    let s = api.get(&format!("/v1/sessions/{key}"), &b).await.body;
    assert_eq!(s["participants"].as_array().unwrap().len(), 3);
    assert!(s["participants"][0]["id"] == alice_id.as_str());

    // Reporting again changes nothing; another id, or the same id on another number, is
    // another conference; a conference leg must say which number it dialled.
    let r = dial_in(&api, &a, ALICE, "4521", BRIDGE).await;
    assert_eq!(r.body["session"]["key"], key.as_str());
    let r = dial_in(&api, &b, BOB, "9999", BRIDGE).await;
    assert_ne!(r.body["session"]["key"], key.as_str());
    let r = dial_in(&api, &b, BOB, "4521", "+442079460701").await;
    assert_ne!(r.body["session"]["key"], key.as_str());
    let r = api
        .post(
            "/v1/legs",
            &c,
            json!({"self": CAROL, "direction": "outgoing", "conference_id": "4521"}),
        )
        .await;
    assert_eq!(r.code(), "invalid_leg", "{:?}", r.body);

    // A closed conference session is not joined again: the next party starts a new one.
    api.post(&format!("/v1/sessions/{key}/close"), &a, json!({}))
        .await;
    let r = dial_in(&api, &c, CAROL, "4521", BRIDGE).await;
    assert_ne!(r.body["session"]["key"], key.as_str());
}
