//! Bearer-token authentication. Tokens are looked up by their SHA-256; a short-lived cache keeps
//! the hot path off the database, and every change to a principal evicts it. A browser's access
//! token (`cs_brw_…`, issue 14) names the device it was linked to, and works until it expires.
//! WebSocket tickets are single-use stand-ins for a token in a URL, kept here for 30 s.

use crate::clock::now_ms;
use crate::Store;
use callside_core::{Millis, Principal, PrincipalId, PrincipalKind, Token, TokenHash};
use callside_store::{PrincipalRecord, StoreError, Write};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(30);
/// How long a WebSocket ticket waits to be used.
pub(crate) const TICKET_TTL_MS: Millis = 30_000;
/// How a browser's access token starts (`Token::generate("brw")`).
pub(crate) const BROWSER_TOKEN_PREFIX: &str = "cs_brw_";

#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("missing or malformed bearer token")]
    Unknown,
    #[error("this browser's access token has expired: refresh it (POST /v1/browser/refresh)")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who presented a credential: the principal, and the browser it was given to when it is a
/// browser's token (a browser acts as its device, minus managing the device's identity).
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) principal: Arc<Principal>,
    pub(crate) browser: Option<Arc<str>>,
}

/// A cached answer: who, when it was cached, and until when a browser's token works.
type Cached = (Resolved, Instant, Option<Millis>);

/// Who a token belongs to.
pub(crate) struct Auth {
    store: Store,
    /// By token hash: who, when cached, and until when a browser's token works.
    entries: Mutex<HashMap<TokenHash, Cached>>,
    tickets: Mutex<HashMap<TokenHash, (Resolved, Millis)>>,
    /// Moves on every eviction, so a lookup that read the store before an eviction does not put
    /// the revoked principal back.
    generation: std::sync::atomic::AtomicU64,
}

impl Auth {
    pub(crate) fn new(store: Store) -> Self {
        Auth {
            store,
            entries: Default::default(),
            tickets: Default::default(),
            generation: Default::default(),
        }
    }

    /// The principal of a presented token.
    pub(crate) async fn resolve(&self, token: &Token) -> Result<Arc<Principal>, AuthError> {
        Ok(self.resolve_credential(token).await?.principal)
    }

    /// Who presented `token`, and through which browser if it is a browser's.
    pub(crate) async fn resolve_credential(&self, token: &Token) -> Result<Resolved, AuthError> {
        let hash = token.hash();
        let now = now_ms();
        if let Some((r, at, until)) = self.entries.lock().expect("auth cache poisoned").get(&hash) {
            if at.elapsed() < TTL {
                if until.is_some_and(|u| u <= now) {
                    return Err(AuthError::Expired);
                }
                return Ok(r.clone());
            }
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let (resolved, until) = if token.expose().starts_with(BROWSER_TOKEN_PREFIX) {
            let b = self
                .store
                .browser_by_access(hash)
                .await?
                .ok_or(AuthError::Unknown)?;
            if b.access_expires_at <= now {
                return Err(AuthError::Expired);
            }
            let rec = self
                .store
                .principal(b.device)
                .await?
                .ok_or(AuthError::Unknown)?;
            let resolved = Resolved {
                principal: Arc::new(rec.principal),
                browser: Some(b.id.into()),
            };
            (resolved, Some(b.access_expires_at))
        } else {
            let rec = self
                .store
                .principal_by_token(hash)
                .await?
                .ok_or(AuthError::Unknown)?;
            let resolved = Resolved {
                principal: Arc::new(rec.principal),
                browser: None,
            };
            (resolved, None)
        };
        let mut entries = self.entries.lock().expect("auth cache poisoned");
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) != generation {
            return Ok(resolved); // answered from a read that may predate a revocation: not cached
        }
        if entries.len() > 100_000 {
            entries.retain(|_, (_, at, _)| at.elapsed() < TTL);
        }
        entries.insert(hash, (resolved.clone(), Instant::now(), until));
        Ok(resolved)
    }

    /// A single-use WebSocket ticket for `who`, good for [`TICKET_TTL_MS`].
    pub(crate) fn issue_ticket(&self, who: Resolved, now: Millis) -> (Token, Millis) {
        let ticket = Token::generate("wst");
        let until = now + TICKET_TTL_MS;
        let mut tickets = self.tickets.lock().expect("ticket lock poisoned");
        tickets.retain(|_, (_, u)| *u > now);
        tickets.insert(ticket.hash(), (who, until));
        (ticket, until)
    }

    /// Uses up a ticket: who it was issued to, if it is known and not expired.
    pub(crate) fn redeem_ticket(&self, ticket: &Token, now: Millis) -> Option<Resolved> {
        let (who, until) = self
            .tickets
            .lock()
            .expect("ticket lock poisoned")
            .remove(&ticket.hash())?;
        (until > now).then_some(who)
    }

    /// Forgets every cached token of `id` (after rotation or deletion).
    pub(crate) fn evict(&self, id: &PrincipalId) {
        let mut entries = self.entries.lock().expect("auth cache poisoned");
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        entries.retain(|_, (r, _, _)| &r.principal.id != id);
        self.tickets
            .lock()
            .expect("ticket lock poisoned")
            .retain(|_, (r, _)| &r.principal.id != id);
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
