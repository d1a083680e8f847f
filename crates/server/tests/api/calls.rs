//! Legs, matching, network calls and automated systems.

use super::*;

#[tokio::test]
async fn both_legs_get_the_same_key_and_devices_report_only_their_numbers() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let (_, b) = api.device("Bob", &[BOB]).await;
    let r = api.leg(&a, BOB, Some(ALICE), "incoming").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_your_number")
    );
    let r = api.leg(&a, ALICE, Some(ALICE), "outgoing").await;
    assert_eq!(r.code(), "invalid_leg");
    let r = api.leg(&a, ALICE, None, "outgoing").await;
    assert_eq!(r.code(), "invalid_leg");

    let first = api
        .post("/v1/legs", &a, json!({"self": ALICE, "other": BOB, "direction": "outgoing", "registry": "cs.example.net"}))
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.body["state"], "pending");
    assert_eq!(
        first.body["registry"], "cs.example.net",
        "S0 claim 7: the FQDN is echoed"
    );
    let leg_a = first.body["id"].as_str().unwrap().to_owned();

    // Alice long-polls while Bob reports.
    let poll = {
        let router = api.router.clone();
        let a = a.clone();
        let leg_a = leg_a.clone();
        tokio::spawn(async move {
            let req = Request::get(format!("/v1/legs/{leg_a}?wait=10"))
                .header(header::AUTHORIZATION, format!("Bearer {a}"))
                .body(Body::empty())
                .unwrap();
            let res = router.oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let second = api
        .leg(&b, "+442079460002", Some("+44 (20) 7946-0001"), "incoming")
        .await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body["state"], "matched");
    let key = second.body["session"]["key"].as_str().unwrap();
    assert_eq!(key.len(), 39, "sk_, 12 hex digits of time, 144 random bits");
    let (status, polled) = poll.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        polled["session"]["key"], key,
        "both registrants get the key"
    );
    let parts: Vec<&str> = polled["session"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_str().unwrap())
        .collect();
    assert_eq!(parts, vec!["+442079460001", "+442079460002"]);
    // Another device cannot see Alice's leg.
    let r = api.get(&format!("/v1/legs/{leg_a}"), &b).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn withheld_callers_are_matched_only_when_unambiguous() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let (_, b) = api.device("Bob", &[BOB]).await;
    let (_, c) = api.device("Carol", &[CAROL]).await;
    api.leg(&a, ALICE, Some(BOB), "outgoing").await;
    api.leg(&c, CAROL, Some(BOB), "outgoing").await;
    let r = api.leg(&b, BOB, None, "incoming").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (r.body["state"].as_str(), r.body["reason"].as_str()),
        (Some("no_match"), Some("ambiguous"))
    );
    // With one caller only, the withheld leg pairs.
    let (_, d) = api.device("Dan", &["+44 20 7946 0004"]).await;
    api.leg(&a, ALICE, Some("+44 20 7946 0004"), "outgoing")
        .await;
    let r = api.leg(&d, "+44 20 7946 0004", None, "incoming").await;
    assert_eq!(r.body["state"], "matched");
}

#[tokio::test]
async fn hanging_up_before_a_match_withdraws_the_leg() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let (_, b) = api.device("Bob", &[BOB]).await;
    let r = api.leg(&a, ALICE, Some(BOB), "outgoing").await;
    let id = r.body["id"].as_str().unwrap();
    let r = api.get(&format!("/v1/legs/{id}?wait=0"), &a).await;
    assert_eq!(r.body["state"], "pending");
    let r = api
        .post(&format!("/v1/legs/{id}/end"), &a, json!(null))
        .await;
    assert_eq!(
        (r.body["state"].as_str(), r.body["reason"].as_str()),
        (Some("no_match"), Some("withdrawn"))
    );
    // Bob's leg no longer finds it.
    assert_eq!(
        api.leg(&b, BOB, Some(ALICE), "incoming").await.body["state"],
        "pending"
    );
}

