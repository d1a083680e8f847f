//! callside's server: the HTTP/JSON API, the WebSocket session channel, and the services behind
//! them.
//!
//! How the pieces fit: [`routes`](crate) (thin axum handlers) and the WebSocket loop call the
//! services — `calls` (leg reports, network calls, the matcher from `callside-core`), `sessions`
//! (the ordered durable log and lifecycle) and `blobs` — which commit through
//! [`callside_store::Store`]. After each commit the store's writer thread hands committed messages
//! to the `hub`, which fans them out to connected devices in sequence order.
//!
//! ```no_run
//! # async fn run() -> Result<(), callside_server::ServerError> {
//! let config = callside_server::config::Config::for_dir(std::path::Path::new("/tmp/cs"));
//! let running = callside_server::start(config).await?;
//! println!("listening on {}", running.addr);
//! running.shutdown().await;
//! # Ok(()) }
//! ```

mod adapters;
mod admin;
mod app;
mod blobs;
mod calls;
mod cards;
mod clock;
mod components;
pub mod config;
mod connect;
mod derived;
mod housekeeping;
mod http;
mod hub;
mod identity;
mod invitations;
mod keys;
mod metrics;
mod numbers;
mod push;
mod routes;
mod sessions;
mod supervisor;

/// The store every service shares.
pub(crate) type Store = std::sync::Arc<dyn callside_store::Store>;

pub use app::{App, AppState};
pub use http::openapi::document as openapi_document;
pub use http::router;

use std::future::Future;
use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("storage: {0}")]
    Store(#[from] callside_store::StoreError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(String),
    #[error("start-up failed: {0}")]
    Startup(String),
    #[error("{0}")]
    Stopped(String),
}

/// A server running in the background of this process.
pub struct Running {
    pub addr: SocketAddr,
    /// The operator's token (also in the configured admin token file).
    pub admin_token: String,
    app: AppState,
}

impl Running {
    /// Stops accepting, lets requests in progress finish, stops background work.
    pub async fn shutdown(self) {
        self.app.supervisor.shutdown().await;
        // Connections closed after the last sweep may have moved cursors.
        self.app.sessions.flush_acks().await;
    }
}

/// Opens (creating if needed) the data directory and store, makes sure the admin token exists,
/// and restores pending state. Returns the application and the admin token; [`router`] serves it.
pub async fn build(config: config::Config) -> Result<(AppState, String), ServerError> {
    let config::Database::Sqlite {
        path,
        synchronous,
        checkpoint,
    } = &config.database;
    for dir in [
        Some(config.data_dir.as_path()),
        path.parent(),
        Some(config.blob_dir.as_path()),
    ]
    .into_iter()
    .flatten()
    .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| ServerError::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    let store: std::sync::Arc<dyn callside_store::Store> = callside_store::sqlite::open(
        path,
        callside_store::SqliteOptions {
            synchronous: *synchronous,
            checkpoint_interval: *checkpoint,
            ..Default::default()
        },
    )?;
    let admin_token =
        identity::auth::ensure_admin(&store, &config.admin_token_file, clock::now_ms()).await?;
    let server_key = keys::ensure_server_key(&config.server_key_file)?;
    let pusher = adapters::push::pusher(&config)?;
    let signer = keys::Signer::load_or_create(&config.data_dir.join("rcd.pem"))?;
    let app = App::new(config, store, server_key, pusher, signer);
    app.calls
        .restore()
        .await
        .map_err(|e| ServerError::Startup(e.to_string()))?;
    app.invitations
        .restore(&app)
        .await
        .map_err(|e| ServerError::Startup(e.to_string()))?;
    Ok((app, admin_token))
}

/// Builds the application, binds, and serves in the background.
pub async fn start(config: config::Config) -> Result<Running, ServerError> {
    let listen = config.listen;
    let (app, admin_token) = build(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServerError::Io(e.to_string()))?;
    let router = router(app.clone());
    let stop = app.supervisor.token().clone();
    app.supervisor.spawn("http", async move {
        use axum::serve::ListenerExt as _;
        // Without TCP_NODELAY small replies on kept-alive connections stall (Nagle).
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let serve = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    app.supervisor
        .spawn("housekeeping", housekeeping::housekeeping(app.clone()));
    let background = app
        .background
        .lock()
        .expect("app poisoned")
        .take()
        .ok_or_else(|| ServerError::Startup("this application was started already".into()))?;
    app.supervisor.spawn(
        "push",
        push::run(
            push::Runner {
                wakes: app.wakes.clone(),
                hub: app.hub.clone(),
                metrics: app.metrics.clone(),
                tasks: app.supervisor.tasks(),
                interval: app.config.push.wake_interval.as_millis() as callside_core::Millis,
            },
            background.wakes,
            app.supervisor.token().clone(),
        ),
    );
    // A device proved a number: SMS invitations waiting for it ring on it too.
    let invitations = app.clone();
    let mut numbers_bound = background.numbers_bound;
    let stop = app.supervisor.token().clone();
    app.supervisor.spawn("numbers-bound", async move {
        loop {
            let bound = tokio::select! {
                b = numbers_bound.recv() => match b { Some(b) => b, None => return },
                _ = stop.cancelled() => return,
            };
            invitations
                .invitations
                .number_bound(&invitations, &bound.device, &bound.number)
                .await;
        }
    });
    // A leg settled: an invitation offered for it is withdrawn.
    let invitations = app.clone();
    let mut legs_settled = background.legs_settled;
    let stop = app.supervisor.token().clone();
    app.supervisor.spawn("legs-settled", async move {
        loop {
            let settled = tokio::select! {
                s = legs_settled.recv() => match s { Some(s) => s, None => return },
                _ = stop.cancelled() => return,
            };
            invitations
                .invitations
                .leg_settled(&invitations, &settled.0)
                .await;
        }
    });
    app.supervisor.spawn(
        "cards",
        cards::delivery::run(
            app.cards.clone(),
            background.established,
            app.supervisor.token().clone(),
        ),
    );
    app.supervisor.spawn(
        "derived",
        derived::run(
            derived::Transformers {
                sessions: app.sessions.clone(),
                metrics: app.metrics.clone(),
                webhooks: app.config.transformers.clone(),
                max_message_bytes: app.config.max_message_bytes,
            },
            background.app_messages,
            app.supervisor.token().clone(),
        ),
    );
    tracing::info!(%addr, "callside is listening");
    Ok(Running {
        addr,
        admin_token,
        app,
    })
}

/// Runs until `shutdown` resolves (e.g. SIGINT/SIGTERM), then stops gracefully.
pub async fn serve(
    config: config::Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let running = start(config).await?;
    let stopped = running.app.supervisor.token().clone();
    tokio::select! {
        _ = shutdown => tracing::info!("shutting down"),
        _ = stopped.cancelled() => {}
    }
    let fatal = running.app.fatal.load(std::sync::atomic::Ordering::SeqCst);
    running.shutdown().await;
    if fatal {
        return Err(ServerError::Stopped(
            "stopped because a database commit failed; see the log, fix the cause (e.g. disk space) and start again".into(),
        ));
    }
    Ok(())
}
