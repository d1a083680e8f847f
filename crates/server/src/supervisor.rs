//! Background work has one owner. Every task the server starts goes through the [`Supervisor`]:
//! long-lived loops (the listener, housekeeping, push, card delivery, derived data, the
//! invitation listeners) with [`Supervisor::spawn`], and short work that must outlive the request
//! that began it (an SMS answer with its retries, a push to a device, a paid component offer)
//! through a [`Tasks`] handle. Shutdown cancels the one token they all watch, joins the loops in
//! the order they started, and waits a bounded time for short work. Nothing is detached.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutdown waits for short tasks (they watch the token and stop retrying at once).
const SHORT_TASK_GRACE: Duration = Duration::from_secs(5);

/// Owns the server's tasks.
pub(crate) struct Supervisor {
    token: CancellationToken,
    loops: Mutex<Vec<(&'static str, JoinHandle<()>)>>,
    short: TaskTracker,
}

/// What a service needs to start short work: tracked tasks and the shutdown signal.
#[derive(Clone)]
pub(crate) struct Tasks {
    tracker: TaskTracker,
    token: CancellationToken,
}

impl Tasks {
    /// Runs `task` to completion unless the server stops first; shutdown waits for it (up to a
    /// few seconds). Returns its handle, for a caller that wants the result.
    pub(crate) fn spawn<F>(&self, task: F) -> JoinHandle<Option<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let token = self.token.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                out = task => Some(out),
                _ = token.cancelled() => None,
            }
        })
    }

    /// Runs `task` to completion even during shutdown (shutdown still waits only a few seconds
    /// for it): for work whose result must not be lost once begun, such as a granted purchase
    /// being recorded and offered.
    pub(crate) fn spawn_to_end<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }
}

impl Supervisor {
    pub(crate) fn new() -> Self {
        Supervisor {
            token: CancellationToken::new(),
            loops: Mutex::new(Vec::new()),
            short: TaskTracker::new(),
        }
    }

    /// The token every task watches; cancelled when the server stops.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    pub(crate) fn tasks(&self) -> Tasks {
        Tasks {
            tracker: self.short.clone(),
            token: self.token.clone(),
        }
    }

    /// Starts a loop that runs until shutdown. It must return soon after the token is cancelled.
    pub(crate) fn spawn(
        &self,
        name: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        let handle = tokio::spawn(task);
        self.loops
            .lock()
            .expect("supervisor poisoned")
            .push((name, handle));
    }

    /// Cancels everything, joins the loops in start order, then waits (bounded) for short work.
    pub(crate) async fn shutdown(&self) {
        self.token.cancel();
        let loops = std::mem::take(&mut *self.loops.lock().expect("supervisor poisoned"));
        for (name, handle) in loops {
            if let Err(e) = handle.await {
                tracing::error!(task = name, error = %e, "a background task failed");
            }
        }
        self.short.close();
        if tokio::time::timeout(SHORT_TASK_GRACE, self.short.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.short.len(),
                "short tasks still running at shutdown; leaving them"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn shutdown_stops_loops_and_waits_for_short_work() {
        let sup = Supervisor::new();
        let ended = Arc::new(AtomicU32::new(0));
        for _ in 0..2 {
            let (token, ended) = (sup.token().clone(), ended.clone());
            sup.spawn("loop", async move {
                token.cancelled().await;
                ended.fetch_add(1, Ordering::SeqCst);
            });
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let finished = ended.clone();
        sup.tasks().spawn_to_end(async move {
            let _ = rx.await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            finished.fetch_add(10, Ordering::SeqCst);
        });
        // Short work that watches the token stops at shutdown instead of running on.
        let never = sup.tasks().spawn(std::future::pending::<()>());
        drop(tx);
        sup.shutdown().await;
        assert_eq!(
            ended.load(Ordering::SeqCst),
            12,
            "both loops and the short task ended"
        );
        assert_eq!(never.await.unwrap(), None, "cancelled, not completed");
    }
}
