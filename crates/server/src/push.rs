//! Wake-ups for devices that are not connected: push subscriptions (`/v1/me/push`) and the task
//! that sends wake-ups through `callside_push`. A push carries only an opaque id; the device
//! connects and fetches over the authenticated channel.
//!
//! Requests arrive on a channel (from the writer thread's commit callbacks and from services) and
//! are handled by one background task: devices with an open socket are skipped, message wake-ups
//! are coalesced per device (`push.wake_interval`), and each subscription gets its own retrying
//! send; subscriptions the provider reports gone are deleted.

use crate::app::{App, AppState};
use crate::clock::now_ms;
use crate::http::error::ApiError;
use callside_core::{Millis, PrincipalId};
use callside_proto as proto;
use callside_push::{PushError, Pusher, RetryPolicy, Subscription, Wake};
use callside_store::{PushRecord, Write};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::sync::mpsc;

/// Subscriptions one device may hold (a browser or two, an app, a reinstall).
const MAX_PER_DEVICE: usize = 10;

/// Why a device is being woken.
pub(crate) enum Reason {
    /// New messages on a session (coalesced per device).
    Messages,
    /// Something rings (an invitation, a call with composer data): always sent; the id is its id.
    Ringing(String),
}

/// Devices to wake, and why.
pub(crate) type WakeRequest = (Vec<PrincipalId>, Reason);

pub(crate) struct Wakes {
    /// Devices with a push subscription: a device without one is not looked up in the store at
    /// every message it misses. Loaded when the task starts, added to on registration; a device
    /// that removed its last subscription stays in (a superset is harmless).
    subscribed: std::sync::RwLock<std::collections::HashSet<PrincipalId>>,
    pusher: Pusher,
    tx: mpsc::UnboundedSender<WakeRequest>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<WakeRequest>>>,
    next_id: AtomicU64,
}

fn to_store(s: &proto::push::PushSubscription) -> (Subscription, &'static str, String) {
    match s.clone() {
        proto::push::PushSubscription::WebPush {
            endpoint,
            p256dh,
            auth,
        } => (
            Subscription::WebPush {
                endpoint: endpoint.clone(),
                p256dh,
                auth,
            },
            "web_push",
            endpoint,
        ),
        proto::push::PushSubscription::Apns {
            device_token,
            topic,
            sandbox,
        } => (
            Subscription::Apns {
                device_token: device_token.clone(),
                topic,
                sandbox,
            },
            "apns",
            device_token,
        ),
        proto::push::PushSubscription::Fcm { registration_token } => (
            Subscription::Fcm {
                registration_token: registration_token.clone(),
            },
            "fcm",
            registration_token,
        ),
    }
}

fn provider(p: &str) -> proto::push::PushProvider {
    match p {
        "apns" => proto::push::PushProvider::Apns,
        "fcm" => proto::push::PushProvider::Fcm,
        _ => proto::push::PushProvider::WebPush,
    }
}

/// A Web Push endpoint is a URL a device chose: refuse ones that would make the server talk to
/// itself or the operator's network (unless the operator allows it for tests). Names are
/// resolved now and every address must be public (and again at each send: the push client
/// resolves through a public-only resolver); push services listen on 443.
async fn check_endpoint(endpoint: &str, allow_http: bool) -> Result<(), ApiError> {
    crate::adapters::net::check_public_url(endpoint, allow_http, true)
        .await
        .map(drop)
        .map_err(|why| ApiError::bad("invalid_subscription", format!("endpoint {why}")))
}