#[tokio::test]
async fn a_newer_call_to_the_same_number_supersedes_an_abandoned_leg() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let (_, b) = api.device("Bob", &[BOB]).await;
    // Alice's first call was abandoned without hanging up; she calls Bob again.
    let first = api.leg(&a, ALICE, Some(BOB), "outgoing").await;
    let first_id = first.body["id"].as_str().unwrap().to_owned();
    let second = api.leg(&a, ALICE, Some(BOB), "outgoing").await;
    assert_eq!(second.body["state"], "pending");
    let r = api.get(&format!("/v1/legs/{first_id}?wait=0"), &a).await;
    assert_eq!(
        (r.body["state"].as_str(), r.body["reason"].as_str()),
        (Some("no_match"), Some("superseded"))
    );
    // Bob's phone pairs with the live call, not the abandoned one.
    let r = api.leg(&b, BOB, Some(ALICE), "incoming").await;
    assert_eq!(r.body["state"], "matched");
    let live = api
        .get(
            &format!("/v1/legs/{}?wait=0", second.body["id"].as_str().unwrap()),
            &a,
        )
        .await;
    assert_eq!(live.body["session"]["key"], r.body["session"]["key"]);
    // A call to another number does not touch a pending one.
    let (_, c) = api.device("Carol", &[CAROL]).await;
    let to_bob = api.leg(&a, ALICE, Some(BOB), "outgoing").await;
    api.leg(&a, ALICE, Some(CAROL), "outgoing").await;
    let r = api
        .get(
            &format!("/v1/legs/{}?wait=0", to_bob.body["id"].as_str().unwrap()),
            &a,
        )
        .await;
    assert_eq!(r.body["state"], "pending");
    assert_eq!(
        api.leg(&c, CAROL, Some(ALICE), "incoming").await.body["state"],
        "matched"
    );
}

#[tokio::test]
async fn network_calls_are_authoritative_and_reach_the_numbers_devices() {
    let api = api().await;
    let (a_id, a) = api.device("Alice", &[ALICE]).await;
    let (b_id, b) = api.device("Bob PC", &[BOB]).await;
    let sip = api
        .service("kamailio", &["network_element"], &["+4420"])
        .await;
    let other_sip = api
        .service("elsewhere", &["network_element"], &["+1"])
        .await;

    let ev = |event: &str| json!({"call_ref": "abc@10.0.0.1", "caller": ALICE, "callee": BOB, "event": event});
    let r = api
        .post("/v1/network/calls", &other_sip, ev("ringing"))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_your_range")
    );
    let r = api.post("/v1/network/calls", &a, ev("ringing")).await;
    assert_eq!(
        r.code(),
        "not_your_range",
        "devices are not network elements"
    );
    let r = api.post("/v1/network/calls", &sip, ev("ended")).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "an end without a start creates nothing"
    );

    let r = api.post("/v1/network/calls", &sip, ev("ringing")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let key = r.body["session"].as_str().unwrap().to_owned();
    let again = api.post("/v1/network/calls", &sip, ev("ringing")).await;
    assert_eq!(again.body["session"], key.as_str(), "repeats are harmless");
    let s = api.get(&format!("/v1/sessions/{key}"), &b).await;
    assert_eq!(s.body["origin"], "network");
    let ids: Vec<&str> = s.body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a_id.as_str(), b_id.as_str()]);

    // A device leg of the call attaches to it rather than pairing on its own.
    let r = api.leg(&a, ALICE, Some(BOB), "outgoing").await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (StatusCode::OK, Some("matched"))
    );
    assert_eq!(r.body["session"]["key"], key.as_str());

    api.post("/v1/network/calls", &sip, ev("answered")).await;
    let r = api.post("/v1/network/calls", &sip, ev("ended")).await;
    assert_eq!(r.body["state"], "ended");
    let msgs = api.messages(&b, &key, 0).await;
    let states: Vec<&str> = msgs
        .iter()
        .filter(|m| m["kind"] == "system/call")
        .map(|m| m["body"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["answered", "ended"]);
}

#[tokio::test]
async fn a_network_report_binds_to_the_pair_that_formed_just_before() {
    let api = api().await;
    let (_, _, key) = api.paired().await;
    let sip = api
        .service("kamailio", &["network_element"], &["+44"])
        .await;
    let r = api
        .post(
            "/v1/network/calls",
            &sip,
            json!({"call_ref": "c1", "caller": ALICE, "callee": BOB, "event": "answered"}),
        )
        .await;
    assert_eq!(r.body["session"], key.as_str(), "one call, one session");
}

