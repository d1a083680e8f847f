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
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
}

/// The configuration as written: every key optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub listen: Option<String>,
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
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
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
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub token_file: Option<PathBuf>,
}

/// Where state lives. Only the embedded SQLite backend exists today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite {
        path: PathBuf,
        synchronous: Synchronous,
        /// How often the write-ahead log is copied into the database file.
        checkpoint: Duration,
    },
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub default_region: Region,
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
    pub admin_token_file: PathBuf,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "callside-data";
const ENV_PREFIX: &str = "CALLSIDE_";

impl Config {
    /// Loads every layer: defaults, the TOML file (`--config`, else `$CALLSIDE_CONFIG`), the
    /// `CALLSIDE_*` environment, then `overrides`.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(overrides, &env)
    }

    /// [`Config::load`] with an explicit environment (for tests).
    pub fn load_from(
        overrides: &Overrides,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let file = overrides.config_file.clone().or_else(|| {
            env.iter()
                .find(|(k, _)| k == "CALLSIDE_CONFIG")
                .map(|(_, v)| PathBuf::from(v))
        });
        let mut table = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Parse {
                        origin: path.display().to_string(),
                        message: e.to_string(),
                    })?
            }
            None => toml::Table::new(),
        };
        overlay_env(&mut table, env)?;
        let mut raw: RawConfig =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    origin: match &file {
                        Some(p) => format!("{} (with CALLSIDE_* environment)", p.display()),
                        None => "CALLSIDE_* environment".into(),
                    },
                    message: e.to_string(),
                })?;
        if let Some(l) = &overrides.listen {
            raw.listen = Some(l.clone());
        }
        if let Some(d) = &overrides.data_dir {
            raw.data_dir = Some(d.clone());
        }
        raw.validate()
    }

    /// The effective configuration as TOML (what `callside config` prints).
    pub fn to_toml(&self) -> String {
        let Database::Sqlite {
            path,
            synchronous,
            checkpoint,
        } = &self.database;
        let raw = RawConfig {
            listen: Some(self.listen.to_string()),
            data_dir: Some(self.data_dir.clone()),
            default_region: Some(self.default_region.to_string()),
            registry_fqdn: Some(self.registry_fqdn.clone()),
            database: RawDatabase {
                path: Some(path.clone()),
                synchronous: Some(
                    match synchronous {
                        Synchronous::Normal => "normal",
                        Synchronous::Full => "full",
                    }
                    .into(),
                ),
                checkpoint_secs: Some(checkpoint.as_secs()),
            },
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
            },
            admin: RawAdmin {
                token_file: Some(self.admin_token_file.clone()),
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

/// `CALLSIDE_MATCHING__WINDOW_SECS=30` sets `[matching] window_secs = 30`: the prefix is removed,
/// `__` separates table and key, and values are read as TOML scalars when they parse as one.
fn overlay_env(table: &mut toml::Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    for (key, value) in env {
        let Some(rest) = key.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if rest == "CONFIG" || rest == "TOKEN" || rest == "ADMIN_TOKEN" || rest == "SERVER" {
            continue; // used by the CLI, not server settings
        }
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.clone()));
        let (last, parents) = path.split_last().expect("split yields at least one part");
        let mut cursor = &mut *table;
        for p in parents {
            let entry = cursor
                .entry(p.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            cursor = entry.as_table_mut().ok_or_else(|| ConfigError::Parse {
                origin: format!("environment variable {key}"),
                message: format!("`{p}` is not a table"),
            })?;
        }
        cursor.insert(last.clone(), parsed);
    }
    Ok(())
}

fn invalid(key: &'static str, value: impl ToString, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn secs(
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
        let region_s = self.default_region.unwrap_or_else(|| "US".into());
        let default_region: Region = region_s
            .parse()
            .map_err(|e: callside_core::NumberError| invalid("default_region", &region_s, e))?;
        let registry_fqdn = self.registry_fqdn.unwrap_or_else(|| "localhost".into());
        if registry_fqdn.is_empty() || registry_fqdn.len() > 253 {
            return Err(invalid(
                "registry_fqdn",
                &registry_fqdn,
                "must be a host name",
            ));
        }
        let synchronous = match self.database.synchronous.as_deref().unwrap_or("normal") {
            "normal" => Synchronous::Normal,
            "full" => Synchronous::Full,
            other => {
                return Err(invalid(
                    "database.synchronous",
                    other,
                    "use `normal` (survives kill -9) or `full` (also survives power loss)",
                ))
            }
        };
        let database = Database::Sqlite {
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
            max_blob_bytes,
            admin_token_file: self
                .admin
                .token_file
                .unwrap_or_else(|| data_dir.join("admin.token")),
            data_dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn zero_configuration_is_valid() {
        let c = Config::load_from(&Overrides::default(), &[]).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.match_window, Duration::from_secs(120));
        assert_eq!(c.admin_token_file, Path::new("callside-data/admin.token"));
        assert_eq!(c.lifecycle, Lifecycle::KeepAfterCall);
    }

    #[test]
    fn the_example_file_parses_and_says_what_the_defaults_are() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../callside.example.toml");
        let example = Config::load_from(
            &Overrides {
                config_file: Some(path),
                ..Overrides::default()
            },
            &[],
        )
        .unwrap();
        let defaults = Config::load_from(&Overrides::default(), &[]).unwrap();
        assert_eq!(example.to_toml(), defaults.to_toml());
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[matching]\nwindow_secs = 30\n",
        )
        .unwrap();
        let o = Overrides {
            config_file: Some(file),
            ..Overrides::default()
        };
        let c = Config::load_from(
            &o,
            &env(&[
                ("CALLSIDE_MATCHING__WINDOW_SECS", "45"),
                ("CALLSIDE_DEFAULT_REGION", "gb"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.match_window.as_secs(), 45);
        assert_eq!(c.default_region.code(), "GB");
        let o = Overrides {
            listen: Some("127.0.0.1:9100".into()),
            ..o
        };
        assert_eq!(Config::load_from(&o, &[]).unwrap().listen.port(), 9100);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = Config::load_from(
            &Overrides {
                listen: Some("nope".into()),
                ..Overrides::default()
            },
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("`listen`"), "{e}");
        let e = Config::load_from(
            &Overrides::default(),
            &env(&[("CALLSIDE_MATCHING__WINDOW_SECS", "0")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("matching.window_secs"), "{e}");
        let e = Config::load_from(
            &Overrides::default(),
            &env(&[("CALLSIDE_SESSIONS__LIFECYCLE", "forever")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("keep_after_call"), "{e}");
        let e = Config::load_from(
            &Overrides::default(),
            &env(&[("CALLSIDE_NO_SUCH_KEY", "1")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("no_such_key"), "{e}");
        let e = Config::load_from(
            &Overrides::default(),
            &env(&[("CALLSIDE_DEFAULT_REGION", "ZZ")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("default_region"), "{e}");
    }
}
