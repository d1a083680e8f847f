//! The application: the composition root. Every service is built here once, with the
//! collaborators it needs and nothing more, and the channels that carry events up (a commit
//! landed, a leg settled, a number proven) are wired from their senders to the loops that listen.
//! The HTTP edge shares the result as its state.

use crate::adapters::authorization::Authorizer;
use crate::adapters::mail::Mailer;
use crate::adapters::sms::SmsSender;
use crate::admin::Admin;
use crate::blobs::Blobs;
use crate::calls::composer::Composer;
use crate::calls::passports::{self, Passports};
use crate::calls::{self, Calls, LegSettled};
use crate::cards::{self, Cards};
use crate::components::Components;
use crate::config::Config;
use crate::connect::Connect;
use crate::http::wire::JsonWire;
use crate::hub::Hub;
use crate::identity::auth::Auth;
use crate::identity::browsers::Browsers;
use crate::identity::emails::{self, Emails};
use crate::identity::proofs::{self, Proofs};
use crate::identity::systems::Systems;
use crate::identity::{Identity, NumberBound};
use crate::invitations::{self, Invitations};
use crate::keys::Signer;
use crate::merchants::Merchants;
use crate::metrics::Metrics;
use crate::numbers::NumberCache;
use crate::push::{WakeRequest, Wakes};
use crate::screens::{self, Screens};
use crate::sessions::{self, AppMessage, Sessions};
use crate::supervisor::Supervisor;
use crate::Store;
use callside_core::SessionKey;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Events waiting for their listener (a number proven, a leg settled). Their senders wait when it
/// is full: they are request handlers and housekeeping, never the store's writer thread.
const EVENTS: usize = 1024;

/// Everything a request can reach: the services, and what the edge itself needs.
pub struct App {
    pub(crate) config: Config,
    /// Only for `/readyz`: every read and write goes through a service.
    pub(crate) store: Store,
    pub(crate) hub: Arc<Hub>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) auth: Arc<Auth>,
    pub(crate) identity: Arc<Identity>,
    pub(crate) browsers: Browsers,
    pub(crate) proofs: Arc<Proofs>,
    pub(crate) emails: Arc<Emails>,
    pub(crate) admin: Admin,
    pub(crate) connect: Connect,
    pub(crate) blobs: Arc<Blobs>,
    pub(crate) wakes: Arc<Wakes>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) calls: Arc<Calls>,
    pub(crate) composer: Composer,
    pub(crate) passports: Passports,
    pub(crate) invitations: Arc<Invitations>,
    pub(crate) cards: Arc<Cards>,
    pub(crate) components: Arc<Components>,
    pub(crate) screens: Arc<Screens>,
    pub(crate) merchants: Arc<Merchants>,
    /// Signs caller data and purchase tokens; its public keys are served at
    /// `/.well-known/jwks.json`.
    pub(crate) signer: Arc<Signer>,
    pub(crate) supervisor: Supervisor,
    /// The receiving ends of the background loops' channels, until `start` takes them.
    pub(crate) background: Mutex<Option<Background>>,
    /// Set when the server stopped because the store failed.
    pub(crate) fatal: Arc<AtomicBool>,
    /// The data directory's lock (`callside.lock`), held while this application runs.
    pub(crate) data_lock: Mutex<Option<std::fs::File>>,
    /// In a cluster: whether this node matches calls, and the way to the node that does.
    pub(crate) lead: std::sync::OnceLock<Arc<crate::cluster::lead::Lead>>,
}

pub type AppState = Arc<App>;

/// The receiving ends of the channels the background loops read.
pub(crate) struct Background {
    pub(crate) wakes: mpsc::Receiver<WakeRequest>,
    pub(crate) numbers_bound: mpsc::Receiver<NumberBound>,
    pub(crate) established: mpsc::Receiver<SessionKey>,
    pub(crate) screens_due: mpsc::Receiver<SessionKey>,
    pub(crate) app_messages: mpsc::Receiver<AppMessage>,
    pub(crate) legs_settled: mpsc::Receiver<LegSettled>,
    pub(crate) merchant_hooks: mpsc::Receiver<crate::merchants::hooks::Hook>,
}

