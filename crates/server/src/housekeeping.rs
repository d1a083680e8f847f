//! Housekeeping: the periodic sweep that ends legs whose window passed and calls that went
//! stale, flushes acknowledgements, expires invitations and unanswered requests, offers one-sided
//! calls to the other side, closes idle sessions, prunes idle rate-limit keys and old proofs,
//! deletes records past their retention (`[retention]`, one bounded batch per kind and sweep)
//! and files nothing references —
//! and stops the server when the store has failed (fail-stop).

use crate::calls::Calls;
use crate::clock::now_ms;
use crate::identity::emails::Emails;
use crate::identity::proofs::Proofs;
use crate::invitations::Invitations;
use crate::merchants::Merchants;
use crate::sessions::Sessions;
use crate::Store;
use callside_core::Millis;
use callside_store::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What the sweep touches.
pub(crate) struct Housekeeping {
    pub(crate) store: Store,
    pub(crate) calls: Arc<Calls>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) invitations: Arc<Invitations>,
    pub(crate) proofs: Arc<Proofs>,
    pub(crate) emails: Arc<Emails>,
    pub(crate) merchants: Arc<Merchants>,
    /// Files nothing references are deleted after `[retention] unreferenced_files_days`.
    pub(crate) blobs: Arc<crate::blobs::Blobs>,
    /// How long records are kept; each sweep deletes one bounded batch of each kind that expired.
    pub(crate) retention: crate::config::Retention,
    /// Tokens' last-use marks are stored from here, and unused ones reported.
    pub(crate) auth: Arc<crate::identity::auth::Auth>,
    pub(crate) tokens: crate::config::Tokens,
    /// Open sessions with no message for this long are closed.
    pub(crate) idle_timeout: Duration,
    /// S1-F2: how long a leg waits for the other app before the other side is asked; zero is off.
    pub(crate) one_sided_after: Duration,
    /// Set when the server stops because the store failed.
    pub(crate) fatal: Arc<AtomicBool>,
}

impl Housekeeping {
    /// Runs until `stop` is cancelled; cancels it itself when the store has failed.
    pub(crate) async fn run(self, stop: CancellationToken) {
        // Sweep often enough that a session closes within a quarter of its idle timeout late.
        let sweep_every =
            (self.idle_timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let mut next_idle_sweep = Instant::now();
        let mut next_invitation_sweep = Instant::now();
        // The first report of unused tokens a minute after start, then daily.
        let mut next_token_report = Instant::now() + Duration::from_secs(60);
        loop {
            if self.store.has_failed() {
                tracing::error!("the store failed; stopping so a supervisor can restart from disk");
                self.fatal.store(true, Ordering::SeqCst);
                stop.cancel();
                return;
            }
            let wait = self
                .calls
                .expire_due()
                .await
                .min(Duration::from_millis(250));
            self.sessions.flush_acks().await;
            if Instant::now() >= next_invitation_sweep {
                self.every_second().await;
                next_invitation_sweep = Instant::now() + Duration::from_secs(1);
            }
            if Instant::now() >= next_idle_sweep {
                self.idle_sweep().await;
                next_idle_sweep = Instant::now() + sweep_every;
            }
            if Instant::now() >= next_token_report {
                self.report_unused_tokens().await;
                next_token_report = Instant::now() + Duration::from_secs(86_400);
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => {
                    self.sessions.flush_acks().await;
                    return;
                }
            }
        }
    }

    /// Says in the log how many device and service tokens have not been used for
    /// `tokens.unused_after_days` (`callside admin tokens unused` lists them).
    async fn report_unused_tokens(&self) {
        let Some(before) = self.tokens.unused_before(now_ms()) else {
            return;
        };
        match self.store.unused_tokens(before).await {
            Ok(list) if list.is_empty() => {}
            Ok(list) => tracing::warn!(
                count = list.len(),
                days = self.tokens.unused_after_days.unwrap_or(0),
                "tokens unused for a while: `callside admin tokens unused` lists them; delete or rotate what is no longer needed"
            ),
            Err(e) => tracing::warn!(error = %e, "could not list unused tokens"),
        }
    }

    /// Invitations and requests that ran out of time; calls only one app reported.
    async fn every_second(&self) {
        self.invitations.expire_due().await;
        self.sessions.expire_requests().await;
        if !self.one_sided_after.is_zero() {
            let before = now_ms() - self.one_sided_after.as_millis() as Millis;
            for leg in self.calls.one_sided_due(before).await {
                self.invitations.offer_for_leg(leg).await;
            }
        }
    }

    /// Idle sessions, idle rate-limit keys, proofs a day past expiry, lapsed SMS bindings.
    async fn idle_sweep(&self) {
        let idle_before = now_ms() - self.idle_timeout.as_millis() as Millis;
        self.sessions.close_idle(idle_before).await;
        self.sessions.evict_idle();
        let now = now_ms();
        self.proofs.prune(now);
        self.invitations.prune(now);
        self.emails.prune(now);
        self.merchants.prune(now);
        self.proofs.purge_expired(now - 86_400_000).await;
        for purge in self.retention.purges(now) {
            if let Err(e) = self.store.apply(vec![purge]).await {
                tracing::warn!(error = %e, "a retention purge failed; the next sweep tries again");
            }
        }
        if let Some(before) = self.retention.files_before(now) {
            match self.blobs.collect(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(files = n, "deleted files nothing referenced"),
                Err(e) => {
                    tracing::warn!(error = %e, "collecting unreferenced files failed; the next sweep tries again")
                }
            }
        }
        self.proofs.lapse_bindings(now).await;
        let used = self.auth.take_used();
        if !used.is_empty() {
            if let Err(e) = self.store.apply(vec![Write::TokensUsed(used)]).await {
                tracing::warn!(error = %e, "could not store when tokens were last used");
            }
        }
    }
}
