//! `[cluster]`: several `callside serve` nodes as one service, sharing a PostgreSQL database and
//! telling each other what they committed over NATS.

use super::raw::invalid;
use super::ConfigError;
use serde::{Deserialize, Serialize};

/// As written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// The NATS server(s) every node connects to: `nats://host:4222`, several separated by
    /// commas. Unset: this node is the whole service.
    pub nats_url: Option<String>,
    /// The prefix of the cluster's NATS subjects, so that several services can share one NATS
    /// (letters, digits, `-` and `_`). Default `callside`.
    pub name: Option<String>,
}

/// A cluster's settings (`None` in [`super::Config`]: a single node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// NATS server URLs.
    pub nats: Vec<String>,
    /// The subject prefix.
    pub name: String,
}

impl RawCluster {
    pub(super) fn validate(&self) -> Result<Option<Cluster>, ConfigError> {
        let Some(url) = self.nats_url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let nats: Vec<String> = url.split(',').map(|u| u.trim().to_owned()).collect();
        for u in &nats {
            let ok = ["nats://", "tls://"].iter().any(|s| {
                u.strip_prefix(s)
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains(' '))
            });
            if !ok {
                return Err(invalid(
                    "cluster.nats_url",
                    u,
                    "must be nats://host:port or tls://host:port (several separated by commas)",
                ));
            }
        }
        let name = self.name.clone().unwrap_or_else(|| "callside".into());
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "cluster.name",
                &name,
                "must be 1–64 letters, digits, '-' or '_'",
            ));
        }
        Ok(Some(Cluster { nats, name }))
    }
}

impl Cluster {
    pub(super) fn to_raw(c: Option<&Cluster>) -> RawCluster {
        RawCluster {
            nats_url: c.map(|c| {
                c.nats
                    .iter()
                    .map(|u| redact(u))
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            name: c.map(|c| c.name.clone()),
        }
    }
}

/// A NATS URL with any user and password replaced (for `callside config`).
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}{}{}", &url[..scheme + 3], super::REDACTED, &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_names_are_checked_and_credentials_hidden() {
        let raw = |url: &str, name: Option<&str>| RawCluster {
            nats_url: Some(url.into()),
            name: name.map(Into::into),
        };
        let c = raw("nats://a:4222, tls://u:p@b:4222", None)
            .validate()
            .unwrap()
            .unwrap();
        assert_eq!(c.nats, vec!["nats://a:4222", "tls://u:p@b:4222"]);
        assert_eq!(c.name, "callside");
        assert_eq!(
            Cluster::to_raw(Some(&c)).nats_url.unwrap(),
            "nats://a:4222,tls://<redacted>@b:4222"
        );
        assert!(raw("", None).validate().unwrap().is_none());
        for bad in ["http://a:4222", "nats://", "a:4222"] {
            assert!(raw(bad, None).validate().is_err(), "{bad}");
        }
        for bad in ["a.b", "", "x y"] {
            assert!(raw("nats://a:1", Some(bad)).validate().is_err(), "{bad}");
        }
    }
}
