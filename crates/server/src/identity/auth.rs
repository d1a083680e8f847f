//! Bearer-token authentication. Tokens are looked up by their SHA-256; a short-lived cache keeps
//! the hot path off the database, and every change to a principal evicts it. A browser's access
//! token (`cs_brw_…`, issue 14) names the device it was linked to, and works until it expires.
//! WebSocket tickets are single-use stand-ins for a token in a URL, good for 30 s. They are signed
//! (HMAC-SHA-256 under a key derived from the server key every node of a cluster shares), not
//! kept: a ticket issued by one node opens a socket on any node. Each node remembers the tickets
//! used until they expire, and tells the others.

use crate::clock::now_ms;
use crate::Store;
use base64::Engine as _;
use callside_core::{Millis, Principal, PrincipalId, PrincipalKind, Token, TokenHash};
use callside_store::{PrincipalRecord, StoreError, Write};
use hmac::{Hmac, Mac};
use sha2::Sha256;
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
    #[error("no token: send `Authorization: Bearer <token>`")]
    Missing,
    #[error(
        "the Authorization header is not `Bearer <token>` with a token of visible ASCII characters"
    )]
    Malformed,
    #[error("this server never issued this token: check it was copied whole")]
    Unknown,
    #[error("this token was replaced (rotated) or revoked at {}: use the new one", crate::clock::rfc3339(*.0))]
    Revoked(Millis),
    #[error("this token expired at {} (tokens work for a set time here): the operator issues a new one", crate::clock::rfc3339(*.0))]
    TokenExpired(Millis),
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
    /// Signs WebSocket tickets.
    ticket_key: [u8; 32],
    /// Tickets used, until they expire (single use).
    used_tickets: Mutex<HashMap<TokenHash, Millis>>,
    /// When a principal's credentials last changed: tickets issued before are void.
    revoked_at: Mutex<HashMap<PrincipalId, Millis>>,
    /// Moves on every eviction, so a lookup that read the store before an eviction does not put
    /// the revoked principal back.
    generation: std::sync::atomic::AtomicU64,
    /// How long device and service tokens work.
    lifetimes: crate::config::Tokens,
    /// When tokens were last looked up (at most once per cache lifetime each), for
    /// housekeeping to store ([`Auth::take_used`]).
    used: Mutex<HashMap<TokenHash, Millis>>,
    /// The other nodes of a cluster, told of every eviction.
    peers: std::sync::OnceLock<std::sync::Arc<dyn crate::hub::Peers>>,
}

