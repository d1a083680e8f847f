//! The HTTP edge: the router, errors as problem documents, extractors, the WebSocket loop, the
//! OpenAPI document, and the wire mapping shared by the domains' `http.rs` files. This folder and
//! the `http.rs` files are the only code that names `axum` or `callside_proto`.

mod app_assets;
mod docs;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod lead;
pub(crate) mod openapi;
pub(crate) mod ops;
pub(crate) mod screen_map;
pub(crate) mod screen_wire;
pub(crate) mod wire;
pub(crate) mod ws;

use crate::admin::http as admin;
use crate::app::AppState;
use crate::blobs::http as blobs;
use crate::calls::http as calls;
use crate::cards::http as cards;
use crate::components::http as components;
use crate::connect::http as connect;
use crate::identity::http as identity;
use crate::invitations::http as invitations;
use crate::merchants::centre::http as centre;
use crate::merchants::http as merchants;
use crate::push::http as push;
use crate::screens::http as screens;
use crate::sessions::http as sessions;
use axum::routing::{get, post};
use axum::Router;
use callside_core::SessionKey;
use error::ApiError;
use serde::Deserialize;
use std::time::Duration;

/// A page size: 1 to `max` (default `max`); anything else is refused, not silently clamped.
pub(crate) fn check_limit(limit: Option<u32>, max: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(max),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad(
            "invalid_query",
            format!("limit {n} is out of range: give 1 to {max}"),
        )),
    }
}

/// A session key from a path; one that cannot be a key is a session that does not exist.
pub(crate) fn key(s: &str) -> Result<SessionKey, ApiError> {
    SessionKey::parse(s).ok_or(ApiError::NotFound("session"))
}

/// How long a long-poll may wait: what the client asked, capped by the server.
pub(crate) fn wait(app: &AppState, secs: Option<u64>) -> Duration {
    Duration::from_secs(secs.unwrap_or(0)).min(app.config.long_poll_max)
}

