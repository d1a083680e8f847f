//! Calls to the operator's webhooks (transformers, the authorization server): JSON posted with an
//! HMAC-SHA256 signature, `X-Callside-Signature: t=<unix seconds>,v1=<hex of HMAC(secret,
//! "<t>.<body>")>`, so the receiver can check that callside sent it and when. Operator URLs may be
//! private, so the client is [`super::net::client`] with private addresses allowed (and no
//! redirects).

use crate::clock::now_ms;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature header value for `body` at `t` (Unix seconds).
pub(crate) fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// Posts JSON `body` to `url` with the signature header.
pub(crate) async fn post_signed(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    body: String,
) -> reqwest::Result<reqwest::Response> {
    let t = now_ms() / 1000;
    http.post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Callside-Signature", signature(secret, t, &body))
        .body(body)
        .send()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_time_and_body() {
        let s = signature("0123456789abcdef", 1_700_000_000, "{}");
        assert!(s.starts_with("t=1700000000,v1="));
        assert_eq!(s.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(s, signature("0123456789abcdef", 1_700_000_001, "{}"));
        assert_ne!(s, signature("0123456789abcdef", 1_700_000_000, "{ }"));
        assert_ne!(s, signature("fedcba9876543210", 1_700_000_000, "{}"));
    }
}
