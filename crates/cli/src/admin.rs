//! `callside admin …`: provisioning over the admin API.

use anyhow::{bail, Context};
use callside_client::proto::admin::{CreateDevice, CreateServiceAccount, Scope};
use callside_client::Client;
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

use crate::output::Output;

#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    /// The server's base URL (before or after the subcommand).
    #[arg(
        long,
        global = true,
        env = "CALLSIDE_SERVER",
        hide_env_values = true,
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// The admin token (default: read from <data-dir>/admin.token; before or after the
    /// subcommand).
    #[arg(
        long,
        global = true,
        env = "CALLSIDE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// The server's data directory, where it wrote admin.token.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "callside-data"
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Phone apps bound to numbers.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Network elements, automated systems, SMS gateways and enrolment keys.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// The component catalogue: software parties offer each other over a session.
    #[command(subcommand)]
    Component(ComponentCommand),
    /// Merchants: web shops whose pages carry click-to-call buttons.
    #[command(subcommand)]
    Merchant(MerchantCommand),
    /// Copy the data directory — the database as one consistent snapshot, then blobs, keys and
    /// tokens — into a new directory, while the server runs. Restore by starting a server on
    /// the copy (`callside serve --data-dir DIR`) or moving it in place of the data directory.
    /// With PostgreSQL (`database.url`) the database is `pg_dump`ed into DIR/database.pgdump
    /// (restore it with `pg_restore --no-owner -d NEW_DATABASE`).
    Backup {
        /// The new directory to write (it must not exist).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// The configuration file the server runs with (for a database kept elsewhere).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// The audit log (e.g. SMS sent to people who are not users), newest first.
    Audit {
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Device and service-account tokens nobody has presented for a while.
    #[command(subcommand)]
    Tokens(TokensCommand),
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// List the devices and service accounts whose token was not used for DAYS days, oldest
    /// first (delete them, or rotate what is still needed).
    Unused {
        /// Days without use (default: the server's `tokens.unused_after_days`, 90).
        #[arg(long)]
        days: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
enum ComponentCommand {
    /// Publish a component or update it (a new version, another location).
    #[command(disable_version_flag = true)]
    Put {
        /// The id, e.g. com.example.menu.
        id: String,
        /// The name shown to users, 1-100 characters.
        #[arg(long)]
        name: String,
        /// The current version, 1-32 visible ASCII characters (e.g. 1.4.2).
        #[arg(long)]
        version: String,
        /// Where it is downloaded (http or https).
        #[arg(long)]
        url: String,
        /// SHA-256 of the download, lowercase hex.
        #[arg(long)]
        sha256: Option<String>,
        /// Using it needs the authorization server's grant (and the requester's consent to
        /// its fee).
        #[arg(long)]
        authorization: bool,
    },
    /// List the catalogue.
    List,
    /// Take a component out of the catalogue.
    Delete {
        /// The component id (e.g. com.example.menu).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum MerchantCommand {
    /// Create a merchant; its API token and button secret are printed once (with -q: its id,
    /// token and button secret, one per line).
    Create {
        /// The merchant's name, 1-100 characters.
        #[arg(long)]
        name: String,
    },
    /// Give a merchant a new button secret (buttons signed with the old one stop working).
    RotateSecret {
        /// The merchant id (`mer_…`), printed by `create`.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Create a device; its token is printed once.
    Create {
        /// A label for the device, 1-100 characters.
        #[arg(long)]
        name: String,
        /// A number the device owns (repeat for several).
        #[arg(long = "number", required = true, value_name = "NUMBER")]
        numbers: Vec<String>,
    },
    /// List devices.
    List,
    /// Delete a device (its token stops working).
    Delete {
        /// The device id (`dev_…`), as `list` prints it.
        id: String,
    },
    /// Give a device a new token (the old one stops working).
    RotateToken {
        /// The device id (`dev_…`), as `list` prints it.
        id: String,
    },
    /// Everything callside keeps about a device (for a person's access request): a summary,
    /// or with --output the whole export as JSON, table by table, with what `erase` would do.
    Export {
        /// The device id (`dev_…`), as `list` prints it.
        id: String,
        /// Write the whole export to this file (JSON).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Erase a device's personal data (a person's erasure request): its token stops, its rows
    /// are deleted (its messages stay in their sessions as `erased`), its files nobody else
    /// has are deleted. Cannot be undone: `export` first if the person wants a copy.
    Erase {
        /// The device id (`dev_…`), as `list` prints it.
        id: String,
        /// Yes, erase it.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ScopeArg {
    /// A SIP proxy or switch reporting whole calls.
    NetworkElement,
    /// Voicemail, IVR or contact centre taking part in calls to its numbers.
    AutomatedSystem,
    /// An SMS gateway (Kannel) forwarding SMS from senders in its ranges.
    SmsGateway,
    /// An app's key for enrolling devices (needs no range).
    DeviceEnrollment,
    /// A business or operator whose caller data callside signs (RFC 9795).
    CallerData,
}

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Scope {
        match s {
            ScopeArg::NetworkElement => Scope::NetworkElement,
            ScopeArg::AutomatedSystem => Scope::AutomatedSystem,
            ScopeArg::SmsGateway => Scope::SmsGateway,
            ScopeArg::DeviceEnrollment => Scope::DeviceEnrollment,
            ScopeArg::CallerData => Scope::CallerData,
        }
    }
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Create a service account; its token is printed once.
    Create {
        /// A label for the account, 1-100 characters.
        #[arg(long)]
        name: String,
        /// What the account may do (repeat for several).
        #[arg(long = "scope", required = true, value_enum)]
        scopes: Vec<ScopeArg>,
        /// An E.164 prefix the account serves, e.g. +4420 (repeat for several; every scope but
        /// device-enrollment needs one).
        #[arg(long = "range", value_name = "PREFIX")]
        ranges: Vec<String>,
    },
    /// List service accounts.
    List,
    /// Delete a service account.
    Delete {
        /// The service account id (`svc_…`), as `list` prints it.
        id: String,
    },
    /// Give a service account a new token.
    RotateToken {
        /// The service account id (`svc_…`), as `list` prints it.
        id: String,
    },
}

const SHOWN_ONCE: &str = "Store this token now: it is shown only once (rotate it if lost).";

pub(crate) async fn run(args: AdminArgs, out: &Output) -> anyhow::Result<()> {
    if let AdminCommand::Backup { to, config } = &args.command {
        return backup(&args.data_dir, config.clone(), to, out);
    }
    let token = match args.token {
        Some(t) => t,
        None => read_token(&args.data_dir)?,
    };
    let client = Client::new(&args.server, &token)?;
    match args.command {
        AdminCommand::Device(cmd) => device(cmd, &client, out).await,
        AdminCommand::Service(cmd) => service(cmd, &client, out).await,
        AdminCommand::Component(cmd) => component(cmd, &client, out).await,
        AdminCommand::Merchant(cmd) => merchant(cmd, &client, out).await,
        AdminCommand::Backup { .. } => unreachable!("handled above"),
        AdminCommand::Tokens(TokensCommand::Unused { days }) => {
            let list = client.unused_tokens(days).await?;
            let when = |at: i64| {
                chrono::DateTime::from_timestamp_millis(at)
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_else(|| at.to_string())
            };
            if out.per_line() {
                list.tokens.iter().for_each(|t| out.json_line(t));
            } else if list.tokens.is_empty() {
                out.text(&format!(
                    "every token was used in the last {} days",
                    list.days
                ));
            } else {
                for t in &list.tokens {
                    let used = t.last_used_at.map_or_else(
                        || "never used".to_owned(),
                        |at| format!("last used {}", when(at)),
                    );
                    out.text(&format!(
                        "{}  {}  {}  issued {}, {used}",
                        t.id,
                        t.kind,
                        t.name,
                        when(t.issued_at)
                    ));
                }
                out.progress(&format!(
                    "{} token(s) not used for {} days or more",
                    list.tokens.len(),
                    list.days
                ));
            }
            Ok(())
        }
        AdminCommand::Audit { limit } => {
            let log = client.audit_log(limit).await?;
            if out.per_line() {
                log.entries.iter().for_each(|e| out.json_line(e));
            } else if log.entries.is_empty() {
                out.text("the audit log is empty");
            } else {
                for e in &log.entries {
                    let at = chrono::DateTime::from_timestamp_millis(e.at)
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                        .unwrap_or_else(|| e.at.to_string());
                    out.text(&format!(
                        "{at}  {}  {}  {}  {}",
                        e.actor, e.action, e.subject, e.detail
                    ));
                }
            }
            Ok(())
        }
    }
}

async fn merchant(cmd: MerchantCommand, client: &Client, out: &Output) -> anyhow::Result<()> {
    match cmd {
        MerchantCommand::Create { name } => {
            let m = client.create_merchant(&name).await?;
            let quiet = [
                m.merchant.id.as_str(),
                m.token.as_str(),
                m.button_secret.as_str(),
            ];
            out.result_lines(&m, &quiet, || {
                format!(
                    "merchant {} ({})\ntoken:         {}\nbutton secret: {}\n{SHOWN_ONCE} The merchant's server signs buttons with the secret (`callside merchant button`).",
                    m.merchant.id, m.merchant.name, m.token, m.button_secret
                )
            });
        }
        MerchantCommand::RotateSecret { id } => {
            let s = client.rotate_button_secret(&id).await?;
            out.result(&s, || {
                format!(
                    "button secret: {}\nButtons signed with the old secret no longer work.",
                    s.button_secret
                )
            });
        }
    }
    Ok(())
}

async fn component(cmd: ComponentCommand, client: &Client, out: &Output) -> anyhow::Result<()> {
    match cmd {
        ComponentCommand::Put {
            id,
            name,
            version,
            url,
            sha256,
            authorization,
        } => {
            let c = client
                .put_component(
                    &id,
                    &callside_client::proto::component::PutComponent {
                        name,
                        version,
                        url,
                        sha256,
                        authorization,
                    },
                )
                .await?;
            out.result(&c, || {
                format!("published {} {} ({})", c.id, c.version, c.name)
            });
        }
        ComponentCommand::List => {
            let list = client.components().await?;
            crate::render::print_components(out, &list);
        }
        ComponentCommand::Delete { id } => {
            client.delete_component(&id).await?;
            out.result(&serde_json::json!({"deleted": id}), || {
                format!("deleted {id}")
            });
        }
    }
    Ok(())
}

fn read_token(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("admin.token");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no --token and cannot read {} (pass --token, set CALLSIDE_ADMIN_TOKEN, or --data-dir)",
            path.display()
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        bail!("{} is empty", path.display());
    }
    Ok(token.to_owned())
}

async fn device(cmd: DeviceCommand, client: &Client, out: &Output) -> anyhow::Result<()> {
    match cmd {
        DeviceCommand::Create { name, numbers } => {
            let created = client
                .create_device(&CreateDevice { name, numbers })
                .await?;
            out.result(&created, || {
                format!(
                    "device {} ({}) numbers {}\ntoken: {}\n{SHOWN_ONCE}",
                    created.device.id,
                    created.device.name,
                    created.device.numbers.join(", "),
                    created.token
                )
            });
            if out.per_line() {
                out.progress(SHOWN_ONCE);
            }
        }
        DeviceCommand::List => {
            let devices = client.list_devices().await?;
            if out.per_line() {
                devices.iter().for_each(|d| out.json_line(d));
            } else if devices.is_empty() {
                out.text("no devices");
            } else {
                for d in &devices {
                    out.text(&format!("{}  {}  {}", d.id, d.name, d.numbers.join(", ")));
                }
            }
        }
        DeviceCommand::Delete { id } => {
            client.delete_device(&id).await?;
            out.result(&serde_json::json!({ "deleted": id }), || {
                format!("deleted device {id}")
            });
        }
        DeviceCommand::Export { id, output } => {
            let data = client.export_device(&id).await?;
            print_export(&data, output.as_deref(), out)?;
        }
        DeviceCommand::Erase { id, yes } => {
            if !yes {
                bail!(
                    "erasing {id} cannot be undone: add --yes (`callside admin device export {id} --output FILE` first keeps a copy for the person)"
                );
            }
            let erased = client.erase_device(&id).await?;
            out.result(&erased, || {
                format!(
                    "erased {}: {} row(s) deleted, {} redacted (its messages stay in their sessions as `erased`), {} kept until retention removes them (see `export`), {} file(s) deleted",
                    erased.device, erased.deleted, erased.redacted, erased.kept, erased.files_deleted
                )
            });
        }
        DeviceCommand::RotateToken { id } => {
            let rotated = client.rotate_device_token(&id).await?;
            out.result(&rotated, || {
                format!("new token for {id}: {}\n{SHOWN_ONCE}", rotated.token)
            });
        }
    }
    Ok(())
}

async fn service(cmd: ServiceCommand, client: &Client, out: &Output) -> anyhow::Result<()> {
    match cmd {
        ServiceCommand::Create {
            name,
            scopes,
            ranges,
        } => {
            let created = client
                .create_service_account(&CreateServiceAccount {
                    name,
                    scopes: scopes.into_iter().map(Scope::from).collect(),
                    ranges,
                })
                .await?;
            out.result(&created, || {
                format!(
                    "service account {} ({}) scopes {} ranges {}\ntoken: {}\n{SHOWN_ONCE}",
                    created.account.id,
                    created.account.name,
                    crate::render::names(&created.account.scopes),
                    created.account.ranges.join(", "),
                    created.token
                )
            });
            if out.per_line() {
                out.progress(SHOWN_ONCE);
            }
        }
        ServiceCommand::List => {
            let accounts = client.list_service_accounts().await?;
            if out.per_line() {
                accounts.iter().for_each(|a| out.json_line(a));
            } else if accounts.is_empty() {
                out.text("no service accounts");
            } else {
                for a in &accounts {
                    out.text(&format!(
                        "{}  {}  {}  {}",
                        a.id,
                        a.name,
                        crate::render::names(&a.scopes),
                        a.ranges.join(", ")
                    ));
                }
            }
        }
        ServiceCommand::Delete { id } => {
            client.delete_service_account(&id).await?;
            out.result(&serde_json::json!({ "deleted": id }), || {
                format!("deleted service account {id}")
            });
        }
        ServiceCommand::RotateToken { id } => {
            let rotated = client.rotate_service_account_token(&id).await?;
            out.result(&rotated, || {
                format!("new token for {id}: {}\n{SHOWN_ONCE}", rotated.token)
            });
        }
    }
    Ok(())
}

/// A device's export: to `output` as pretty JSON, else as a summary (`--json`: the whole export
/// as one line).
pub(crate) fn print_export(
    data: &callside_client::proto::admin::PersonalData,
    output: Option<&Path>,
    out: &Output,
) -> anyhow::Result<()> {
    use callside_client::proto::admin::OnErase;
    let rows: usize = data.tables.iter().map(|t| t.rows.len()).sum();
    if let Some(path) = output {
        let text = serde_json::to_string_pretty(data).context("the export as JSON")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        out.result(
            &serde_json::json!({"device": data.device, "rows": rows, "written": path}),
            || {
                format!(
                    "wrote {rows} row(s) about {} to {}",
                    data.device,
                    path.display()
                )
            },
        );
        return Ok(());
    }
    out.result(data, || {
        let mut s = format!("{}: {rows} row(s)", data.device);
        for t in data.tables.iter().filter(|t| !t.rows.is_empty()) {
            let erase = match t.on_erase {
                OnErase::Delete => "erase deletes them".to_owned(),
                OnErase::Redact => "erase redacts them".to_owned(),
                OnErase::Keep => format!(
                    "erase keeps them: {}",
                    t.kept_because.as_deref().unwrap_or("")
                ),
            };
            s.push_str(&format!(
                "\n  {:<22} {:>6}  ({erase})",
                t.table,
                t.rows.len()
            ));
        }
        s.push_str("\n(--output FILE writes the whole export as JSON)");
        s
    });
    Ok(())
}

/// `callside admin backup`: works on the data directory itself, not through the API.
fn backup(data_dir: &Path, config: Option<PathBuf>, to: &Path, out: &Output) -> anyhow::Result<()> {
    let config = callside_server::config::Config::load(&callside_server::config::Overrides {
        config_files: config.into_iter().collect(),
        listen: None,
        data_dir: Some(data_dir.to_owned()),
    })
    .context("invalid configuration")?;
    let started = std::time::Instant::now();
    let summary = callside_server::backup::run(&config, to, |step| out.progress(step))
        .context("the backup failed")?;
    out.result(
        &serde_json::json!({
            "backup": summary.dest,
            "database_bytes": summary.database_bytes,
            "files": summary.files,
            "file_bytes": summary.file_bytes,
            "secs": started.elapsed().as_secs_f64(),
        }),
        || {
            format!(
                "backed up {} into {} in {:.1} s: the database ({} KiB) and {} other files ({} KiB)\nrestore: callside serve --data-dir {}",
                data_dir.display(),
                summary.dest.display(),
                started.elapsed().as_secs_f64(),
                summary.database_bytes / 1024,
                summary.files,
                summary.file_bytes / 1024,
                summary.dest.display()
            )
        },
    );
    Ok(())
}
