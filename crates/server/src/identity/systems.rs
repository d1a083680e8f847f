//! Which automated systems answer a number (S1-F11–F21): the service accounts with the
//! `automated_system` scope and their ranges, read once and kept until the operator creates or
//! deletes an account here, or for at most [`TTL`] (another node's changes).

use crate::Store;
use callside_core::principal::{Principal, Scope};
use callside_core::PhoneNumber;
use callside_store::StoreError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(10);

/// What was read, and when.
type Read = Option<(Instant, Arc<Vec<Principal>>)>;

pub(crate) struct Systems {
    store: Store,
    /// What was read and when, and a generation that `forget` moves on, so a read that raced
    /// with a change is not kept.
    cached: Mutex<(u64, Read)>,
}

impl Systems {
    pub(crate) fn new(store: Store) -> Self {
        Systems {
            store,
            cached: Mutex::new((0, None)),
        }
    }

    /// The automated systems holding `number` in one of their ranges, oldest account first.
    pub(crate) async fn holding(&self, number: &PhoneNumber) -> Result<Vec<Principal>, StoreError> {
        let all = self.all().await?;
        Ok(all.iter().filter(|p| p.holds(number)).cloned().collect())
    }

    /// Forgets what it read (an account was created or deleted).
    pub(crate) fn forget(&self) {
        let mut c = self.cached.lock().expect("systems poisoned");
        *c = (c.0 + 1, None);
    }

    async fn all(&self) -> Result<Arc<Vec<Principal>>, StoreError> {
        let generation = {
            let c = self.cached.lock().expect("systems poisoned");
            if let Some((at, all)) = &c.1 {
                if at.elapsed() < TTL {
                    return Ok(all.clone());
                }
            }
            c.0
        };
        let all: Arc<Vec<Principal>> = Arc::new(
            self.store
                .principals("service")
                .await?
                .into_iter()
                .map(|r| r.principal)
                .filter(|p| p.has_scope(Scope::AutomatedSystem))
                .collect(),
        );
        let mut c = self.cached.lock().expect("systems poisoned");
        if c.0 == generation {
            c.1 = Some((Instant::now(), all.clone()));
        }
        Ok(all)
    }
}