/// What every service may be built from.
struct Parts {
    config: Config,
    store: Store,
    wire: Arc<JsonWire>,
    metrics: Arc<Metrics>,
    hub: Arc<Hub>,
    supervisor: Supervisor,
    sms: Arc<SmsSender>,
    signer: Arc<Signer>,
}

impl App {
    pub(crate) fn new(
        config: Config,
        store: Store,
        server_key: [u8; 32],
        pusher: callside_push::Pusher,
        signer: Signer,
    ) -> AppState {
        let p = Parts {
            sms: Arc::new(SmsSender::new(
                config.sms.provider.clone(),
                config.sms.number.clone(),
            )),
            config,
            store,
            wire: Arc::new(JsonWire),
            metrics: Arc::new(Metrics::default()),
            hub: Arc::new(Hub::default()),
            supervisor: Supervisor::new(),
            signer: Arc::new(signer),
        };
        let c = &p.config;
        let auth = Arc::new(Auth::new(p.store.clone(), c.tokens, server_key));
        let identity = Arc::new(Identity::new(
            p.store.clone(),
            auth.clone(),
            p.hub.clone(),
            p.wire.clone(),
        ));
        let browsers = Browsers::new(
            p.store.clone(),
            auth.clone(),
            p.hub.clone(),
            p.wire.clone(),
            c.browsers.clone(),
            &c.limits,
        );
        let (bound_tx, numbers_bound) = mpsc::channel(EVENTS);
        let proofs = Arc::new(proofs_service(&p, auth.clone(), server_key, bound_tx));
        let emails = Arc::new(emails_service(&p));
        let systems = Arc::new(Systems::new(p.store.clone()));
        let admin = Admin::new(
            p.store.clone(),
            identity.clone(),
            systems.clone(),
            c.regions().default(),
        );
        let connect = Connect::new(c.turn.clone(), c.limits.turn_credentials_per_device_hour);
        let (waker, wakes) = Wakes::channel(p.metrics.clone());
        let wake_service = Arc::new(Wakes::new(
            p.store.clone(),
            pusher,
            c.push.allow_http_endpoints,
            c.push.apns_topics.clone(),
            p.wire.clone(),
        ));
        let blobs = Arc::new(Blobs::new(
            p.store.clone(),
            crate::blobs::Settings {
                dir: c.blob_dir.clone(),
                max_bytes: c.max_blob_bytes,
                min_free_bytes: c.blob_min_free_bytes,
                per_day: c.blob_bytes_per_principal_day,
            },
            p.metrics.clone(),
            p.hub.clone(),
        ));
        let (established_tx, established) = mpsc::channel(cards::QUEUE);
        let (screens_tx, screens_due) = mpsc::channel(screens::QUEUE);
        let (derived_tx, app_messages) = mpsc::channel(crate::derived::QUEUE);
        let sessions = Arc::new(Sessions::new(
            p.store.clone(),
            p.hub.clone(),
            p.wire.clone(),
            waker.clone(),
            sessions::Listeners {
                established: vec![
                    sessions::Established {
                        tx: established_tx,
                        dropped: |m| &m.card_deliveries_dropped,
                    },
                    sessions::Established {
                        tx: screens_tx,
                        dropped: |m| &m.screen_deliveries_dropped,
                    },
                ],
                app_messages: (!c.transformers.is_empty()).then_some(derived_tx),
            },
            p.metrics.clone(),
            sessions::Settings {
                max_message_bytes: c.max_message_bytes,
                transformed: c.transformers.keys().cloned().collect(),
            },
        ));
        let cards = Arc::new(Cards::new(
            p.store.clone(),
            sessions.clone(),
            p.wire.clone(),
            cards::Settings {
                region: c.regions(),
                allow_private_urls: c.cards_allow_private_urls,
                fetch_timeout: c.cards_fetch_timeout,
            },
        ));
        let (hooks_tx, merchant_hooks) = mpsc::channel(crate::merchants::hooks::QUEUE);
        let merchants = Arc::new(Merchants::new(
            p.store.clone(),
            sessions.clone(),
            identity.clone(),
            server_key,
            &c.limits,
            hooks_tx,
            c.cards_allow_private_urls,
        ));
        let components = Arc::new(Components::new(
            p.store.clone(),
            sessions.clone(),
            p.signer.clone(),
            c.authorization
                .clone()
                .map(|(url, secret)| Authorizer::new(url, secret)),
            p.wire.clone(),
        ));
        let (settled_tx, legs_settled) = mpsc::channel(EVENTS);
        let calls = Arc::new(calls_service(
            &p,
            sessions.clone(),
            systems.clone(),
            settled_tx,
        ));
        let composer = Composer::new(
            p.store.clone(),
            blobs.clone(),
            p.hub.clone(),
            waker.clone(),
            p.wire.clone(),
            c.limits.call_notes_per_device_hour,
        );
        let passports = Passports::new(
            p.signer.clone(),
            p.wire.clone(),
            passports::Settings {
                region: c.regions(),
                allow_private_urls: c.cards_allow_private_urls,
                fetch_timeout: c.cards_fetch_timeout,
            },
        );
        let invitations = Arc::new(Invitations::new(
            p.store.clone(),
            sessions.clone(),
            calls.clone(),
            components.clone(),
            p.hub.clone(),
            waker,
            p.sms.clone(),
            p.supervisor.tasks(),
            p.wire.clone(),
            p.metrics.clone(),
            invitations::Settings {
                region: c.regions(),
                lifecycle: c.lifecycle,
                ttl: c.invitation_ttl,
                sms_link: c.sms_link.clone(),
                sms_link_ttl: c.sms_link_ttl,
                limits: c.limits.clone(),
            },
        ));
        let screens = Arc::new(Screens::new(
            p.store.clone(),
            sessions.clone(),
            p.wire.clone(),
        ));
        let background = Background {
            wakes,
            numbers_bound,
            established,
            screens_due,
            app_messages,
            legs_settled,
            merchant_hooks,
        };
        Arc::new(App {
            config: p.config,
            store: p.store,
            hub: p.hub,
            metrics: p.metrics,
            auth,
            identity,
            browsers,
            proofs,
            emails,
            admin,
            connect,
            blobs,
            wakes: wake_service,
            sessions,
            calls,
            composer,
            passports,
            invitations,
            cards,
            components,
            screens,
            merchants,
            signer: p.signer,
            supervisor: p.supervisor,
            background: Mutex::new(Some(background)),
            fatal: Default::default(),
            data_lock: Mutex::new(None),
            lead: std::sync::OnceLock::new(),
        })
    }
}

