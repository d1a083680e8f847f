//! FCM against a local token endpoint and send API that check what Google would: the JWT bearer
//! assertion's RS256 signature (verified with the `rsa` crate against the service account's public
//! key, not with the `jsonwebtoken` that signed it) and claims, the bearer token on sends, and a
//! data-only message.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use callside_push::{
    FcmConfig, Provider, PushConfig, PushError, Pusher, ServiceAccount, Subscription, Wake,
    FCM_SCOPE,
};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
use rsa::sha2::Sha256;
use rsa::signature::Verifier as _;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

const PROJECT: &str = "callside-test";
const CLIENT_EMAIL: &str = "push@callside-test.iam.gserviceaccount.com";
const KEY_ID: &str = "0123456789abcdef";
const DEAD_TOKEN: &str = "dead-registration-token";

/// One 2048-bit key for the whole file: generating one takes a while in a debug build.
fn service_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap())
}

#[derive(Clone, Default)]
struct Log {
    /// Each token request's assertion problems (empty if it verified).
    token_requests: Vec<Vec<String>>,
    /// Each send: the project in the path, the bearer token and the body.
    sends: Vec<(String, String, Value)>,
}

#[derive(Clone)]
struct FakeGoogle {
    public_key: RsaPublicKey,
    token_uri: Arc<OnceLock<String>>,
    log: Arc<Mutex<Log>>,
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Verifies a JWT bearer assertion as Google's token endpoint does; returns its problems.
fn check_assertion(assertion: &str, public_key: &RsaPublicKey, token_uri: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return vec!["not a JWT".into()];
    };
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    if header["alg"] != "RS256" || header["kid"] != KEY_ID {
        errors.push(format!("header {header}"));
    }
    for (claim, expected) in [
        ("iss", CLIENT_EMAIL),
        ("scope", FCM_SCOPE),
        ("aud", token_uri),
    ] {
        if claims[claim] != expected {
            errors.push(format!("{claim} is {}", claims[claim]));
        }
    }
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    if (iat - now_secs()).abs() > 60 || exp - iat != 3600 {
        errors.push(format!("iat {iat}, exp {exp}"));
    }
    let signing_input = &assertion[..assertion.rfind('.').unwrap()];
    let verified = Signature::try_from(URL_SAFE_NO_PAD.decode(signature).unwrap().as_slice())
        .ok()
        .is_some_and(|sig| {
            VerifyingKey::<Sha256>::new(public_key.clone())
                .verify(signing_input.as_bytes(), &sig)
                .is_ok()
        });
    if !verified {
        errors.push("the signature does not verify".into());
    }
    errors
}

async fn token(
    State(fake): State<FakeGoogle>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut errors = Vec::new();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        errors.push(format!("grant_type {:?}", form.get("grant_type")));
    }
    let assertion = form.get("assertion").cloned().unwrap_or_default();
    errors.extend(check_assertion(
        &assertion,
        &fake.public_key,
        fake.token_uri.get().unwrap(),
    ));
    let mut log = fake.log.lock().unwrap();
    log.token_requests.push(errors.clone());
    if !errors.is_empty() {
        let body = json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let n = log.token_requests.len();
    Json(json!({"access_token": format!("ya29.test-{n}"), "expires_in": 3599, "token_type": "Bearer"}))
        .into_response()
}

