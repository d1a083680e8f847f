//! The configuration as written: every key optional, one struct per TOML table, and how each
//! is validated into its part of [`Config`].

use super::*;

/// The configuration as written: every key optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
    pub data_dir: Option<PathBuf>,
    pub default_region: Option<String>,
    pub registry_fqdn: Option<String>,
    #[serde(default)]
    pub database: RawDatabase,
    #[serde(default)]
    pub matching: RawMatching,
    #[serde(default)]
    pub sessions: RawSessions,
    #[serde(default)]
    pub channel: RawChannel,
    #[serde(default)]
    pub blobs: RawBlobs,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub sms: RawSms,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub turn: RawTurn,
    #[serde(default)]
    pub invitations: RawInvitations,
    #[serde(default)]
    pub push: super::push::RawPush,
    #[serde(default)]
    pub mail: RawMail,
    #[serde(default)]
    pub cards: RawCards,
    #[serde(default)]
    pub transformers: Vec<RawTransformer>,
    #[serde(default)]
    pub authorization: RawAuthorization,
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default)]
    pub kamailio: RawKamailio,
    #[serde(default)]
    pub browsers: RawBrowsers,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub retention: super::retention::RawRetention,
    #[serde(default)]
    pub tokens: super::tokens::RawTokens,
    #[serde(default)]
    pub cluster: super::cluster::RawCluster,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<String>,
    pub access: Option<bool>,
}

/// Browsers linked to devices (issue 14): token lifetimes and the origins allowed to call the API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBrowsers {
    pub origins: Option<Vec<String>>,
    pub access_secs: Option<u64>,
    pub refresh_days: Option<u64>,
    pub link_secs: Option<u64>,
    pub sip_gateway: Option<String>,
}

impl RawBrowsers {
    fn validate(self) -> Result<super::Browsers, ConfigError> {
        let mut origins = Vec::new();
        for o in self.origins.unwrap_or_default() {
            // An origin is scheme://host[:port], nothing after it: what a browser sends.
            let ok = (o.starts_with("https://") || o.starts_with("http://"))
                && !o.ends_with('/')
                && o.split_once("://").is_some_and(|(_, rest)| {
                    !rest.is_empty() && !rest.contains(['/', '?', '#', ' ', '*'])
                });
            if !ok {
                return Err(invalid(
                    "browsers.origins",
                    &o,
                    "each must be an origin such as https://app.example.com (scheme, host, optional port; no path, no wildcard)",
                ));
            }
            origins.push(o);
        }
        let refresh_days = self.refresh_days.unwrap_or(30);
        if !(1..=365).contains(&refresh_days) {
            return Err(invalid(
                "browsers.refresh_days",
                refresh_days,
                "must be 1-365",
            ));
        }
        let gateway = self.sip_gateway.map(|g| match url::Url::parse(&g) {
            Ok(u) if matches!(u.scheme(), "ws" | "wss") && u.host().is_some() => Ok(g),
            _ => Err(invalid(
                "browsers.sip_gateway",
                &g,
                "must be a ws:// or wss:// URL",
            )),
        });
        Ok(super::Browsers {
            sip_gateway: gateway.transpose()?,
            origins,
            access_ttl: secs("browsers.access_secs", self.access_secs, 900, 60..=86_400)?,
            refresh_ttl: Duration::from_secs(refresh_days * 86_400),
            link_ttl: secs("browsers.link_secs", self.link_secs, 300, 30..=3_600)?,
        })
    }
}

/// The SIP proxy's JSON-RPC (deploy/kamailio): reconciliation, click-to-dial, ending calls.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKamailio {
    pub rpc_url: Option<String>,
    pub account: Option<String>,
    pub sip_address: Option<String>,
    pub reconcile_secs: Option<u64>,
}

/// Where `/metrics` is served without a token (for a Prometheus on a private interface).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: Option<String>,
}

