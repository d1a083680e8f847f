//! Automatic card delivery (S3-F11/F12/F15/F16): for each session it hears was established or
//! joined, each device participant's card goes to the others as a `card` message from it — only
//! fields every receiver's audience allows (the log is shared) and that the `card_ledger` says
//! some receiver lacks; the ledger is written after the message commits (at least once).
//! Receiving policies are checked first: a card a receiver refuses is never sent.

use super::{Cards, Error};
use crate::clock::now_ms;
use crate::sessions::{Outgoing, PendingSend};
use callside_core::card::{self, Card, FieldKind};
use callside_core::message::MessageKind;
use callside_core::{PrincipalId, SessionKey};
use callside_store::{ParticipantRecord, Write};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The delivery loop: for each session it is told about, delivers the cards, until `stop`.
pub(crate) async fn run(
    cards: Arc<Cards>,
    mut rx: mpsc::Receiver<SessionKey>,
    stop: CancellationToken,
) {
    // Cards written meanwhile are in the set already; the store adds the older ones.
    loop {
        match cards.store.card_owners().await {
            Ok(owners) => {
                cards
                    .owners
                    .write()
                    .expect("card owners poisoned")
                    .extend(owners);
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read who has a card; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    _ = stop.cancelled() => return,
                }
            }
        }
    }
    loop {
        let key = tokio::select! {
            k = rx.recv() => match k { Some(k) => k, None => return },
            _ = stop.cancelled() => return,
        };
        if let Err(e) = cards.deliver(&key).await {
            tracing::warn!(session = %key, error = %e, "card delivery failed");
        }
    }
}

impl Cards {
    /// Delivers every device participant's card to the others on `key`.
    async fn deliver(&self, key: &SessionKey) -> Result<(), Error> {
        let rec = self.sessions.record(key).await?;
        if rec.session.closed.is_some() {
            return Ok(());
        }
        {
            let owners = self.owners.read().expect("card owners poisoned");
            if !rec
                .participants
                .iter()
                .any(|p| owners.contains(&p.principal))
            {
                return Ok(());
            }
        }
        for sender in &rec.participants {
            self.deliver_from(key, sender, &rec.participants).await?;
        }
        Ok(())
    }

    /// Delivers `sender`'s card to the other `participants`, if it has one they may have.
    async fn deliver_from(
        &self,
        key: &SessionKey,
        sender: &ParticipantRecord,
        participants: &[ParticipantRecord],
    ) -> Result<(), Error> {
        let card = self.store.card(sender.principal.clone()).await?;
        if card.fields.is_empty() {
            return Ok(());
        }
        let others: Vec<_> = participants
            .iter()
            .filter(|p| p.principal != sender.principal)
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        // Receiving policies (S3-F17): one receiver's block keeps the card off the shared log.
        let mut used_once = Vec::new();
        let mut admitted = true;
        for o in &others {
            let policy = self.store.receive_policy(o.principal.clone()).await?;
            let (admit, once) = policy.admits(sender.number.as_ref());
            admitted &= admit;
            if once {
                if let Some(n) = &sender.number {
                    used_once.push(Write::ForgetContactRule {
                        principal: o.principal.clone(),
                        number: n.clone(),
                    });
                }
            }
        }
        if !admitted {
            return Ok(());
        }
        let audiences = self.store.audiences(sender.principal.clone()).await?;
        // The log is shared: send only what every receiver may have (the intersection of
        // their audiences), and what at least one receiver lacks.
        let mut allowed: Vec<FieldKind> = FieldKind::ALL.to_vec();
        let mut ledgers: Vec<(PrincipalId, HashMap<String, u64>)> = Vec::new();
        for o in &others {
            let mine = card::allowed_for(&audiences, &card::DEFAULT_FIELDS, o.number.as_ref());
            allowed.retain(|k| mine.contains(k));
            ledgers.push((
                o.principal.clone(),
                self.store
                    .ledger(sender.principal.clone(), o.principal.clone())
                    .await?,
            ));
        }
        let mut fields: Vec<&card::CardField> = Vec::new();
        for f in card.fields.iter().filter(|f| allowed.contains(&f.kind)) {
            if ledgers.iter().any(|(_, has)| {
                !card::to_deliver(
                    &Card {
                        fields: vec![f.clone()],
                    },
                    &allowed,
                    has,
                )
                .is_empty()
            }) {
                fields.push(f);
            }
        }
        if fields.is_empty() {
            return Ok(());
        }
        // The name shown instead of the number is a field like any other: only for receivers
        // whose audience includes names.
        let name = card.name().filter(|_| allowed.contains(&FieldKind::Name));
        let now = now_ms();
        let out = Outgoing {
            client_id: callside_core::secret::new_id("card", now),
            kind: MessageKind::Card,
            body: self.wire.card_body(&fields, name),
            blob: None,
            tracking: None,
            screen: None,
        };
        match self.sessions.send(&sender.principal, key, out).await? {
            written @ PendingSend::Written { .. } => {
                written.wait(&self.sessions).await?;
            }
            PendingSend::Duplicate { .. } => {}
        }
        let writes = used_once
            .into_iter()
            .chain(ledgers.iter().flat_map(|(receiver, _)| {
                fields.iter().map(move |f| Write::Delivered {
                    sender: sender.principal.clone(),
                    receiver: receiver.clone(),
                    field: f.id.clone(),
                    version: f.version,
                    at: now,
                })
            }))
            .collect();
        self.store.apply(writes).await?;
        Ok(())
    }
}