async fn send(
    State(fake): State<FakeGoogle>,
    Path(project_and_verb): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let mut log = fake.log.lock().unwrap();
    let issued = format!("ya29.test-{}", log.token_requests.len());
    log.sends
        .push((project_and_verb.clone(), bearer.clone(), body.clone()));
    if bearer != issued {
        let error =
            json!({"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "bad token"}});
        return (StatusCode::UNAUTHORIZED, Json(error)).into_response();
    }
    if body["message"]["token"] == DEAD_TOKEN {
        let error = json!({"error": {
            "code": 404,
            "message": "Requested entity was not found.",
            "status": "NOT_FOUND",
            "details": [{
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": "UNREGISTERED"
            }]
        }});
        return (StatusCode::NOT_FOUND, Json(error)).into_response();
    }
    Json(json!({"name": format!("projects/{PROJECT}/messages/{}", log.sends.len())}))
        .into_response()
}

struct Setup {
    pusher: Pusher,
    log: Arc<Mutex<Log>>,
}

/// Starts the fake token endpoint and send API; `signing_key` signs the assertions, while the
/// endpoint knows the public half of `service_key()`.
async fn setup(signing_key: &RsaPrivateKey) -> Setup {
    let fake = FakeGoogle {
        public_key: service_key().to_public_key(),
        token_uri: Arc::default(),
        log: Arc::default(),
    };
    let app = Router::new()
        .route("/token", post(token))
        .route("/v1/projects/{*project_and_verb}", post(send))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let token_uri = format!("{base}/token");
    fake.token_uri.set(token_uri.clone()).unwrap();

    let service_account = json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": KEY_ID,
        "private_key": signing_key.to_pkcs8_pem(LineEnding::LF).unwrap().as_str(),
        "client_email": CLIENT_EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    });
    let account = ServiceAccount::from_json(&service_account.to_string()).unwrap();
    assert_eq!(account.project_id(), PROJECT);
    let pusher = Pusher::new(PushConfig {
        fcm: Some(FcmConfig::new(account).with_api_base(&base).unwrap()),
        ..PushConfig::default()
    })
    .unwrap();
    Setup {
        pusher,
        log: fake.log,
    }
}

fn subscription(token: &str) -> Subscription {
    Subscription::Fcm {
        registration_token: token.into(),
    }
}

#[tokio::test]
async fn gets_one_access_token_and_sends_data_only_wake_ups() {
    let setup = setup(service_key()).await;
    let wake = Wake::new("0190a1b2c3d4-fcm").unwrap();

    let first = setup
        .pusher
        .send(&subscription("token-a"), &wake)
        .await
        .unwrap();
    let second = setup
        .pusher
        .send(&subscription("token-b"), &wake)
        .await
        .unwrap();

    assert_eq!(first.provider, Provider::Fcm);
    assert_eq!(
        second.message_id.as_deref(),
        Some("projects/callside-test/messages/2")
    );
    let log = setup.log.lock().unwrap().clone();
    // One token request, verified; both sends reuse its access token.
    assert_eq!(log.token_requests, vec![Vec::<String>::new()]);
    assert_eq!(log.sends.len(), 2);
    for ((project_and_verb, bearer, body), token) in log.sends.iter().zip(["token-a", "token-b"]) {
        assert_eq!(project_and_verb, "callside-test/messages:send");
        assert_eq!(bearer, "ya29.test-1");
        assert_eq!(
            body,
            &json!({"message": {
                "token": token,
                "data": {"t": "wake", "id": wake.id()},
                "android": {"priority": "HIGH", "ttl": "3600s"},
            }})
        );
    }
}

#[tokio::test]
async fn unregistered_is_gone() {
    let setup = setup(service_key()).await;
    let error = setup
        .pusher
        .send(&subscription(DEAD_TOKEN), &Wake::new("w").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PushError::Gone { provider: Provider::Fcm, reason } if reason.contains("UNREGISTERED")),
        "{error:?}"
    );
    assert!(error.should_remove_subscription());
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_is_rejected() {
    // The negative control: the token endpoint really verifies the assertion's signature.
    let other = RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let setup = setup(&other).await;
    let error = setup
        .pusher
        .send(&subscription("token-a"), &Wake::new("w").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PushError::Rejected { provider: Provider::Fcm, status: 400, reason } if reason.contains("invalid_grant")),
        "{error:?}"
    );
    let log = setup.log.lock().unwrap().clone();
    assert_eq!(
        log.token_requests,
        vec![vec!["the signature does not verify".to_owned()]]
    );
    assert!(log.sends.is_empty());
}
