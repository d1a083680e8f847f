//! A cluster: several `callside serve` nodes as one service. They share the PostgreSQL database
//! (what is durable, and the arbiter of every session's numbering) and tell each other, over
//! NATS, what they committed: frames for sockets held by other nodes, sessions changed, tokens
//! revoked.
//!
//! Every node publishes its notes on one subject (`<name>.fanout`) and hears everyone else's
//! (not its own). Core NATS delivers at most once: a note can be lost when a node's link to NATS
//! drops or a node falls behind. Nothing durable depends on a note, and every loss is repaired
//! the same way: the node that may have missed notes closes its sockets (their clients reconnect
//! and resume from the log), drops its cached sessions and forgets its cached tokens. A node
//! whose own outbox overflowed tells the others to do that.
//!
//! May touch: the hub (delivering here what other nodes published), sessions (their cached
//! copies) and the token cache. Nothing calls into this module but the composition root; the
//! services reach other nodes through [`crate::hub::Peers`].

pub(crate) mod lead;
mod wire;

use crate::hub::{Append, Counted, Hub, Outbound, Peers};
use crate::identity::auth::Auth;
use crate::sessions::Sessions;
use crate::supervisor::Supervisor;
use callside_core::{PrincipalId, SessionKey};
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
pub(crate) use wire::Note;

/// Notes waiting for NATS. Past this, notes are dropped and the other nodes are told to resync.
const OUTBOX: usize = 65_536;
/// How long a node waits for NATS when it starts.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What this node tells the others: queued without waiting (it runs on the store's writer).
struct Outbox {
    tx: mpsc::Sender<Note>,
    /// Set when a note was dropped: the other nodes are told to resync before the next one.
    lost: AtomicBool,
}

impl Outbox {
    fn note(&self, note: Note) {
        if self.tx.try_send(note).is_err() {
            self.lost.store(true, Ordering::SeqCst);
        }
    }
}

impl Peers for Outbox {
    fn publish(&self, to: &[PrincipalId], item: &Arc<Outbound>, append: Option<Append>) {
        if to.is_empty() {
            return;
        }
        self.note(Note::Deliver {
            to: to.to_vec(),
            item: item.clone(),
            append,
        });
    }

    fn disconnect_browser(&self, principal: &PrincipalId, browser: &str, last_frame: &Arc<str>) {
        self.note(Note::Browser {
            principal: principal.clone(),
            browser: browser.into(),
            frame: last_frame.clone(),
        });
    }

    fn session_changed(&self, key: &SessionKey) {
        self.note(Note::Changed(key.clone()));
    }

    fn evicted(&self, principal: &PrincipalId) {
        self.note(Note::Evicted(principal.clone()));
    }

    fn ticket_used(&self, hash: &callside_core::TokenHash, until: callside_core::Millis) {
        self.note(Note::TicketUsed {
            hash: hash.0,
            until,
        });
    }

    fn erased(&self, who: &PrincipalId) {
        self.note(Note::Erased(who.clone()));
    }

    fn counted(&self, what: Counted) {
        self.note(Note::Counted(what));
    }

    fn answered(&self, key: &SessionKey, by: &PrincipalId, asked: &'static str, request: &str) {
        self.note(Note::Answered {
            key: key.clone(),
            by: by.clone(),
            asked: asked.into(),
            request: request.into(),
        });
    }
}

/// What another node's notes change here.
#[derive(Clone)]
pub(crate) struct Local {
    pub(crate) hub: Arc<Hub>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) auth: Arc<Auth>,
    pub(crate) blobs: Arc<crate::blobs::Blobs>,
    pub(crate) calls: Arc<crate::calls::Calls>,
}

impl Local {
    async fn apply(&self, note: Note) {
        match note {
            Note::Deliver { to, item, append } => {
                if let (Some(a), Outbound::Message { key, seq, .. }) = (append, &*item) {
                    let remote = crate::sessions::RemoteAppend {
                        key: key.clone(),
                        seq: *seq,
                        sender: a.sender,
                        client_id: a.client_id,
                        plain: a.plain,
                    };
                    self.sessions.remote_append(remote).await;
                }
                self.hub.deliver(&to, &item);
            }
            Note::Browser {
                principal,
                browser,
                frame,
            } => self
                .hub
                .disconnect_browser_here(&principal, &browser, frame),
            Note::Changed(key) => self.sessions.remote_changed(&key),
            Note::Evicted(principal) => self.auth.evict_here(&principal),
            Note::TicketUsed { hash, until } => self
                .auth
                .ticket_used_elsewhere(callside_core::TokenHash(hash), until),
            Note::Answered {
                key,
                by,
                asked,
                request,
            } => self.sessions.remote_answered(&key, &by, &asked, request),
            Note::Erased(who) => {
                // Only the leader has pending legs; elsewhere this finds none.
                self.calls.forget_principal(&who).await;
                self.sessions.forget_participant(&who).await;
            }
            Note::Counted(Counted::LiveLocation(who)) => self.sessions.live_location_elsewhere(who),
            Note::Counted(Counted::Upload { who, day, bytes }) => {
                self.blobs.uploaded_elsewhere(who, day, bytes)
            }
            Note::Resync => self.resync(),
        }
    }

