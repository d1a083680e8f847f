//! Push: wake-ups for devices that are not connected. Devices register push subscriptions
//! (`/v1/me/push`); services ask for devices to be woken through a [`Waker`], a bounded channel
//! that is safe to use from the store's writer thread; one background task ([`run`]) skips devices
//! with an open socket or without a subscription, coalesces message wake-ups per device, sends
//! through `callside_push` with retries (at most 64 at once), and deletes subscriptions the
//! provider reports gone. A wake-up in flight when the process stops is not lost: at start the
//! task wakes again the devices that still have unread messages or a ringing invitation
//! (`PushStore::wakes_due`).
//! A push carries only an opaque id: the device connects and fetches over its authenticated
//! channel.
//!
//! May touch: the store, the hub (who is connected), the push sender, metrics. Called by sessions,
//! invitations and the composer (through a `Waker`); calls no other service.

pub(crate) mod http;

use crate::clock::now_ms;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::supervisor::Tasks;
use crate::Store;
use callside_core::{Millis, Principal, PrincipalId, PrincipalKind};
use callside_push::{PushError, Pusher, RetryPolicy, Subscription, Wake};
use callside_store::{PushRecord, StoreError, Write};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Subscriptions one device may hold (a browser or two, an app, a reinstall).
const MAX_PER_DEVICE: usize = 10;
/// Wake requests waiting for the push task. Past this the newest are dropped (and counted): a
/// device that misses a wake-up still gets everything when it next connects.
pub(crate) const QUEUE: usize = 65_536;
/// Wake-ups being sent at once; the task waits for one to finish before it starts another
/// (requests meanwhile wait in the queue).
const SENDING: usize = 64;
/// After a restart, devices behind on messages sent this long before are woken again.
const WAKE_AGAIN_WITHIN: Millis = 86_400_000;