impl Auth {
    pub(crate) fn new(
        store: Store,
        lifetimes: crate::config::Tokens,
        server_key: [u8; 32],
    ) -> Self {
        let ticket_key = {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&server_key)
                .expect("HMAC takes any key length");
            mac.update(b"callside websocket tickets v1");
            mac.finalize().into_bytes().into()
        };
        Auth {
            store,
            entries: Default::default(),
            ticket_key,
            used_tickets: Default::default(),
            revoked_at: Default::default(),
            generation: Default::default(),
            lifetimes,
            used: Default::default(),
            peers: Default::default(),
        }
    }

    /// Makes evictions reach the other nodes of a cluster (once, at start).
    pub(crate) fn join(&self, peers: std::sync::Arc<dyn crate::hub::Peers>) {
        let _ = self.peers.set(peers);
    }

    /// The tokens looked up since the last call, with when: for `Write::TokensUsed`.
    pub(crate) fn take_used(&self) -> Vec<(TokenHash, Millis)> {
        std::mem::take(&mut *self.used.lock().expect("used lock poisoned"))
            .into_iter()
            .collect()
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
                match until {
                    Some(u) if *u <= now && r.browser.is_some() => return Err(AuthError::Expired),
                    Some(u) if *u <= now => return Err(AuthError::TokenExpired(*u)),
                    _ => return Ok(r.clone()),
                }
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
            let Some(rec) = self.store.principal_by_token(hash).await? else {
                return Err(match self.store.token_retired_at(hash).await? {
                    Some(at) => AuthError::Revoked(at),
                    None => AuthError::Unknown,
                });
            };
            // The operator's token lives in its file; devices' and services' may expire (only
            // then is the token's age read).
            let until = match self.lifetimes.expire_after_days {
                Some(_) if !rec.principal.is_admin() => self
                    .store
                    .token_times(hash)
                    .await?
                    .and_then(|(issued, _)| self.lifetimes.expires_at(issued)),
                _ => None,
            };
            if let Some(u) = until.filter(|u| *u <= now) {
                return Err(AuthError::TokenExpired(u));
            }
            self.used
                .lock()
                .expect("used lock poisoned")
                .insert(hash, now);
            let resolved = Resolved {
                principal: Arc::new(rec.principal),
                browser: None,
            };
            (resolved, until)
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

    /// Moves on every revocation: a caller that authenticated before a change and acts on it
    /// later (a WebSocket upgrade) compares it to see whether it must check again.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether `who`, authenticated earlier (by `token`, or by a ticket when `None`), still holds:
    /// its token still names it, and a browser is still linked.
    pub(crate) async fn still_valid(&self, who: &Resolved, token: Option<&Token>) -> bool {
        if let Some(token) = token {
            return self
                .resolve_credential(token)
                .await
                .is_ok_and(|r| r.principal.id == who.principal.id);
        }
        let device = match self.store.principal(who.principal.id.clone()).await {
            Ok(Some(rec)) => rec.principal.id,
            _ => return false,
        };
        match &who.browser {
            None => true,
            Some(b) => self
                .store
                .browsers(device)
                .await
                .is_ok_and(|list| list.iter().any(|r| *r.id == **b)),
        }
    }

    /// A single-use WebSocket ticket for `who`, good for [`TICKET_TTL_MS`]:
    /// `cs_wst_<until>.<principal>.<browser or ->.<nonce>.<signature>`.
    pub(crate) fn issue_ticket(&self, who: Resolved, now: Millis) -> (Token, Millis) {
        let until = now + TICKET_TTL_MS;
        let body = format!(
            "{until}.{}.{}.{}",
            who.principal.id,
            who.browser.as_deref().unwrap_or("-"),
            callside_core::secret::random_b64(12)
        );
        let ticket = format!("cs_wst_{body}.{}", self.sign_ticket(&body));
        (Token::from_presented(&ticket), until)
    }

    fn ticket_mac(&self, body: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.ticket_key)
            .expect("HMAC takes any key length");
        mac.update(body.as_bytes());
        mac
    }

    fn sign_ticket(&self, body: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.ticket_mac(body).finalize().into_bytes())
    }

    /// Uses up a ticket: who it was issued to, if its signature holds, it has not expired or been
    /// used, its principal's credentials did not change since, and the principal (and browser)
    /// still exist.
    pub(crate) async fn redeem_ticket(&self, ticket: &Token, now: Millis) -> Option<Resolved> {
        let (body, signature) = ticket.expose().strip_prefix("cs_wst_")?.rsplit_once('.')?;
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .ok()?;
        // Compared in constant time.
        self.ticket_mac(body).verify_slice(&signature).ok()?;
        let mut parts = body.splitn(4, '.');
        let until: Millis = parts.next()?.parse().ok()?;
        let principal = PrincipalId(parts.next()?.to_owned());
        let browser = Some(parts.next()?)
            .filter(|b| *b != "-")
            .map(Arc::<str>::from);
        if until <= now || until - TICKET_TTL_MS <= self.revoked_since(&principal, now) {
            return None;
        }
        {
            let mut used = self.used_tickets.lock().expect("ticket lock poisoned");
            used.retain(|_, u| *u > now);
            if used.insert(ticket.hash(), until).is_some() {
                return None;
            }
        }
        if let Some(peers) = self.peers.get() {
            peers.ticket_used(&ticket.hash(), until);
        }
        let rec = self.store.principal(principal).await.ok()??;
        let who = Resolved {
            principal: Arc::new(rec.principal),
            browser,
        };
        self.still_valid(&who, None).await.then_some(who)
    }

    /// Another node used a ticket: it is used here too.
    pub(crate) fn ticket_used_elsewhere(&self, hash: TokenHash, until: Millis) {
        self.used_tickets
            .lock()
            .expect("ticket lock poisoned")
            .insert(hash, until);
    }

    /// When `who`'s credentials last changed within a ticket's life (0: not lately).
    fn revoked_since(&self, who: &PrincipalId, now: Millis) -> Millis {
        let mut revoked = self.revoked_at.lock().expect("auth cache poisoned");
        revoked.retain(|_, at| *at > now - TICKET_TTL_MS);
        revoked.get(who).copied().unwrap_or(0)
    }

    /// Forgets every cached token of `id` (after rotation or deletion), on every node.
    pub(crate) fn evict(&self, id: &PrincipalId) {
        self.evict_here(id);
        if let Some(peers) = self.peers.get() {
            peers.evicted(id);
        }
    }

    /// Forgets every cached token on this node (other nodes' evictions may have been missed).
    pub(crate) fn evict_everyone(&self) {
        let mut entries = self.entries.lock().expect("auth cache poisoned");
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        entries.clear();
    }

    /// [`evict`](Auth::evict) on this node only (another node's eviction).
    pub(crate) fn evict_here(&self, id: &PrincipalId) {
        let mut entries = self.entries.lock().expect("auth cache poisoned");
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        entries.retain(|_, (r, _, _)| &r.principal.id != id);
        // Tickets issued until now are void (a ticket issued within the same millisecond too).
        self.revoked_at
            .lock()
            .expect("auth cache poisoned")
            .insert(id.clone(), now_ms() + 1);
    }
}

