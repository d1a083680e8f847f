//! `[push]`: Web Push (always on), APNs and FCM, and how often a device is woken.

use super::raw::{invalid, secs};
use super::{ConfigError, Push};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPush {
    pub vapid_key_file: Option<PathBuf>,
    pub vapid_subject: Option<String>,
    pub apns_team_id: Option<String>,
    pub apns_key_id: Option<String>,
    pub apns_key_file: Option<PathBuf>,
    pub apns_base_url: Option<String>,
    pub apns_sandbox_url: Option<String>,
    pub apns_topics: Option<Vec<String>>,
    pub fcm_service_account_file: Option<PathBuf>,
    pub fcm_api_base: Option<String>,
    pub wake_interval_secs: Option<u64>,
    pub allow_http_endpoints: Option<bool>,
}

impl RawPush {
    pub(super) fn validate(self, data_dir: &Path) -> Result<Push, ConfigError> {
        let vapid_subject = self
            .vapid_subject
            .unwrap_or_else(|| "mailto:operator@localhost".into());
        if !(vapid_subject.starts_with("mailto:") || vapid_subject.starts_with("https://")) {
            return Err(invalid(
                "push.vapid_subject",
                &vapid_subject,
                "use a mailto: or https: contact (RFC 8292)",
            ));
        }
        let apns = match (self.apns_team_id, self.apns_key_id, self.apns_key_file) {
            (None, None, None) => None,
            (Some(t), Some(k), Some(f)) => Some((t, k, f)),
            _ => {
                return Err(invalid(
                    "push.apns_team_id",
                    "",
                    "APNs needs apns_team_id, apns_key_id and apns_key_file together",
                ))
            }
        };
        let apns_topics = self.apns_topics.unwrap_or_default();
        if let Some(t) = apns_topics.iter().find(|t| !is_bundle_id(t)) {
            return Err(invalid(
                "push.apns_topics",
                t,
                "a topic is an app's bundle id, e.g. com.example.phone (or com.example.phone.voip)",
            ));
        }
        if apns.is_some() && apns_topics.is_empty() {
            return Err(invalid(
                "push.apns_topics",
                "",
                "APNs needs the bundle ids of your apps (devices may only name one of these)",
            ));
        }
        let apns_urls = match (self.apns_base_url, self.apns_sandbox_url) {
            (None, None) => None,
            (Some(p), s) => Some((p.clone(), s.unwrap_or(p))),
            (None, Some(s)) => Some((callside_push::APNS_PRODUCTION.to_owned(), s)),
        };
        Ok(Push {
            vapid_key_file: self
                .vapid_key_file
                .unwrap_or_else(|| data_dir.join("vapid.pem")),
            vapid_subject,
            apns,
            apns_topics,
            apns_urls,
            fcm_service_account_file: self.fcm_service_account_file,
            fcm_api_base: self.fcm_api_base,
            wake_interval: secs(
                "push.wake_interval_secs",
                self.wake_interval_secs,
                10,
                0..=3600,
            )?,
            allow_http_endpoints: self.allow_http_endpoints.unwrap_or(false),
        })
    }
}

/// A bundle id: dot-separated labels of letters, digits and hyphens.
fn is_bundle_id(t: &str) -> bool {
    t.len() <= 255
        && t.split('.').count() >= 2
        && t.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}
