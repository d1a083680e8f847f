//! The application: every service, built once with the collaborators it needs, and shared by the
//! HTTP edge as its state.

use crate::auth::AuthCache;
use crate::calls::Calls;
use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::sessions::Sessions;
use callside_store::Store;
use std::sync::Arc;

/// Everything a request can reach.
pub struct App {
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) sessions: Sessions,
    pub(crate) calls: Calls,
    pub(crate) auth: AuthCache,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) numbers: crate::numbers::NumberCache,
    pub(crate) proofs: crate::proofs::Proofs,
    pub(crate) invitations: crate::invitations::Invitations,
    pub(crate) wakes: Arc<crate::push::Wakes>,
    pub(crate) waker: crate::push::Waker,
    pub(crate) blobs: Arc<crate::blobs::Blobs>,
    /// The receiving ends of the background loops' channels, until `start` takes them.
    pub(crate) background: std::sync::Mutex<Option<Background>>,
    pub(crate) emails: crate::emails::Emails,
    pub(crate) cards: crate::cards::Cards,
    pub(crate) transformers: crate::transform::Transformers,
    /// Component offers per principal (each may call the authorization server).
    pub(crate) offers:
        std::sync::Mutex<callside_core::ratelimit::Limiter<callside_core::PrincipalId>>,
    /// Signs and checks caller data (RFC 9795).
    pub(crate) rcd: crate::rcd::Signer,
    pub(crate) sms: crate::adapters::sms::SmsSender,
    /// Keys the server's own signatures (SMS proofs).
    pub(crate) server_key: [u8; 32],
    pub(crate) supervisor: crate::supervisor::Supervisor,
    /// Set when the server stopped because the store failed.
    pub(crate) fatal: std::sync::atomic::AtomicBool,
}

pub type AppState = Arc<App>;

impl App {
    pub(crate) fn new(
        config: Config,
        store: Arc<dyn Store>,
        server_key: [u8; 32],
        pusher: callside_push::Pusher,
        rcd: crate::rcd::Signer,
    ) -> AppState {
        let wire = Arc::new(crate::http::wire::JsonWire);
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(Hub::default());
        let (waker, wakes_rx) = crate::push::Wakes::channel(metrics.clone());
        let wakes = Arc::new(crate::push::Wakes::new(
            store.clone(),
            pusher,
            config.push.allow_http_endpoints,
            wire.clone(),
        ));
        let blobs = Arc::new(crate::blobs::Blobs::new(
            store.clone(),
            config.blob_dir.clone(),
            config.max_blob_bytes,
            metrics.clone(),
        ));
        Arc::new(App {
            numbers: crate::numbers::NumberCache::new(config.default_region),
            proofs: crate::proofs::Proofs::new(&config.limits),
            invitations: crate::invitations::Invitations::new(&config.limits),
            wakes,
            waker,
            blobs,
            background: std::sync::Mutex::new(Some(Background { wakes: wakes_rx })),
            emails: crate::emails::Emails::new(&config),
            cards: crate::cards::Cards::new(),
            transformers: crate::transform::Transformers::new(),
            offers: std::sync::Mutex::new(callside_core::ratelimit::Limiter::new(
                callside_core::ratelimit::Rate::per_minute(30),
            )),
            rcd,
            sms: crate::adapters::sms::SmsSender::new(
                config.sms.provider.clone(),
                config.sms.number.clone(),
            ),
            server_key,
            config,
            store,
            hub,
            sessions: Sessions::default(),
            calls: Calls::default(),
            auth: AuthCache::default(),
            metrics,
            supervisor: crate::supervisor::Supervisor::new(),
            fatal: Default::default(),
        })
    }
}

/// The receiving ends of the channels the background loops read.
pub(crate) struct Background {
    pub(crate) wakes: tokio::sync::mpsc::Receiver<crate::push::WakeRequest>,
}