/// Runs a long-poll that waits up to what the client asked (capped by the server); when the
/// server begins to shut down it stops waiting and answers with what there is now, so shutdown
/// is not held up by clients waiting for news.
pub(crate) async fn long_poll<T, F, Fut>(app: &AppState, secs: Option<u64>, poll: F) -> T
where
    F: Fn(Duration) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let wait = wait(app, secs);
    if wait.is_zero() {
        return poll(Duration::ZERO).await;
    }
    let stop = app.supervisor.token().clone();
    tokio::select! {
        r = poll(wait) => r,
        _ = stop.cancelled() => poll(Duration::ZERO).await,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct WaitQuery {
    /// Seconds to wait for a change (long-poll), capped by the server.
    pub(crate) wait: Option<u64>,
}

/// The HTTP API.
pub fn router(app: AppState) -> Router {
    let v1 = Router::new()
        .route("/me", get(identity::me))
        .route("/me/token", post(identity::rotate_own_token))
        .route("/me/browser-links", post(identity::create_browser_link))
        .route("/me/browsers", get(identity::list_browsers))
        .route(
            "/me/browsers/{id}",
            axum::routing::delete(identity::unlink_browser),
        )
        .route(
            "/browser",
            axum::routing::delete(identity::sign_out_browser),
        )
        .route("/browser/link", post(identity::link_browser))
        .route("/browser/refresh", post(identity::refresh_browser))
        .route("/ws/tickets", post(identity::ws_ticket))
        .route(
            "/me/coupling",
            get(identity::get_coupling).put(identity::put_coupling),
        )
        .route("/me/near", post(identity::post_near))
        .route("/me/numbers/proofs", post(identity::start_proof))
        .route("/me/numbers/proofs/{id}", get(identity::get_proof))
        .route(
            "/me/numbers/proofs/{id}/complete",
            post(identity::complete_proof),
        )
        .route(
            "/me/numbers/{number}",
            axum::routing::delete(identity::unbind_number),
        )
        .route("/devices", post(identity::enroll_device))
        .route("/connection-data", get(connect::connection_data))
        .route("/me/push", post(push::register_push).get(push::list_push))
        .route("/me/push/{id}", axum::routing::delete(push::delete_push))
        .route(
            "/me/card",
            get(cards::get_card)
                .put(cards::put_card)
                .delete(cards::delete_card),
        )
        .route(
            "/me/audiences",
            get(cards::get_audiences).put(cards::put_audiences),
        )
        .route("/me/card/fetch", post(cards::fetch_card))
        .route("/me/card-cache", axum::routing::put(cards::put_card_cache))
        .route(
            "/me/card-policy",
            get(cards::get_card_policy).put(cards::put_card_policy),
        )
        .route(
            "/me/screen",
            get(screens::get_screen)
                .put(screens::put_screen)
                .delete(screens::delete_screen),
        )
        .route("/me/emails", post(identity::add_email))
        .route(
            "/me/emails/validations/{id}",
            get(identity::get_email_validation),
        )
        .route(
            "/me/emails/validations/{id}/complete",
            post(identity::complete_email),
        )
        .route(
            "/me/emails/{email}",
            axum::routing::delete(identity::remove_email),
        )
        .route(
            "/invitations",
            post(invitations::create_invitation).get(invitations::list_invitations),
        )
        .route("/invitations/{id}", get(invitations::get_invitation))
        .route(
            "/invitations/{id}/accept",
            post(invitations::accept_invitation),
        )
        .route(
            "/invitations/{id}/decline",
            post(invitations::decline_invitation),
        )
        .route(
            "/invitations/{id}/cancel",
            post(invitations::cancel_invitation),
        )
        .route(
            "/sms/inbound",
            get(identity::inbound_sms_query).post(identity::inbound_sms_json),
        )
        .route(
            "/admin/devices",
            post(admin::create_device).get(admin::list_devices),
        )
        .route(
            "/admin/devices/{id}",
            axum::routing::delete(admin::delete_device),
        )
        .route(
            "/admin/devices/{id}/token",
            post(admin::rotate_device_token),
        )
        .route("/admin/devices/{id}/export", get(admin::export_device))
        .route("/admin/devices/{id}/erase", post(admin::erase_device))
        .route("/me/export", get(admin::export_me))
        .route(
            "/admin/devices/{id}/browser-links",
            post(identity::admin_browser_link),
        )
        .route(
            "/admin/service-accounts",
            post(admin::create_service_account).get(admin::list_service_accounts),
        )
        .route(
            "/admin/service-accounts/{id}",
            axum::routing::delete(admin::delete_service_account),
        )
        .route(
            "/admin/service-accounts/{id}/token",
            post(admin::rotate_service_token),
        )
        .route("/admin/audit", get(admin::audit_log))
        .route("/admin/tokens/unused", get(admin::unused_tokens))
        .route(
            "/admin/components/{id}",
            axum::routing::put(components::put_component).delete(components::delete_component),
        )
        .route("/admin/merchants", post(merchants::create_merchant))
        .route("/admin/merchants/{id}", get(merchants::get_merchant))
        .route(
            "/admin/merchants/{id}/button-secret",
            post(merchants::rotate_button_secret),
        )
        .route("/merchant", get(merchants::me))
        .route("/merchant/links", get(merchants::list_links))
        .route(
            "/merchant/links/{id}",
            axum::routing::put(merchants::put_link).delete(merchants::delete_link),
        )
        .route("/merchant/pages", get(merchants::list_pages))
        .route(
            "/merchant/pages/{code}",
            axum::routing::put(merchants::put_page).delete(merchants::delete_page),
        )
        .route(
            "/merchant/routing",
            get(merchants::get_routing).put(merchants::put_routing),
        )
        .route("/merchant/routing/dry-run", post(merchants::dry_run))
        .route("/merchant/calls", get(merchants::list_calls))
        .route("/merchant/calls/{id}", get(merchants::get_call))
        .route("/merchant/calls/{id}/state", post(merchants::call_state))
        .route("/clicks", post(merchants::click))
        .route("/clicks/{id}", get(centre::visitor_call))
        .route("/clicks/{id}/hangup", post(centre::visitor_hangup))
        .route("/clicks/{id}/pages/{code}", get(centre::visitor_page))
        .route("/merchant/agents", get(centre::list_agents))
        .route(
            "/merchant/agents/{id}",
            axum::routing::put(centre::put_agent).delete(centre::delete_agent),
        )
        .route("/agent/presence", post(centre::set_presence))
        .route("/agent/call", get(centre::agent_call))
        .route("/agent/calls/{id}/accept", post(centre::accept_call))
        .route("/agent/calls/{id}/decline", post(centre::decline_call))
        .route("/agent/calls/{id}/end", post(centre::end_call))
        .route("/agent/calls/{id}/push", post(centre::push_page))
        .route("/agent/pages", get(centre::agent_pages))
        .route("/agent/board", get(centre::agent_board))
        .route("/agent/channels", post(centre::join_channel))
        .route("/merchant/board", get(centre::merchant_board))
        .route(
            "/merchant/webhook",
            get(merchants::get_webhook)
                .put(merchants::put_webhook)
                .delete(merchants::delete_webhook),
        )
        .route("/components", get(components::list_components))
        .route("/components/{id}", get(components::get_component))
        .route(
            "/me/capabilities",
            get(components::get_capabilities).put(components::put_capabilities),
        )
        .route(
            "/sessions/{key}/capabilities",
            get(components::session_capabilities),
        )
        .route(
            "/sessions/{key}/components",
            post(components::offer_component),
        )
        .route(
            "/sessions/{key}/components/{id}/installed",
            post(components::confirm_installed),
        )
        .route("/legs/{id}/component", post(components::leg_component))
        .route("/legs", post(calls::report_leg))
        .route("/legs/{id}", get(calls::get_leg))
        .route("/legs/{id}/answer", post(calls::answer_leg))
        .route("/legs/{id}/end", post(calls::end_leg))
        .route("/legs/{id}/note", post(calls::leave_note))
        .route("/me/call-log", get(calls::call_log))
        .route("/passports", post(calls::sign_passport))
        .route("/network/calls", post(calls::network_call))
        .route("/network/calls/batch", post(calls::network_calls))
        .route("/network/click-to-dial", post(calls::click_to_dial))
        .route("/sessions/{key}/end-call", post(calls::end_call))
        .route("/sessions", get(sessions::list_sessions))
        .route("/sessions/{key}", get(sessions::get_session))
        .route("/sessions/{key}/close", post(sessions::close_session))
        .route("/sessions/{key}/transfer", post(sessions::transfer_session))
        .route(
            "/sessions/{key}/history",
            axum::routing::put(sessions::set_history),
        )
        .route(
            "/sessions/{key}/messages",
            post(sessions::send_message).get(sessions::list_messages),
        )
        .route("/sessions/{key}/ack", post(sessions::ack))
        .route(
            "/blobs",
            post(blobs::upload_blob).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/blobs/{id}", get(blobs::download_blob))
        .route("/ws", get(ws::upgrade))
        .route("/openapi.json", get(ops::serve));
    let access_level = if app.config.log.access {
        tracing::Level::INFO
    } else {
        tracing::Level::DEBUG
    };
    let v1 = match cors(&app.config.browsers.origins) {
        Some(layer) => v1.layer(layer),
        None => v1,
    };
    Router::new()
        .nest("/v1", v1)
        .route("/app", get(app_assets::app_root))
        .route("/app/", get(app_assets::app_index))
        .route("/app/{file}", get(app_assets::app_file))
        .route("/agent", get(app_assets::agent_root))
        .route("/agent/", get(app_assets::agent_index))
        .route("/agent/{file}", get(app_assets::agent_file))
        .route("/call", get(app_assets::call_root))
        .route("/call/", get(app_assets::call_index))
        .route("/call/{file}", get(app_assets::call_file))
        .route("/loader.js", get(app_assets::loader))
        .route("/healthz", get(ops::healthz))
        .route("/docs", get(docs::page))
        .route("/.well-known/jwks.json", get(ops::jwks))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { error::ApiError::NotFound("route") })
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            lead::to_leader,
        ))
        .layer(axum::middleware::from_fn_with_state(app.clone(), measure))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<_>| {
                    // The path only: query strings may carry a WebSocket ticket.
                    let route = req
                        .extensions()
                        .get::<axum::extract::MatchedPath>()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_else(|| req.uri().path().to_owned());
                    tracing::info_span!("http", method = %req.method(), route)
                })
                // The access log: one line per answered request, with its status and latency.
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .level(access_level)
                        .latency_unit(tower_http::LatencyUnit::Millis),
                )
                // A 5xx answer is not by itself a fault (503 for a feature this deployment lacks
                // is expected): warn. Server faults are logged at ERROR where they happen.
                .on_failure(
                    tower_http::trace::DefaultOnFailure::new()
                        .level(tracing::Level::WARN)
                        .latency_unit(tower_http::LatencyUnit::Millis),
                ),
        )
        .with_state(app)
}