/// The authorization server for components that need a grant (S1-F8).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorization {
    pub url: Option<String>,
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransformer {
    pub app: String,
    pub url: String,
    pub secret: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCards {
    pub allow_private_urls: Option<bool>,
    pub fetch_timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMail {
    pub smtp_url: Option<String>,
    pub from: Option<String>,
    pub validation_ttl_secs: Option<u64>,
    pub link: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInvitations {
    pub ttl_secs: Option<u64>,
    pub one_sided_after_secs: Option<u64>,
    pub sms_link: Option<String>,
    pub sms_link_ttl_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTurn {
    pub urls: Option<Vec<String>>,
    pub stun_urls: Option<Vec<String>>,
    pub secret: Option<String>,
    pub ttl_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSms {
    pub provider: Option<String>,
    pub number: Option<String>,
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub bearer: Option<String>,
    pub proof_ttl_secs: Option<u64>,
    pub stale_after_days: Option<u64>,
    pub lapse_after_days: Option<u64>,
    pub inbound_allow: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub proofs_per_device_hour: Option<u32>,
    pub proofs_per_source_hour: Option<u32>,
    pub sms_per_number_hour: Option<u32>,
    pub sms_per_prefix_hour: Option<u32>,
    pub prefix_digits: Option<usize>,
    pub inbound_sms_per_source_minute: Option<u32>,
    pub enrollments_per_source_hour: Option<u32>,
    pub invitations_per_device_hour: Option<u32>,
    pub sms_invitations_per_number_day: Option<u32>,
    pub emails_per_device_hour: Option<u32>,
    pub sms_invitations_per_hour: Option<u32>,
    pub invitations_per_target_hour: Option<u32>,
    pub click_to_dial_per_device_hour: Option<u32>,
    pub browser_links_per_device_hour: Option<u32>,
    pub link_attempts_per_source_minute: Option<u32>,
    pub clicks_per_source_minute: Option<u32>,
    pub clicks_per_merchant_minute: Option<u32>,
    pub turn_credentials_per_device_hour: Option<u32>,
    pub call_notes_per_device_hour: Option<u32>,
    pub emails_per_address_day: Option<u32>,
    pub connections: Option<u32>,
    pub header_read_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    /// PostgreSQL instead of the embedded SQLite: `postgres://user@host:port/db`.
    pub url: Option<String>,
    /// The PostgreSQL password, when not in the URL (or `password_file`).
    pub password: Option<String>,
    /// With `sslmode=require`: the certificate authority PostgreSQL's certificate chains to.
    pub ca_file: Option<PathBuf>,
    pub path: Option<PathBuf>,
    pub synchronous: Option<String>,
    pub checkpoint_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatching {
    pub window_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSessions {
    pub lifecycle: Option<String>,
    pub idle_timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    pub heartbeat_secs: Option<u64>,
    pub max_message_bytes: Option<usize>,
    pub long_poll_max_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBlobs {
    pub dir: Option<PathBuf>,
    pub max_bytes: Option<u64>,
    pub min_free_bytes: Option<u64>,
    pub bytes_per_principal_day: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub token_file: Option<PathBuf>,
    pub server_key_file: Option<PathBuf>,
}

fn count(key: &'static str, v: Option<u32>, default: u32) -> Result<u32, ConfigError> {
    match v.unwrap_or(default) {
        0 => Err(invalid(key, 0, "must be at least 1")),
        n => Ok(n),
    }
}

impl RawSms {
    fn validate(self, region: Region) -> Result<Sms, ConfigError> {
        let need = |key: &'static str, v: Option<String>, provider: &str| {
            v.filter(|s| !s.is_empty()).ok_or_else(|| {
                invalid(
                    key,
                    "",
                    format!("is required with sms.provider = \"{provider}\""),
                )
            })
        };
        let provider_s = self.provider.unwrap_or_else(|| "none".into());
        let provider = match provider_s.as_str() {
            "none" => SmsProvider::None,
            "kannel" => SmsProvider::Kannel {
                url: need("sms.url", self.url, "kannel")?,
                username: need("sms.username", self.username, "kannel")?,
                password: need("sms.password", self.password, "kannel")?,
            },
            "http" => SmsProvider::Http {
                url: need("sms.url", self.url, "http")?,
                bearer: self.bearer.filter(|b| !b.is_empty()),
            },
            other => {
                return Err(invalid(
                    "sms.provider",
                    other,
                    "use `none`, `kannel` (Kannel's sendsms) or `http` (a JSON SMS API)",
                ))
            }
        };
        if let SmsProvider::Kannel { url, .. } | SmsProvider::Http { url, .. } = &provider {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(
                    "sms.url",
                    url,
                    "must be an http:// or https:// URL",
                ));
            }
        }
        let number = match self.number.filter(|n| !n.is_empty()) {
            Some(n) => Some(
                callside_core::PhoneNumber::parse(&n, Some(region))
                    .map_err(|e| invalid("sms.number", &n, e))?,
            ),
            None if provider != SmsProvider::None => {
                return Err(invalid(
                    "sms.number",
                    "",
                    "is required when an SMS provider is set: devices send their SMS there",
                ))
            }
            None => None,
        };
        let inbound_allow = self
            .inbound_allow
            .unwrap_or_else(|| vec!["127.0.0.1/32".into(), "::1/128".into()])
            .iter()
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        invalid(
                            "sms.inbound_allow",
                            s,
                            "use addresses or CIDR networks such as 10.0.0.0/8",
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        let days = self.stale_after_days.unwrap_or(30);
        if !(1..=3650).contains(&days) {
            return Err(invalid(
                "sms.stale_after_days",
                days,
                "must be 1 to 3650 days",
            ));
        }
        let lapse_days = self.lapse_after_days.unwrap_or(90);
        if lapse_days > 3650 {
            return Err(invalid(
                "sms.lapse_after_days",
                lapse_days,
                "must be 0 (never) to 3650 days",
            ));
        }
        Ok(Sms {
            provider,
            number,
            proof_ttl: secs("sms.proof_ttl_secs", self.proof_ttl_secs, 600, 30..=86_400)?,
            stale_after: Duration::from_secs(days * 86_400),
            lapse_after: (lapse_days > 0).then(|| Duration::from_secs(lapse_days * 86_400)),
            inbound_allow,
        })
    }
}

impl RawTurn {
    fn validate(self) -> Result<Turn, ConfigError> {
        let urls = self.urls.unwrap_or_default();
        let stun_urls = self.stun_urls.unwrap_or_default();
        for u in &urls {
            if !(u.starts_with("turn:") || u.starts_with("turns:")) {
                return Err(invalid(
                    "turn.urls",
                    u,
                    "use turn: or turns: URIs, e.g. turn:turn.example.com:3478?transport=udp",
                ));
            }
        }
        for u in &stun_urls {
            if !(u.starts_with("stun:") || u.starts_with("stuns:")) {
                return Err(invalid(
                    "turn.stun_urls",
                    u,
                    "use stun: or stuns: URIs, e.g. stun:turn.example.com:3478",
                ));
            }
        }
        let secret = self.secret.filter(|s| !s.is_empty());
        if !urls.is_empty() && secret.is_none() {
            return Err(invalid(
                "turn.secret",
                "",
                "is required with turn.urls: it is the TURN server's static-auth-secret",
            ));
        }
        Ok(Turn {
            urls,
            stun_urls,
            secret,
            ttl: secs("turn.ttl_secs", self.ttl_secs, 3600, 60..=86_400)?,
        })
    }
}

impl RawLimits {
    fn validate(self) -> Result<Limits, ConfigError> {
        let prefix_digits = self.prefix_digits.unwrap_or(6);
        if !(1..=14).contains(&prefix_digits) {
            return Err(invalid(
                "limits.prefix_digits",
                prefix_digits,
                "must be 1 to 14",
            ));
        }
        Ok(Limits {
            proofs_per_device_hour: count(
                "limits.proofs_per_device_hour",
                self.proofs_per_device_hour,
                5,
            )?,
            proofs_per_source_hour: count(
                "limits.proofs_per_source_hour",
                self.proofs_per_source_hour,
                30,
            )?,
            sms_per_number_hour: count("limits.sms_per_number_hour", self.sms_per_number_hour, 5)?,
            sms_per_prefix_hour: count(
                "limits.sms_per_prefix_hour",
                self.sms_per_prefix_hour,
                100,
            )?,
            prefix_digits,
            inbound_sms_per_source_minute: count(
                "limits.inbound_sms_per_source_minute",
                self.inbound_sms_per_source_minute,
                600,
            )?,
            enrollments_per_source_hour: count(
                "limits.enrollments_per_source_hour",
                self.enrollments_per_source_hour,
                30,
            )?,
            invitations_per_device_hour: count(
                "limits.invitations_per_device_hour",
                self.invitations_per_device_hour,
                60,
            )?,
            sms_invitations_per_number_day: count(
                "limits.sms_invitations_per_number_day",
                self.sms_invitations_per_number_day,
                1,
            )?,
            emails_per_device_hour: count(
                "limits.emails_per_device_hour",
                self.emails_per_device_hour,
                5,
            )?,
            sms_invitations_per_hour: count(
                "limits.sms_invitations_per_hour",
                self.sms_invitations_per_hour,
                100,
            )?,
            invitations_per_target_hour: count(
                "limits.invitations_per_target_hour",
                self.invitations_per_target_hour,
                20,
            )?,
            click_to_dial_per_device_hour: count(
                "limits.click_to_dial_per_device_hour",
                self.click_to_dial_per_device_hour,
                20,
            )?,
            browser_links_per_device_hour: count(
                "limits.browser_links_per_device_hour",
                self.browser_links_per_device_hour,
                20,
            )?,
            link_attempts_per_source_minute: count(
                "limits.link_attempts_per_source_minute",
                self.link_attempts_per_source_minute,
                10,
            )?,
            clicks_per_source_minute: count(
                "limits.clicks_per_source_minute",
                self.clicks_per_source_minute,
                20,
            )?,
            clicks_per_merchant_minute: count(
                "limits.clicks_per_merchant_minute",
                self.clicks_per_merchant_minute,
                600,
            )?,
            turn_credentials_per_device_hour: count(
                "limits.turn_credentials_per_device_hour",
                self.turn_credentials_per_device_hour,
                120,
            )?,
            call_notes_per_device_hour: count(
                "limits.call_notes_per_device_hour",
                self.call_notes_per_device_hour,
                60,
            )?,
            emails_per_address_day: count(
                "limits.emails_per_address_day",
                self.emails_per_address_day,
                10,
            )?,
            connections: count("limits.connections", self.connections, 50_000)?,
            header_read: secs(
                "limits.header_read_secs",
                self.header_read_secs,
                10,
                1..=300,
            )?,
        })
    }
}

pub(super) fn invalid(
    key: &'static str,
    value: impl ToString,
    reason: impl ToString,
) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

pub(super) fn secs(
    key: &'static str,
    v: Option<u64>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, ConfigError> {
    let v = v.unwrap_or(default);
    if range.contains(&v) {
        Ok(Duration::from_secs(v))
    } else {
        Err(invalid(
            key,
            v,
            format!(
                "must be between {} and {} seconds",
                range.start(),
                range.end()
            ),
        ))
    }
}

impl RawConfig {
    pub fn validate(self) -> Result<Config, ConfigError> {
        let listen_s = self.listen.unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen_s.parse().map_err(|e| {
            invalid(
                "listen",
                &listen_s,
                format!("{e}; use IP:PORT such as 127.0.0.1:8080"),
            )
        })?;
        let data_dir = self.data_dir.unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        let default_region: Option<Region> = self
            .default_region
            .map(|r| {
                r.parse()
                    .map_err(|e: callside_core::NumberError| invalid("default_region", &r, e))
            })
            .transpose()?;
        let registry_fqdn = self.registry_fqdn.unwrap_or_else(|| "localhost".into());
        if registry_fqdn.is_empty() || registry_fqdn.len() > 253 {
            return Err(invalid(
                "registry_fqdn",
                &registry_fqdn,
                "must be a host name",
            ));
        }
        let database = match self.database.url {
            Some(url) => {
                for (key, set) in [
                    ("database.path", self.database.path.is_some()),
                    ("database.synchronous", self.database.synchronous.is_some()),
                    (
                        "database.checkpoint_secs",
                        self.database.checkpoint_secs.is_some(),
                    ),
                ] {
                    if set {
                        return Err(invalid(
                            key,
                            "set",
                            "is a SQLite setting; with database.url (PostgreSQL) remove it",
                        ));
                    }
                }
                callside_store::postgres::check_url(&url).map_err(|e| {
                    invalid(
                        "database.url",
                        callside_store::postgres::redact(&url),
                        format!("{e}; write it as postgres://user@host:port/database"),
                    )
                })?;
                if let Some(ca) = &self.database.ca_file {
                    if !callside_store::postgres::requires_tls(&url) {
                        return Err(invalid(
                            "database.ca_file",
                            ca.display(),
                            "is for TLS: add sslmode=require to database.url",
                        ));
                    }
                }
                Database::Postgres {
                    url,
                    password: self.database.password,
                    ca_file: self.database.ca_file,
                }
            }
            None => {
                if self.database.password.is_some() {
                    return Err(invalid(
                        "database.password",
                        super::REDACTED,
                        "is for PostgreSQL; set database.url too, or remove it",
                    ));
                }
                if let Some(ca) = &self.database.ca_file {
                    return Err(invalid(
                        "database.ca_file",
                        ca.display(),
                        "is for PostgreSQL; set database.url too, or remove it",
                    ));
                }
                let synchronous =
                    match self.database.synchronous.as_deref().unwrap_or("normal") {
                        "normal" => Synchronous::Normal,
                        "full" => Synchronous::Full,
                        other => return Err(invalid(
                            "database.synchronous",
                            other,
                            "use `normal` (survives kill -9) or `full` (also survives power loss)",
                        )),
                    };
                Database::Sqlite {
                    path: self
                        .database
                        .path
                        .unwrap_or_else(|| data_dir.join("callside.sqlite")),
                    synchronous,
                    checkpoint: secs(
                        "database.checkpoint_secs",
                        self.database.checkpoint_secs,
                        10,
                        1..=3600,
                    )?,
                }
            }
        };
        let lifecycle_s = self
            .sessions
            .lifecycle
            .unwrap_or_else(|| "keep_after_call".into());
        let lifecycle = Lifecycle::parse(&lifecycle_s).ok_or_else(|| {
            invalid(
                "sessions.lifecycle",
                &lifecycle_s,
                "use `keep_after_call` or `close_with_call`",
            )
        })?;
        let max_message_bytes = self.channel.max_message_bytes.unwrap_or(64 * 1024);
        if !(256..=1024 * 1024).contains(&max_message_bytes) {
            return Err(invalid(
                "channel.max_message_bytes",
                max_message_bytes,
                "must be between 256 bytes and 1 MiB (files go in blobs)",
            ));
        }
        let max_blob_bytes = self.blobs.max_bytes.unwrap_or(25 * 1024 * 1024);
        if max_blob_bytes == 0 {
            return Err(invalid("blobs.max_bytes", 0, "must be more than 0"));
        }
        let blob_bytes_per_principal_day = self
            .blobs
            .bytes_per_principal_day
            .unwrap_or(2 * 1024 * 1024 * 1024);
        if blob_bytes_per_principal_day < max_blob_bytes {
            return Err(invalid(
                "blobs.bytes_per_principal_day",
                blob_bytes_per_principal_day,
                "must be at least blobs.max_bytes",
            ));
        }
        let cluster = self.cluster.validate()?;
        if let (Some(c), Database::Sqlite { .. }) = (&cluster, &database) {
            return Err(invalid(
                "cluster.nats_url",
                c.nats.join(","),
                "the nodes of a cluster share one PostgreSQL database: set database.url too",
            ));
        }
        Ok(Config {
            listen,
            default_region,
            registry_fqdn,
            database,
            match_window: secs(
                "matching.window_secs",
                self.matching.window_secs,
                120,
                1..=3600,
            )?,
            lifecycle,
            idle_timeout: secs(
                "sessions.idle_timeout_secs",
                self.sessions.idle_timeout_secs,
                86_400,
                60..=31_536_000,
            )?,
            heartbeat: secs(
                "channel.heartbeat_secs",
                self.channel.heartbeat_secs,
                20,
                1..=600,
            )?,
            max_message_bytes,
            long_poll_max: secs(
                "channel.long_poll_max_secs",
                self.channel.long_poll_max_secs,
                60,
                1..=300,
            )?,
            blob_dir: self.blobs.dir.unwrap_or_else(|| data_dir.join("blobs")),
            blob_min_free_bytes: self.blobs.min_free_bytes.unwrap_or(1024 * 1024 * 1024),
            blob_bytes_per_principal_day,
            max_blob_bytes,
            admin_token_file: self
                .admin
                .token_file
                .unwrap_or_else(|| data_dir.join("admin.token")),
            server_key_file: self
                .admin
                .server_key_file
                .unwrap_or_else(|| data_dir.join("server.key")),
            sms: self
                .sms
                .validate(crate::numbers::Regions::new(default_region).default())?,
            limits: self.limits.validate()?,
            turn: self.turn.validate()?,
            push: self.push.validate(&data_dir)?,
            metrics_listen: match self.metrics.listen.as_deref() {
                None | Some("") => None,
                Some(l) => Some(l.parse::<SocketAddr>().map_err(|e| {
                    invalid(
                        "metrics.listen",
                        l,
                        format!("{e}; give an address and port"),
                    )
                })?),
            },
            cards_allow_private_urls: self.cards.allow_private_urls.unwrap_or(false),
            transformers: {
                let mut map = std::collections::BTreeMap::new();
                for t in self.transformers {
                    let name_ok = (1..=64).contains(&t.app.len())
                        && t.app.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                        });
                    if !name_ok {
                        return Err(invalid(
                            "transformers.app",
                            &t.app,
                            "an app name as in `app/<name>`: 1-64 of a-z 0-9 . _ -",
                        ));
                    }
                    if !(t.url.starts_with("https://") || t.url.starts_with("http://")) {
                        return Err(invalid(
                            "transformers.url",
                            &t.url,
                            "must be an http(s) URL",
                        ));
                    }
                    if t.secret.len() < 16 {
                        return Err(invalid(
                            "transformers.secret",
                            "",
                            "must be at least 16 characters",
                        ));
                    }
                    if map.insert(t.app.clone(), (t.url, t.secret)).is_some() {
                        return Err(invalid("transformers.app", &t.app, "appears twice"));
                    }
                }
                map
            },
            kamailio: self.kamailio.resolve()?,
            browsers: self.browsers.validate()?,
            trusted_proxies: self
                .trusted_proxies
                .unwrap_or_default()
                .iter()
                .map(|s| {
                    s.parse::<ipnet::IpNet>()
                        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| {
                            invalid(
                                "trusted_proxies",
                                s,
                                "use addresses or CIDR networks such as 10.0.0.0/8",
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            ignored_env: Vec::new(),
            log: super::Log {
                json: match self.log.format.as_deref().unwrap_or("text") {
                    "text" => false,
                    "json" => true,
                    other => return Err(invalid("log.format", other, "must be text or json")),
                },
                access: self.log.access.unwrap_or(true),
            },
            retention: self.retention.validate()?,
            tokens: self.tokens.validate()?,
            cluster,
            authorization: match (
                self.authorization.url.filter(|u| !u.is_empty()),
                self.authorization.secret,
            ) {
                (None, _) => None,
                (Some(url), _) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                    return Err(invalid("authorization.url", &url, "must be an http(s) URL"))
                }
                (Some(url), Some(secret)) if secret.len() >= 16 => Some((url, secret)),
                (Some(_), _) => {
                    return Err(invalid(
                        "authorization.secret",
                        "",
                        "must be set, at least 16 characters, when authorization.url is",
                    ))
                }
            },
            cards_fetch_timeout: secs(
                "cards.fetch_timeout_secs",
                self.cards.fetch_timeout_secs,
                5,
                1..=60,
            )?,
            mail: Mail {
                smtp_url: match self.mail.smtp_url.filter(|u| !u.is_empty()) {
                    Some(u) if u.starts_with("smtp://") || u.starts_with("smtps://") => Some(u),
                    Some(u) => return Err(invalid(
                        "mail.smtp_url",
                        u,
                        "use smtp://host:port, smtp://host:port?tls=required or smtps://host:port",
                    )),
                    None => None,
                },
                from: {
                    let from = self
                        .mail
                        .from
                        .unwrap_or_else(|| "callside <noreply@localhost>".into());
                    if from.parse::<lettre::message::Mailbox>().is_err() {
                        return Err(invalid(
                            "mail.from",
                            from,
                            "must be a mailbox such as `callside <noreply@example.com>`",
                        ));
                    }
                    from
                },
                validation_ttl: secs(
                    "mail.validation_ttl_secs",
                    self.mail.validation_ttl_secs,
                    86_400,
                    60..=604_800,
                )?,
                link: self.mail.link.filter(|l| !l.is_empty()),
            },
            invitation_ttl: secs(
                "invitations.ttl_secs",
                self.invitations.ttl_secs,
                60,
                5..=86_400,
            )?,
            one_sided_after: secs(
                "invitations.one_sided_after_secs",
                self.invitations.one_sided_after_secs,
                15,
                0..=3600,
            )?,
            sms_link: match self.invitations.sms_link.filter(|l| !l.is_empty()) {
                Some(l)
                    if (l.starts_with("https://") || l.starts_with("http://"))
                        && l.contains("{invitation}") =>
                {
                    Some(l)
                }
                Some(l) => {
                    return Err(invalid(
                        "invitations.sms_link",
                        l,
                        "must be an http(s) URL containing {invitation}",
                    ))
                }
                None => None,
            },
            sms_link_ttl: secs(
                "invitations.sms_link_ttl_secs",
                self.invitations.sms_link_ttl_secs,
                900,
                60..=86_400,
            )?,
            data_dir,
        })
    }
}

impl RawKamailio {
    fn resolve(self) -> Result<Option<super::Kamailio>, ConfigError> {
        let Some(rpc_url) = self.rpc_url.filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        if !(rpc_url.starts_with("http://") || rpc_url.starts_with("https://")) {
            return Err(invalid(
                "kamailio.rpc_url",
                &rpc_url,
                "must be an http(s) URL",
            ));
        }
        let account = match self.account.filter(|a| !a.is_empty()) {
            Some(a) if a.starts_with("svc_") => a,
            Some(a) => {
                return Err(invalid(
                    "kamailio.account",
                    &a,
                    "must be the id (svc_…) of the network-element account Kamailio reports calls as",
                ))
            }
            None => {
                return Err(invalid(
                    "kamailio.account",
                    "",
                    "must be set when kamailio.rpc_url is: the id (svc_…) of the account Kamailio reports calls as",
                ))
            }
        };
        let sip_address = self.sip_address.unwrap_or_else(|| "127.0.0.1:5060".into());
        if sip_address.is_empty() || sip_address.contains(['@', '/', ' ', ';']) {
            return Err(invalid(
                "kamailio.sip_address",
                &sip_address,
                "must be the proxy's host:port",
            ));
        }
        let reconcile = self.reconcile_secs.unwrap_or(60);
        if reconcile == 0 || reconcile > 86_400 {
            return Err(invalid(
                "kamailio.reconcile_secs",
                reconcile.to_string(),
                "must be 1-86400",
            ));
        }
        Ok(Some(super::Kamailio {
            rpc_url,
            account,
            sip_address,
            reconcile: std::time::Duration::from_secs(reconcile),
        }))
    }
}
