//! Sessions numbered by several nodes (a cluster on one PostgreSQL database).
//!
//! Each node appends from the session cached in its memory, as a single node does. The database
//! is the arbiter: `(session, seq)` is its primary key, so when two nodes give out the same
//! number, the second commit fails with `Conflict`, and the cell's chain
//! ([`Write::Fence`](callside_store::Write::Fence)) fails whatever that node queued behind it.
//! The node then drops its copy and numbers again from what the store has: server-written
//! entries retry at once ([`retrying`]); a client's socket is closed so that the client sends its
//! unanswered messages again, in its own order.
//!
//! Conflicts stay rare because every node tells the others what it committed (the cluster's
//! fan-out): a cached session follows a plain message another node appended
//! ([`Sessions::remote_append`]) and is dropped on anything else that changes it
//! ([`Sessions::remote_changed`]), so a node numbers from a stale copy only in the moment
//! between another node's commit and its notice.

use super::client_ids::IdKey;
use super::{Error, Sessions};
use crate::clock::now_ms;
use callside_core::{PrincipalId, SessionKey};
use std::future::Future;

/// How many times a server-written entry is numbered again after a conflict.
const ATTEMPTS: u32 = 3;

/// Runs `attempt` again while it fails because another node numbered the session first (each
/// failure dropped the cached session, so the next attempt starts from the store).
pub(super) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_conflict() && tries < ATTEMPTS => tries += 1,
            result => return result,
        }
    }
}

/// A message another node committed, as it announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteAppend {
    pub(crate) key: SessionKey,
    pub(crate) seq: u64,
    pub(crate) sender: String,
    pub(crate) client_id: Option<String>,
    /// A participant's message that changed nothing else about the session (not a join, a
    /// close or a call-state change).
    pub(crate) plain: bool,
}

impl Sessions {
    /// Another node committed a message on `a.key`. A copy cached here takes it in if it is
    /// the next number, the message is plain, and everything this node queued there has
    /// committed; otherwise the copy is dropped and reloads from the store when next used.
    pub(crate) async fn remote_append(&self, a: RemoteAppend) {
        let Some(cell) = self.cached(&a.key) else {
            return;
        };
        let mut st = cell.state.lock().await;
        if a.seq <= st.rec.last_seq && *cell.committed.borrow() >= a.seq {
            return; // known already
        }
        let settled = *cell.committed.borrow() == st.rec.last_seq;
        if a.plain && settled && a.seq == st.rec.last_seq + 1 {
            st.rec.last_seq = a.seq;
            st.rec.last_activity = now_ms();
            if let Some(id) = &a.client_id {
                st.client_ids.insert(IdKey::of(&a.sender, id), a.seq);
            }
            cell.committed.send_replace(a.seq);
            return;
        }
        drop(st);
        // `a.seq` is in the store: whoever waits on this copy for news (a long poll) wakes and
        // reads it from there, before the copy goes.
        cell.committed.send_if_modified(|c| {
            let newer = a.seq > *c;
            if newer {
                *c = a.seq;
            }
            newer
        });
        self.forget(&a.key);
    }

    /// Another node changed `key` in a way a cached copy cannot follow (a participant joined, a
    /// setting changed): the copy here is dropped.
    pub(crate) fn remote_changed(&self, key: &SessionKey) {
        self.forget(key);
    }

    /// Another node took an answer to a question: if this node took the question, it stops
    /// waiting (and will not say nobody answered).
    pub(crate) fn remote_answered(
        &self,
        key: &SessionKey,
        by: &PrincipalId,
        asked: &str,
        request: String,
    ) {
        let Some(asked) = super::Asked::parse(asked) else {
            return;
        };
        self.requests.lock().expect("requests poisoned").track(
            key,
            by,
            super::Tracking::Answers { asked, request },
            now_ms(),
        );
    }

    /// Tells other nodes that `key` changed without a message they could follow.
    pub(super) fn changed_elsewhere(&self, key: &SessionKey) {
        if let Some(peers) = self.hub.peers() {
            peers.session_changed(key);
        }
    }

    /// Drops every cached session (the notices of other nodes may have been missed).
    pub(crate) fn forget_all(&self) {
        self.cells
            .lock()
            .expect("session cache poisoned")
            .map
            .clear();
    }

    fn cached(&self, key: &SessionKey) -> Option<std::sync::Arc<super::Cell>> {
        self.cells
            .lock()
            .expect("session cache poisoned")
            .map
            .get(key)
            .cloned()
    }
}