fn proofs_service(
    p: &Parts,
    auth: Arc<Auth>,
    server_key: [u8; 32],
    bound: mpsc::Sender<NumberBound>,
) -> Proofs {
    let c = &p.config;
    Proofs::new(
        p.store.clone(),
        auth,
        p.sms.clone(),
        p.supervisor.tasks(),
        p.wire.clone(),
        p.metrics.clone(),
        proofs::Settings {
            region: c.regions(),
            sms_number: c.sms.number.clone(),
            proof_ttl: c.sms.proof_ttl,
            stale_after: c.sms.stale_after,
            lapse_after: c.sms.lapse_after,
            inbound_allow: c.sms.inbound_allow.clone(),
            limits: c.limits.clone(),
            server_key,
        },
        bound,
    )
}

fn emails_service(p: &Parts) -> Emails {
    let c = &p.config;
    Emails::new(
        p.store.clone(),
        c.mail.smtp_url.as_deref().and_then(Mailer::from_url),
        p.wire.clone(),
        emails::Settings {
            from: c.mail.from.clone(),
            validation_ttl: c.mail.validation_ttl,
            link: c.mail.link.clone(),
            per_device_hour: c.limits.emails_per_device_hour,
            per_address_day: c.limits.emails_per_address_day,
        },
    )
}

