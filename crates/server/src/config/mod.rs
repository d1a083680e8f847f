//! Configuration in two phases: raw layers (defaults < TOML file < `CALLSIDE_*` environment <
//! command-line flags) merged into a [`RawConfig`], then validated into a [`Config`] whose fields
//! can no longer be wrong.

use callside_core::session::Lifecycle;
use callside_core::Region;
use callside_store::Synchronous;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the configuration was refused. Each message names the key and what would be accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the secret file {path}")]
    ReadSecret {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("`{key}` = {value:?} is not valid: {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        reason: String,
    },
}

/// Values given on the command line; they win over every other layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// TOML files, each laid over the ones before it (tables merge, values replace).
    pub config_files: Vec<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
}

mod cluster;
mod layers;
mod push;
mod raw;
mod retention;
mod tokens;
pub use cluster::Cluster;
pub use retention::Retention;
pub use tokens::Tokens;
#[cfg(test)]
mod tests;

use layers::overlay_env;
pub use raw::*;

/// How mobile-terminated SMS leave callside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsProvider {
    /// No SMS: number proofs are refused with `sms_not_configured`.
    None,
    /// Kannel's smsbox `sendsms` interface (HTTP GET with username and password).
    Kannel {
        url: String,
        username: String,
        password: String,
    },
    /// Any HTTP SMS provider: `POST url` with JSON `{from, to, text}` and a bearer token.
    Http { url: String, bearer: Option<String> },
}

/// Number proof by SMS (S2-R).
#[derive(Debug, Clone)]
pub struct Sms {
    pub provider: SmsProvider,
    /// The operator's SMS number devices send their registration SMS to.
    pub number: Option<callside_core::PhoneNumber>,
    /// How long a proof may take from start to completion.
    pub proof_ttl: Duration,
    /// SMS bindings older than this are replaced when another device proves the number.
    pub stale_after: Duration,
    /// SMS bindings not proven again within this long lapse (the number may have been recycled
    /// to someone else); `None`: they never do.
    pub lapse_after: Option<Duration>,
    /// Addresses allowed to post inbound SMS (besides holding an `sms_gateway` token).
    pub inbound_allow: Vec<ipnet::IpNet>,
}

/// Email identities (S2-E): validation mail goes out through an SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// `smtp://host:port` (plain; a local MTA), `smtp://…?tls=required` (STARTTLS) or
    /// `smtps://host:port`, with `user:password@` when the server wants it. `None`: off.
    pub smtp_url: Option<String>,
    /// The validation mail's sender, e.g. `callside <noreply@example.com>`.
    pub from: String,
    pub validation_ttl: Duration,
    /// A link put in the mail; `{token}` and `{validation}` are replaced.
    pub link: Option<String>,
}

/// Wake-up pushes to devices that are not connected (S1-F1 relay, S2 push tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The VAPID key pair (PEM), created on first start: Web Push is always on.
    pub vapid_key_file: PathBuf,
    /// `mailto:` or `https:` contact the push services see (RFC 8292).
    pub vapid_subject: String,
    /// APNs token auth: team id, key id and the `.p8` key file; all three or none.
    pub apns: Option<(String, String, PathBuf)>,
    /// The apps' bundle ids (APNs topics) devices may register for; the operator's, not theirs.
    pub apns_topics: Vec<String>,
    /// Base URLs of APNs (production, sandbox); Apple's by default.
    pub apns_urls: Option<(String, String)>,
    /// FCM HTTP v1: the service-account JSON file.
    pub fcm_service_account_file: Option<PathBuf>,
    pub fcm_api_base: Option<String>,
    /// At most one wake-up per device in this interval.
    pub wake_interval: Duration,
    /// Accept `http://` and private-address Web Push endpoints (tests only).
    pub allow_http_endpoints: bool,
}

