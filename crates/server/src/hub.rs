//! Live connections by principal, and fan-out to them.
//!
//! Publishing never blocks: it runs on the store's writer thread right after a commit (so
//! messages go out in sequence order). Each connection has a bounded queue; a connection that
//! cannot keep up is told to go away and resume, rather than slowing everyone else down.

use callside_core::{PrincipalId, SessionKey};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tokio::sync::Notify;

/// What a connection task receives. JSON is serialised once and shared.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// A committed message on a session (`json` is a whole `message` frame).
    Message {
        key: SessionKey,
        seq: u64,
        json: Arc<str>,
        /// When the server took the message in (for the delivery latency histogram).
        at: std::time::Instant,
    },
    /// Any other frame (`session`, `leg`).
    Frame(Arc<str>),
    /// The principal's token was revoked: send this last frame and close.
    Revoked(Arc<str>),
}

/// How many frames may wait for one connection before it is considered too slow.
pub(crate) const QUEUE: usize = 4096;

/// One connection's queue. Smaller than a tokio channel (whose shared state and first block
/// cost ~800 bytes per idle connection); nothing waits on a full queue, so a lock held for a
/// push or a pop is all it needs.
pub(crate) struct Queue {
    items: Mutex<VecDeque<Arc<Outbound>>>,
    ready: Notify,
    /// Notified when a frame for this connection had to be dropped.
    pub(crate) lagged: Notify,
}

impl Queue {
    fn new() -> Self {
        Queue {
            items: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            lagged: Notify::new(),
        }
    }

    /// Adds `item`, or flags the connection as lagging if `QUEUE` items wait already.
    fn push(&self, item: Arc<Outbound>) {
        let mut items = self.items.lock().expect("queue poisoned");
        if items.len() >= QUEUE {
            drop(items);
            self.lagged.notify_one();
            return;
        }
        items.push_back(item);
        drop(items);
        self.ready.notify_one();
    }

    /// The next item, if one waits.
    pub(crate) fn try_recv(&self) -> Option<Arc<Outbound>> {
        let mut items = self.items.lock().expect("queue poisoned");
        let item = items.pop_front();
        if items.is_empty() && items.capacity() > 64 {
            items.shrink_to_fit(); // a burst does not stay allocated on an idle connection
        }
        item
    }

    /// Waits for the next item. Cancel-safe: an item is taken only when it is returned.
    pub(crate) async fn recv(&self) -> Arc<Outbound> {
        loop {
            // `notify_one` leaves a permit when nobody waits, so a push between the check and
            // the wait is not missed.
            if let Some(item) = self.try_recv() {
                return item;
            }
            self.ready.notified().await;
        }
    }
}

struct Conn {
    id: u64,
    /// The browser a connection came from (a browser's token), so unlinking it closes only its.
    browser: Option<Arc<str>>,
    /// Items are shared: one allocation per publish, one pointer per queue slot.
    queue: Arc<Queue>,
}

#[derive(Default)]
pub(crate) struct Hub {
    conns: RwLock<HashMap<PrincipalId, Vec<Conn>>>,
    next: AtomicU64,
    count: AtomicU64,
    /// The other nodes, when this one is part of a cluster.
    peers: OnceLock<Arc<dyn Peers>>,
}

/// The other nodes of a cluster (the `cluster` module): what is published here goes to their
/// sockets too, and they hear what changes a session or a credential. Calls never block: they
/// run on the store's writer thread.
pub(crate) trait Peers: Send + Sync {
    /// Frames for these principals' sockets on other nodes; `append` when it is a message.
    fn publish(&self, to: &[PrincipalId], item: &Arc<Outbound>, append: Option<Append>);
    /// Closes one browser's sockets on other nodes.
    fn disconnect_browser(&self, principal: &PrincipalId, browser: &str, last_frame: &Arc<str>);
    /// A session changed in a way other nodes' cached copies cannot follow.
    fn session_changed(&self, key: &SessionKey);
    /// A principal's credentials changed: other nodes forget what they cached.
    fn evicted(&self, principal: &PrincipalId);
    /// `by` answered request `request` (a `location` or `capability` question) on `key`: the
    /// node that took the question stops waiting for an answer.
    fn answered(&self, key: &SessionKey, by: &PrincipalId, asked: &'static str, request: &str);
    /// A WebSocket ticket (by its hash) was used; it is good until `until` (ms).
    fn ticket_used(&self, hash: &callside_core::TokenHash, until: callside_core::Millis);
    /// Something was let through a limit that holds across the cluster: the other nodes count
    /// it too.
    fn counted(&self, what: Counted);
    /// A device's personal data was erased: other nodes drop its pending legs and blank it in
    /// the sessions they cached.
    fn erased(&self, who: &PrincipalId);
}

/// What one node let through a limit that the whole cluster shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Counted {
    /// A live location update from this principal (one a second per device).
    LiveLocation(PrincipalId),
    /// Bytes this principal uploaded on day `day` (days since the epoch, UTC).
    Upload {
        who: PrincipalId,
        day: i64,
        bytes: u64,
    },
}

