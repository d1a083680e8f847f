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

mod app;
mod auth;
mod blobs;
mod calls;
mod cards;
mod client_ids;
mod components;
mod composer;
pub mod config;
mod emails;
mod error;
mod hub;
mod invitations;
mod mapping;
mod metrics;
mod net;
mod numbers;
mod openapi;
mod proofs;
mod push;
mod push_setup;
mod rcd;
mod routes;
mod sessions;
mod sms;
mod transform;
mod ws;

pub use app::{router, App, AppState};
pub use openapi::document as openapi_document;

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
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets requests in progress finish, stops background work.
    pub async fn shutdown(self) {
        self.app.shutdown.cancel();
        let _ = self.task.await;
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
    let admin_token = auth::ensure_admin(&store, &config.admin_token_file, app::now_ms()).await?;
    let server_key = auth::ensure_server_key(&config.server_key_file)?;
    let pusher = push_setup::pusher(&config)?;
    let signer = rcd::Signer::load_or_create(&config.data_dir.join("rcd.pem"))?;
    let app = App::new(config, store, server_key, pusher, signer);
    app.calls
        .restore(&app)
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
    let housekeeping = tokio::spawn(app::housekeeping(app.clone()));
    tokio::spawn(push::Wakes::run(app.clone()));
    tokio::spawn(cards::Cards::run(app.clone()));
    tokio::spawn(transform::Transformers::run(app.clone()));
    let router = router(app.clone());
    let shutdown = app.shutdown.clone();
    let app2 = app.clone();
    let task = tokio::spawn(async move {
        use axum::serve::ListenerExt as _;
        // Without TCP_NODELAY small replies on kept-alive connections stall (Nagle).
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let serve = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "server stopped");
        }
        let _ = housekeeping.await;
        // Connections closed after the last sweep may have moved cursors.
        app2.sessions.flush_acks(&app2).await;
    });
    tracing::info!(%addr, "callside is listening");
    Ok(Running {
        addr,
        admin_token,
        app,
        task,
    })
}

/// Runs until `shutdown` resolves (e.g. SIGINT/SIGTERM), then stops gracefully.
pub async fn serve(
    config: config::Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let running = start(config).await?;
    let stopped = running.app.shutdown.clone();
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