/// Rate limits on what costs money or reveals existence. Counts; `_hour` per hour,
/// `_minute` per minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub proofs_per_device_hour: u32,
    pub proofs_per_source_hour: u32,
    pub sms_per_number_hour: u32,
    pub sms_per_prefix_hour: u32,
    /// Digits of a number (after `+`) that make its prefix for `sms_per_prefix_hour`.
    pub prefix_digits: usize,
    pub inbound_sms_per_source_minute: u32,
    pub enrollments_per_source_hour: u32,
    /// Invitations one device or account may send (they ring phones and reveal who is
    /// registered).
    pub invitations_per_device_hour: u32,
    /// SMS invitations (S1-F7) one number may receive a day.
    pub sms_invitations_per_number_day: u32,
    /// Validation mails one device may ask for.
    pub emails_per_device_hour: u32,
    /// SMS invitations (S1-F7) the whole server sends an hour.
    pub sms_invitations_per_hour: u32,
    /// Invitations one number or address may receive an hour.
    pub invitations_per_target_hour: u32,
    /// Click-to-dial calls one device may ask the SIP proxy to place (they ring two phones).
    pub click_to_dial_per_device_hour: u32,
    /// Browser link codes one device may ask for.
    pub browser_links_per_device_hour: u32,
    /// Link codes and refresh tokens one address may present (they are guessed otherwise).
    pub link_attempts_per_source_minute: u32,
    /// Clicks on merchants' buttons one address may make (S4).
    pub clicks_per_source_minute: u32,
    /// Clicks on one merchant's buttons altogether.
    pub clicks_per_merchant_minute: u32,
    /// TURN credentials one device may get (each spends the operator's relay bandwidth).
    pub turn_credentials_per_device_hour: u32,
    /// Calls with composer data or signed caller data, and post-call notes, one device may send
    /// (each rings or wakes another number's devices).
    pub call_notes_per_device_hour: u32,
    /// Validation mails one address may receive a day, whichever devices ask.
    pub emails_per_address_day: u32,
    /// Connections served at once on each listener; more wait in the kernel's backlog.
    pub connections: u32,
    /// How long a client may take to send a request's headers before its connection is closed
    /// (a client trickling headers would otherwise hold a connection forever).
    pub header_read: Duration,
}

/// Browsers linked to devices (`[browsers]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Browsers {
    /// Origins whose pages may call the API (CORS); the companion app at `/app/` is same-origin
    /// and needs none.
    pub origins: Vec<String>,
    /// How long a browser's access token works (it refreshes before).
    pub access_ttl: Duration,
    /// How long a refresh token works unused; each refresh starts it again.
    pub refresh_ttl: Duration,
    /// How long a link code waits to be typed.
    pub link_ttl: Duration,
    /// The WebRTC-to-SIP gateway (Kamailio's WebSocket, deploy/webrtc-gateway) a visitor's call
    /// window calls a merchant's telephone number through; without it, it shows the number.
    pub sip_gateway: Option<String>,
}

/// The SIP proxy's JSON-RPC (`[kamailio]`, deploy/kamailio).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kamailio {
    /// Kamailio's JSON-RPC over HTTP, e.g. `http://127.0.0.1:5065/RPC`.
    pub rpc_url: String,
    /// The network-element account Kamailio reports calls as: its calls are reconciled against
    /// Kamailio's and ended through it.
    pub account: String,
    /// The proxy's SIP host:port, for click-to-dial URIs.
    pub sip_address: String,
    /// How often live calls are checked against Kamailio's dialogs.
    pub reconcile: Duration,
}

/// Where state lives: the embedded SQLite file (the default), or PostgreSQL.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite {
        path: PathBuf,
        synchronous: Synchronous,
        /// How often the write-ahead log is copied into the database file.
        checkpoint: Duration,
    },
    Postgres {
        /// `postgres://user@host:port/db` or `host=… dbname=…`.
        url: String,
        /// When not in the URL.
        password: Option<String>,
        /// With `sslmode=require`: the certificate authority the server's certificate chains to
        /// (`None`: the public web roots).
        ca_file: Option<PathBuf>,
    },
}

/// Never prints a password.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite {
                path,
                synchronous,
                checkpoint,
            } => f
                .debug_struct("Sqlite")
                .field("path", path)
                .field("synchronous", synchronous)
                .field("checkpoint", checkpoint)
                .finish(),
            Database::Postgres {
                url,
                password,
                ca_file,
            } => f
                .debug_struct("Postgres")
                .field("url", &callside_store::postgres::redact(url))
                .field("password", &password.as_ref().map(|_| REDACTED))
                .field("ca_file", ca_file)
                .finish(),
        }
    }
}

