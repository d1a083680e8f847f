//! `callside serve` and `callside config`.

use anyhow::Context;
use callside_server::config::{Config, Overrides};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// TOML configuration file (default: $CALLSIDE_CONFIG, else built-in defaults); give it
    /// again to lay another file over it (its tables merge, its values win).
    #[arg(long, value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:8080.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Directory for the database, blobs and the admin token.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl ServerArgs {
    fn load(self) -> anyhow::Result<Config> {
        let overrides = Overrides {
            config_files: self.config,
            listen: self.listen,
            data_dir: self.data_dir,
        };
        Config::load(&overrides).context("invalid configuration")
    }
}

/// Runs the server; `json` (the global `--json`) logs JSON lines whatever `log.format` says.
pub(crate) async fn serve(args: ServerArgs, json: bool) -> anyhow::Result<()> {
    let config = args.load()?;
    init_tracing(json || config.log.json);
    for var in &config.ignored_env {
        tracing::warn!(%var, "ignoring an environment variable that names no callside setting");
    }
    tracing::info!(listen = %config.listen, data_dir = %config.data_dir.display(), "starting callside");
    callside_server::serve(config, shutdown_signal())
        .await
        .context("the server stopped with an error")?;
    tracing::info!("callside stopped");
    Ok(())
}

/// `callside ready`: whether a server answers and its database is ready.
#[derive(Debug, Args)]
pub(crate) struct ReadyArgs {
    /// The server's base URL.
    #[arg(long, env = "CALLSIDE_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Keep asking for up to this many seconds: after `callside serve … &`, wait until it is up.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    wait: u64,
}

/// Asks `GET /readyz` until it answers `ready` or `--wait` runs out; fails with the last reason.
pub(crate) async fn ready(args: ReadyArgs, out: &crate::output::Output) -> anyhow::Result<()> {
    use std::time::Duration;
    let base = args.server.trim_end_matches('/');
    let url = format!("{base}/readyz");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .context("cannot build an HTTP client")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.wait);
    loop {
        let not_yet = match http.get(&url).send().await {
            Ok(r) if r.status().is_success() => {
                out.result(&serde_json::json!({"server": base, "ready": true}), || {
                    format!("callside at {base} is ready")
                });
                return Ok(());
            }
            Ok(r) => anyhow::anyhow!(
                "callside at {base} answers but is not ready ({}): is its database reachable?",
                r.status()
            ),
            Err(e) => anyhow::Error::new(e),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(not_yet);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Prints the effective configuration: TOML, or with `--json` the same settings as one JSON object.
pub(crate) fn print_config(args: ServerArgs, out: &crate::output::Output) -> anyhow::Result<()> {
    let config = args.load()?;
    let text = config.to_toml();
    if out.is_json() {
        let table: toml::Table = text.parse().context("the configuration as TOML")?;
        out.json_line(&table);
    } else {
        print!("{text}");
    }
    Ok(())
}

/// `RUST_LOG`-style filtering, `info` by default; text or one JSON object per line.
fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        fmt.json().try_init()
    } else {
        fmt.with_ansi(std::io::stderr().is_terminal()).try_init()
    };
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
