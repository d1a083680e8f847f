//! The application: shared state, the router, and the background tasks.

use crate::auth::AuthCache;
use crate::calls::Calls;
use crate::components::http as components;
use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::routes;
use crate::sessions::Sessions;
use axum::routing::{get, post};
use axum::Router;
use callside_core::Millis;
use callside_store::Store;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Everything a request can reach.
pub struct App {
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) sessions: Sessions,
    pub(crate) calls: Calls,
    pub(crate) auth: AuthCache,
    pub(crate) metrics: Metrics,
    pub(crate) numbers: crate::numbers::NumberCache,
    pub(crate) proofs: crate::proofs::Proofs,
    pub(crate) invitations: crate::invitations::Invitations,
    pub(crate) wakes: crate::push::Wakes,
    pub(crate) emails: crate::emails::Emails,
    pub(crate) cards: crate::cards::Cards,
    pub(crate) transformers: crate::transform::Transformers,
    /// Component offers per principal (each may call the authorization server).
    pub(crate) offers:
        std::sync::Mutex<callside_core::ratelimit::Limiter<callside_core::PrincipalId>>,
    /// Signs and checks caller data (RFC 9795).
    pub(crate) rcd: crate::rcd::Signer,
    pub(crate) sms: crate::sms::SmsSender,
    /// Keys the server's own signatures (SMS proofs).
    pub(crate) server_key: [u8; 32],
    pub(crate) shutdown: CancellationToken,
    /// Set when the server stopped because the store failed.
    pub(crate) fatal: std::sync::atomic::AtomicBool,
}

pub type AppState = Arc<App>;

pub(crate) fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

impl App {
    pub(crate) fn new(
        config: Config,
        store: Arc<dyn Store>,
        server_key: [u8; 32],
        pusher: callside_push::Pusher,
        rcd: crate::rcd::Signer,
    ) -> AppState {
        Arc::new(App {
            numbers: crate::numbers::NumberCache::new(config.default_region),
            proofs: crate::proofs::Proofs::new(&config.limits),
            invitations: crate::invitations::Invitations::new(&config.limits),
            wakes: crate::push::Wakes::new(pusher),
            emails: crate::emails::Emails::new(&config),
            cards: crate::cards::Cards::new(),
            transformers: crate::transform::Transformers::new(),
            offers: std::sync::Mutex::new(callside_core::ratelimit::Limiter::new(
                callside_core::ratelimit::Rate::per_minute(30),
            )),
            rcd,
            sms: crate::sms::SmsSender::new(config.sms.provider.clone(), config.sms.number.clone()),
            server_key,
            config,
            store,
            hub: Arc::new(Hub::default()),
            sessions: Sessions::default(),
            calls: Calls::default(),
            auth: AuthCache::default(),
            metrics: Metrics::default(),
            shutdown: CancellationToken::new(),
            fatal: Default::default(),
        })
    }
}

