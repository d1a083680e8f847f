//! Browsers linked to devices (issue 14): a browser never holds the device's long-lived token.
//! The device (phone app or CLI) asks for a one-time code, the browser exchanges it for a
//! short-lived access token and a refresh token; each refresh replaces both, and presenting a
//! replaced refresh token again (someone kept a copy) unlinks the browser. A browser acts as its
//! device except for managing the device's identity (the `Owner` extractor); its device lists
//! and unlinks it, and it can unlink itself.
//!
//! May touch: the store, the auth cache (evictions, WebSocket tickets), the hub (closing an
//! unlinked browser's sockets). Calls no other service.

use super::auth::{Auth, Resolved};
use super::Wire;
use crate::config::Browsers as Config;
use crate::hub::Hub;
use crate::Store;
use callside_core::ratelimit::{Limited, Limiter, Rate};
use callside_core::secret::{new_id, normalize_typed_code, typed_code};
use callside_core::{Millis, Principal, PrincipalKind, Token};
use callside_store::{BrowserLinkRecord, BrowserRecord, StoreError, Write};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("only a device links browsers")]
    DevicesOnly,
    #[error("the link code is unknown, used or expired: ask the device for a new one")]
    InvalidCode,
    #[error("the refresh token is unknown or expired: link the browser again")]
    InvalidRefresh,
    #[error("this refresh token was already used, so a copy of it exists: the browser is unlinked; link it again")]
    RefreshReused,
    #[error("a browser's name is 1-100 printable characters")]
    InvalidName,
    #[error(transparent)]
    RateLimited(#[from] Limited),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A browser just linked or refreshed, with its new tokens (the store keeps only hashes).
pub(crate) struct Linked {
    pub(crate) browser: BrowserRecord,
    pub(crate) access: Token,
    pub(crate) refresh: Token,
}

pub(crate) struct Browsers {
    store: Store,
    auth: Arc<Auth>,
    hub: Arc<Hub>,
    wire: Arc<dyn Wire>,
    config: Config,
    links: Mutex<Limiter<callside_core::PrincipalId>>,
    attempts: Mutex<Limiter<Option<IpAddr>>>,
}

impl Browsers {
    pub(crate) fn new(
        store: Store,
        auth: Arc<Auth>,
        hub: Arc<Hub>,
        wire: Arc<dyn Wire>,
        config: Config,
        limits: &crate::config::Limits,
    ) -> Self {
        Browsers {
            store,
            auth,
            hub,
            wire,
            config,
            links: Mutex::new(Limiter::new(Rate::per_hour(
                limits.browser_links_per_device_hour,
            ))),
            attempts: Mutex::new(Limiter::new(Rate::per_minute(
                limits.link_attempts_per_source_minute,
            ))),
        }
    }

    /// A one-time code that links a browser to device `p` (shown by its app or CLI).
    pub(crate) async fn create_link(
        &self,
        p: &Principal,
        now: Millis,
    ) -> Result<(String, Millis), Error> {
        if !matches!(p.kind, PrincipalKind::Device { .. }) {
            return Err(Error::DevicesOnly);
        }
        self.links
            .lock()
            .expect("limiter poisoned")
            .check(p.id.clone(), now)?;
        let code = typed_code();
        let expires_at = now + self.config.link_ttl.as_millis() as Millis;
        self.store
            .apply(vec![Write::BrowserLink(BrowserLinkRecord {
                code_hash: Token::from_presented(&code).hash(),
                device: p.id.clone(),
                created_at: now,
                expires_at,
            })])
            .await?;
        Ok((code, expires_at))
    }

    /// A link code for device `id`, asked for by the operator's own site for a user it signed in
    /// (the token exchange: the site trades its operator token for a browser link, and hands
    /// the code to the user's browser). `None` when there is no such device.
    pub(crate) async fn create_link_for(
        &self,
        id: &callside_core::PrincipalId,
        now: Millis,
    ) -> Result<Option<(String, Millis)>, Error> {
        match self.store.principal(id.clone()).await? {
            Some(rec) if matches!(rec.principal.kind, PrincipalKind::Device { .. }) => {
                Ok(Some(self.create_link(&rec.principal, now).await?))
            }
            _ => Ok(None),
        }
    }

    /// Exchanges a link code for a browser's first tokens.
    pub(crate) async fn link(
        &self,
        code: &str,
        name: Option<&str>,
        source: Option<IpAddr>,
        now: Millis,
    ) -> Result<Linked, Error> {
        let name = match name.map(str::trim) {
            None | Some("") => "browser".to_owned(),
            Some(n)
                if n.chars().count() <= 100
                    && !n
                        .chars()
                        .any(|c| c.is_control() || callside_core::screen::is_bidi_control(c)) =>
            {
                n.into()
            }
            Some(_) => return Err(Error::InvalidName),
        };
        self.attempt(source, now)?;
        let code = normalize_typed_code(code).ok_or(Error::InvalidCode)?;
        let code_hash = Token::from_presented(&code).hash();
        let link = self
            .store
            .browser_link(code_hash)
            .await?
            .filter(|l| l.expires_at > now)
            .ok_or(Error::InvalidCode)?;
        let (access, refresh) = (Token::generate("brw"), Token::generate("brr"));
        let browser = BrowserRecord {
            id: new_id("brw", now),
            device: link.device,
            name,
            created_at: now,
            access_hash: access.hash(),
            access_expires_at: now + self.config.access_ttl.as_millis() as Millis,
            refresh_hash: refresh.hash(),
            refresh_expires_at: now + self.config.refresh_ttl.as_millis() as Millis,
            previous_refresh_hash: None,
            refreshed_at: now,
        };
        match self
            .store
            .apply(vec![
                Write::UseBrowserLink(code_hash),
                Write::Browser(browser.clone()),
            ])
            .await
        {
            Ok(()) => Ok(Linked {
                browser,
                access,
                refresh,
            }),
            // Another request used the code first.
            Err(StoreError::Gone) => Err(Error::InvalidCode),
            Err(e) => Err(e.into()),
        }
    }

    /// New tokens for a browser presenting its refresh token; the old ones stop working.
    pub(crate) async fn refresh(
        &self,
        presented: &str,
        source: Option<IpAddr>,
        now: Millis,
    ) -> Result<Linked, Error> {
        self.attempt(source, now)?;
        let presented = Token::from_presented(presented);
        let hash = presented.hash();
        let browser = self
            .store
            .browser_by_refresh(hash)
            .await?
            .ok_or(Error::InvalidRefresh)?;
        if browser.refresh_hash != hash {
            // A replaced refresh token: whoever holds the current one, one of the two is a copy.
            self.unlink_record(&browser).await?;
            return Err(Error::RefreshReused);
        }
        if browser.refresh_expires_at <= now {
            return Err(Error::InvalidRefresh);
        }
        let (access, refresh) = (Token::generate("brw"), Token::generate("brr"));
        let next = BrowserRecord {
            access_hash: access.hash(),
            access_expires_at: now + self.config.access_ttl.as_millis() as Millis,
            refresh_hash: refresh.hash(),
            refresh_expires_at: now + self.config.refresh_ttl.as_millis() as Millis,
            previous_refresh_hash: Some(hash),
            refreshed_at: now,
            ..browser.clone()
        };
        let write = Write::RefreshBrowser {
            id: next.id.clone(),
            expected: hash,
            access_hash: next.access_hash,
            access_expires_at: next.access_expires_at,
            refresh_hash: next.refresh_hash,
            refresh_expires_at: next.refresh_expires_at,
            at: now,
        };
        match self.store.apply(vec![write]).await {
            Ok(()) => {}
            // Refreshed by another request meanwhile: this token is now a replaced one.
            Err(StoreError::Gone) => {
                self.unlink_record(&browser).await?;
                return Err(Error::RefreshReused);
            }
            Err(e) => return Err(e.into()),
        }
        // The old access token stops working now, not when the cache forgets it.
        self.auth.evict(&browser.device);
        Ok(Linked {
            browser: next,
            access,
            refresh,
        })
    }

    /// The browsers linked to device `p`.
    pub(crate) async fn list(&self, p: &Principal) -> Result<Vec<BrowserRecord>, Error> {
        if !matches!(p.kind, PrincipalKind::Device { .. }) {
            return Err(Error::DevicesOnly);
        }
        Ok(self.store.browsers(p.id.clone()).await?)
    }

    /// Unlinks browser `id` of device `p`; `false` when it has no such browser.
    pub(crate) async fn unlink(&self, p: &Principal, id: &str) -> Result<bool, Error> {
        let Some(b) = self.list(p).await?.into_iter().find(|b| b.id == id) else {
            return Ok(false);
        };
        self.unlink_record(&b).await?;
        Ok(true)
    }

    async fn unlink_record(&self, b: &BrowserRecord) -> Result<(), Error> {
        self.store
            .apply(vec![Write::DeleteBrowser(b.id.clone())])
            .await?;
        self.auth.evict(&b.device);
        self.hub.disconnect_browser(
            &b.device,
            &b.id,
            self.wire
                .revoked_frame("this browser was unlinked from its device; link it again"),
        );
        Ok(())
    }

    /// A single-use ticket that opens a WebSocket for `who` (browsers cannot set headers on one).
    pub(crate) fn ticket(&self, who: Resolved, now: Millis) -> (Token, Millis) {
        self.auth.issue_ticket(who, now)
    }

    /// Link codes and refresh tokens are guessed otherwise: a few per address a minute.
    fn attempt(&self, source: Option<IpAddr>, now: Millis) -> Result<(), Error> {
        let mut attempts = self.attempts.lock().expect("limiter poisoned");
        attempts.prune(now);
        Ok(attempts.check(source, now)?)
    }
}