/// CORS for the API when `[browsers] origins` lists pages of other origins that call it: bearer
/// tokens in headers (no cookies, so no credentials mode), the API's methods, `Retry-After`
/// readable. `None` when no origin is allowed (the companion app at `/app/` is same-origin).
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{header, HeaderValue, Method};
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::RANGE])
            .expose_headers([header::RETRY_AFTER, header::CONTENT_RANGE, header::ETAG])
            .max_age(Duration::from_secs(3600)),
    )
}

/// Times every answered request by its route pattern (never the path: ids and keys stay out of
/// the metrics) and counts error answers by their code.
async fn measure(
    axum::extract::State(app): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let res = next.run(req).await;
    let status = res.status();
    let route = route.as_deref().unwrap_or("(no route)");
    // A WebSocket's time is its whole life: only its upgrade answer is timed here.
    app.metrics
        .request(method.as_str(), route, status.as_u16(), started.elapsed());
    if status.is_client_error() || status.is_server_error() {
        let code = res
            .extensions()
            .get::<error::ErrorCode>()
            .map_or_else(|| status.as_u16().to_string(), |c| c.0.to_owned());
        app.metrics.error(&code);
    }
    res
}

/// The metrics listener's routes: `/metrics` without a token, nothing else.
pub(crate) fn metrics_router(app: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::open_metrics))
        .fallback(|| async { error::ApiError::NotFound("route") })
        .with_state(app)
}

