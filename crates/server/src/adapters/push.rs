//! Builds the push sender from the configuration: the VAPID key (created on first start, so Web
//! Push always works), and APNs and FCM when their credentials are configured.

use crate::config::Config;
use crate::ServerError;
use callside_push::{
    ApnsConfig, FcmConfig, PushConfig, Pusher, ServiceAccount, VapidKey, WebPushConfig,
};

fn read(what: &str, path: &std::path::Path) -> Result<String, ServerError> {
    std::fs::read_to_string(path)
        .map_err(|e| ServerError::Startup(format!("{what} {}: {e}", path.display())))
}

pub(crate) fn pusher(config: &Config) -> Result<Pusher, ServerError> {
    let p = &config.push;
    let bad = |what: &str, e: callside_push::ConfigError| {
        ServerError::Startup(format!("push: {what}: {e}"))
    };
    let vapid = if p.vapid_key_file.exists() {
        VapidKey::from_pem(&format!(
            "{}\n",
            read("VAPID key file", &p.vapid_key_file)?.trim()
        ))
        .map_err(|e| bad("VAPID key file", e))?
    } else {
        let key = VapidKey::generate();
        crate::keys::write_private(&p.vapid_key_file, &key.to_pem()).map_err(|e| {
            ServerError::Io(format!(
                "VAPID key file {}: {e}",
                p.vapid_key_file.display()
            ))
        })?;
        tracing::info!(file = %p.vapid_key_file.display(), "created the VAPID key");
        key
    };
    let mut web_push = WebPushConfig::new(vapid, &p.vapid_subject).map_err(|e| bad("VAPID", e))?;
    if p.allow_http_endpoints {
        web_push = web_push.allow_http_endpoints();
    }
    let apns = match &p.apns {
        Some((team, key_id, file)) => {
            let mut c = ApnsConfig::new(team, key_id, &read("APNs key file", file)?)
                .map_err(|e| bad("APNs", e))?;
            if let Some((prod, sandbox)) = &p.apns_urls {
                c = c
                    .with_base_urls(prod, sandbox)
                    .map_err(|e| bad("APNs URLs", e))?;
            }
            Some(c)
        }
        None => None,
    };
    let fcm = match &p.fcm_service_account_file {
        Some(file) => {
            let account = ServiceAccount::from_json(&read("FCM service account file", file)?)
                .map_err(|e| bad("FCM service account", e))?;
            let mut c = FcmConfig::new(account);
            if let Some(base) = &p.fcm_api_base {
                c = c.with_api_base(base).map_err(|e| bad("FCM API base", e))?;
            }
            Some(c)
        }
        None => None,
    };
    Pusher::new(PushConfig {
        web_push: Some(web_push),
        apns,
        fcm,
        // Tests push to loopback by name only when the operator allows private endpoints.
        public_only: !p.allow_http_endpoints,
        ..PushConfig::default()
    })
    .map_err(|e| bad("client", e))
}
