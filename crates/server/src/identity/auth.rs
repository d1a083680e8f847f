//! Bearer-token authentication. Tokens are looked up by their SHA-256; a short-lived cache keeps
//! the hot path off the database, and every change to a principal evicts it.

use crate::Store;
use callside_core::{Principal, PrincipalId, PrincipalKind, Token, TokenHash};
use callside_store::{PrincipalRecord, StoreError, Write};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("missing or malformed bearer token")]
    Unknown,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who a token belongs to.
pub(crate) struct Auth {
    store: Store,
    entries: Mutex<HashMap<TokenHash, (Arc<Principal>, Instant)>>,
    /// Moves on every eviction, so a lookup that read the store before an eviction does not put
    /// the revoked principal back.
    generation: std::sync::atomic::AtomicU64,
}

impl Auth {
    pub(crate) fn new(store: Store) -> Self {
        Auth {
            store,
            entries: Default::default(),
            generation: Default::default(),
        }
    }

    /// The principal of a presented token.
    pub(crate) async fn resolve(&self, token: &Token) -> Result<Arc<Principal>, AuthError> {
        let hash = token.hash();
        if let Some((p, at)) = self.entries.lock().expect("auth cache poisoned").get(&hash) {
            if at.elapsed() < TTL {
                return Ok(p.clone());
            }
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let rec = self
            .store
            .principal_by_token(hash)
            .await?
            .ok_or(AuthError::Unknown)?;
        let p = Arc::new(rec.principal);
        let mut entries = self.entries.lock().expect("auth cache poisoned");
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) != generation {
            return Ok(p); // answered from a read that may predate a revocation: not cached
        }
        if entries.len() > 100_000 {
            entries.retain(|_, (_, at)| at.elapsed() < TTL);
        }
        entries.insert(hash, (p.clone(), Instant::now()));
        Ok(p)
    }

    /// Forgets every cached token of `id` (after rotation or deletion).
    pub(crate) fn evict(&self, id: &PrincipalId) {
        let mut entries = self.entries.lock().expect("auth cache poisoned");
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        entries.retain(|_, (p, _)| &p.id != id);
    }
}

/// Makes sure the operator's admin token exists: reads it from `file`, or creates it there
/// (mode 0600) on first start. Only its hash goes into the database.
pub(crate) async fn ensure_admin(
    store: &Store,
    file: &Path,
    now: i64,
) -> Result<String, crate::ServerError> {
    let io = |e: std::io::Error| {
        crate::ServerError::Io(format!("admin token file {}: {e}", file.display()))
    };
    let token = if file.exists() {
        let text = std::fs::read_to_string(file).map_err(io)?;
        if text.trim().is_empty() {
            return Err(crate::ServerError::Io(format!(
                "admin token file {} is empty; delete it and a new token is made at start",
                file.display()
            )));
        }
        Token::from_presented(text.trim())
    } else {
        let token = Token::generate("adm");
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        crate::keys::write_private(file, token.expose()).map_err(io)?;
        tracing::info!(file = %file.display(), "created the admin token");
        token
    };
    if store.principal_by_token(token.hash()).await?.is_none() {
        let id = PrincipalId(callside_core::secret::new_id("adm", now));
        store
            .apply(vec![Write::Principal(
                PrincipalRecord {
                    principal: Principal {
                        id,
                        name: "operator".into(),
                        kind: PrincipalKind::Admin,
                    },
                    created_at: now,
                },
                token.hash(),
            )])
            .await?;
    }
    Ok(token.expose().to_owned())
}