/// What other nodes need to keep a cached session current when a message is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Append {
    pub(crate) sender: String,
    pub(crate) client_id: Option<String>,
    /// A participant's message that changes nothing else about the session.
    pub(crate) plain: bool,
}

/// A registration; dropping it removes the connection.
pub(crate) struct Registration {
    hub: Arc<Hub>,
    principal: PrincipalId,
    id: u64,
    pub(crate) queue: Arc<Queue>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut conns = self.hub.conns.write().expect("hub lock poisoned");
        if let Some(list) = conns.get_mut(&self.principal) {
            list.retain(|c| c.id != self.id);
            if list.is_empty() {
                conns.remove(&self.principal);
            }
        }
        self.hub.count.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hub {
    #[cfg(test)]
    pub(crate) fn register(self: &Arc<Self>, principal: PrincipalId) -> Registration {
        self.register_from(principal, None)
    }

    /// [`register`](Hub::register) for a connection made through a browser linked to
    /// `principal` (`None`: the principal itself).
    pub(crate) fn register_from(
        self: &Arc<Self>,
        principal: PrincipalId,
        browser: Option<Arc<str>>,
    ) -> Registration {
        let queue = Arc::new(Queue::new());
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.conns
            .write()
            .expect("hub lock poisoned")
            .entry(principal.clone())
            .or_default()
            .push(Conn {
                id,
                browser,
                queue: queue.clone(),
            });
        self.count.fetch_add(1, Ordering::Relaxed);
        Registration {
            hub: self.clone(),
            principal,
            id,
            queue,
        }
    }

    /// Sockets `principal` has open now (its own and its browsers').
    pub(crate) fn connections_of(&self, principal: &PrincipalId) -> usize {
        self.conns
            .read()
            .expect("hub lock poisoned")
            .get(principal)
            .map_or(0, Vec::len)
    }

    /// Whether `principal` has a socket open now.
    pub(crate) fn is_connected(&self, principal: &PrincipalId) -> bool {
        self.conns
            .read()
            .expect("hub lock poisoned")
            .get(principal)
            .is_some_and(|c| !c.is_empty())
    }

    /// Connections open now.
    pub(crate) fn connections(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Makes this hub one node of a cluster (once, at start).
    pub(crate) fn join(&self, peers: Arc<dyn Peers>) {
        let _ = self.peers.set(peers);
    }

    /// The other nodes, if this one is part of a cluster.
    pub(crate) fn peers(&self) -> Option<&Arc<dyn Peers>> {
        self.peers.get()
    }

    /// Tells every connection here to go away and resume (what other nodes published may have
    /// been missed).
    pub(crate) fn lag_all(&self) {
        let conns = self.conns.read().expect("hub lock poisoned");
        for c in conns.values().flatten() {
            c.queue.lagged.notify_one();
        }
    }

    /// Closes every connection of `principal` (its token was rotated or it was deleted).
    pub(crate) fn disconnect(&self, principal: &PrincipalId, last_frame: Arc<str>) {
        self.publish([principal], &Outbound::Revoked(last_frame));
    }

    /// Closes the connections made through one browser of `principal` (it was unlinked).
    pub(crate) fn disconnect_browser(
        &self,
        principal: &PrincipalId,
        browser: &str,
        last_frame: Arc<str>,
    ) {
        if let Some(peers) = self.peers.get() {
            peers.disconnect_browser(principal, browser, &last_frame);
        }
        self.disconnect_browser_here(principal, browser, last_frame);
    }

    /// [`disconnect_browser`](Hub::disconnect_browser) on this node only.
    pub(crate) fn disconnect_browser_here(
        &self,
        principal: &PrincipalId,
        browser: &str,
        last_frame: Arc<str>,
    ) {
        let item = Arc::new(Outbound::Revoked(last_frame));
        let conns = self.conns.read().expect("hub lock poisoned");
        for c in conns.get(principal).into_iter().flatten() {
            if c.browser.as_deref() == Some(browser) {
                c.queue.push(item.clone());
            }
        }
    }

    /// Sends to every connection of every principal in `to`, on every node.
    pub(crate) fn publish<'a>(
        &self,
        to: impl IntoIterator<Item = &'a PrincipalId>,
        item: &Outbound,
    ) {
        let item = Arc::new(item.clone());
        match self.peers.get() {
            None => self.deliver(to, &item),
            Some(peers) => {
                let to: Vec<PrincipalId> = to.into_iter().cloned().collect();
                self.deliver(&to, &item);
                peers.publish(&to, &item, None);
            }
        }
    }

    /// [`publish`](Hub::publish) for a committed message: other nodes also learn what keeps
    /// their copy of its session current (`append` is called only in a cluster).
    pub(crate) fn publish_message(
        &self,
        to: &[PrincipalId],
        item: &Outbound,
        append: impl FnOnce() -> Append,
    ) {
        let item = Arc::new(item.clone());
        self.deliver(to, &item);
        if let Some(peers) = self.peers.get() {
            peers.publish(to, &item, Some(append()));
        }
    }

    /// Sends to the connections of `to` on this node only (what another node published).
    pub(crate) fn deliver<'a>(
        &self,
        to: impl IntoIterator<Item = &'a PrincipalId>,
        item: &Arc<Outbound>,
    ) {
        let conns = self.conns.read().expect("hub lock poisoned");
        for p in to {
            for c in conns.get(p).into_iter().flatten() {
                c.queue.push(item.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unlinking_a_browser_closes_only_its_connections() {
        let hub = Arc::new(Hub::default());
        let a = PrincipalId("a".into());
        let phone = hub.register(a.clone());
        let office = hub.register_from(a.clone(), Some("brw_1".into()));
        let home = hub.register_from(a.clone(), Some("brw_2".into()));
        hub.disconnect_browser(&a, "brw_1", "bye".into());
        assert!(matches!(&*office.queue.recv().await, Outbound::Revoked(f) if &**f == "bye"));
        assert!(phone.queue.try_recv().is_none());
        assert!(home.queue.try_recv().is_none());
    }

    #[tokio::test]
    async fn publishes_to_every_connection_of_a_principal_and_unregisters_on_drop() {
        let hub = Arc::new(Hub::default());
        let a = PrincipalId("a".into());
        let r1 = hub.register(a.clone());
        let r2 = hub.register(a.clone());
        let rb = hub.register(PrincipalId("b".into()));
        assert_eq!(hub.connections(), 3);
        hub.publish([&a], &Outbound::Frame("x".into()));
        assert!(matches!(&*r1.queue.recv().await, Outbound::Frame(f) if &**f == "x"));
        assert!(matches!(&*r2.queue.recv().await, Outbound::Frame(_)));
        assert!(rb.queue.try_recv().is_none());
        drop(r1);
        assert_eq!(hub.connections(), 2);
        drop(r2);
        assert!(hub.conns.read().unwrap().get(&a).is_none());
    }

    #[tokio::test]
    async fn a_full_queue_flags_the_connection_instead_of_blocking() {
        let hub = Arc::new(Hub::default());
        let a = PrincipalId("a".into());
        let r = hub.register(a.clone());
        for _ in 0..QUEUE {
            hub.publish([&a], &Outbound::Frame("x".into()));
        }
        hub.publish([&a], &Outbound::Frame("overflow".into()));
        // The permit stored by notify_one makes this resolve at once.
        tokio::time::timeout(std::time::Duration::from_secs(1), r.queue.lagged.notified())
            .await
            .expect("the connection was flagged as lagging");
        // What was queued before is still there, in order; the overflow is not.
        for _ in 0..QUEUE {
            assert!(matches!(&*r.queue.try_recv().unwrap(), Outbound::Frame(f) if &**f == "x"));
        }
        assert!(r.queue.try_recv().is_none());
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_later_publish() {
        let hub = Arc::new(Hub::default());
        let a = PrincipalId("a".into());
        let r = hub.register(a.clone());
        let queue = r.queue.clone();
        let waiting = tokio::spawn(async move { queue.recv().await });
        tokio::task::yield_now().await;
        hub.publish([&a], &Outbound::Frame("later".into()));
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .unwrap();
        assert!(matches!(&*got, Outbound::Frame(f) if &**f == "later"));
    }
}
