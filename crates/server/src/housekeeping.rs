//! Housekeeping: the periodic sweep that ends legs whose window passed and calls that went
//! stale, flushes acknowledgements, expires invitations and unanswered requests, offers one-sided
//! calls to the other side, closes idle sessions and prunes idle rate-limit keys.

use crate::app::AppState;
use crate::clock::now_ms;
use callside_core::Millis;

/// Ends legs whose window passed and calls that went stale; closes idle sessions.
pub(crate) async fn housekeeping(app: AppState) {
    // Sweep often enough that a session closes within a quarter of its idle timeout late.
    let sweep_every = (app.config.idle_timeout / 4).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(60),
    );
    let mut next_idle_sweep = tokio::time::Instant::now();
    let mut next_invitation_sweep = tokio::time::Instant::now();
    loop {
        if app.store.has_failed() {
            tracing::error!("the store failed; stopping so a supervisor can restart from disk");
            app.fatal.store(true, std::sync::atomic::Ordering::SeqCst);
            app.supervisor.token().cancel();
            return;
        }
        let wait = app
            .calls
            .expire_due()
            .await
            .min(std::time::Duration::from_millis(250));
        app.sessions.flush_acks().await;
        if tokio::time::Instant::now() >= next_invitation_sweep {
            app.invitations.expire_due(&app).await;
            app.sessions.expire_requests().await;
            if !app.config.one_sided_after.is_zero() {
                let before = now_ms() - app.config.one_sided_after.as_millis() as Millis;
                for crate::calls::PendingLeg {
                    rec: leg,
                    name,
                    answered,
                } in app.calls.one_sided_due(before).await
                {
                    app.invitations
                        .offer_for_leg(&app, leg, name, answered)
                        .await;
                }
            }
            next_invitation_sweep = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        }
        if tokio::time::Instant::now() >= next_idle_sweep {
            let idle_before = now_ms() - app.config.idle_timeout.as_millis() as Millis;
            app.sessions.close_idle(idle_before).await;
            let now = now_ms();
            app.proofs.prune(now);
            app.invitations.prune(now);
            app.emails.prune(now);
            if let Err(e) = app
                .store
                .apply(vec![callside_store::Write::PurgeProofs {
                    expired_before: now - 86_400_000,
                }])
                .await
            {
                tracing::warn!(error = %e, "could not purge old number proofs");
            }
            next_idle_sweep = tokio::time::Instant::now() + sweep_every;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = app.supervisor.token().cancelled() => {
                app.sessions.flush_acks().await;
                return;
            }
        }
    }
}