impl Config {
    /// Where numbers written without a country code are read ([`crate::numbers::Regions`]).
    pub(crate) fn regions(&self) -> crate::numbers::Regions {
        crate::numbers::Regions::new(self.default_region)
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Where numbers written without `+<country code>` are read; `None`: in the region of the
    /// writer's own number (the US for the operator and services).
    pub default_region: Option<Region>,
    /// The registry's name as devices know it (S0's FQDN); echoed on leg reports.
    pub registry_fqdn: String,
    pub database: Database,
    /// How long a reported leg waits for its counterpart.
    pub match_window: Duration,
    pub lifecycle: Lifecycle,
    /// Open sessions with no message for this long are closed.
    pub idle_timeout: Duration,
    pub heartbeat: Duration,
    pub max_message_bytes: usize,
    pub long_poll_max: Duration,
    pub blob_dir: PathBuf,
    pub max_blob_bytes: u64,
    /// Uploads are refused while the blob directory's file system has less free space than this
    /// (messages keep working: the database keeps the room).
    pub blob_min_free_bytes: u64,
    /// Bytes one principal may upload a day.
    pub blob_bytes_per_principal_day: u64,
    pub admin_token_file: PathBuf,
    /// 32 random bytes (hex) keying the server's signatures; created on first start.
    pub server_key_file: PathBuf,
    pub sms: Sms,
    pub limits: Limits,
    pub turn: Turn,
    /// How long an invitation rings before it expires.
    pub invitation_ttl: Duration,
    pub push: Push,
    pub mail: Mail,
    /// A listener that serves `/metrics` without the operator's token (bind it to a private
    /// interface); `None`: `/metrics` is on the main listener only, for the operator's token.
    pub metrics_listen: Option<SocketAddr>,
    /// Cards fetched by reference (S3-F13): may the URL point at private or loopback addresses
    /// (tests only), and how long a fetch may take.
    pub cards_allow_private_urls: bool,
    pub cards_fetch_timeout: Duration,
    /// Operator webhooks that derive data from `app/<name>` messages (S1-F1), by app name:
    /// (URL, HMAC secret).
    pub transformers: std::collections::BTreeMap<String, (String, String)>,
    /// The authorization server's webhook (S1-F8): (URL, HMAC secret); `None` means components
    /// that need authorization cannot be offered.
    pub authorization: Option<(String, String)>,
    /// S1-F2: how long a leg waits for the other app before callside asks the other number's
    /// devices to start a session; zero turns this off.
    pub one_sided_after: Duration,
    /// S1-F7 (opt-in): when the other number of a one-sided call has no device, text it this link
    /// (`{invitation}` is replaced by the invitation id); `None` sends nothing.
    pub sms_link: Option<String>,
    /// How long such an invitation waits for the app to be installed and the number proven.
    pub sms_link_ttl: Duration,
    /// The SIP proxy, when callside may ask it things.
    pub kamailio: Option<Kamailio>,
    pub browsers: Browsers,
    /// Reverse proxies whose `X-Forwarded-For` is believed: a request from one of them is from
    /// the address it names (per-address limits and the SMS gateway's allow-list use it).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `CALLSIDE_*` environment variables that name no setting and were skipped (`serve` warns).
    pub ignored_env: Vec<String>,
    pub log: Log,
    /// How long records are kept (`[retention]`).
    pub retention: Retention,
    /// How long tokens work and when one counts as unused (`[tokens]`).
    pub tokens: Tokens,
    /// The other nodes of this service (`[cluster]`); `None`: this node is the whole service.
    pub cluster: Option<Cluster>,
}

/// How `serve` logs (`[log]`); what it logs is `RUST_LOG` (default `info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Log {
    /// One JSON object per line instead of text (for log collectors).
    pub json: bool,
    /// An access log: a line per answered request (method, route, status, latency) at `info`.
    pub access: bool,
}

/// STUN/TURN servers handed to devices (S2-I9/I10), with TURN REST credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// `turn:`/`turns:` URIs of a TURN server sharing `secret` (coturn `use-auth-secret`).
    pub urls: Vec<String>,
    /// `stun:`/`stuns:` URIs (no credentials).
    pub stun_urls: Vec<String>,
    pub secret: Option<String>,
    /// How long issued credentials work.
    pub ttl: Duration,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "callside-data";