/// How subscriptions are written down and read back: the registered JSON, a format only the
/// HTTP edge knows (implemented in `http.rs`).
pub(crate) trait Wire: Send + Sync {
    /// A subscription as stored at registration; `None` if it cannot be read any more.
    fn subscription(&self, stored: &str) -> Option<Subscription>;
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("only devices are woken by push")]
    DevicesOnly,
    #[error("{0}")]
    InvalidSubscription(String),
    #[error("this deployment has no {0} credentials")]
    NotConfigured(&'static str),
    #[error("a device holds at most {MAX_PER_DEVICE} push subscriptions; delete one")]
    TooMany,
    #[error("push subscription not found")]
    NotFound,
    #[error("this server wakes only the apps {0}: name one of them as the topic")]
    UnknownTopic(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a device is being woken.
pub(crate) enum Reason {
    /// New messages on a session (coalesced per device).
    Messages,
    /// Something rings (an invitation, a call with composer data): always sent; the id is its id.
    Ringing(String),
}

/// Devices to wake, and why.
pub(crate) type WakeRequest = (Vec<PrincipalId>, Reason);

/// Asks for devices to be woken. Never blocks (it runs on the store's writer thread too).
#[derive(Clone)]
pub(crate) struct Waker {
    tx: mpsc::Sender<WakeRequest>,
    metrics: Arc<Metrics>,
}

impl Waker {
    pub(crate) fn wake(&self, devices: Vec<PrincipalId>, reason: Reason) {
        if devices.is_empty() {
            return;
        }
        if self.tx.try_send((devices, reason)).is_err() {
            Metrics::inc(&self.metrics.push_dropped);
        }
    }
}

/// A registration as the service needs it: the sender's view of the subscription, what kind it
/// is, what identifies it (endpoint or token), and its registered JSON to store.
pub(crate) struct NewSubscription {
    pub(crate) subscription: Subscription,
    pub(crate) provider: &'static str,
    pub(crate) identity: String,
    pub(crate) data: String,
}

pub(crate) struct Wakes {
    store: Store,
    pusher: Pusher,
    allow_http_endpoints: bool,
    /// The APNs topics (bundle ids) the operator configured: a device may only name one.
    apns_topics: Vec<String>,
    wire: Arc<dyn Wire>,
    /// Devices with a push subscription: a device without one is not looked up in the store at
    /// every message it misses. Loaded when the task starts, added to on registration; a device
    /// that removed its last subscription stays in (a superset is harmless).
    subscribed: RwLock<HashSet<PrincipalId>>,
}

/// A Web Push endpoint is a URL a device chose: refuse ones that would make the server talk to
/// itself or the operator's network (unless the operator allows it for tests). Names are
/// resolved now and every address must be public (and again at each send: the push client
/// resolves through a public-only resolver); push services listen on 443.
async fn check_endpoint(endpoint: &str, allow_http: bool) -> Result<(), Error> {
    crate::adapters::net::check_public_url(endpoint, allow_http, true)
        .await
        .map(drop)
        .map_err(|why| Error::InvalidSubscription(format!("endpoint {why}")))
}

impl Wakes {
    pub(crate) fn new(
        store: Store,
        pusher: Pusher,
        allow_http_endpoints: bool,
        apns_topics: Vec<String>,
        wire: Arc<dyn Wire>,
    ) -> Self {
        Wakes {
            store,
            pusher,
            allow_http_endpoints,
            apns_topics,
            wire,
            subscribed: Default::default(),
        }
    }

    /// The waker services use, and the receiving end for [`run`].
    pub(crate) fn channel(metrics: Arc<Metrics>) -> (Waker, mpsc::Receiver<WakeRequest>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Waker { tx, metrics }, rx)
    }

    pub(crate) fn vapid_public_key(&self) -> Option<String> {
        self.pusher.vapid_public_key().map(str::to_owned)
    }

    /// The APNs topic of a new subscription: the one the device named if the operator
    /// configured it, or the only one configured when the device named none.
    pub(crate) fn apns_topic(
        &self,
        device: &Principal,
        named: Option<&str>,
    ) -> Result<String, Error> {
        if !matches!(device.kind, PrincipalKind::Device { .. }) {
            return Err(Error::DevicesOnly);
        }
        match (named, self.apns_topics.as_slice()) {
            (_, []) => Err(Error::NotConfigured("apns")),
            (None, [only]) => Ok(only.clone()),
            (Some(t), topics) if topics.iter().any(|c| c == t) => Ok(t.to_owned()),
            (_, topics) => Err(Error::UnknownTopic(topics.join(", "))),
        }
    }

    pub(crate) async fn register(
        &self,
        device: &Principal,
        sub: NewSubscription,
    ) -> Result<PushRecord, Error> {
        if !matches!(device.kind, PrincipalKind::Device { .. }) {
            return Err(Error::DevicesOnly);
        }
        if let Subscription::WebPush { endpoint, .. } = &sub.subscription {
            check_endpoint(endpoint, self.allow_http_endpoints).await?;
        }
        self.pusher.check(&sub.subscription).map_err(|e| match e {
            PushError::NotConfigured(_) => Error::NotConfigured(sub.provider),
            other => Error::InvalidSubscription(other.to_string()),
        })?;
        let identity: [u8; 32] = Sha256::digest(sub.identity.as_bytes()).into();
        let existing = self.store.push_subscriptions(device.id.clone()).await?;
        if existing.len() >= MAX_PER_DEVICE && !existing.iter().any(|e| e.identity == identity) {
            return Err(Error::TooMany);
        }
        let now = now_ms();
        let rec = PushRecord {
            id: callside_core::secret::new_id("psh", now),
            device: device.id.clone(),
            provider: sub.provider.to_owned(),
            identity,
            data: sub.data,
            created_at: now,
        };
        self.store.apply(vec![Write::Push(rec.clone())]).await?;
        self.subscribed
            .write()
            .expect("subscribed poisoned")
            .insert(device.id.clone());
        Ok(rec)
    }

    pub(crate) async fn list(&self, device: &PrincipalId) -> Result<Vec<PushRecord>, Error> {
        Ok(self.store.push_subscriptions(device.clone()).await?)
    }

    pub(crate) async fn delete(&self, device: &PrincipalId, id: String) -> Result<(), Error> {
        let owned = self
            .store
            .push_subscriptions(device.clone())
            .await?
            .into_iter()
            .any(|r| r.id == id);
        if !owned {
            return Err(Error::NotFound);
        }
        self.store.apply(vec![Write::DeletePush { id }]).await?;
        Ok(())
    }

    fn is_subscribed(&self, device: &PrincipalId) -> bool {
        self.subscribed
            .read()
            .expect("subscribed poisoned")
            .contains(device)
    }

    /// Sends one wake-up to every subscription of `device`.
    async fn wake(&self, metrics: &Metrics, device: PrincipalId, id: String) {
        let Ok(wake) = Wake::new(id) else {
            return;
        };
        let subs = match self.store.push_subscriptions(device.clone()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read push subscriptions");
                return;
            }
        };
        for rec in subs {
            let Some(subscription) = self.wire.subscription(&rec.data) else {
                continue;
            };
            match self
                .pusher
                .send_with_retry(&subscription, &wake, &RetryPolicy::default())
                .await
            {
                Ok(_) => Metrics::inc(&metrics.push_sent),
                Err(e) if e.should_remove_subscription() => {
                    Metrics::inc(&metrics.push_gone);
                    tracing::info!(%device, subscription = %rec.id, "push subscription gone; removed");
                    if let Err(e) = self
                        .store
                        .apply(vec![Write::DeletePush { id: rec.id }])
                        .await
                    {
                        tracing::warn!(error = %e, "cannot remove a gone push subscription");
                    }
                }
                Err(e) => {
                    Metrics::inc(&metrics.push_failed);
                    tracing::warn!(%device, subscription = %rec.id, error = %e, "wake-up push failed");
                }
            }
        }
    }
}