/// The HTTP API.
pub fn router(app: AppState) -> Router {
    let v1 = Router::new()
        .route("/me", get(routes::me))
        .route("/me/token", post(routes::rotate_own_token))
        .route("/me/numbers/proofs", post(routes::start_proof))
        .route("/me/numbers/proofs/{id}", get(routes::get_proof))
        .route(
            "/me/numbers/proofs/{id}/complete",
            post(routes::complete_proof),
        )
        .route(
            "/me/numbers/{number}",
            axum::routing::delete(routes::unbind_number),
        )
        .route("/devices", post(routes::enroll_device))
        .route("/connection-data", get(routes::connection_data))
        .route(
            "/me/push",
            post(routes::register_push).get(routes::list_push),
        )
        .route("/me/push/{id}", axum::routing::delete(routes::delete_push))
        .route(
            "/me/card",
            get(routes::get_card)
                .put(routes::put_card)
                .delete(routes::delete_card),
        )
        .route(
            "/me/audiences",
            get(routes::get_audiences).put(routes::put_audiences),
        )
        .route("/me/card/fetch", post(routes::fetch_card))
        .route("/me/card-cache", axum::routing::put(routes::put_card_cache))
        .route(
            "/me/card-policy",
            get(routes::get_card_policy).put(routes::put_card_policy),
        )
        .route("/me/emails", post(routes::add_email))
        .route(
            "/me/emails/validations/{id}",
            get(routes::get_email_validation),
        )
        .route(
            "/me/emails/validations/{id}/complete",
            post(routes::complete_email),
        )
        .route(
            "/me/emails/{email}",
            axum::routing::delete(routes::remove_email),
        )
        .route(
            "/invitations",
            post(routes::create_invitation).get(routes::list_invitations),
        )
        .route("/invitations/{id}", get(routes::get_invitation))
        .route("/invitations/{id}/accept", post(routes::accept_invitation))
        .route(
            "/invitations/{id}/decline",
            post(routes::decline_invitation),
        )
        .route("/invitations/{id}/cancel", post(routes::cancel_invitation))
        .route(
            "/sms/inbound",
            get(routes::inbound_sms_query).post(routes::inbound_sms_json),
        )
        .route(
            "/admin/devices",
            post(routes::create_device).get(routes::list_devices),
        )
        .route(
            "/admin/devices/{id}",
            axum::routing::delete(routes::delete_device),
        )
        .route(
            "/admin/devices/{id}/token",
            post(routes::rotate_device_token),
        )
        .route(
            "/admin/service-accounts",
            post(routes::create_service_account).get(routes::list_service_accounts),
        )
        .route(
            "/admin/service-accounts/{id}",
            axum::routing::delete(routes::delete_service_account),
        )
        .route(
            "/admin/service-accounts/{id}/token",
            post(routes::rotate_service_token),
        )
        .route("/admin/audit", get(routes::audit_log))
        .route(
            "/admin/components/{id}",
            axum::routing::put(components::put_component).delete(components::delete_component),
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
        .route("/legs", post(routes::report_leg))
        .route("/legs/{id}", get(routes::get_leg))
        .route("/legs/{id}/answer", post(routes::answer_leg))
        .route("/legs/{id}/end", post(routes::end_leg))
        .route("/legs/{id}/note", post(routes::leave_note))
        .route("/me/call-log", get(routes::call_log))
        .route("/passports", post(routes::sign_passport))
        .route("/network/calls", post(routes::network_call))
        .route("/sessions", get(routes::list_sessions))
        .route("/sessions/{key}", get(routes::get_session))
        .route("/sessions/{key}/close", post(routes::close_session))
        .route("/sessions/{key}/transfer", post(routes::transfer_session))
        .route(
            "/sessions/{key}/messages",
            post(routes::send_message).get(routes::list_messages),
        )
        .route("/sessions/{key}/ack", post(routes::ack))
        .route(
            "/blobs",
            post(routes::upload_blob).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/blobs/{id}", get(routes::download_blob))
        .route("/ws", get(crate::ws::upgrade))
        .route("/openapi.json", get(crate::openapi::serve));
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(routes::healthz))
        .route("/.well-known/jwks.json", get(routes::jwks))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .fallback(|| async { crate::error::ApiError::NotFound("route") })
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            count_errors,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |req: &axum::http::Request<_>| {
                    // The path only: query strings may carry an access token.
                    let route = req
                        .extensions()
                        .get::<axum::extract::MatchedPath>()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_else(|| req.uri().path().to_owned());
                    tracing::info_span!("http", method = %req.method(), route)
                },
            ),
        )
        .with_state(app)
}

async fn count_errors(
    axum::extract::State(app): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let res = next.run(req).await;
    if res.status().is_client_error() || res.status().is_server_error() {
        Metrics::inc(&app.metrics.http_errors);
    }
    res
}

/// Ends legs whose window passed and calls that went stale; closes idle sessions.
pub(crate) async fn housekeeping(app: AppState) {
    // Sweep often enough that a session closes within a quarter of its idle timeout late.
    let sweep_every = (app.config.idle_timeout / 4).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(60),
    );
    let mut next_idle_sweep = tokio::time::Instant::now();
    let mut next_invitation_sweep = tokio::time::Instant::now();
    loop {
        if app.store.has_failed() {
            tracing::error!("the store failed; stopping so a supervisor can restart from disk");
            app.fatal.store(true, std::sync::atomic::Ordering::SeqCst);
            app.shutdown.cancel();
            return;
        }
        let wait = app
            .calls
            .expire_due(&app)
            .await
            .min(std::time::Duration::from_millis(250));
        app.sessions.flush_acks(&app).await;
        if tokio::time::Instant::now() >= next_invitation_sweep {
            app.invitations.expire_due(&app).await;
            app.sessions.expire_requests(&app).await;
            if !app.config.one_sided_after.is_zero() {
                let before = now_ms() - app.config.one_sided_after.as_millis() as Millis;
                for (leg, name, answered) in app.calls.one_sided_due(before).await {
                    app.invitations
                        .offer_for_leg(&app, leg, name, answered)
                        .await;
                }
            }
            next_invitation_sweep = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        }
        if tokio::time::Instant::now() >= next_idle_sweep {
            close_idle(&app).await;
            let now = now_ms();
            app.proofs.prune(now);
            app.invitations.prune(now);
            app.emails.prune(now);
            if let Err(e) = app
                .store
                .apply(vec![callside_store::Write::PurgeProofs {
                    expired_before: now - 86_400_000,
                }])
                .await
            {
                tracing::warn!(error = %e, "could not purge old number proofs");
            }
            next_idle_sweep = tokio::time::Instant::now() + sweep_every;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = app.shutdown.cancelled() => {
                app.sessions.flush_acks(&app).await;
                return;
            }
        }
    }
}

async fn close_idle(app: &AppState) {
    let before = now_ms() - app.config.idle_timeout.as_millis() as Millis;
    let keys = match app.store.idle_sessions(before).await {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(error = %e, "idle session sweep failed");
            return;
        }
    };
    for key in keys {
        let r = app
            .sessions
            .transition(
                app,
                &key,
                callside_core::session::Event::IdleTimeout,
                None,
                vec![],
            )
            .await;
        if let Err(e) = r {
            tracing::warn!(session = %key, error = %e, "could not close an idle session");
        }
    }
}
