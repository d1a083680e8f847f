//! The application: every service, built once with the collaborators it needs, and shared by the
//! HTTP edge as its state.

use crate::calls::Calls;
use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::sessions::Sessions;
use crate::Store;
use std::sync::Arc;

/// Everything a request can reach.
pub struct App {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) hub: Arc<Hub>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) calls: Arc<Calls>,
    pub(crate) composer: crate::calls::composer::Composer,
    pub(crate) passports: crate::calls::passports::Passports,
    pub(crate) auth: Arc<crate::identity::auth::Auth>,
    pub(crate) identity: Arc<crate::identity::Identity>,
    pub(crate) admin: crate::admin::Admin,
    pub(crate) connect: crate::connect::Connect,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) proofs: crate::identity::proofs::Proofs,
    pub(crate) invitations: crate::invitations::Invitations,
    pub(crate) wakes: Arc<crate::push::Wakes>,
    pub(crate) waker: crate::push::Waker,
    pub(crate) blobs: Arc<crate::blobs::Blobs>,
    /// The receiving ends of the background loops' channels, until `start` takes them.
    pub(crate) background: std::sync::Mutex<Option<Background>>,
    pub(crate) emails: crate::identity::emails::Emails,
    pub(crate) cards: Arc<crate::cards::Cards>,
    pub(crate) components: Arc<crate::components::Components>,
    /// Signs and checks caller data (RFC 9795) and purchase tokens.
    pub(crate) signer: Arc<crate::keys::Signer>,
    pub(crate) sms: Arc<crate::adapters::sms::SmsSender>,
    pub(crate) supervisor: crate::supervisor::Supervisor,
    /// Set when the server stopped because the store failed.
    pub(crate) fatal: std::sync::atomic::AtomicBool,
}

pub type AppState = Arc<App>;

