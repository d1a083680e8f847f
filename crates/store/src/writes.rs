//! The write side: one trait for every aggregate, because a `Vec<Write>` is one unit of work.

use crate::{Result, StoreError, Write};

/// Callback run on the backend's writer right after the commit, in commit order.
pub type OnCommit = Box<dyn FnOnce() + Send + 'static>;

/// Resolves once a submitted list of writes is committed (or has failed).
pub type Commit = tokio::sync::oneshot::Receiver<Result<()>>;

/// Commits lists of [`Write`]s. This trait is the storage contract; every backend keeps all of
/// it, and the conformance suite checks what a test can observe.
///
/// **One unit of work across aggregates.** A `Vec<Write>` is committed atomically, whatever
/// aggregates it touches: a leg settled in the same commit as the session it opened, a message
/// with the blob reference it makes readable. That is why writes are one trait and reads are
/// per aggregate.
///
/// **Persist before acknowledge.** The future of [`apply`](Writes::apply) (and the [`Commit`]
/// of [`submit`](Writes::submit)) resolves only after the commit is durable against the process
/// being killed (kill -9); the server sends no `accepted`, `201` or `session` frame before it.
/// `on_commit` callbacks run right after their commit, in commit order, on the backend's writer
/// (the server fans messages out there, so fan-out order is commit order). They must not block:
/// the next commit waits for them.
///
/// **One writer order.** Queue order is commit order: a request queued by `submit` commits
/// after every request queued before it. A caller holding a per-session lock while queueing
/// therefore keeps that session's writes in sequence.
///
/// **All or nothing per call.** Every write of one `apply`/`submit` call lands, or none does. A
/// backend may commit many calls in one transaction (group commit), but one failing call fails
/// alone: the others in its group still commit and resolve `Ok`.
///
/// **Duplicates.** A [`Write::Message`] whose `(session, sender, client_id)` exists, a
/// [`Write::Principal`] whose id exists and a [`Write::Session`] whose key exists fail their call
/// with [`StoreError::Duplicate`], which then changes nothing.
///
/// **Conflicts.** A [`Write::Message`] whose `(session, seq)` exists fails its call with
/// [`StoreError::Conflict`] and breaks the call's [`Write::Fence`] chain; a later call fenced by
/// a broken chain fails with `Conflict` untried. (Only several nodes sharing one database number
/// a session concurrently; one process never does.)
///
/// **Fail-stop.** Callers number messages and match legs in memory as they queue, assuming
/// every queued write lands. So when a transaction itself fails (I/O error, disk full; not one
/// bad request), the store refuses every later write ([`StoreError::Failed`], or
/// [`StoreError::Closed`] once the writer is gone), [`has_failed`](Writes::has_failed) turns
/// true, and the server stops so that a supervisor restarts it from what is durable.
#[async_trait::async_trait]
pub trait Writes: Send + Sync {
    /// Queues `writes` without waiting for them to commit; the returned [`Commit`] resolves
    /// after the commit (or the failure). Queue order is commit order, so a caller holding a
    /// per-session lock while queueing keeps that session's writes in sequence. `on_commit`
    /// runs on the writer right after the commit, in commit order, and only if it succeeded.
    ///
    /// Waits while the writer's queue is full (the queue is bounded); fails with
    /// [`StoreError::Closed`] when the store has shut down or stopped after a failure.
    async fn submit(&self, writes: Vec<Write>, on_commit: Option<OnCommit>) -> Result<Commit>;

    /// Commits `writes` atomically; resolves once they are durable. A writer that went away
    /// without answering is [`StoreError::Closed`].
    async fn apply(&self, writes: Vec<Write>) -> Result<()> {
        self.submit(writes, None)
            .await?
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Like [`apply`](Writes::apply), and runs `on_commit` on the writer right after the commit.
    async fn apply_then(&self, writes: Vec<Write>, on_commit: OnCommit) -> Result<()> {
        self.submit(writes, Some(on_commit))
            .await?
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// Whether a commit failed. The store then refuses every write (fail-stop): the server
    /// should stop and be restarted from what is durable.
    fn has_failed(&self) -> bool;

    /// Cheap liveness probe for `/readyz`: one round trip to the database on the read path.
    async fn ping(&self) -> Result<()>;
}

/// [`Write::Fence`]: passes unless its chain is broken.
pub(crate) fn fence(chain: &crate::Chain) -> Result<()> {
    match chain.is_broken() {
        true => Err(StoreError::Conflict),
        false => Ok(()),
    }
}

/// After a request failed with [`StoreError::Conflict`]: its chains are broken, so what its
/// holder queued behind it fails too.
pub(crate) fn break_chains(writes: &[Write]) {
    for w in writes {
        if let Write::Fence(chain) = w {
            chain.break_off();
        }
    }
}
