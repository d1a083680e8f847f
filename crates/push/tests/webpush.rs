//! Web Push end to end against an independent receiver: `webpush_receiver.py` plays the push
//! service and the browser (VAPID checked with `cryptography`, the body decrypted with `http_ece`),
//! so a mistake in callside's RFC 8291 or RFC 8292 code cannot be agreed with by itself.
//!
//! Needs python3 with `http-ece` and `cryptography` (`scripts/install-deps` installs them).

use callside_push::{
    Provider, PushConfig, PushError, Pusher, RetryPolicy, Subscription, VapidKey, Wake,
    WebPushConfig,
};
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A running receiver: its subscription and its reports.
struct Receiver {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    port: u16,
    p256dh: String,
    auth: String,
}

impl Receiver {
    /// Starts the receiver answering with `statuses` in turn, and `Retry-After: retry_after`.
    async fn start(statuses: &str, retry_after: Option<u64>) -> Receiver {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webpush_receiver.py");
        let mut command = Command::new("python3");
        command
            .arg(script)
            .args(["--statuses", statuses])
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if let Some(seconds) = retry_after {
            command.args(["--retry-after", &seconds.to_string()]);
        }
        let mut child = command
            .spawn()
            .expect("python3 runs (scripts/install-deps installs what the receiver needs)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the receiver starts within 20 s")
            .unwrap()
            .expect("the receiver prints its subscription (is http-ece installed? run scripts/install-deps)");
        let hello: Value = serde_json::from_str(&first).unwrap();
        Receiver {
            _child: child,
            lines,
            port: hello["port"].as_u64().unwrap() as u16,
            p256dh: hello["p256dh"].as_str().unwrap().to_owned(),
            auth: hello["auth"].as_str().unwrap().to_owned(),
        }
    }

    fn subscription(&self, path: &str) -> Subscription {
        Subscription::WebPush {
            endpoint: format!("http://127.0.0.1:{}{path}", self.port),
            p256dh: self.p256dh.clone(),
            auth: self.auth.clone(),
        }
    }

    /// The next request's report.
    async fn report(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line())
            .await
            .expect("a report within 10 s")
            .unwrap()
            .expect("the receiver is running");
        serde_json::from_str(&line).unwrap()
    }
}

fn pusher() -> Pusher {
    let config = WebPushConfig::new(VapidKey::generate(), "mailto:ops@callside.test")
        .unwrap()
        .with_ttl(Duration::from_secs(90))
        .allow_http_endpoints();
    Pusher::new(PushConfig {
        web_push: Some(config),
        ..PushConfig::default()
    })
    .unwrap()
}

fn fast_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
    }
}