impl App {
    pub(crate) fn new(
        config: Config,
        store: Store,
        server_key: [u8; 32],
        pusher: callside_push::Pusher,
        signer: crate::keys::Signer,
    ) -> AppState {
        let signer = Arc::new(signer);
        let wire = Arc::new(crate::http::wire::JsonWire);
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(Hub::default());
        let supervisor = crate::supervisor::Supervisor::new();
        let (waker, wakes_rx) = crate::push::Wakes::channel(metrics.clone());
        let sms = Arc::new(crate::adapters::sms::SmsSender::new(
            config.sms.provider.clone(),
            config.sms.number.clone(),
        ));
        let auth = Arc::new(crate::identity::auth::Auth::new(store.clone()));
        let identity = Arc::new(crate::identity::Identity::new(
            store.clone(),
            auth.clone(),
            hub.clone(),
            wire.clone(),
        ));
        let (bound_tx, bound_rx) = tokio::sync::mpsc::channel(EVENTS);
        let proofs = crate::identity::proofs::Proofs::new(
            store.clone(),
            auth.clone(),
            sms.clone(),
            supervisor.tasks(),
            wire.clone(),
            metrics.clone(),
            crate::identity::proofs::Settings {
                region: config.default_region,
                sms_number: config.sms.number.clone(),
                proof_ttl: config.sms.proof_ttl,
                stale_after: config.sms.stale_after,
                inbound_allow: config.sms.inbound_allow.clone(),
                limits: config.limits.clone(),
                server_key,
            },
            bound_tx,
        );
        let emails = crate::identity::emails::Emails::new(
            store.clone(),
            config
                .mail
                .smtp_url
                .as_deref()
                .and_then(crate::adapters::mail::Mailer::from_url),
            wire.clone(),
            crate::identity::emails::Settings {
                from: config.mail.from.clone(),
                validation_ttl: config.mail.validation_ttl,
                link: config.mail.link.clone(),
                per_device_hour: config.limits.emails_per_device_hour,
            },
        );
        let admin =
            crate::admin::Admin::new(store.clone(), identity.clone(), config.default_region);
        let connect = crate::connect::Connect::new(config.turn.clone());
        let (established_tx, established_rx) = tokio::sync::mpsc::channel(crate::cards::QUEUE);
        let (derived_tx, derived_rx) = tokio::sync::mpsc::channel(crate::derived::QUEUE);
        let sessions = Arc::new(Sessions::new(
            store.clone(),
            hub.clone(),
            wire.clone(),
            waker.clone(),
            crate::sessions::Listeners {
                established: Some(established_tx),
                app_messages: (!config.transformers.is_empty()).then_some(derived_tx),
            },
            metrics.clone(),
            crate::sessions::Settings {
                max_message_bytes: config.max_message_bytes,
                transformed: config.transformers.keys().cloned().collect(),
            },
        ));
        let wakes = Arc::new(crate::push::Wakes::new(
            store.clone(),
            pusher,
            config.push.allow_http_endpoints,
            wire.clone(),
        ));
        let cards = Arc::new(crate::cards::Cards::new(
            store.clone(),
            sessions.clone(),
            wire.clone(),
            crate::cards::Settings {
                region: config.default_region,
                allow_private_urls: config.cards_allow_private_urls,
                fetch_timeout: config.cards_fetch_timeout,
            },
        ));
        let components = Arc::new(crate::components::Components::new(
            store.clone(),
            sessions.clone(),
            signer.clone(),
            config
                .authorization
                .clone()
                .map(|(url, secret)| crate::adapters::authorization::Authorizer::new(url, secret)),
            wire.clone(),
        ));
        let blobs = Arc::new(crate::blobs::Blobs::new(
            store.clone(),
            config.blob_dir.clone(),
            config.max_blob_bytes,
            metrics.clone(),
        ));
        let (settled_tx, settled_rx) = tokio::sync::mpsc::channel(EVENTS);
        let calls = Arc::new(Calls::new(
            store.clone(),
            sessions.clone(),
            hub.clone(),
            wire.clone(),
            crate::numbers::NumberCache::new(config.default_region),
            metrics.clone(),
            crate::calls::Settings {
                match_window: config.match_window,
                registry_fqdn: config.registry_fqdn.clone(),
                lifecycle: config.lifecycle,
            },
            settled_tx,
        ));
        let composer = crate::calls::composer::Composer::new(
            store.clone(),
            blobs.clone(),
            hub.clone(),
            waker.clone(),
            wire.clone(),
        );
        let passports = crate::calls::passports::Passports::new(
            signer.clone(),
            wire.clone(),
            crate::calls::passports::Settings {
                region: config.default_region,
                allow_private_urls: config.cards_allow_private_urls,
                fetch_timeout: config.cards_fetch_timeout,
            },
        );
        Arc::new(App {
            proofs,
            invitations: crate::invitations::Invitations::new(&config.limits),
            wakes,
            waker,
            blobs,
            background: std::sync::Mutex::new(Some(Background {
                wakes: wakes_rx,
                numbers_bound: bound_rx,
                established: established_rx,
                app_messages: derived_rx,
                legs_settled: settled_rx,
            })),
            emails,
            identity,
            admin,
            connect,
            cards,
            components,
            signer,
            sms,
            config,
            store,
            hub,
            sessions,
            calls,
            composer,
            passports,
            auth,
            metrics,
            supervisor,
            fatal: Default::default(),
        })
    }
}

/// The receiving ends of the channels the background loops read.
pub(crate) struct Background {
    pub(crate) wakes: tokio::sync::mpsc::Receiver<crate::push::WakeRequest>,
    pub(crate) numbers_bound: tokio::sync::mpsc::Receiver<crate::identity::NumberBound>,
    pub(crate) established: tokio::sync::mpsc::Receiver<callside_core::SessionKey>,
    pub(crate) app_messages: tokio::sync::mpsc::Receiver<crate::sessions::AppMessage>,
    pub(crate) legs_settled: tokio::sync::mpsc::Receiver<crate::calls::LegSettled>,
}

/// Events waiting for their listener (a number proven, a leg settled). Their senders wait when it
/// is full: they are request handlers and housekeeping, never the store's writer thread.
const EVENTS: usize = 1024;