const ENV_PREFIX: &str = "CALLSIDE_";

impl Config {
    /// Loads every layer: defaults, the TOML files (`--config`, each over the one before; else
    /// `$CALLSIDE_CONFIG`), the `CALLSIDE_*` environment, then `overrides`.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(overrides, &env)
    }

    /// [`Config::load`] with an explicit environment (for tests).
    pub fn load_from(
        overrides: &Overrides,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let files: Vec<PathBuf> = if overrides.config_files.is_empty() {
            env.iter()
                .find(|(k, _)| k == "CALLSIDE_CONFIG")
                .map(|(_, v)| PathBuf::from(v))
                .into_iter()
                .collect()
        } else {
            overrides.config_files.clone()
        };
        let mut table = toml::Table::new();
        for path in &files {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let layer = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Parse {
                    origin: path.display().to_string(),
                    message: e.to_string(),
                })?;
            layers::merge(&mut table, layer);
        }
        let origin = files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" + ");
        let from_file: std::collections::BTreeSet<String> = table.keys().cloned().collect();
        let env_names = overlay_env(&mut table, env)?;
        layers::read_secret_files(&mut table, "")?;
        // A name the environment brought that is no setting at all (Kubernetes injects
        // CALLSIDE_PORT, CALLSIDE_SERVICE_HOST… for a service named `callside`) is skipped with a
        // warning; an unknown key inside a known table (a misspelt setting) stays an error.
        let mut ignored_env = Vec::new();
        let mut raw: RawConfig = loop {
            match toml::Value::Table(table.clone()).try_into::<RawConfig>() {
                Ok(raw) => break raw,
                Err(e) => {
                    let unknown = e
                        .message()
                        .strip_prefix("unknown field `")
                        .and_then(|rest| rest.split_once('`'))
                        .map(|(name, _)| name.to_owned())
                        .filter(|name| !from_file.contains(name) && table.contains_key(name));
                    match unknown
                        .and_then(|name| env_names.get(&name).map(|var| (name, var.clone())))
                    {
                        Some((name, var)) => {
                            table.remove(&name);
                            ignored_env.push(var);
                        }
                        None => {
                            return Err(ConfigError::Parse {
                                origin: if origin.is_empty() {
                                    "CALLSIDE_* environment".into()
                                } else {
                                    format!("{origin} (with CALLSIDE_* environment)")
                                },
                                message: e.to_string(),
                            })
                        }
                    }
                }
            }
        };
        if let Some(l) = &overrides.listen {
            raw.listen = Some(l.clone());
        }
        if let Some(d) = &overrides.data_dir {
            raw.data_dir = Some(d.clone());
        }
        let mut config = raw.validate()?;
        ignored_env.sort();
        config.ignored_env = ignored_env;
        Ok(config)
    }

    /// The effective configuration as TOML (what `callside config` prints).
    pub fn to_toml(&self) -> String {
        let database = match &self.database {
            Database::Sqlite {
                path,
                synchronous,
                checkpoint,
            } => RawDatabase {
                path: Some(path.clone()),
                synchronous: Some(
                    match synchronous {
                        Synchronous::Normal => "normal",
                        Synchronous::Full => "full",
                    }
                    .into(),
                ),
                checkpoint_secs: Some(checkpoint.as_secs()),
                ..RawDatabase::default()
            },
            Database::Postgres {
                url,
                password,
                ca_file,
            } => RawDatabase {
                url: Some(callside_store::postgres::redact(url)),
                password: password.as_ref().map(|_| REDACTED.to_owned()),
                ca_file: ca_file.clone(),
                ..RawDatabase::default()
            },
        };
        let raw = RawConfig {
            listen: Some(self.listen.to_string()),
            trusted_proxies: Some(self.trusted_proxies.iter().map(|n| n.to_string()).collect()),
            log: RawLog {
                format: Some(if self.log.json { "json" } else { "text" }.into()),
                access: Some(self.log.access),
            },
            retention: self.retention.to_raw(),
            tokens: self.tokens.to_raw(),
            cluster: Cluster::to_raw(self.cluster.as_ref()),
            data_dir: Some(self.data_dir.clone()),
            default_region: self.default_region.map(|r| r.to_string()),
            registry_fqdn: Some(self.registry_fqdn.clone()),
            database,
            matching: RawMatching {
                window_secs: Some(self.match_window.as_secs()),
            },
            sessions: RawSessions {
                lifecycle: Some(self.lifecycle.as_str().into()),
                idle_timeout_secs: Some(self.idle_timeout.as_secs()),
            },
            channel: RawChannel {
                heartbeat_secs: Some(self.heartbeat.as_secs()),
                max_message_bytes: Some(self.max_message_bytes),
                long_poll_max_secs: Some(self.long_poll_max.as_secs()),
            },
            blobs: RawBlobs {
                dir: Some(self.blob_dir.clone()),
                max_bytes: Some(self.max_blob_bytes),
                min_free_bytes: Some(self.blob_min_free_bytes),
                bytes_per_principal_day: Some(self.blob_bytes_per_principal_day),
            },
            admin: RawAdmin {
                token_file: Some(self.admin_token_file.clone()),
                server_key_file: Some(self.server_key_file.clone()),
            },
            sms: self.sms.to_raw(),
            metrics: RawMetrics {
                listen: self.metrics_listen.map(|a| a.to_string()),
            },
            turn: RawTurn {
                urls: Some(self.turn.urls.clone()),
                stun_urls: Some(self.turn.stun_urls.clone()),
                secret: self.turn.secret.as_ref().map(|_| REDACTED.to_owned()),
                ttl_secs: Some(self.turn.ttl.as_secs()),
            },
            limits: RawLimits {
                proofs_per_device_hour: Some(self.limits.proofs_per_device_hour),
                proofs_per_source_hour: Some(self.limits.proofs_per_source_hour),
                sms_per_number_hour: Some(self.limits.sms_per_number_hour),
                sms_per_prefix_hour: Some(self.limits.sms_per_prefix_hour),
                prefix_digits: Some(self.limits.prefix_digits),
                inbound_sms_per_source_minute: Some(self.limits.inbound_sms_per_source_minute),
                enrollments_per_source_hour: Some(self.limits.enrollments_per_source_hour),
                invitations_per_device_hour: Some(self.limits.invitations_per_device_hour),
                sms_invitations_per_number_day: Some(self.limits.sms_invitations_per_number_day),
                emails_per_device_hour: Some(self.limits.emails_per_device_hour),
                sms_invitations_per_hour: Some(self.limits.sms_invitations_per_hour),
                invitations_per_target_hour: Some(self.limits.invitations_per_target_hour),
                click_to_dial_per_device_hour: Some(self.limits.click_to_dial_per_device_hour),
                browser_links_per_device_hour: Some(self.limits.browser_links_per_device_hour),
                link_attempts_per_source_minute: Some(self.limits.link_attempts_per_source_minute),
                clicks_per_source_minute: Some(self.limits.clicks_per_source_minute),
                clicks_per_merchant_minute: Some(self.limits.clicks_per_merchant_minute),
                turn_credentials_per_device_hour: Some(
                    self.limits.turn_credentials_per_device_hour,
                ),
                call_notes_per_device_hour: Some(self.limits.call_notes_per_device_hour),
                emails_per_address_day: Some(self.limits.emails_per_address_day),
                connections: Some(self.limits.connections),
                header_read_secs: Some(self.limits.header_read.as_secs()),
            },
            browsers: RawBrowsers {
                origins: Some(self.browsers.origins.clone()),
                access_secs: Some(self.browsers.access_ttl.as_secs()),
                refresh_days: Some(self.browsers.refresh_ttl.as_secs() / 86_400),
                link_secs: Some(self.browsers.link_ttl.as_secs()),
                sip_gateway: self.browsers.sip_gateway.clone(),
            },
            kamailio: match &self.kamailio {
                Some(k) => RawKamailio {
                    rpc_url: Some(k.rpc_url.clone()),
                    account: Some(k.account.clone()),
                    sip_address: Some(k.sip_address.clone()),
                    reconcile_secs: Some(k.reconcile.as_secs()),
                },
                None => RawKamailio::default(),
            },
            transformers: self
                .transformers
                .iter()
                .map(|(app, (url, _))| RawTransformer {
                    app: app.clone(),
                    url: url.clone(),
                    secret: REDACTED.to_owned(),
                })
                .collect(),
            authorization: RawAuthorization {
                url: self.authorization.as_ref().map(|(u, _)| u.clone()),
                secret: self.authorization.as_ref().map(|_| REDACTED.to_owned()),
            },
            cards: RawCards {
                allow_private_urls: Some(self.cards_allow_private_urls),
                fetch_timeout_secs: Some(self.cards_fetch_timeout.as_secs()),
            },
            mail: RawMail {
                smtp_url: self
                    .mail
                    .smtp_url
                    .as_ref()
                    .map(|u| match u.split_once('@') {
                        // user:password@host — the password is not printed.
                        Some((_, host)) if u.contains("://") => {
                            format!(
                                "{}://{REDACTED}@{host}",
                                u.split("://").next().unwrap_or("smtp")
                            )
                        }
                        _ => u.clone(),
                    }),
                from: Some(self.mail.from.clone()),
                validation_ttl_secs: Some(self.mail.validation_ttl.as_secs()),
                link: self.mail.link.clone(),
            },
            push: push::RawPush {
                vapid_key_file: Some(self.push.vapid_key_file.clone()),
                vapid_subject: Some(self.push.vapid_subject.clone()),
                apns_team_id: self.push.apns.as_ref().map(|a| a.0.clone()),
                apns_key_id: self.push.apns.as_ref().map(|a| a.1.clone()),
                apns_key_file: self.push.apns.as_ref().map(|a| a.2.clone()),
                apns_base_url: self.push.apns_urls.as_ref().map(|u| u.0.clone()),
                apns_sandbox_url: self.push.apns_urls.as_ref().map(|u| u.1.clone()),
                apns_topics: Some(self.push.apns_topics.clone()),
                fcm_service_account_file: self.push.fcm_service_account_file.clone(),
                fcm_api_base: self.push.fcm_api_base.clone(),
                wake_interval_secs: Some(self.push.wake_interval.as_secs()),
                allow_http_endpoints: Some(self.push.allow_http_endpoints),
            },
            invitations: RawInvitations {
                ttl_secs: Some(self.invitation_ttl.as_secs()),
                one_sided_after_secs: Some(self.one_sided_after.as_secs()),
                sms_link: self.sms_link.clone(),
                sms_link_ttl_secs: Some(self.sms_link_ttl.as_secs()),
            },
        };
        toml::to_string_pretty(&raw).unwrap_or_else(|e| format!("# cannot print: {e}\n"))
    }

    /// A configuration for tests and the demo: port 0 on loopback, everything under `dir`.
    pub fn for_dir(dir: &Path) -> Config {
        RawConfig {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.to_owned()),
            ..RawConfig::default()
        }
        .validate()
        .expect("the defaults are valid")
    }
}

const REDACTED: &str = "<redacted>";

impl Sms {
    fn to_raw(&self) -> RawSms {
        let (provider, url, username, password, bearer) = match &self.provider {
            SmsProvider::None => ("none", None, None, None, None),
            SmsProvider::Kannel {
                url,
                username,
                password: _,
            } => (
                "kannel",
                Some(url.clone()),
                Some(username.clone()),
                Some(REDACTED.to_owned()),
                None,
            ),
            SmsProvider::Http { url, bearer } => (
                "http",
                Some(url.clone()),
                None,
                None,
                bearer.as_ref().map(|_| REDACTED.to_owned()),
            ),
        };
        RawSms {
            provider: Some(provider.into()),
            number: self.number.as_ref().map(|n| n.as_str().to_owned()),
            url,
            username,
            password,
            bearer,
            proof_ttl_secs: Some(self.proof_ttl.as_secs()),
            stale_after_days: Some(self.stale_after.as_secs() / 86_400),
            lapse_after_days: Some(self.lapse_after.map_or(0, |d| d.as_secs() / 86_400)),
            inbound_allow: Some(self.inbound_allow.iter().map(|n| n.to_string()).collect()),
        }
    }
}
