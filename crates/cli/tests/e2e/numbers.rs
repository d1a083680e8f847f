//! Numbers proven by SMS, with an SMS API of the test's own standing in for the gateway's
//! provider (the Kannel suite, `tests/sms.rs`, runs the same flow through a real gateway).

use super::*;
use callside_client::proto::admin::{CreateServiceAccount, Scope};

const GATEWAY_NUMBER: &str = "+447400100000";
const HANDSET: &str = "+447400123456";

/// An SMS API of the generic HTTP kind: what callside sends arrives on the channel.
async fn sms_api() -> (String, tokio::sync::mpsc::Receiver<serde_json::Value>) {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let app = axum::Router::new().route(
        "/send",
        axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v).await;
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/send", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

/// A device (enrolled with no number) that proved `HANDSET` by SMS.
async fn proven_device(
    w: &World,
    sms: &mut tokio::sync::mpsc::Receiver<serde_json::Value>,
) -> Client {
    let account = |name: &str, scope: Scope, ranges: Vec<String>| CreateServiceAccount {
        name: name.into(),
        scopes: vec![scope],
        ranges,
    };
    let gateway = w
        .admin
        .create_service_account(&account("gateway", Scope::SmsGateway, vec!["+44".into()]))
        .await
        .unwrap();
    let enrolment = w
        .admin
        .create_service_account(&account("app", Scope::DeviceEnrollment, vec![]))
        .await
        .unwrap();
    let created = Client::new(&w.base, &enrolment.token)
        .unwrap()
        .enroll_device("Dana's phone")
        .await
        .unwrap();
    let dana = Client::new(&w.base, &created.token).unwrap();
    let proof = dana.start_number_proof().await.unwrap();
    // The handset texts the code; the gateway forwards it.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/sms/inbound", w.base))
        .bearer_auth(&gateway.token)
        .json(&serde_json::json!({
            "from": HANDSET,
            "to": GATEWAY_NUMBER,
            "text": proof.sms_body.clone().unwrap(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let answer = tokio::time::timeout(Duration::from_secs(10), sms.recv())
        .await
        .expect("the answer SMS")
        .unwrap();
    assert_eq!(answer["to"], HANDSET);
    dana.complete_number_proof(
        &proof.id,
        proof.code.as_deref().unwrap(),
        answer["text"].as_str().unwrap(),
    )
    .await
    .unwrap();
    dana
}

/// Issue 17 (privacy): a number proven by SMS stays the device's only while the device proves it
/// again now and then; otherwise the binding lapses (the number may have gone to someone else,
/// who must not get the earlier holder's invitations, notes and sessions), and the lapse is
/// audited.
#[tokio::test]
async fn an_sms_binding_lapses_when_the_number_is_not_proven_again() {
    let (url, mut sms) = sms_api().await;
    let w = world(|c| {
        c.sms.provider = callside_server::config::SmsProvider::Http { url, bearer: None };
        c.sms.number = Some(callside_core::PhoneNumber::parse(GATEWAY_NUMBER, None).unwrap());
        c.sms.lapse_after = Some(Duration::from_secs(2));
        // Housekeeping's slower sweep (where lapses are found) then runs every second.
        c.idle_timeout = Duration::from_secs(4);
    })
    .await;
    let dana = proven_device(&w, &mut sms).await;
    assert_eq!(dana.me().await.unwrap().numbers, [HANDSET]);
    // A caller to that number reaches Dana while the binding holds.
    let alice = w.phone("Alice", ALICE).await;
    alice
        .report_leg(
            &leg(ALICE, Some(HANDSET), Direction::Outgoing),
            Duration::ZERO,
        )
        .await
        .unwrap();
    let found = dana
        .report_leg(
            &leg(HANDSET, Some(ALICE), Direction::Incoming),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(found.state, LegState::Matched);
    // Not proven again: within a few seconds the number is no longer Dana's.
    let lapsed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if dana.me().await.unwrap().numbers.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(lapsed.is_ok(), "the binding lapsed");
    let err = dana
        .report_leg(
            &leg(HANDSET, Some(ALICE), Direction::Incoming),
            Duration::ZERO,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("not_your_number"));
    let audit = w.admin.audit_log(10).await.unwrap();
    assert!(
        audit
            .entries
            .iter()
            .any(|e| e.action == "binding_lapsed" && e.subject == HANDSET),
        "{:?}",
        audit.entries
    );
    w.stop().await;
}
