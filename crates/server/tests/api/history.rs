//! Issue 17 (privacy): someone invited into a session reads what is sent from when it joined,
//! and what was sent before only when those already there share it.

use super::*;

/// Invites the holder of `number` into `key` and accepts for it.
async fn bring_in(api: &Api, inviter: &str, key: &str, number: &str, invitee: &str) {
    let r = api
        .post(
            "/v1/invitations",
            inviter,
            json!({"to": number, "session": key}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap();
    let r = api
        .post(&format!("/v1/invitations/{id}/accept"), invitee, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

fn kinds(log: &[Value]) -> Vec<&str> {
    log.iter().map(|m| m["kind"].as_str().unwrap()).collect()
}

fn participant<'a>(session: &'a Value, id: &str) -> &'a Value {
    session["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap()
}

#[tokio::test]
async fn a_joiner_reads_only_what_is_sent_after_it_joined() {
    let api = api().await;
    let (a, b, key) = api.paired().await;
    let (carol_id, c) = api.device("Carol", &[CAROL]).await;
    let photo = api.upload(&a, b"the photo before").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.send(&a, &key, "a1", "text", json!({"text": "between us"}))
        .await;
    api.send(
        &a,
        &key,
        "a2",
        "file",
        json!({"blob": photo, "name": "p.txt"}),
    )
    .await;
    let before = api.messages(&b, &key, 0).await.len() as u64;

    bring_in(&api, &a, &key, CAROL, &c).await;
    let log = api.messages(&c, &key, 0).await;
    assert_eq!(kinds(&log), ["system/joined"], "nothing from before");
    assert_eq!(log[0]["seq"], before + 1);
    let session = api.get(&format!("/v1/sessions/{key}"), &c).await.body;
    assert_eq!(participant(&session, &carol_id)["joined_after"], before);
    assert!(participant(&session, &carol_id)["history"].is_null());
    let r = api.get(&format!("/v1/blobs/{photo}"), &c).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "nor the file sent before");

    // What comes next is Carol's to read, a file too, even one sent before in the same bytes.
    api.send(&b, &key, "b1", "text", json!({"text": "welcome"}))
        .await;
    api.send(
        &b,
        &key,
        "b2",
        "file",
        json!({"blob": photo, "name": "again.txt"}),
    )
    .await;
    let log = api.messages(&c, &key, 0).await;
    assert_eq!(kinds(&log), ["system/joined", "text", "file"]);
    let r = api.get(&format!("/v1/blobs/{photo}"), &c).await;
    assert_eq!(r.status, StatusCode::OK, "shared again after Carol joined");
    assert_eq!(r.bytes, b"the photo before");
    // Those there from the start still read it all.
    assert_eq!(api.messages(&a, &key, 0).await.len() as u64, before + 3);
}

#[tokio::test]
async fn history_is_shown_only_when_shared_and_nobody_withholds_it() {
    let api = api().await;
    let (a, b, key) = api.paired().await;
    let (_, c) = api.device("Carol", &[CAROL]).await;
    let (_, d) = api.device("Dave", &["+44 20 7946 0004"]).await;
    let photo = api.upload(&a, b"the plan").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.send(
        &a,
        &key,
        "a1",
        "file",
        json!({"blob": photo, "name": "plan.txt"}),
    )
    .await;
    let path = format!("/v1/sessions/{key}/history");

    // Alice shares, Bob says nothing: Carol reads from the start, the file too.
    let r = api.put(&path, &a, json!({"consent": "share"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    bring_in(&api, &a, &key, CAROL, &c).await;
    let log = api.messages(&c, &key, 0).await;
    assert_eq!(kinds(&log), ["file", "system/joined"]);
    assert_eq!(
        api.get(&format!("/v1/blobs/{photo}"), &c).await.status,
        StatusCode::OK
    );

    // Bob withholds: Dave, joining next, reads only from his own joining.
    let r = api.put(&path, &b, json!({"consent": "withhold"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    bring_in(&api, &a, &key, "+44 20 7946 0004", &d).await;
    let log = api.messages(&d, &key, 0).await;
    assert_eq!(kinds(&log), ["system/joined"]);
    assert_eq!(
        api.get(&format!("/v1/blobs/{photo}"), &d).await.status,
        StatusCode::NOT_FOUND
    );
    // Carol keeps what she was shown.
    assert_eq!(api.messages(&c, &key, 0).await.len(), 3);
}

#[tokio::test]
async fn a_word_on_history_takes_a_participant_and_a_known_consent() {
    let api = api().await;
    let (a, _b, key) = api.paired().await;
    let (_, c) = api.device("Carol", &[CAROL]).await;
    let path = format!("/v1/sessions/{key}/history");
    let r = api.put(&path, &c, json!({"consent": "share"})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_participant")
    );
    for bad in [
        json!({"consent": "maybe"}),
        json!({"consent": "share", "also": 1}),
        json!({}),
    ] {
        let r = api.put(&path, &a, bad.clone()).await;
        assert!(r.status.is_client_error(), "{bad}: {:?}", r.body);
    }
    let r = api
        .put(
            "/v1/sessions/sk_nope/history",
            &a,
            json!({"consent": "share"}),
        )
        .await;
    assert!(r.status.is_client_error(), "{:?}", r.body);
    // None of that changed anything: Carol, joining, reads nothing from before.
    api.send(&a, &key, "a1", "text", json!({"text": "private"}))
        .await;
    let session = api.get(&format!("/v1/sessions/{key}"), &a).await.body;
    assert!(session["participants"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["history"].is_null()));
    bring_in(&api, &a, &key, CAROL, &c).await;
    assert_eq!(kinds(&api.messages(&c, &key, 0).await), ["system/joined"]);
    // A word can be withdrawn.
    let r = api.put(&path, &a, json!({"consent": "share"})).await;
    assert_eq!(
        r.body["participants"][0]["history"], "share",
        "{:?}",
        r.body
    );
    let r = api.put(&path, &a, json!({"consent": null})).await;
    assert!(
        r.body["participants"][0]["history"].is_null(),
        "{:?}",
        r.body
    );
}
