//! Extractors: the authenticated caller, the peer address, and JSON bodies and query strings
//! whose rejections are problem documents.

use super::error::ApiError;
use crate::app::AppState;
use crate::identity::auth::AuthError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use callside_core::{Principal, Token};
use std::collections::HashMap;
use std::sync::Arc;

/// The authenticated principal of a request.
pub(crate) struct Caller(pub(crate) Arc<Principal>);

impl Caller {
    pub(crate) fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "admin_only",
                "this needs the operator's admin token".into(),
            ))
        }
    }
}

/// The bearer token of a request: `None` without an Authorization header, an error for a header
/// that is not `Bearer <visible ASCII>`.
pub(crate) fn bearer(parts: &Parts) -> Result<Option<Token>, AuthError> {
    let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer")
        || token.is_empty()
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(AuthError::Malformed);
    }
    Ok(Some(Token::from_presented(token)))
}

/// The bearer token a request must carry.
fn required(parts: &Parts) -> Result<Token, AuthError> {
    bearer(parts)?.ok_or(AuthError::Missing)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = required(parts)?;
        Ok(Caller(app.auth.resolve(&token).await?))
    }
}

/// The authenticated caller with the browser it acts through, if any (a browser's token).
pub(crate) struct Credential(pub(crate) crate::identity::auth::Resolved);

impl FromRequestParts<AppState> for Credential {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = required(parts)?;
        Ok(Credential(app.auth.resolve_credential(&token).await?))
    }
}

/// The authenticated principal itself, not a browser linked to it: for what manages a device's
/// identity (its token, numbers, addresses and linked browsers).
pub(crate) struct Owner(pub(crate) Arc<Principal>);

impl FromRequestParts<AppState> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Credential(who) = Credential::from_request_parts(parts, app).await?;
        if who.browser.is_some() {
            return Err(ApiError::Forbidden(
                "device_only",
                "a browser cannot do this: use the device it is linked to".into(),
            ));
        }
        Ok(Owner(who.principal))
    }
}

/// The client's address: the peer of the socket, or — when the peer is a trusted reverse proxy
/// (`trusted_proxies`) — the address its `X-Forwarded-For` names: the rightmost one that is not
/// itself a trusted proxy (what a client puts further left, it could have made up).
pub(crate) struct Source(pub(crate) Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Source(client_address(
            peer,
            &app.config.trusted_proxies,
            &parts.headers,
        )))
    }
}

pub(crate) fn client_address(
    peer: Option<std::net::IpAddr>,
    trusted: &[ipnet::IpNet],
    headers: &axum::http::HeaderMap,
) -> Option<std::net::IpAddr> {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    let peer = peer?;
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut chain = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return Some(peer);
        };
        for part in value.split(',') {
            match part.trim().parse::<std::net::IpAddr>() {
                Ok(ip) => chain.push(ip),
                // A header we cannot read names nobody.
                Err(_) => return Some(peer),
            }
        }
    }
    Some(
        chain
            .iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .or(chain.first())
            .copied()
            .unwrap_or(peer),
    )
}

/// A principal authenticated by a bearer header or, for SMS gateways that cannot set headers
/// (Kannel's `get-url`), a `token` query parameter.
pub(crate) struct GatewayCaller(pub(crate) Arc<Principal>);

impl FromRequestParts<AppState> for GatewayCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?
            .or_else(|| {
                let axum::extract::Query(q) =
                    axum::extract::Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
                        .ok()?;
                q.get("token").map(|t| Token::from_presented(t))
            })
            .filter(|t| !t.expose().is_empty())
            .ok_or(ApiError::Unauthenticated)?;
        Ok(GatewayCaller(app.auth.resolve(&token).await?))
    }
}

/// A JSON body extractor whose rejection is a problem document, not axum's plain text.
pub(crate) struct Json<T>(pub(crate) T);

impl<T, S> axum::extract::FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::bad(
                "invalid_json",
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| ApiError::bad("invalid_json", rejection.body_text()))?;
        // Every request body of this API is a JSON object. serde would also fill a struct from
        // an array of its fields in order (`[]` for one whose fields all have defaults), which
        // the API description does not allow.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::bad(
                "invalid_json",
                "the request body must be a JSON object",
            ));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(ApiError::bad("invalid_json", rejection.body_text())),
        }
    }
}

/// Whether the request says its body is JSON: `application/json` or `application/<x>+json`.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

/// Query strings with the same treatment.
pub(crate) struct Query<T>(pub(crate) T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(rejection) => Err(ApiError::bad("invalid_query", rejection.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::client_address;
    use axum::http::HeaderMap;

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| Some(s.parse().unwrap());
        let headers = |v: &[&str]| {
            let mut h = HeaderMap::new();
            for x in v {
                h.append("x-forwarded-for", x.parse().unwrap());
            }
            h
        };
        // Not from a proxy: the header is the client's say-so and is ignored.
        assert_eq!(
            client_address(ip("203.0.113.9"), &trusted, &headers(&["1.2.3.4"])),
            ip("203.0.113.9")
        );
        // From a proxy: the rightmost address that is not a proxy.
        assert_eq!(
            client_address(ip("10.0.0.2"), &trusted, &headers(&["1.2.3.4"])),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_address(
                ip("10.0.0.2"),
                &trusted,
                &headers(&["6.6.6.6, 198.51.100.7", "10.0.0.5"])
            ),
            ip("198.51.100.7"),
            "a made-up address further left is not believed"
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &trusted, &headers(&[])),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &trusted, &headers(&["junk"])),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &trusted, &headers(&["10.0.0.7"])),
            ip("10.0.0.7")
        );
        assert_eq!(client_address(None, &trusted, &headers(&["1.2.3.4"])), None);
    }
}
