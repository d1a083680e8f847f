//! callside's server: the HTTP/JSON API, the WebSocket session channel, and the services behind
//! them.
//!
//! How the pieces fit: the source is organised by domain, one folder per aggregate (`sessions`,
//! `calls`, `invitations`, `cards`, `components`, `identity`, `admin`, `push`, `blobs`,
//! `connect`), each with its service and its own `http.rs` (handlers and wire mapping). The HTTP
//! edge (`http/`: router, errors, extractors, WebSocket loop, OpenAPI) calls the services with
//! domain commands; services hold only the collaborators they need, return their own errors, and
//! commit through the [`callside_store::Store`] traits. After each commit the store's writer
//! thread runs the service's callback, which hands committed messages to the `hub` (fan-out to
//! connected devices in sequence order) and tells the services above (card delivery, derived
//! data) through bounded channels. `app` builds it all; the `supervisor` owns every background
//! task. `ARCHITECTURE.md` at the repository's root has the code map and the rules.
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
pub mod backup;
mod blobs;
mod calls;
mod cards;
mod clock;
mod cluster;
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
mod merchants;
mod metrics;
mod numbers;
mod push;
mod screens;
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
    /// Where `/metrics` is served without a token, when `metrics.listen` is set.
    pub metrics_addr: Option<SocketAddr>,
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
        // Another server may use the data directory from now on.
        self.app.data_lock.lock().expect("app poisoned").take();
    }
}

/// Opens (creating if needed) the data directory and store, makes sure the admin token exists,
/// and restores pending state. Returns the application and the admin token; [`router`] serves it.
pub async fn build(config: config::Config) -> Result<(AppState, String), ServerError> {
    let sqlite_path = match &config.database {
        config::Database::Sqlite { path, .. } => Some(path.as_path()),
        config::Database::Postgres { .. } => None,
    };
    for dir in [
        Some(config.data_dir.as_path()),
        sqlite_path.and_then(|p| p.parent()),
        Some(config.blob_dir.as_path()),
    ]
    .into_iter()
    .flatten()
    .filter(|d| !d.as_os_str().is_empty())
    {
        keys::private_dir(dir)
            .map_err(|e| ServerError::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    let lock = lock_data_dir(&config.data_dir)?;
    let store: std::sync::Arc<dyn callside_store::Store> = match &config.database {
        config::Database::Sqlite {
            path,
            synchronous,
            checkpoint,
        } => {
            let store = callside_store::sqlite::open(
                path,
                callside_store::SqliteOptions {
                    synchronous: *synchronous,
                    checkpoint_interval: *checkpoint,
                    ..Default::default()
                },
            )?;
            // SQLite creates its files with the process's umask; the database, its log and its
            // index of the log hold every message.
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.as_os_str().to_owned();
                file.push(suffix);
                keys::private_file(std::path::Path::new(&file)).map_err(|e| {
                    ServerError::Io(format!("cannot protect {}: {e}", path.display()))
                })?;
            }
            store
        }
        config::Database::Postgres {
            url,
            password,
            ca_file,
        } => {
            let options = callside_store::PgOptions {
                ca_file: ca_file.clone(),
                ..Default::default()
            };
            callside_store::postgres::open(url, password.as_deref(), options).await?
        }
    };
    if config.cluster.is_some() {
        shared_with_the_cluster(&config, &store).await?;
    }
    let admin_token =
        identity::auth::ensure_admin(&store, &config.admin_token_file, clock::now_ms()).await?;
    let server_key = keys::ensure_server_key(&config.server_key_file)?;
    let pusher = adapters::push::pusher(&config)?;
    let signer = keys::Signer::load_or_create(&config.data_dir.join("rcd.pem"))?;
    let app = App::new(config, store, server_key, pusher, signer);
    *app.data_lock.lock().expect("app poisoned") = Some(lock);
    if let Some(settings) = &app.config.cluster {
        let local = cluster::Local {
            hub: app.hub.clone(),
            sessions: app.sessions.clone(),
            auth: app.auth.clone(),
            blobs: app.blobs.clone(),
            calls: app.calls.clone(),
        };
        let lead = cluster::join(settings, local, &app.supervisor)
            .await
            .map_err(ServerError::Startup)?;
        let _ = app.lead.set(lead);
    } else {
        // In a cluster the node that takes over call matching does this (see `start`).
        app.restore_calls().await.map_err(ServerError::Startup)?;
    }
    Ok((app, admin_token))
}

/// A node joining a cluster that has started before must have the others' operator token and
/// keys: made afresh here, a new token would retire the operator's and the keys would sign what
/// the other nodes cannot check.
async fn shared_with_the_cluster(
    config: &config::Config,
    store: &std::sync::Arc<dyn callside_store::Store>,
) -> Result<(), ServerError> {
    let files = [
        config.admin_token_file.clone(),
        config.server_key_file.clone(),
        config.data_dir.join("rcd.pem"),
    ];
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !f.exists())
        .map(|f| f.display().to_string())
        .collect();
    if missing.is_empty() || store.principals("admin").await?.is_empty() {
        return Ok(());
    }
    Err(ServerError::Startup(format!(
        "this node joins a cluster that has started before, and {} missing: copy admin.token, server.key and rcd.pem from another node's data directory",
        missing.join(", ") + if missing.len() == 1 { " is" } else { " are" }
    )))
}