impl Wakes {
    pub(crate) fn new(pusher: Pusher) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Wakes {
            subscribed: Default::default(),
            pusher,
            tx,
            rx: Mutex::new(Some(rx)),
            next_id: AtomicU64::new(1),
        }
    }

    /// Asks for `devices` to be woken (cheap; safe from the writer thread).
    pub(crate) fn request(&self, devices: Vec<PrincipalId>, reason: Reason) {
        if !devices.is_empty() {
            let _ = self.tx.send((devices, reason));
        }
    }

    pub(crate) fn sender(&self) -> mpsc::UnboundedSender<WakeRequest> {
        self.tx.clone()
    }

    pub(crate) fn vapid_public_key(&self) -> Option<String> {
        self.pusher.vapid_public_key().map(str::to_owned)
    }

    pub(crate) async fn register(
        &self,
        app: &App,
        device: &callside_core::Principal,
        sub: proto::push::PushSubscription,
    ) -> Result<proto::push::RegisteredPush, ApiError> {
        if !matches!(device.kind, callside_core::PrincipalKind::Device { .. }) {
            return Err(ApiError::Forbidden(
                "devices_only",
                "only devices are woken by push".into(),
            ));
        }
        let (subscription, kind, identity) = to_store(&sub);
        if let Subscription::WebPush { endpoint, .. } = &subscription {
            check_endpoint(endpoint, app.config.push.allow_http_endpoints).await?;
        }
        self.pusher.check(&subscription).map_err(|e| match e {
            PushError::NotConfigured(_) => ApiError::Disabled(
                "push_not_configured",
                format!("this deployment has no {kind} credentials"),
            ),
            other => ApiError::bad("invalid_subscription", other.to_string()),
        })?;
        let identity: [u8; 32] = Sha256::digest(identity.as_bytes()).into();
        let existing = app.store.push_subscriptions(device.id.clone()).await?;
        if existing.len() >= MAX_PER_DEVICE && !existing.iter().any(|e| e.identity == identity) {
            return Err(ApiError::Conflict(
                "too_many_subscriptions",
                format!("a device holds at most {MAX_PER_DEVICE} push subscriptions; delete one"),
            ));
        }
        let now = now_ms();
        let rec = PushRecord {
            id: callside_core::secret::new_id("psh", now),
            device: device.id.clone(),
            provider: kind.to_owned(),
            identity,
            data: serde_json::to_string(&sub).expect("subscriptions serialise"),
            created_at: now,
        };
        app.store.apply(vec![Write::Push(rec.clone())]).await?;
        self.subscribed
            .write()
            .expect("subscribed poisoned")
            .insert(device.id.clone());
        Ok(proto::push::RegisteredPush {
            id: rec.id,
            provider: provider(kind),
            created_at: now,
        })
    }

    pub(crate) async fn list(
        &self,
        app: &App,
        device: &PrincipalId,
    ) -> Result<proto::push::PushList, ApiError> {
        let subscriptions = app
            .store
            .push_subscriptions(device.clone())
            .await?
            .into_iter()
            .map(|r| proto::push::RegisteredPush {
                id: r.id,
                provider: provider(&r.provider),
                created_at: r.created_at,
            })
            .collect();
        Ok(proto::push::PushList {
            subscriptions,
            vapid_public_key: self.vapid_public_key(),
        })
    }

    pub(crate) async fn delete(
        &self,
        app: &App,
        device: &PrincipalId,
        id: String,
    ) -> Result<(), ApiError> {
        let owned = app
            .store
            .push_subscriptions(device.clone())
            .await?
            .into_iter()
            .any(|r| r.id == id);
        if !owned {
            return Err(ApiError::NotFound("push subscription"));
        }
        app.store.apply(vec![Write::DeletePush { id }]).await?;
        Ok(())
    }

    /// The background task: handles wake requests until shutdown.
    pub(crate) async fn run(app: AppState) {
        let Some(mut rx) = app.wakes.rx.lock().expect("wakes poisoned").take() else {
            return;
        };
        // Registrations meanwhile are in the set already; the store adds the older ones.
        loop {
            match app.store.push_devices().await {
                Ok(devices) => {
                    app.wakes
                        .subscribed
                        .write()
                        .expect("subscribed poisoned")
                        .extend(devices);
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read which devices have push; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        _ = app.supervisor.token().cancelled() => return,
                    }
                }
            }
        }
        let mut last: HashMap<PrincipalId, Millis> = HashMap::new();
        let interval = app.config.push.wake_interval.as_millis() as Millis;
        loop {
            let (devices, reason) = tokio::select! {
                r = rx.recv() => match r { Some(r) => r, None => return },
                _ = app.supervisor.token().cancelled() => return,
            };
            let now = now_ms();
            if last.len() > 100_000 {
                last.retain(|_, at| now - *at < interval);
            }
            for device in devices {
                if app.hub.is_connected(&device)
                    || !app
                        .wakes
                        .subscribed
                        .read()
                        .expect("subscribed poisoned")
                        .contains(&device)
                {
                    continue;
                }
                let id = match &reason {
                    Reason::Ringing(id) => id.clone(),
                    Reason::Messages => {
                        if last.get(&device).is_some_and(|at| now - at < interval) {
                            continue;
                        }
                        format!("wk_{}", app.wakes.next_id.fetch_add(1, Ordering::Relaxed))
                    }
                };
                last.insert(device.clone(), now);
                let app2 = app.clone();
                app.supervisor
                    .tasks()
                    .spawn(async move { wake(&app2, device, id).await });
            }
        }
    }
}

/// Sends one wake-up to every subscription of `device`.
async fn wake(app: &App, device: PrincipalId, id: String) {
    let Ok(wake) = Wake::new(id) else {
        return;
    };
    let subs = match app.store.push_subscriptions(device.clone()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read push subscriptions");
            return;
        }
    };
    for rec in subs {
        let Ok(sub) = serde_json::from_str::<proto::push::PushSubscription>(&rec.data) else {
            continue;
        };
        let (subscription, _, _) = to_store(&sub);
        match app
            .wakes
            .pusher
            .send_with_retry(&subscription, &wake, &RetryPolicy::default())
            .await
        {
            Ok(_) => crate::metrics::Metrics::inc(&app.metrics.push_sent),
            Err(e) if e.should_remove_subscription() => {
                crate::metrics::Metrics::inc(&app.metrics.push_gone);
                tracing::info!(%device, subscription = %rec.id, "push subscription gone; removed");
                if let Err(e) = app
                    .store
                    .apply(vec![Write::DeletePush { id: rec.id }])
                    .await
                {
                    tracing::warn!(error = %e, "cannot remove a gone push subscription");
                }
            }
            Err(e) => {
                crate::metrics::Metrics::inc(&app.metrics.push_failed);
                tracing::warn!(%device, subscription = %rec.id, error = %e, "wake-up push failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn web_push_endpoints_must_be_public_https() {
        for bad in [
            "http://8.8.8.8/x",
            "https://8.8.8.8:8443/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://192.168.0.1/x",
            "https://100.64.0.1/x",
            "https://169.254.169.254/latest",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[::ffff:10.0.0.1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://localhost/x",
            "https://no-such-host.invalid/x",
            "not a url",
        ] {
            assert!(check_endpoint(bad, false).await.is_err(), "{bad}");
        }
        check_endpoint("https://8.8.8.8/push/abc", false)
            .await
            .unwrap();
        check_endpoint("https://[2001:4860:4860::8888]/push", false)
            .await
            .unwrap();
        check_endpoint("http://127.0.0.1:9/x", true).await.unwrap();
    }
}
