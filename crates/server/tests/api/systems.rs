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

/// A network element's event, as Kamailio sends it.
fn sip_event(call_ref: &str, callee: &str, event: &str, diverted: bool) -> Value {
    let mut ev = json!({"call_ref": call_ref, "caller": ALICE, "callee": callee, "event": event});
    if diverted {
        ev["diverted_to"] = json!(VOICEMAIL);
        ev["reason"] = json!("no-answer");
    }
    ev
}

#[tokio::test]
async fn a_call_diverted_to_voicemail_leaves_the_callee_a_missed_call_and_the_caller_with_the_system(
) {
    let api = api().await;
    let (alice_id, a) = api.device("Alice", &[ALICE]).await;
    let (bob_id, b) = api.device("Bob", &[BOB]).await;
    let (vm_id, vm) = voicemail(&api).await;
    let sip = api
        .service("kamailio", &["network_element"], &["+44"])
        .await;
    let post = |ev: Value| api.post("/v1/network/calls", &sip, ev);
    let r = post(sip_event("d1", BOB, "ringing", false)).await;
    let rang = r.body["session"].as_str().unwrap().to_owned();
    // A diversion must say where to.
    let r = post(sip_event("d1", BOB, "diverted", false)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);

    let r = post(sip_event("d1", BOB, "diverted", true)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let with_vm = r.body["session"].as_str().unwrap().to_owned();
    assert_ne!(
        with_vm, rang,
        "the caller goes on in a session of its own with the system"
    );
    // Said again (and by the answer that follows), it changes nothing.
    let r = post(sip_event("d1", BOB, "diverted", true)).await;
    assert_eq!(r.body["session"], with_vm.as_str());
    let r = post(sip_event("d1", BOB, "answered", true)).await;
    assert_eq!(
        (r.body["session"].as_str(), r.body["state"].as_str()),
        (Some(with_vm.as_str()), Some("answered"))
    );

    let session = api.get(&format!("/v1/sessions/{with_vm}"), &vm).await.body;
    let mut who = ids(&session);
    who.sort();
    let mut want = vec![alice_id, vm_id];
    want.sort();
    assert_eq!(
        who, want,
        "Bob's devices are not in the caller's talk with his voicemail"
    );
    assert_eq!(
        api.get(&format!("/v1/sessions/{with_vm}"), &b).await.status,
        StatusCode::FORBIDDEN
    );
    let diverted = api
        .messages(&vm, &with_vm, 0)
        .await
        .into_iter()
        .find(|m| m["kind"] == "system/diverted")
        .expect("the system hears whose mailbox");
    assert_eq!(
        diverted["body"],
        json!({"from": "+442079460002", "to": VOICEMAIL, "reason": "no_answer"})
    );
    // Bob's session of the ringing call ended: a missed call.
    let missed = api.get(&format!("/v1/sessions/{rang}"), &b).await.body;
    assert_eq!(missed["call"], "ended");
    assert!(ids(&missed).contains(&bob_id));
    let r = post(sip_event("d1", BOB, "ended", true)).await;
    assert_eq!(r.body["state"], "ended");
    let log = api.messages(&a, &with_vm, 0).await;
    assert_eq!(log.last().unwrap()["body"]["state"], "ended", "{log:?}");

    // A lost `diverted` event: the answer that says where the call went is enough.
    let r = post(sip_event("d2", BOB, "ringing", false)).await;
    let rang = r.body["session"].as_str().unwrap().to_owned();
    let r = post(sip_event("d2", BOB, "answered", true)).await;
    assert_ne!(r.body["session"], rang.as_str());
    // And a failed call simply ends.
    post(sip_event("f1", BOB, "ringing", false)).await;
    let r = post(sip_event("f1", BOB, "failed", false)).await;
    assert_eq!(r.body["state"], "ended", "{:?}", r.body);
}

#[tokio::test]
async fn without_a_sip_proxy_nobody_dials_or_ends_calls_through_it() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let (_, vm) = voicemail(&api).await;
    let r = api
        .post("/v1/network/click-to-dial", &a, json!({"to": BOB}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "sip_proxy_not_configured")
    );
    let r = api.leg(&a, ALICE, Some(VOICEMAIL), "outgoing").await;
    let key = r.body["session"]["key"].as_str().unwrap().to_owned();
    let r = api
        .post(&format!("/v1/sessions/{key}/end-call"), &vm, json!({}))
        .await;
    assert_eq!(r.code(), "sip_proxy_not_configured", "{:?}", r.body);
    // Bad input is refused before anything is asked.
    let r = api
        .post(
            "/v1/network/click-to-dial",
            &a,
            json!({"to": BOB, "via": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
}
