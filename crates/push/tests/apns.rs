//! APNs against a local HTTP/2 server (cleartext, prior knowledge) that checks what Apple would:
//! the provider token's ES256 signature (verified here with `p256`, not with the `jsonwebtoken`
//! that signed it), its `kid`, `iss` and `iat`, the path, the headers and the body's shape.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use callside_push::{
    ApnsConfig, Provider, PushConfig, PushError, Pusher, RetryPolicy, Subscription, Wake,
};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

const TEAM: &str = "TEAM123456";
const KEY_ID: &str = "KEY7890ABC";
const TOPIC: &str = "app.callside.ios";

/// What the fake APNs saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    environment: &'static str,
    version: Version,
    device_token: String,
    headers: HeaderMap,
    body: Value,
    jwt: String,
    /// Problems with the provider token; empty if it verified.
    jwt_errors: Vec<String>,
}

#[derive(Clone)]
struct FakeApns {
    environment: &'static str,
    public_key: VerifyingKey,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Answers for the next requests (status, reason), then 200.
    script: Arc<Mutex<Vec<(u16, &'static str)>>>,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Verifies the provider token as Apple documents it; returns its problems.
fn check_provider_token(jwt: &str, public_key: &VerifyingKey) -> Vec<String> {
    let mut errors = Vec::new();
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return vec![format!("not a JWT: {jwt}")];
    };
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    if header["alg"] != "ES256" || header["kid"] != KEY_ID {
        errors.push(format!("header {header}"));
    }
    if claims["iss"] != TEAM {
        errors.push(format!("iss {}", claims["iss"]));
    }
    let iat = claims["iat"].as_i64().unwrap_or_default();
    if (iat - now_secs()).abs() > 60 {
        errors.push(format!("iat {iat} is not now"));
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let signing_input = &jwt[..jwt.rfind('.').unwrap()];
    match Signature::from_slice(&signature) {
        Ok(sig) if public_key.verify(signing_input.as_bytes(), &sig).is_ok() => {}
        _ => errors.push("the signature does not verify".into()),
    }
    errors
}

async fn device(
    State(fake): State<FakeApns>,
    Path(device_token): Path<String>,
    version: Version,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let jwt = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        // The scheme is case-insensitive (RFC 9110 §11.1); Apple writes `bearer`.
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        })
        .map(|(_, token)| token)
        .unwrap_or_default()
        .to_owned();
    let jwt_errors = check_provider_token(&jwt, &fake.public_key);
    fake.seen.lock().unwrap().push(Seen {
        environment: fake.environment,
        version,
        device_token: device_token.clone(),
        headers,
        body,
        jwt,
        jwt_errors: jwt_errors.clone(),
    });
    let (status, reason) = {
        let mut script = fake.script.lock().unwrap();
        if !jwt_errors.is_empty() {
            (403, "InvalidProviderToken")
        } else if script.is_empty() {
            (200, "")
        } else {
            script.remove(0)
        }
    };
    let status = StatusCode::from_u16(status).unwrap();
    let mut response = if status.is_success() {
        status.into_response()
    } else {
        (status, Json(json!({ "reason": reason }))).into_response()
    };
    response.headers_mut().insert(
        "apns-id",
        "8f6e3c3a-0000-4000-8000-000000000001".parse().unwrap(),
    );
    response
}