/// How long requests in progress may take to finish once shutdown began.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What each listener allows its clients.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// Connections served at once; the next is accepted when one closes.
    pub(crate) connections: usize,
    /// Time to send a request's headers (hyper closes the connection after it).
    pub(crate) header_read: Duration,
}

/// Serves `router` on `listener` until `stop` is cancelled, then lets requests in progress finish
/// (within [`SHUTDOWN_GRACE`]).
///
/// Its own accept loop over hyper (not `axum::serve`) for two limits axum's leaves out: at most
/// `limits.connections` connections are served at once (the rest wait in the kernel's backlog),
/// and a client that does not send its headers within `limits.header_read` is disconnected (a
/// trickling client would otherwise hold a connection, and a task, forever).
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    stop: tokio_util::sync::CancellationToken,
    limits: ConnLimits,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use tower::ServiceExt as _;

    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    // CONNECT (RFC 8441) carries WebSockets over HTTP/2.
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(limits.connections.max(1)));
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.cancelled() => break,
        };
        let (tcp, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        // Without TCP_NODELAY small replies on kept-alive connections stall (Nagle).
        let _ = tcp.set_nodelay(true);
        let service = router.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(remote));
                req.map(axum::body::Body::new)
            },
        );
        let conn = builder
            .serve_connection_with_upgrades(
                TokioIo::new(tcp),
                hyper_util::service::TowerToHyperService::new(service),
            )
            .into_owned();
        let conn = graceful.watch(conn);
        connections.spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    connections.close();
    // Requests in progress get a few seconds to finish; a client that never finishes sending
    // its request (or never reads the answer) does not hold the shutdown up beyond that.
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!(
            grace_secs = SHUTDOWN_GRACE.as_secs(),
            "connections still open after the shutdown grace period; closing them"
        ),
    }
}
