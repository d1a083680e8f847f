//! In a cluster, the requests that reach call matching's state, and those whose limits one node
//! must count for the whole cluster ([`LEADER_ONLY`]), go to the node that leads
//! (`cluster::lead`). A follower forwards them whole and relays the answer; the leader runs them
//! through its own router.

use crate::app::AppState;
use crate::cluster::lead::{Answer, Forwarded, Handler, Unanswered};
use crate::http::error::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// Paths served by the leader: those reaching call matching's state, and those whose limits
/// guard money or secrets (SMS and mail sent, link codes guessed, TURN credentials, outbound
/// fetches, paid component offers), so that one node counts them for the whole cluster.
const LEADER_ONLY: [&str; 15] = [
    "/v1/legs",
    "/v1/network/",
    "/v1/invitations",
    "/v1/merchant",
    "/v1/agent",
    "/v1/clicks",
    "/v1/admin/merchants",
    "/v1/sms/inbound",
    "/v1/me/numbers/proofs",
    "/v1/devices",
    "/v1/me/emails",
    "/v1/me/browser-links",
    "/v1/browser/",
    "/v1/connection-data",
    "/v1/me/card/fetch",
];

/// Marks a request a follower forwarded (a request extension, which no client can set, unlike a
/// header): the node that gets it runs it, whatever it believes about who leads.
#[derive(Clone, Copy)]
struct ForwardedHere;

/// Larger bodies are not forwarded (NATS carries at most 1 MiB by default).
const MAX_BODY: usize = 512 * 1024;
/// The largest answer sent back, leaving room in NATS's 1 MiB for the headers.
const MAX_ANSWER: usize = 1000 * 1024;

/// Headers that belong to one hop.
const HOP: [&str; 6] = [
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
];

fn leader_only(path: &str) -> bool {
    // Component offers on a session (the authorization server's calls are limited per asker).
    let offers = path.starts_with("/v1/sessions/") && path.ends_with("/components");
    offers
        || LEADER_ONLY.iter().any(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || p.ends_with('/'))
        })
}

/// Middleware: runs the request here, or forwards it to the leader.
pub(crate) async fn to_leader(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let Some(lead) = app.lead.get() else {
        return next.run(req).await;
    };
    if lead.is_leader()
        || req.extensions().get::<ForwardedHere>().is_some()
        || !leader_only(req.uri().path())
    {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let client =
        crate::http::extract::client_address(peer, &app.config.trusted_proxies, req.headers());
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return ApiError::bad(
            "too_large",
            format!("at most {MAX_BODY} bytes for this route"),
        )
        .into_response();
    };
    let headers = end_to_end(&parts.headers);
    let request = Forwarded {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.to_string()),
        client,
        headers,
        body,
    };
    // Long polls wait at the leader: give them their time and a margin.
    let wait = app.config.long_poll_max + Duration::from_secs(10);
    match lead.forward(request, wait).await {
        Ok(answer) => response(answer),
        Err(e @ Unanswered::NoLeader) => {
            let mut r = ApiError::Unavailable.into_response();
            tracing::debug!(error = %e, "forwarding to the leader");
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(1));
            r
        }
        Err(e) => {
            tracing::warn!(error = %e, "forwarding to the leader");
            ApiError::Unavailable.into_response()
        }
    }
}

fn response(a: Answer) -> Response {
    let mut r = Response::new(Body::from(a.body));
    *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (k, v) in a.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            r.headers_mut().append(k, v);
        }
    }
    r
}

/// The leader's side: a forwarded request runs through `router` as if it had come here, from
/// the client's address.
pub(crate) fn handler(router: Router) -> Handler {
    Arc::new(move |f: Forwarded| {
        let router = router.clone();
        Box::pin(async move {
            let mut req = axum::http::Request::builder()
                .method(f.method.as_str())
                .uri(f.path.as_str());
            for (k, v) in &f.headers {
                if !HOP.contains(&k.as_str()) {
                    req = req.header(k.as_str(), v.as_str());
                }
            }
            let mut req = match req.body(Body::from(f.body)) {
                Ok(r) => r,
                Err(e) => {
                    let e = ApiError::bad(
                        "invalid_request",
                        format!("a malformed forwarded request: {e}"),
                    );
                    return answer_of(e.into_response()).await;
                }
            };
            req.extensions_mut().insert(ForwardedHere);
            if let Some(ip) = f.client {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(ip, 0)));
            }
            let res = match router.oneshot(req).await {
                Ok(res) => res,
                Err(never) => match never {},
            };
            answer_of(res).await
        })
    })
}

/// An answer as it crosses back to the follower. One larger than NATS carries (1 MiB by default)
/// would never arrive, and the follower would answer `503` after its wait: it is refused here,
/// at once, saying what to do.
async fn answer_of(res: Response) -> Answer {
    let (parts, body) = res.into_parts();
    let body = match axum::body::to_bytes(body, MAX_ANSWER).await {
        Ok(body) => body,
        Err(_) => {
            let e = ApiError::bad(
                "too_large_to_forward",
                format!(
                    "the answer is larger than the {MAX_ANSWER} bytes a cluster's nodes pass between them: ask for less at once (a smaller `limit`)"
                ),
            );
            return Box::pin(answer_of(e.into_response())).await;
        }
    };
    Answer {
        status: parts.status.as_u16(),
        headers: end_to_end(&parts.headers),
        body,
    }
}

/// The headers that cross to the other node: all but the hop's own (and those not text).
fn end_to_end(headers: &axum::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !HOP.contains(&name.as_str()))
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_leader_answers_with_its_router_and_refuses_an_answer_nats_cannot_carry() {
        let router = Router::new()
            .route(
                "/small",
                axum::routing::post(|body: String| async move { body }),
            )
            .route(
                "/large",
                axum::routing::get(|| async { "x".repeat(MAX_ANSWER + 1) }),
            );
        let run = handler(router);
        let ask = |method: &str, path: &str| Forwarded {
            method: method.into(),
            path: path.into(),
            client: None,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: bytes::Bytes::from_static(b"hello"),
        };
        let small = run(ask("POST", "/small")).await;
        assert_eq!((small.status, &small.body[..]), (200, &b"hello"[..]));
        let large = run(ask("GET", "/large")).await;
        assert_eq!(large.status, 400);
        let problem: serde_json::Value = serde_json::from_slice(&large.body).unwrap();
        assert_eq!(problem["code"], "too_large_to_forward");
    }

    #[test]
    fn the_matching_routes_go_to_the_leader_and_nothing_else() {
        for path in [
            "/v1/legs",
            "/v1/legs/leg_1/answer",
            "/v1/network/calls",
            "/v1/invitations/inv_1/accept",
            "/v1/merchant/calls",
            "/v1/agent/board",
            "/v1/clicks",
            "/v1/admin/merchants",
            "/v1/sms/inbound",
            "/v1/me/numbers/proofs/prf_1/complete",
            "/v1/browser/link",
            "/v1/sessions/sk_1/components",
            "/v1/connection-data",
        ] {
            assert!(leader_only(path), "{path}");
        }
        for path in [
            "/v1/sessions/sk_1/messages",
            "/v1/sessions/sk_1/components/cmp_1/installed",
            "/v1/me/numbers/+442079460001",
            "/v1/ws",
            "/v1/me",
            "/v1/legsx",
            "/v1/merchants",
            "/v1/admin/devices",
            "/healthz",
        ] {
            assert!(!leader_only(path), "{path}");
        }
    }
}
