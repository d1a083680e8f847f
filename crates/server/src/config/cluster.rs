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
    /// commas; with a user and password `nats://user:password@host:4222` (or a token,
    /// `nats://token@host:4222`), the same in every URL; `tls://` for TLS. Unset: this node is
    /// the whole service.
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
    /// How the node connects: the URLs without credentials, and the credentials.
    pub login: NatsLogin,
}

/// The NATS client takes a user and password (or a token) apart from the server URLs and
/// ignores them inside a URL: they are taken out here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsLogin {
    pub urls: Vec<String>,
    /// `user:password@` (a password), or `token@` (no password: a token).
    pub user: Option<String>,
    pub password: Option<String>,
}

fn login(nats: &[String]) -> Result<NatsLogin, ConfigError> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|s| s.into_owned())
    };
    let mut urls = Vec::with_capacity(nats.len());
    let mut found: Option<(Option<String>, Option<String>)> = None;
    for u in nats {
        let shown = redact(u);
        let bad = |why: &str| invalid("cluster.nats_url", &shown, why);
        let mut url = url::Url::parse(u).map_err(|e| bad(&format!("is not a URL: {e}")))?;
        let user = Some(url.username()).filter(|s| !s.is_empty());
        let user = user
            .map(decode)
            .transpose()
            .map_err(|_| bad("has a user that is not UTF-8"))?;
        let password = url.password().map(decode).transpose();
        let password = password.map_err(|_| bad("has a password that is not UTF-8"))?;
        let these = (user, password);
        match &found {
            Some(before) if *before != these => {
                return Err(bad(
                    "carries other credentials than the URL before it: give every server the same user and password",
                ))
            }
            _ => found = Some(these),
        }
        let _ = url.set_username("");
        let _ = url.set_password(None);
        urls.push(url.as_str().trim_end_matches('/').to_owned());
    }
    let (user, password) = found.unwrap_or_default();
    Ok(NatsLogin {
        urls,
        user,
        password,
    })
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
        let cluster_login = login(&nats)?;
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
        Ok(Some(Cluster {
            nats,
            name,
            login: cluster_login,
        }))
    }
}

impl Cluster {
    pub(super) fn to_raw(c: Option<&Cluster>) -> RawCluster {
        RawCluster {
            nats_url: c.map(Cluster::nats_shown),
            name: c.map(|c| c.name.clone()),
        }
    }

    /// The NATS URLs as logs and errors may show them: without user or password.
    pub(crate) fn nats_shown(&self) -> String {
        self.nats
            .iter()
            .map(|u| redact(u))
            .collect::<Vec<_>>()
            .join(",")
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
        let c = raw("nats://u:p%40ss@a:4222, tls://u:p%40ss@b:4222", None)
            .validate()
            .unwrap()
            .unwrap();
        assert_eq!(
            c.nats,
            vec!["nats://u:p%40ss@a:4222", "tls://u:p%40ss@b:4222"]
        );
        assert_eq!(c.name, "callside");
        assert_eq!(
            Cluster::to_raw(Some(&c)).nats_url.unwrap(),
            "nats://<redacted>@a:4222,tls://<redacted>@b:4222"
        );
        // The client is given the servers without credentials, and the credentials apart.
        assert_eq!(
            c.login,
            NatsLogin {
                urls: vec!["nats://a:4222".into(), "tls://b:4222".into()],
                user: Some("u".into()),
                password: Some("p@ss".into()),
            }
        );
        let token = raw("nats://t0ken@a:4222", None)
            .validate()
            .unwrap()
            .unwrap();
        assert_eq!(token.login.user.as_deref(), Some("t0ken"));
        assert_eq!(token.login.password, None);
        let plain = raw("nats://a:4222,nats://b:4222", None)
            .validate()
            .unwrap()
            .unwrap();
        assert_eq!(plain.login.urls, plain.nats);
        assert_eq!((plain.login.user, plain.login.password), (None, None));
        // Two servers with different credentials would log in as two users; refused, without
        // showing the password.
        let e = raw("nats://u:p@a:4222,nats://b:4222", None)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("same user and password") && !e.contains("u:p"),
            "{e}"
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
