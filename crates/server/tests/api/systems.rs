//! Automated systems take part in calls to their service numbers (S1-F11–F21): a device's report
//! of the call is enough, a network element's report includes them, and a system reporting its
//! own leg too does not make a second session.

use super::*;

const VOICEMAIL: &str = "+442079460901";

async fn voicemail(api: &Api) -> (String, String) {
    let r = api
        .post(
            "/v1/admin/service-accounts",
            &api.admin,
            json!({"name": "voicemail", "scopes": ["automated_system"], "ranges": ["+4420794609"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    (
        r.body["account"]["id"].as_str().unwrap().to_owned(),
        r.body["token"].as_str().unwrap().to_owned(),
    )
}

fn ids(session: &Value) -> Vec<String> {
    session["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_call_to_a_system_is_answered_by_it_at_once() {
    let api = api().await;
    let (alice_id, a) = api.device("Alice", &[ALICE]).await;
    let (vm_id, vm) = voicemail(&api).await;
    let r = api.leg(&a, ALICE, Some(VOICEMAIL), "outgoing").await;
    assert_eq!(r.body["state"], "matched", "{:?}", r.body);
    let key = r.body["session"]["key"].as_str().unwrap().to_owned();
    let mut who = ids(&r.body["session"]);
    who.sort();
    let mut want = vec![alice_id, vm_id.clone()];
    want.sort();
    assert_eq!(who, want);
    // The system's own sessions list it; the number it answered on is its participant number.
    let listed = api.get("/v1/sessions", &vm).await;
    assert_eq!(listed.body["sessions"][0]["key"], key.as_str());
    let me = listed.body["sessions"][0]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == vm_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(me["number"], VOICEMAIL);
    // The system reporting the same call itself gets the same session, not a second one.
    let r = api.leg(&vm, VOICEMAIL, Some(ALICE), "incoming").await;
    assert_eq!(r.body["state"], "matched", "{:?}", r.body);
    assert_eq!(r.body["session"]["key"], key.as_str());
    assert_eq!(
        api.get("/v1/sessions", &vm).await.body["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_network_call_to_a_system_includes_it_and_a_deleted_system_answers_nothing() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let (vm_id, vm) = voicemail(&api).await;
    let sip = api
        .service("kamailio", &["network_element"], &["+44"])
        .await;
    let r = api
        .post(
            "/v1/network/calls",
            &sip,
            json!({"call_ref": "vm-1", "caller": ALICE, "callee": VOICEMAIL, "event": "answered"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let key = r.body["session"].as_str().unwrap();
    let session = api.get(&format!("/v1/sessions/{key}"), &vm).await;
    assert_eq!(session.status, StatusCode::OK, "{:?}", session.body);
    assert!(ids(&session.body).contains(&vm_id));

    // Once the operator deletes the system, calls to its numbers wait for a counterpart as any.
    let r = api
        .call(
            Method::DELETE,
            &format!("/v1/admin/service-accounts/{vm_id}"),
            &api.admin,
            None,
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let r = api.leg(&a, ALICE, Some("+442079460909"), "outgoing").await;
    assert_eq!(r.body["state"], "pending", "{:?}", r.body);
    // And a system created now answers at once.
    voicemail(&api).await;
    let (_, b) = api.device("Bob", &[BOB]).await;
    let r = api.leg(&b, BOB, Some(VOICEMAIL), "outgoing").await;
    assert_eq!(r.body["state"], "matched", "{:?}", r.body);
}