#[tokio::test]
async fn automated_systems_take_part_in_calls_to_their_numbers() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let vm = api
        .service("voicemail", &["automated_system"], &["+4420794609"])
        .await;
    let r = api.leg(&vm, ALICE, Some("+442079460901"), "incoming").await;
    assert_eq!(r.code(), "not_your_number");
    api.leg(&a, ALICE, Some("+442079460901"), "outgoing").await;
    let r = api.leg(&vm, "+442079460901", Some(ALICE), "incoming").await;
    assert_eq!(r.body["state"], "matched");
}

#[tokio::test]
async fn concurrent_events_of_one_network_call_make_one_session() {
    let api = api().await;
    api.device("Alice", &[ALICE]).await;
    api.device("Bob", &[BOB]).await;
    let sip = api
        .service("kamailio", &["network_element"], &["+44"])
        .await;
    let mut tasks = Vec::new();
    for event in ["ringing", "answered", "ringing", "answered"] {
        let router = api.router.clone();
        let sip = sip.clone();
        tasks.push(tokio::spawn(async move {
            let body =
                json!({"call_ref": "dup@proxy", "caller": ALICE, "callee": BOB, "event": event});
            let req = Request::post("/v1/network/calls")
                .header(header::AUTHORIZATION, format!("Bearer {sip}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap();
            let res = router.oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }));
    }
    let mut keys = std::collections::HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        keys.insert(body["session"].as_str().unwrap().to_owned());
    }
    assert_eq!(keys.len(), 1, "one call, one session: {keys:?}");
    // Ended stays ended, whatever arrives after it.
    let ev = |e: &str| json!({"call_ref": "dup@proxy", "caller": ALICE, "callee": BOB, "event": e});
    api.post("/v1/network/calls", &sip, ev("ended")).await;
    let r = api.post("/v1/network/calls", &sip, ev("answered")).await;
    assert_eq!(r.body["state"], "ended");
}

#[tokio::test]
async fn a_device_cannot_keep_many_legs_waiting() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    for i in 0..8 {
        let r = api
            .leg(&a, ALICE, Some(&format!("+4420794610{i:02}")), "outgoing")
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    let r = api.leg(&a, ALICE, Some("+442079461099"), "outgoing").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_pending_legs")
    );
}

#[tokio::test]
async fn an_answer_before_the_match_is_applied_when_the_call_pairs() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let (_, b) = api.device("Bob", &[BOB]).await;
    let r = api.leg(&a, ALICE, Some(BOB), "outgoing").await;
    let leg = r.body["id"].as_str().unwrap().to_owned();
    let r = api
        .post(&format!("/v1/legs/{leg}/answer"), &a, json!(null))
        .await;
    assert_eq!(r.body["state"], "pending");
    let r = api.leg(&b, BOB, Some(ALICE), "incoming").await;
    assert_eq!(r.body["session"]["call"], "answered");
}

#[tokio::test]
async fn a_closed_network_session_releases_its_call() {
    let api = api().await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let sip = api
        .service("kamailio", &["network_element"], &["+44"])
        .await;
    let r = api
        .post(
            "/v1/network/calls",
            &sip,
            json!({"call_ref": "c9", "caller": ALICE, "callee": BOB, "event": "answered"}),
        )
        .await;
    let key = r.body["session"].as_str().unwrap().to_owned();
    api.post(&format!("/v1/sessions/{key}/close"), &a, json!(null))
        .await;
    // The network's "ended" was lost; Alice's app reports the call: it is placed as a new leg
    // instead of failing against the closed session.
    let r = api.leg(&a, ALICE, Some(BOB), "outgoing").await;
    assert_eq!(
        (r.status, r.body["state"].as_str()),
        (StatusCode::ACCEPTED, Some("pending")),
        "{:?}",
        r.body
    );
}

