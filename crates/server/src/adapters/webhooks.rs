//! Calls to the operator's webhooks (transformers, the authorization server): JSON posted with an
//! HMAC-SHA256 signature, `X-Callside-Signature: t=<unix seconds>,id=<delivery>,v1=<hex of
//! HMAC(secret, "<t>.<delivery>.<url>.<body>")>`, so the receiver can check that callside sent
//! it, when, to which of its URLs, and see a replay of a delivery it already had (the id is also
//! in `X-Callside-Delivery`). Operator URLs may be private, so the client is
//! [`super::net::client`] with private addresses allowed (and no redirects).

use crate::clock::now_ms;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature header value for delivery `id` of `body` to `url` at `t` (Unix seconds).
pub(crate) fn signature(secret: &str, t: i64, id: &str, url: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{t}.{id}.{url}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},id={id},v1={hex}")
}

/// Posts JSON `body` to `url` with the signature header, as a new delivery.
pub(crate) async fn post_signed(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    body: String,
) -> reqwest::Result<reqwest::Response> {
    let now = now_ms();
    let t = now / 1000;
    let id = callside_core::secret::new_id("dlv", now);
    http.post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(
            "X-Callside-Signature",
            signature(secret, t, &id, url, &body),
        )
        .header("X-Callside-Delivery", &id)
        .body(body)
        .send()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_time_delivery_url_and_body() {
        let (k, t, id, url) = (
            "0123456789abcdef",
            1_700_000_000,
            "dlv_1",
            "https://a.example/t",
        );
        let s = signature(k, t, id, url, "{}");
        assert!(s.starts_with("t=1700000000,id=dlv_1,v1="));
        assert_eq!(s.len(), "t=1700000000,id=dlv_1,v1=".len() + 64);
        assert_ne!(s, signature(k, t + 1, id, url, "{}"));
        assert_ne!(s, signature(k, t, "dlv_2", url, "{}"));
        assert_ne!(s, signature(k, t, id, "https://b.example/t", "{}"));
        assert_ne!(s, signature(k, t, id, url, "{ }"));
        assert_ne!(s, signature("fedcba9876543210", t, id, url, "{}"));
    }
}