/// Takes the data directory's lock: one server per data directory, or two writers would number
/// the same sessions' messages twice. The lock is the kernel's (`flock`), so it goes with the
/// process however it ends; the file says which process holds it.
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, ServerError> {
    use std::io::{Read, Seek, Write};
    let path = dir.join("callside.lock");
    let io = |e: std::io::Error| ServerError::Io(format!("cannot lock {}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(ServerError::Io(format!(
                "the data directory {} is in use by another callside serve{}: stop it, or give this one its own --data-dir",
                dir.display(),
                if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (process {holder})")
                }
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "{}", std::process::id()).map_err(io)?;
    Ok(file)
}

/// Builds the application, binds, and serves in the background.
pub async fn start(config: config::Config) -> Result<Running, ServerError> {
    let listen = config.listen;
    let (app, admin_token) = build(config).await?;
    let (listener, addr) = bind(listen).await?;
    let metrics = match app.config.metrics_listen {
        Some(at) => Some(bind(at).await?),
        None => None,
    };
    let stop = app.supervisor.token().clone();
    let limits = http::ConnLimits {
        connections: app.config.limits.connections as usize,
        header_read: app.config.limits.header_read,
    };
    app.supervisor.spawn(
        "http",
        http::serve(listener, router(app.clone()), stop, limits),
    );
    let metrics_addr = metrics.map(|(listener, at)| {
        let stop = app.supervisor.token().clone();
        let routes = http::metrics_router(app.clone());
        app.supervisor
            .spawn("metrics", http::serve(listener, routes, stop, limits));
        at
    });
    let background = app
        .background
        .lock()
        .expect("app poisoned")
        .take()
        .ok_or_else(|| ServerError::Startup("this application was started already".into()))?;
    app.start_loops(background);
    if let Some(lead) = app.lead.get() {
        let took = app.clone();
        app.supervisor.spawn(
            "lead",
            cluster::lead::run(cluster::lead::Leading {
                lead: lead.clone(),
                store: app.store.clone(),
                handler: http::lead::handler(router(app.clone())),
                on_lead: Box::new(move || {
                    Box::pin(async move {
                        took.restore_calls().await?;
                        took.start_call_centre();
                        Ok(())
                    })
                }),
                tasks: app.supervisor.tasks(),
                fatal: app.fatal.clone(),
                stop: app.supervisor.token().clone(),
            }),
        );
    }
    tracing::info!(%addr, "callside is listening");
    Ok(Running {
        addr,
        metrics_addr,
        admin_token,
        app,
    })
}

async fn bind(at: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), ServerError> {
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .map_err(|source| ServerError::Bind { addr: at, source })?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServerError::Io(e.to_string()))?;
    Ok((listener, addr))
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
            "stopped because the database failed (a commit, or in a cluster the connection holding call matching); see the log, fix the cause (e.g. disk space) and start again".into(),
        ));
    }
    Ok(())
}