fn calls_service(
    p: &Parts,
    sessions: Arc<Sessions>,
    systems: Arc<Systems>,
    settled: mpsc::Sender<LegSettled>,
) -> Calls {
    let c = &p.config;
    let proxy = c.kamailio.as_ref().map(|k| {
        calls::proxy::Proxy::new(
            crate::adapters::kamailio::Kamailio::new(k.rpc_url.clone()),
            callside_core::PrincipalId(k.account.clone()),
            k.sip_address.clone(),
            k.reconcile,
            c.limits.click_to_dial_per_device_hour,
        )
    });
    Calls::new(
        p.store.clone(),
        sessions,
        systems,
        proxy,
        p.hub.clone(),
        p.wire.clone(),
        NumberCache::new(c.regions()),
        p.metrics.clone(),
        calls::Settings {
            match_window: c.match_window,
            registry_fqdn: c.registry_fqdn.clone(),
            lifecycle: c.lifecycle,
        },
        settled,
    )
}

impl App {
    /// Starts the call centre's loop (queues restored from the store, then a tick a second).
    pub(crate) fn start_call_centre(&self) {
        self.supervisor.spawn(
            "call-centre",
            crate::merchants::centre::run(self.merchants.clone(), self.supervisor.token().clone()),
        );
    }

    /// Reads back what the matcher and the invitations hold in memory (after a start, or when
    /// this node takes over call matching in a cluster).
    pub(crate) async fn restore_calls(&self) -> Result<(), String> {
        self.calls.restore().await.map_err(|e| e.to_string())?;
        self.invitations.restore().await.map_err(|e| e.to_string())
    }

    /// Starts the background loops under the supervisor: housekeeping, push, card delivery,
    /// derived data, and the listeners that carry settled legs and proven numbers to invitations.
    pub(crate) fn start_loops(&self, bg: Background) {
        let stop = || self.supervisor.token().clone();
        let sweep = crate::housekeeping::Housekeeping {
            store: self.store.clone(),
            calls: self.calls.clone(),
            sessions: self.sessions.clone(),
            invitations: self.invitations.clone(),
            proofs: self.proofs.clone(),
            emails: self.emails.clone(),
            merchants: self.merchants.clone(),
            blobs: self.blobs.clone(),
            retention: self.config.retention,
            auth: self.auth.clone(),
            tokens: self.config.tokens,
            idle_timeout: self.config.idle_timeout,
            one_sided_after: self.config.one_sided_after,
            fatal: self.fatal.clone(),
        };
        self.supervisor.spawn("housekeeping", sweep.run(stop()));
        let push = crate::push::Runner {
            wakes: self.wakes.clone(),
            hub: self.hub.clone(),
            metrics: self.metrics.clone(),
            tasks: self.supervisor.tasks(),
            interval: self.config.push.wake_interval.as_millis() as callside_core::Millis,
        };
        self.supervisor
            .spawn("push", crate::push::run(push, bg.wakes, stop()));
        let invitations = self.invitations.clone();
        self.supervisor.spawn(
            "numbers-bound",
            crate::invitations::on_numbers_bound(invitations, bg.numbers_bound, stop()),
        );
        let invitations = self.invitations.clone();
        self.supervisor.spawn(
            "legs-settled",
            crate::invitations::on_legs_settled(invitations, bg.legs_settled, stop()),
        );
        self.supervisor.spawn(
            "cards",
            cards::delivery::run(self.cards.clone(), bg.established, stop()),
        );
        if self.config.kamailio.is_some() {
            self.supervisor
                .spawn("reconcile", calls::proxy::run(self.calls.clone(), stop()));
        }
        self.supervisor.spawn(
            "screens",
            screens::delivery::run(self.screens.clone(), bg.screens_due, stop()),
        );
        let derived = crate::derived::Transformers {
            sessions: self.sessions.clone(),
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            webhooks: self.config.transformers.clone(),
            max_message_bytes: self.config.max_message_bytes,
        };
        self.supervisor.spawn(
            "derived",
            crate::derived::run(derived, bg.app_messages, stop()),
        );
        // In a cluster the call centre runs on the node that leads (`cluster::lead`).
        if self.lead.get().is_none() {
            self.start_call_centre();
        }
        self.supervisor.spawn(
            "merchant-webhooks",
            crate::merchants::hooks::run(
                self.merchants.clone(),
                bg.merchant_hooks,
                crate::merchants::http::hook_body(),
                stop(),
            ),
        );
    }
}
