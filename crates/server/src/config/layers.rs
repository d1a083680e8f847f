//! The layers below the typed configuration: `CALLSIDE_*` environment variables laid over the
//! file's table, and secrets read from the files a setting names.

use super::*;

/// Settings holding a secret may instead name a file holding it: `secret_file`, `password_file`,
/// `bearer_file` (Kubernetes and systemd hand secrets over as files). The file's content, without
/// its trailing newline, becomes the setting; giving both is an error.
const SECRET_KEYS: [&str; 3] = ["secret", "password", "bearer"];

pub(super) fn read_secret_files(table: &mut toml::Table, at: &str) -> Result<(), ConfigError> {
    for name in SECRET_KEYS {
        let file_key = format!("{name}_file");
        let Some(value) = table.remove(&file_key) else {
            continue;
        };
        let shown = if at.is_empty() {
            file_key.clone()
        } else {
            format!("{at}.{file_key}")
        };
        let toml::Value::String(path) = value else {
            return Err(ConfigError::Parse {
                origin: shown,
                message: "must be the path of a file".into(),
            });
        };
        if table.contains_key(name) {
            return Err(ConfigError::Parse {
                origin: shown,
                message: format!("give `{name}` or `{file_key}`, not both"),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::ReadSecret {
            path: PathBuf::from(&path),
            source,
        })?;
        let secret = text.trim_end_matches(['\n', '\r']).to_owned();
        if secret.is_empty() {
            return Err(ConfigError::Parse {
                origin: shown,
                message: format!("{path} is empty"),
            });
        }
        table.insert(name.to_owned(), toml::Value::String(secret));
    }
    for (key, value) in table.iter_mut() {
        let here = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        match value {
            toml::Value::Table(t) => read_secret_files(t, &here)?,
            toml::Value::Array(items) => {
                for item in items.iter_mut() {
                    if let toml::Value::Table(t) = item {
                        read_secret_files(t, &here)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `CALLSIDE_MATCHING__WINDOW_SECS=30` sets `[matching] window_secs = 30`: the prefix is removed,
/// `__` separates table and key, and values are read as TOML scalars when they parse as one.
/// Returns the top-level names the environment set, with the variable that set each.
pub(super) fn overlay_env(
    table: &mut toml::Table,
    env: &[(String, String)],
) -> Result<std::collections::BTreeMap<String, String>, ConfigError> {
    let mut names = std::collections::BTreeMap::new();
    for (key, value) in env {
        let Some(rest) = key.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if rest == "CONFIG" || rest == "TOKEN" || rest == "ADMIN_TOKEN" || rest == "SERVER" {
            continue; // used by the CLI, not server settings
        }
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        // `+44…` is a phone number, not TOML's explicitly positive integer.
        let parsed = (!value.starts_with('+'))
            .then(|| format!("v = {value}").parse::<toml::Table>().ok())
            .flatten()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.clone()));
        names.insert(path[0].clone(), key.clone());
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
    Ok(names)
}

/// Lays `over` on `base`: a table present in both is merged key by key, anything else in `over`
/// replaces what `base` had (`--config a.toml --config b.toml`: b wins where both set a value).
pub(super) fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}