/// Asserts that the receiver verified everything and decrypted exactly `wake`'s JSON.
fn assert_verified(report: &Value, pusher: &Pusher, wake: &Wake) {
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    assert_eq!(report["k"].as_str(), pusher.vapid_public_key());
    assert_eq!(report["payload"].as_str(), Some(wake.to_json().as_str()));
    let payload: Value = serde_json::from_str(report["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload, serde_json::json!({"t": "wake", "id": wake.id()}));
}

#[tokio::test]
async fn an_independent_receiver_verifies_vapid_and_decrypts_exactly_the_wake_up() {
    let mut receiver = Receiver::start("201", None).await;
    let pusher = pusher();
    let wake = Wake::new("0190a1b2c3d4-k7Qx").unwrap();

    let delivered = pusher
        .send(&receiver.subscription("/wpush/v2/abc"), &wake)
        .await
        .unwrap();

    let report = receiver.report().await;
    assert_verified(&report, &pusher, &wake);
    assert_eq!(report["path"], "/wpush/v2/abc");
    assert_eq!(
        report["claims"]["aud"],
        format!("http://127.0.0.1:{}", receiver.port)
    );
    assert_eq!(report["claims"]["sub"], "mailto:ops@callside.test");
    assert_eq!(report["headers"]["TTL"], "90");
    assert_eq!(report["headers"]["Urgency"], "high");
    assert_eq!(delivered.provider, Provider::WebPush);
    assert_eq!(
        delivered.message_id,
        Some(format!(
            "http://127.0.0.1:{}/message/{}",
            receiver.port, report["body_len"]
        ))
    );

    // Another id, same padded length: the ciphertext's size does not tell ids apart.
    let other = Wake::new("x").unwrap();
    pusher
        .send(&receiver.subscription("/wpush/v2/abc"), &other)
        .await
        .unwrap();
    let second = receiver.report().await;
    assert_verified(&second, &pusher, &other);
    assert_eq!(second["body_len"], report["body_len"]);
}

#[tokio::test]
async fn the_receiver_notices_a_body_encrypted_to_other_keys() {
    // The negative control: with someone else's auth secret, the receiver must fail to decrypt.
    let mut receiver = Receiver::start("201", None).await;
    let Subscription::WebPush {
        endpoint, p256dh, ..
    } = receiver.subscription("/x")
    else {
        unreachable!()
    };
    let wrong = Subscription::WebPush {
        endpoint,
        p256dh,
        auth: "AAAAAAAAAAAAAAAAAAAAAA".into(),
    };
    pusher()
        .send(&wrong, &Wake::new("w1").unwrap())
        .await
        .unwrap();
    let report = receiver.report().await;
    assert_eq!(report["payload"], Value::Null);
    let errors = report["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("does not decrypt")),
        "{report}"
    );
}

#[tokio::test]
async fn a_410_means_the_subscription_is_gone() {
    let mut receiver = Receiver::start("410", None).await;
    let pusher = pusher();
    let wake = Wake::new("w2").unwrap();

    let error = pusher
        .send_with_retry(&receiver.subscription("/gone"), &wake, &fast_retries(3))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, PushError::Gone { provider: Provider::WebPush, reason } if reason.starts_with("410")),
        "{error:?}"
    );
    assert!(error.should_remove_subscription());
    assert_verified(&receiver.report().await, &pusher, &wake);
    // Gone is final: no second attempt reached the receiver.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), receiver.report())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_503_is_retryable_and_the_retry_succeeds() {
    let pusher = pusher();
    let wake = Wake::new("w3").unwrap();

    // One attempt: a 503 with Retry-After is retryable and carries the delay.
    let mut receiver = Receiver::start("503,201", Some(0)).await;
    let error = pusher
        .send(&receiver.subscription("/busy"), &wake)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        PushError::Retryable {
            provider: Provider::WebPush,
            reason: "503 ".into(),
            retry_after: Some(Duration::ZERO),
        }
    );
    receiver.report().await;

    // With retries: 503, then 201.
    let mut receiver = Receiver::start("503,201", Some(0)).await;
    let delivered = pusher
        .send_with_retry(&receiver.subscription("/busy"), &wake, &fast_retries(3))
        .await
        .unwrap();
    assert_eq!(delivered.provider, Provider::WebPush);
    let first = receiver.report().await;
    let second = receiver.report().await;
    assert_eq!(
        (first["status"].as_u64(), second["status"].as_u64()),
        (Some(503), Some(201))
    );
    assert_verified(&first, &pusher, &wake);
    assert_verified(&second, &pusher, &wake);
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_is_left_to_the_caller() {
    let mut receiver = Receiver::start("429", Some(3600)).await;
    let error = pusher()
        .send_with_retry(
            &receiver.subscription("/slow"),
            &Wake::new("w4").unwrap(),
            &fast_retries(5),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, PushError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(3600)),
        "{error:?}"
    );
    receiver.report().await;
    assert!(
        tokio::time::timeout(Duration::from_millis(200), receiver.report())
            .await
            .is_err(),
        "no second attempt"
    );
}

#[tokio::test]
async fn unconfigured_and_malformed_subscriptions_fail_without_a_request() {
    let no_web_push = Pusher::new(PushConfig::default()).unwrap();
    let sub = Subscription::WebPush {
        endpoint: "https://push.example/x".into(),
        p256dh: "BAAA".into(),
        auth: "AAAA".into(),
    };
    let wake = Wake::new("w5").unwrap();
    assert_eq!(
        no_web_push.send(&sub, &wake).await,
        Err(PushError::NotConfigured(Provider::WebPush))
    );
    let error = pusher().send(&sub, &wake).await.unwrap_err();
    assert!(
        matches!(error, PushError::InvalidSubscription { .. }),
        "{error:?}"
    );
    assert_eq!(pusher().check(&sub), Err(error));
}