    /// Notes from other nodes may have been missed: sockets here resume from the log, cached
    /// sessions and tokens are read again from the store.
    fn resync(&self) {
        self.hub.lag_all();
        self.sessions.forget_all();
        self.auth.evict_everyone();
    }
}

/// Connects this node to the cluster's NATS, makes the hub and the token cache reach the other
/// nodes, and starts the loops that publish this node's notes and apply the others'.
pub(crate) async fn join(
    settings: &crate::config::Cluster,
    local: Local,
    supervisor: &Supervisor,
) -> Result<Arc<lead::Lead>, String> {
    let node = format!(
        "callside {} pid {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    // Link events come from the client's own task: they only set a flag the receive loop reads.
    let (events_tx, mut events) = mpsc::channel::<async_nats::Event>(64);
    let login = &settings.login;
    let options = match (&login.user, &login.password) {
        (Some(user), Some(password)) => {
            async_nats::ConnectOptions::with_user_and_password(user.clone(), password.clone())
        }
        (Some(token), None) => async_nats::ConnectOptions::with_token(token.clone()),
        _ => async_nats::ConnectOptions::new(),
    };
    let options = options
        .name(node)
        .no_echo()
        .connection_timeout(CONNECT_TIMEOUT)
        .max_reconnects(None)
        .event_callback(move |event| {
            let tx = events_tx.clone();
            async move {
                let _ = tx.try_send(event);
            }
        });
    let urls = login.urls.join(",");
    // What logs and errors show: the URLs without their credentials.
    let shown = settings.nats_shown();
    let client = tokio::time::timeout(CONNECT_TIMEOUT, options.connect(urls.as_str()))
        .await
        .map_err(|_| format!("NATS at {shown} did not answer within {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("cannot connect to NATS at {shown}: {e}"))?;
    let subject = format!("{}.fanout", settings.name);
    let mut notes = client
        .subscribe(subject.clone())
        .await
        .map_err(|e| format!("cannot subscribe to {subject} on NATS: {e}"))?;
    let (tx, mut rx) = mpsc::channel(OUTBOX);
    let outbox = Arc::new(Outbox {
        tx,
        lost: AtomicBool::new(false),
    });
    local.hub.join(outbox.clone());
    local.auth.join(outbox.clone());
    tracing::info!(nats = %shown, %subject, "joined the cluster");

    let lead = Arc::new(lead::Lead::new(client.clone(), &settings.name));
    let stop = supervisor.token().clone();
    let publisher = client.clone();
    let out_subject = subject.clone();
    supervisor.spawn("cluster-out", async move {
        loop {
            let note = tokio::select! {
                n = rx.recv() => match n { Some(n) => n, None => break },
                _ = stop.cancelled() => break,
            };
            if outbox.lost.swap(false, Ordering::SeqCst) {
                tracing::warn!("notes to other nodes were dropped; telling them to resync");
                publish(&publisher, &out_subject, Note::Resync).await;
            }
            publish(&publisher, &out_subject, note).await;
        }
        let _ = publisher.flush().await;
    });
    let stop = supervisor.token().clone();
    supervisor.spawn("cluster-in", async move {
        loop {
            tokio::select! {
                m = notes.next() => match m {
                    Some(m) => match wire::decode(&m) {
                        Ok(note) => local.apply(note).await,
                        Err(e) => tracing::warn!(error = %e, "ignored a note from another node"),
                    },
                    None => break,
                },
                Some(event) = events.recv() => {
                    use async_nats::Event as E;
                    match event {
                        E::Disconnected | E::SlowConsumer(_) => {
                            tracing::warn!(%event, "the link to the other nodes was interrupted; resuming from the store");
                            local.resync();
                        }
                        E::Connected => {
                            tracing::info!("linked to the other nodes again");
                            local.resync();
                        }
                        _ => tracing::debug!(%event, "NATS"),
                    }
                }
                _ = stop.cancelled() => break,
            }
        }
    });
    Ok(lead)
}

async fn publish(client: &async_nats::Client, subject: &str, note: Note) {
    let (headers, payload) = wire::encode(&note);
    if let Err(e) = client
        .publish_with_headers(subject.to_owned(), headers, payload)
        .await
    {
        tracing::warn!(error = %e, "could not publish a note to the other nodes");
    }
}