/// What the push task needs besides the service.
pub(crate) struct Runner {
    pub(crate) wakes: Arc<Wakes>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) tasks: Tasks,
    /// Message wake-ups per device at most this often (`push.wake_interval`).
    pub(crate) interval: Millis,
}

/// The background task: handles wake requests until `stop`.
pub(crate) async fn run(r: Runner, mut rx: mpsc::Receiver<WakeRequest>, stop: CancellationToken) {
    // Registrations meanwhile are in the set already; the store adds the older ones.
    loop {
        match r.wakes.store.push_devices().await {
            Ok(devices) => {
                r.wakes
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
                    _ = stop.cancelled() => return,
                }
            }
        }
    }
    let mut d = Dispatch {
        r,
        next_id: AtomicU64::new(1),
        last: HashMap::new(),
        sending: Arc::new(tokio::sync::Semaphore::new(SENDING)),
    };
    // Wake-ups the previous process may have lost: what is still unread, what still rings.
    let now = now_ms();
    match d
        .r
        .wakes
        .store
        .wakes_due(now - WAKE_AGAIN_WITHIN, now)
        .await
    {
        Ok((behind, ringing)) => {
            if !behind.is_empty() || !ringing.is_empty() {
                tracing::info!(
                    behind = behind.len(),
                    ringing = ringing.len(),
                    "waking devices again after the restart"
                );
            }
            d.handle(behind, &Reason::Messages, &stop).await;
            for (invitation, device) in ringing {
                d.handle(vec![device], &Reason::Ringing(invitation), &stop)
                    .await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot tell whom to wake again after the restart"),
    }
    loop {
        let (devices, reason) = tokio::select! {
            r = rx.recv() => match r { Some(r) => r, None => return },
            _ = stop.cancelled() => return,
        };
        d.handle(devices, &reason, &stop).await;
    }
}

/// The push task's state: when each device was last woken for messages, and the permits of the
/// wake-ups being sent.
struct Dispatch {
    r: Runner,
    next_id: AtomicU64,
    last: HashMap<PrincipalId, Millis>,
    sending: Arc<tokio::sync::Semaphore>,
}

impl Dispatch {
    /// Starts a wake-up for each device that is away and subscribed (message wake-ups at most
    /// one per `interval`), at most [`SENDING`] at once.
    async fn handle(
        &mut self,
        devices: Vec<PrincipalId>,
        reason: &Reason,
        stop: &CancellationToken,
    ) {
        let now = now_ms();
        if self.last.len() > 100_000 {
            let interval = self.r.interval;
            self.last.retain(|_, at| now - *at < interval);
        }
        for device in devices {
            if self.r.hub.is_connected(&device) || !self.r.wakes.is_subscribed(&device) {
                continue;
            }
            let id = match reason {
                Reason::Ringing(id) => id.clone(),
                Reason::Messages => {
                    if self
                        .last
                        .get(&device)
                        .is_some_and(|at| now - at < self.r.interval)
                    {
                        continue;
                    }
                    format!("wk_{}", self.next_id.fetch_add(1, Ordering::Relaxed))
                }
            };
            self.last.insert(device.clone(), now);
            let permit = tokio::select! {
                p = self.sending.clone().acquire_owned() => p.expect("never closed"),
                _ = stop.cancelled() => return,
            };
            let (wakes, metrics) = (self.r.wakes.clone(), self.r.metrics.clone());
            self.r.tasks.spawn(async move {
                wakes.wake(&metrics, device, id).await;
                drop(permit);
            });
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