/// Issue 17 (privacy): a device reads the notes left for a number only from when it owns the
/// number; what was left before belongs to whoever held it then.
#[tokio::test]
async fn a_new_holder_of_a_number_does_not_read_the_notes_left_before() {
    let api = api().await;
    let (_, alice) = api.device("Alice", &[ALICE]).await;
    let missed = |note: &'static str| {
        let api = &api;
        let alice = alice.clone();
        async move {
            let r = api.leg(&alice, ALICE, Some(BOB), "outgoing").await;
            let leg = r.body["id"].as_str().unwrap().to_owned();
            let r = api
                .post(&format!("/v1/legs/{leg}/end"), &alice, json!({}))
                .await;
            assert_eq!(r.body["state"], "no_match", "{:?}", r.body);
            let r = api
                .post(
                    &format!("/v1/legs/{leg}/note"),
                    &alice,
                    json!({ "text": note }),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        }
    };
    missed("for whoever has this number now").await;
    // Bob comes to own the number afterwards.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (_, bob) = api.device("Bob", &[BOB]).await;
    let log = api.get("/v1/me/call-log", &bob).await;
    assert_eq!(
        log.body["notes"],
        json!([]),
        "not Bob's: left before he had the number"
    );
    missed("for Bob").await;
    let log = api.get("/v1/me/call-log", &bob).await;
    let notes = log.body["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["note"]["text"], "for Bob");
}

#[tokio::test]
async fn composer_data_and_notes_that_ring_other_devices_are_rate_limited() {
    let api = api_with(|c| c.limits.call_notes_per_device_hour = 2).await;
    let (_, alice) = api.device("Alice", &[ALICE]).await;
    let (_, bob) = api.device("Bob", &[BOB]).await;
    let composer = |subject: &str| {
        json!({"self": ALICE, "other": BOB, "direction": "outgoing",
               "composer": {"subject": subject}})
    };
    // One call with a subject, one missed call's note: both count.
    let r = api.post("/v1/legs", &alice, composer("Your parcel")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let leg = r.body["id"].as_str().unwrap().to_owned();
    api.post(&format!("/v1/legs/{leg}/end"), &alice, json!({}))
        .await;
    let r = api
        .post(
            &format!("/v1/legs/{leg}/note"),
            &alice,
            json!({"text": "call me"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // The third is refused before anything is reported or rung.
    let r = api.post("/v1/legs", &alice, composer("Again")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let notes = api.get("/v1/me/call-log", &bob).await.body["notes"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(notes, 2, "the refused call rang nothing");
    // A plain call (no composer data) is not limited by this.
    let r = api.leg(&alice, ALICE, Some(BOB), "outgoing").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
}

#[tokio::test]
async fn offering_one_sided_calls_cannot_probe_which_numbers_use_callside() {
    let api = api_with(|c| c.limits.invitations_per_device_hour = 2).await;
    let (_, alice) = api.device("Alice", &[ALICE]).await;
    let r = api
        .call(
            Method::PUT,
            "/v1/admin/components/com.example.menu",
            &api.admin,
            Some(json!({"name": "Menu", "version": "1", "url": "https://example.com/menu.zip"})),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    // Each try at a number without the app costs the reporter's invitation budget, answered
    // "not registered" or not.
    let mut answers = Vec::new();
    for n in ["+44 20 7946 0091", "+44 20 7946 0092", "+44 20 7946 0093"] {
        let leg = api.leg(&alice, ALICE, Some(n), "outgoing").await;
        let id = leg.body["id"].as_str().unwrap().to_owned();
        let r = api
            .post(
                &format!("/v1/legs/{id}/component"),
                &alice,
                json!({"component": "com.example.menu"}),
            )
            .await;
        answers.push((r.status.as_u16(), r.code().to_owned()));
    }
    assert_eq!(
        answers,
        [
            (404, "not_registered".to_owned()),
            (404, "not_registered".to_owned()),
            (429, "rate_limited".to_owned())
        ]
    );
}

/// Issue 19: with no `default_region` configured, numbers written without a country code are read
/// in the region of the writing device's own number; one that is not a number there names the
/// region assumed.
#[tokio::test]
async fn national_numbers_are_read_in_the_devices_own_region() {
    let api = api_with(|c| c.default_region = None).await;
    let (_, a) = api.device("Alice", &[ALICE]).await;
    let (_, b) = api.device("Bob", &[BOB]).await;
    let (_, p) = api.device("Pierre", &["+33123456789"]).await;
    let first = api
        .leg(&a, "020 7946 0001", Some("020 7946 0002"), "outgoing")
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{:?}", first.body);
    assert_eq!(first.body["other"], "+442079460002");
    let second = api.leg(&b, BOB, Some("(020) 7946-0001"), "incoming").await;
    assert_eq!(second.body["state"], "matched", "{:?}", second.body);
    // The same text from a French device is read in France, where it is no number.
    let r = api
        .leg(&p, "+33123456789", Some("020 7946 0002"), "outgoing")
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_number")
    );
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("in FR") && detail.contains("default_region"),
        "{detail}"
    );
    // A national number in France is fine for him.
    let r = api
        .leg(&p, "01 23 45 67 89", Some("+442079460002"), "outgoing")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
}

/// Issue 17: an element that serves one party's number cannot put the other party's devices into
/// a session; they join by reporting their own leg of the call (their consent).
#[tokio::test]
async fn a_network_element_puts_only_its_own_numbers_devices_into_a_session() {
    let api = api().await;
    let (a_id, a) = api.device("Alice", &[ALICE]).await;
    let (b_id, b) = api.device("Bob", &[BOB]).await;
    let sip = api
        .service("alices-switch", &["network_element"], &["+442079460001"])
        .await;
    let r = api
        .post(
            "/v1/network/calls",
            &sip,
            json!({"call_ref": "x1@switch", "caller": ALICE, "callee": BOB, "event": "ringing"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let key = r.body["session"].as_str().unwrap().to_owned();
    let ids = |body: &Value| -> Vec<String> {
        body["participants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let s = api.get(&format!("/v1/sessions/{key}"), &a).await;
    assert_eq!(
        ids(&s.body),
        vec![a_id.clone()],
        "Bob's devices were not put in"
    );
    let r = api.get(&format!("/v1/sessions/{key}"), &b).await;
    assert_eq!(r.code(), "not_participant", "{:?}", r.body);
    // Bob's own app reports the call: he joins it.
    let r = api.leg(&b, BOB, Some(ALICE), "incoming").await;
    assert_eq!(r.body["state"], "matched", "{:?}", r.body);
    assert_eq!(r.body["session"]["key"], key.as_str());
    let s = api.get(&format!("/v1/sessions/{key}"), &b).await;
    assert_eq!(ids(&s.body), vec![a_id, b_id]);
}

#[tokio::test]
async fn a_batch_of_network_events_is_taken_in_order_and_one_refused_event_stops_nothing() {
    let api = api().await;
    let (_, b) = api.device("Bob", &[BOB]).await;
    let (_, c) = api.device("Carol", &[CAROL]).await;
    let sip = api
        .service("kamailio", &["network_element"], &["+4420"])
        .await;
    let ev = |call: &str, callee: &str, event: &str| json!({"call_ref": call, "caller": ALICE, "callee": callee, "event": event});
    let batch = json!({"events": [
        ev("one@sip", BOB, "ringing"),
        ev("one@sip", BOB, "answered"),
        json!({"call_ref": "two@sip", "caller": "+1 202 555 0101", "callee": "+1 202 555 0100", "event": "ringing"}),
        ev("three@sip", CAROL, "ringing"),
    ]});
    let r = api.post("/v1/network/calls/batch", &sip, batch).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    // In order: the second event found the first's call and answered it.
    assert_eq!(results[0]["call"]["state"], "ringing");
    assert_eq!(results[1]["call"]["state"], "answered");
    assert_eq!(results[1]["call"]["session"], results[0]["call"]["session"]);
    // Outside the element's ranges: refused alone, with the code a single report gets.
    assert_eq!(results[2]["error"]["code"], "not_your_range");
    assert!(results[2].get("call").is_none());
    assert_eq!(results[3]["call"]["state"], "ringing");
    for (who, i) in [(&b, 0), (&c, 3)] {
        let key = results[i]["call"]["session"].as_str().unwrap();
        let s = api.get(&format!("/v1/sessions/{key}"), who).await;
        assert_eq!(s.status, StatusCode::OK, "the callee's devices are in it");
    }
    for bad in [
        json!({"events": []}),
        json!({"events": vec![ev("x", BOB, "ringing"); 1001]}),
    ] {
        let r = api.post("/v1/network/calls/batch", &sip, bad).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_batch")
        );
    }
}