/// Starts a fake APNs environment on loopback; returns its base URL.
async fn start(fake: FakeApns) -> String {
    let app = Router::new()
        .route("/3/device/{token}", post(device))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

struct Setup {
    pusher: Pusher,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<Vec<(u16, &'static str)>>>,
}

async fn setup() -> Setup {
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public_key = VerifyingKey::from(secret.public_key());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(Vec::new()));
    let fake = |environment| FakeApns {
        environment,
        public_key,
        seen: seen.clone(),
        script: script.clone(),
    };
    let production = start(fake("production")).await;
    let sandbox = start(fake("sandbox")).await;
    let config = ApnsConfig::new(TEAM, KEY_ID, &pem)
        .unwrap()
        .with_base_urls(&production, &sandbox)
        .unwrap()
        .with_ttl(Duration::from_secs(600));
    let pusher = Pusher::new(PushConfig {
        apns: Some(config),
        ..PushConfig::default()
    })
    .unwrap();
    Setup {
        pusher,
        seen,
        script,
    }
}

fn subscription(token: &str, sandbox: bool) -> Subscription {
    Subscription::Apns {
        device_token: token.into(),
        topic: TOPIC.into(),
        sandbox,
    }
}

#[tokio::test]
async fn sends_a_background_wake_up_over_http2_with_one_cached_provider_token() {
    let setup = setup().await;
    let token = "a1".repeat(32);
    let wake = Wake::new("0190a1b2c3d4-apns").unwrap();

    let first = setup
        .pusher
        .send(&subscription(&token, false), &wake)
        .await
        .unwrap();
    let second = setup
        .pusher
        .send(&subscription(&token, true), &wake)
        .await
        .unwrap();

    assert_eq!(first.provider, Provider::Apns);
    assert_eq!(
        second.message_id.as_deref(),
        Some("8f6e3c3a-0000-4000-8000-000000000001")
    );
    let seen = setup.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen.iter().map(|s| s.environment).collect::<Vec<_>>(),
        ["production", "sandbox"]
    );
    for request in &seen {
        assert_eq!(request.version, Version::HTTP_2);
        assert_eq!(request.jwt_errors, Vec::<String>::new());
        assert_eq!(request.device_token, token);
        let header = |name: &str| request.headers.get(name).unwrap().to_str().unwrap();
        assert_eq!(header("apns-topic"), TOPIC);
        assert_eq!(header("apns-push-type"), "background");
        assert_eq!(header("apns-priority"), "5");
        let expiration: i64 = header("apns-expiration").parse().unwrap();
        assert!(
            (expiration - (now_secs() + 600)).abs() <= 60,
            "{expiration}"
        );
        assert_eq!(
            request.body,
            json!({"aps": {"content-available": 1}, "t": "wake", "id": wake.id()})
        );
    }
    // One provider token for both: it is cached, not minted per request.
    assert_eq!(seen[0].jwt, seen[1].jwt);
}

#[tokio::test]
async fn unregistered_and_bad_device_tokens_are_gone() {
    let setup = setup().await;
    let wake = Wake::new("w").unwrap();
    setup.script.lock().unwrap().extend([
        (410, "Unregistered"),
        (400, "BadDeviceToken"),
        (400, "TopicDisallowed"),
    ]);

    let retries = RetryPolicy {
        attempts: 3,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
    };
    let sub = subscription(&"b2".repeat(32), false);
    let unregistered = setup.pusher.send_with_retry(&sub, &wake, &retries).await;
    let bad_token = setup.pusher.send(&sub, &wake).await;
    let disallowed = setup.pusher.send(&sub, &wake).await;

    assert_eq!(
        unregistered,
        Err(PushError::Gone {
            provider: Provider::Apns,
            reason: "410 Unregistered".into()
        })
    );
    assert!(
        matches!(bad_token, Err(PushError::Gone { .. })),
        "{bad_token:?}"
    );
    assert!(
        matches!(disallowed, Err(PushError::Rejected { status: 400, ref reason, .. }) if reason.contains("TopicDisallowed")),
        "{disallowed:?}"
    );
    // Gone is final: three answers, three requests, no retry.
    assert_eq!(setup.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn an_expired_provider_token_is_replaced_on_the_retry() {
    let setup = setup().await;
    setup
        .script
        .lock()
        .unwrap()
        .push((403, "ExpiredProviderToken"));
    let retries = RetryPolicy {
        attempts: 2,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
    };

    setup
        .pusher
        .send_with_retry(
            &subscription(&"c3".repeat(32), false),
            &Wake::new("w").unwrap(),
            &retries,
        )
        .await
        .unwrap();

    let seen = setup.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].jwt_errors.is_empty());
    assert_ne!(
        seen[0].jwt, seen[1].jwt,
        "a new token after ExpiredProviderToken"
    );
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    // The negative control: the fake really verifies signatures.
    let setup = setup().await;
    let other = p256::SecretKey::random(&mut rand_core::OsRng)
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap();
    let seen = setup.seen.clone();
    let production = start(FakeApns {
        environment: "production",
        public_key: VerifyingKey::from(p256::SecretKey::random(&mut rand_core::OsRng).public_key()),
        seen: seen.clone(),
        script: Arc::default(),
    })
    .await;
    let pusher = Pusher::new(PushConfig {
        apns: Some(
            ApnsConfig::new(TEAM, KEY_ID, &other)
                .unwrap()
                .with_base_urls(&production, &production)
                .unwrap(),
        ),
        ..PushConfig::default()
    })
    .unwrap();

    let error = pusher
        .send(
            &subscription(&"d4".repeat(32), false),
            &Wake::new("w").unwrap(),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(error, PushError::Rejected { status: 403, ref reason, .. } if reason.contains("InvalidProviderToken")),
        "{error:?}"
    );
    assert_eq!(
        seen.lock().unwrap()[0].jwt_errors,
        ["the signature does not verify"]
    );
}
