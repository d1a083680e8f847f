//! Sending predetermined screens: for each session it hears was established or joined, each
//! automated system taking part that keeps a screen sends it to the others — if at least one of
//! them declared the `screens` feature (the capability check of S1-F20). The client id names the
//! screen and its version, so a session gets each version once however often someone joins.

use super::{Error, Screens};
use crate::sessions::{Outgoing, ScreenUse};
use callside_core::component::feature;
use callside_core::message::MessageKind;
use callside_core::SessionKey;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The delivery loop, until `stop`.
pub(crate) async fn run(
    screens: Arc<Screens>,
    mut rx: mpsc::Receiver<SessionKey>,
    stop: CancellationToken,
) {
    loop {
        let key = tokio::select! {
            k = rx.recv() => match k { Some(k) => k, None => return },
            _ = stop.cancelled() => return,
        };
        if let Err(e) = screens.deliver(&key).await {
            tracing::warn!(session = %key, error = %e, "predetermined screen not sent");
        }
    }
}

impl Screens {
    async fn deliver(&self, key: &SessionKey) -> Result<(), Error> {
        let rec = self.sessions.record(key).await?;
        if rec.session.closed.is_some() {
            return Ok(());
        }
        for system in &rec.participants {
            let Some(screen) = self.store.system_screen(system.principal.clone()).await? else {
                continue;
            };
            let mut shown = false;
            for other in rec
                .participants
                .iter()
                .filter(|p| p.principal != system.principal)
            {
                let caps = self.store.capabilities(other.principal.clone()).await?;
                shown |= caps.is_some_and(|c| c.has_feature(feature::SCREENS));
            }
            if !shown {
                tracing::debug!(session = %key, system = %system.principal,
                    "no participant shows screens; the predetermined screen is not sent");
                continue;
            }
            let msg = Outgoing {
                client_id: format!("predetermined-{}-{}", screen.id, screen.updated_at),
                kind: MessageKind::Screen,
                body: self
                    .wire
                    .screen_for_call(&screen.body, system.number.as_ref()),
                blob: screen.image.clone(),
                tracking: None,
                screen: Some(ScreenUse::Offer {
                    id: screen.id.clone(),
                    regions: screen.regions.clone(),
                }),
            };
            let pending = self.sessions.send(&system.principal, key, msg).await?;
            pending.wait(&self.sessions).await?;
        }
        Ok(())
    }
}
