//! URLs that users chose (Web Push endpoints, cards by reference): checked so the server never
//! talks to itself or the operator's network, and fetched through a public-only resolver so a
//! name re-pointed later (DNS rebinding) gets nothing either.

use std::net::IpAddr;

/// Why a URL was refused, in words that finish "the URL …".
pub(crate) type Refusal = &'static str;

/// Parses `url` and, unless `allow_private`, requires https (on port 443 when `port_443`) and a
/// host whose every address is public (resolved now).
pub(crate) async fn check_public_url(
    url: &str,
    allow_private: bool,
    port_443: bool,
) -> Result<reqwest::Url, Refusal> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "is not a URL")?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err("must be https");
    }
    if allow_private {
        return Ok(parsed);
    }
    if parsed.scheme() != "https" {
        return Err("must be https");
    }
    if port_443 && parsed.port().is_some_and(|p| p != 443) {
        return Err("must use port 443");
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => vec![ip.into()],
        Some(url::Host::Ipv6(ip)) => vec![ip.into()],
        Some(url::Host::Domain(d)) => tokio::net::lookup_host((d, port))
            .await
            .map_err(|_| "has a host name that does not resolve")?
            .map(|a| a.ip())
            .collect(),
        None => vec![],
    };
    if addresses.is_empty() || !addresses.into_iter().all(callside_push::is_public_address) {
        return Err("must not point at a private or loopback address");
    }
    Ok(parsed)
}

/// An HTTP client for users' URLs: public addresses only (unless allowed), no redirects.
pub(crate) fn client(allow_private: bool, timeout: std::time::Duration) -> reqwest::Client {
    let b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none());
    let b = if allow_private {
        b
    } else {
        b.dns_resolver(std::sync::Arc::new(callside_push::PublicOnlyResolver))
    };
    b.build().expect("an HTTP client with default TLS settings")
}
