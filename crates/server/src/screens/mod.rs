//! Predetermined screens (S1-F11): an automated system keeps the screen it wants shown when a
//! call reaches it on the server (`/v1/me/screen`), and [`delivery`] sends it, as the system's
//! own `screen` message, on every session the system takes part in once it is established — to
//! callers whose devices say they show screens (S1-F20), with the service number the call reached
//! as its owner. A system that is slow to connect, or not connected at all, still greets its
//! callers.
//!
//! May touch: the store, sessions (to read a session and send on it). It hears of established
//! sessions on a bounded channel from sessions.

pub(crate) mod delivery;
pub(crate) mod http;

use crate::clock::now_ms;
use crate::sessions::Sessions;
use crate::Store;
use callside_core::message::BlobId;
use callside_core::principal::{Principal, Scope};
use callside_core::PhoneNumber;
use callside_store::{StoreError, SystemScreenRecord, Write};
use std::sync::Arc;

/// Sessions waiting for predetermined screens.
pub(crate) const QUEUE: usize = 16_384;

/// How a predetermined screen looks on a session's log, a format only the HTTP edge knows
/// (implemented in `http.rs`).
pub(crate) trait Wire: Send + Sync {
    /// The stored screen as sent on a call that reached `number` (its owner, unless the screen
    /// names one itself).
    fn screen_for_call(&self, stored: &str, number: Option<&PhoneNumber>) -> String;
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("only automated systems keep screens")]
    SystemsOnly,
    #[error("no predetermined screen; PUT one first")]
    NoScreen,
    #[error(transparent)]
    Session(#[from] crate::sessions::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A checked screen to keep: its id, its regions' ids, and its wire form.
pub(crate) struct NewScreen {
    pub(crate) id: String,
    pub(crate) regions: Vec<String>,
    pub(crate) body: String,
    /// The blob it shows (the system may read it).
    pub(crate) image: Option<BlobId>,
}

pub(crate) struct Screens {
    store: Store,
    sessions: Arc<Sessions>,
    wire: Arc<dyn Wire>,
}

fn systems_only(who: &Principal) -> Result<(), Error> {
    if who.has_scope(Scope::AutomatedSystem) {
        Ok(())
    } else {
        Err(Error::SystemsOnly)
    }
}

impl Screens {
    pub(crate) fn new(store: Store, sessions: Arc<Sessions>, wire: Arc<dyn Wire>) -> Self {
        Screens {
            store,
            sessions,
            wire,
        }
    }

    /// Keeps `who`'s predetermined screen (replacing the one before).
    pub(crate) async fn put(
        &self,
        who: &Principal,
        screen: NewScreen,
    ) -> Result<SystemScreenRecord, Error> {
        systems_only(who)?;
        let rec = SystemScreenRecord {
            principal: who.id.clone(),
            id: screen.id,
            regions: screen.regions,
            body: screen.body,
            image: screen.image,
            updated_at: now_ms(),
        };
        self.store
            .apply(vec![Write::SystemScreen(rec.clone())])
            .await?;
        Ok(rec)
    }

    pub(crate) async fn get(&self, who: &Principal) -> Result<SystemScreenRecord, Error> {
        systems_only(who)?;
        self.store
            .system_screen(who.id.clone())
            .await?
            .ok_or(Error::NoScreen)
    }

    pub(crate) async fn delete(&self, who: &Principal) -> Result<(), Error> {
        self.get(who).await?;
        self.store
            .apply(vec![Write::DeleteSystemScreen(who.id.clone())])
            .await?;
        Ok(())
    }
}