/// Why `token` is too easy to guess for the operator's token, if it is: at least 32 characters
/// with at least 12 different ones (a generated token has 43 random ones).
fn check_strength(token: &str) -> Result<(), String> {
    let distinct = token
        .chars()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if token.chars().count() < 32 || distinct < 12 {
        return Err(format!(
            "{} characters, {distinct} different; it needs at least 32 with 12 different",
            token.chars().count()
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("it may hold only visible ASCII characters".into());
    }
    Ok(())
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
        let token = text.trim();
        check_strength(token).map_err(|why| {
            crate::ServerError::Io(format!(
                "the admin token in {} is too weak ({why}): delete the file and a strong one is made at start, or write one from `openssl rand -base64 32`",
                file.display()
            ))
        })?;
        Token::from_presented(token)
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
        // A new token in the file replaces the operator's old one: the old one stops working.
        let id = PrincipalId(callside_core::secret::new_id("adm", now));
        let old = store.principals("admin").await?;
        let mut writes = Vec::with_capacity(old.len() * 2 + 1);
        for rec in &old {
            writes.push(Write::DeletePrincipal(rec.principal.id.clone()));
            writes.push(Write::Audit(callside_store::AuditRecord {
                at: now,
                actor: id.clone(),
                action: "admin_token_replaced".into(),
                subject: rec.principal.id.to_string(),
                detail: format!("a new token in {} retired the old one", file.display()),
            }));
        }
        writes.push(Write::Principal(
            PrincipalRecord {
                principal: Principal {
                    id,
                    name: "operator".into(),
                    kind: PrincipalKind::Admin,
                },
                created_at: now,
            },
            token.hash(),
        ));
        store.apply(writes).await?;
        if !old.is_empty() {
            tracing::warn!(file = %file.display(), "the admin token was replaced: the old one no longer works");
        }
    }
    Ok(token.expose().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use callside_core::PhoneNumber;

    fn device(id: &str) -> PrincipalRecord {
        PrincipalRecord {
            principal: Principal {
                id: PrincipalId(id.into()),
                name: id.into(),
                kind: PrincipalKind::Device {
                    numbers: vec![PhoneNumber::parse("+442079460001", None).unwrap()],
                },
            },
            created_at: 1,
        }
    }

    /// What a WebSocket upgrade relies on: after a revocation the generation has moved, and
    /// checking again refuses the revoked credential but not anyone else's.
    #[tokio::test]
    async fn a_credential_revoked_after_it_was_checked_fails_the_second_check() {
        let dir = tempfile::tempdir().unwrap();
        let store: Store =
            callside_store::sqlite::open(&dir.path().join("db"), Default::default()).unwrap();
        let (alice, bob) = (Token::generate("dev"), Token::generate("dev"));
        store
            .apply(vec![
                Write::Principal(device("dev_a"), alice.hash()),
                Write::Principal(device("dev_b"), bob.hash()),
            ])
            .await
            .unwrap();
        let auth = Auth::new(
            store.clone(),
            crate::config::Config::for_dir(dir.path()).tokens,
            [7; 32],
        );
        let before = auth.generation();
        let who = auth.resolve_credential(&alice).await.unwrap();
        let other = auth.resolve_credential(&bob).await.unwrap();
        assert!(auth.still_valid(&who, Some(&alice)).await);
        // Alice's token is replaced while her socket is opening.
        store
            .apply(vec![Write::ReplaceToken(
                PrincipalId("dev_a".into()),
                Token::generate("dev").hash(),
            )])
            .await
            .unwrap();
        auth.evict(&PrincipalId("dev_a".into()));
        assert_ne!(auth.generation(), before);
        assert!(!auth.still_valid(&who, Some(&alice)).await);
        assert!(auth.still_valid(&other, Some(&bob)).await);
        // A ticket's holder is checked by its principal: gone once deleted.
        assert!(auth.still_valid(&other, None).await);
        store
            .apply(vec![Write::DeletePrincipal(PrincipalId("dev_b".into()))])
            .await
            .unwrap();
        auth.evict(&PrincipalId("dev_b".into()));
        assert!(!auth.still_valid(&other, None).await);
    }
}
