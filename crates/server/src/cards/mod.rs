//! Cards (S3-F11–F17): the owner's card and audiences (`/v1/me/card`, `/v1/me/audiences`, JSON or
//! vCard 4.0 / jCard), receiving policies, and automatic delivery ([`delivery`]): when a session
//! is established (or someone joins), each device participant's card goes to the others as a
//! `card` message from it, with only the fields the receivers' audience allows and that the
//! delivery ledger says they lack.
//!
//! May touch: the store, sessions (to read a session and send the card on it), the URL adapter.
//! It hears of established sessions on a bounded channel from sessions.

pub(crate) mod delivery;
pub(crate) mod http;

use crate::clock::now_ms;
use crate::sessions::Sessions;
use crate::Store;
use callside_core::card::{self, Audience, Card, CardField, ContactPolicy, FieldKind, NewField};
use callside_core::{NumberRange, PhoneNumber, Principal, PrincipalId, PrincipalKind};
use callside_store::{StoreError, Write};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Sessions waiting for their cards to be delivered.
pub(crate) const QUEUE: usize = 16_384;

/// How a delivered card looks on a session's log, a format only the HTTP edge knows
/// (implemented in `http.rs`).
pub(crate) trait Wire: Send + Sync {
    /// The body of a `card` message: these fields, and the name to show instead of the number.
    fn card_body(&self, fields: &[&CardField], name: Option<&str>) -> String;
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("cards belong to devices")]
    DevicesOnly,
    #[error("{0}")]
    InvalidCard(String),
    #[error("{0}")]
    InvalidCardUrl(String),
    #[error("{0}")]
    InvalidAudience(String),
    #[error("{0}")]
    InvalidPolicy(String),
    #[error("more fields than a card has")]
    InvalidCardCache,
    #[error("card owner not found")]
    NoCardOwner,
    #[error(transparent)]
    RateLimited(#[from] callside_core::ratelimit::Limited),
    #[error(transparent)]
    Session(#[from] crate::sessions::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn card_error(e: card::CardError) -> Error {
    Error::InvalidCard(e.to_string())
}

fn devices_only(p: &Principal) -> Result<(), Error> {
    match p.kind {
        PrincipalKind::Device { .. } => Ok(()),
        _ => Err(Error::DevicesOnly),
    }
}

/// An audience as its owner gives it: members are whole numbers in any format, or E.164 prefixes.
pub(crate) struct AudienceIn {
    pub(crate) name: String,
    pub(crate) members: Vec<String>,
    pub(crate) fields: Vec<FieldKind>,
}

/// What the card service needs to know of the deployment.
pub(crate) struct Settings {
    pub(crate) region: crate::numbers::Regions,
    /// Cards fetched by URL may point at private or loopback addresses (tests only).
    pub(crate) allow_private_urls: bool,
    pub(crate) fetch_timeout: Duration,
}

pub(crate) struct Cards {
    store: Store,
    sessions: Arc<Sessions>,
    wire: Arc<dyn Wire>,
    settings: Settings,
    /// Devices that have a card: a session none of whose participants has one needs no store
    /// read at all (most sessions, on most deployments). Loaded when delivery starts, kept up to
    /// date by `put` and `delete`; a superset is harmless (delivery then finds an empty card).
    owners: RwLock<HashSet<PrincipalId>>,
    /// Card imports by URL per device: each makes the server fetch from the internet.
    fetches: std::sync::Mutex<callside_core::ratelimit::Limiter<PrincipalId>>,
}

/// Card imports by URL one device may ask for in an hour.
const FETCHES_PER_DEVICE_HOUR: u32 = 20;

impl Cards {
    pub(crate) fn new(
        store: Store,
        sessions: Arc<Sessions>,
        wire: Arc<dyn Wire>,
        settings: Settings,
    ) -> Self {
        Cards {
            store,
            sessions,
            wire,
            settings,
            owners: Default::default(),
            fetches: std::sync::Mutex::new(callside_core::ratelimit::Limiter::new(
                callside_core::ratelimit::Rate::per_hour(FETCHES_PER_DEVICE_HOUR),
            )),
        }
    }

    pub(crate) async fn get(&self, p: &Principal) -> Result<Card, Error> {
        devices_only(p)?;
        Ok(self.store.card(p.id.clone()).await?)
    }

    /// Replaces the card with `fields` (validated); versions move only for changed fields.
    pub(crate) async fn put(&self, p: &Principal, fields: Vec<NewField>) -> Result<Card, Error> {
        devices_only(p)?;
        let region = Some(self.settings.region.of(p));
        let fields = fields
            .into_iter()
            .map(|f| f.validate(region))
            .collect::<Result<Vec<_>, _>>()
            .map_err(card_error)?;
        let old = self.store.card(p.id.clone()).await?;
        let card = old.replaced(fields, now_ms()).map_err(card_error)?;
        self.store
            .apply(vec![Write::Card {
                principal: p.id.clone(),
                card: card.clone(),
            }])
            .await?;
        let mut owners = self.owners.write().expect("card owners poisoned");
        if card.fields.is_empty() {
            owners.remove(&p.id);
        } else {
            owners.insert(p.id.clone());
        }
        Ok(card)
    }

    /// S3-F13: imports the vCard or jCard at a URL (public https only, at most 256 KiB, within
    /// `cards.fetch_timeout`, `text/vcard` or `application/vcard+json`).
    pub(crate) async fn fetch(&self, p: &Principal, url: &str) -> Result<Card, Error> {
        devices_only(p)?;
        {
            let now = crate::clock::now_ms();
            let mut fetches = self.fetches.lock().expect("limiter poisoned");
            fetches.prune(now);
            fetches.check(p.id.clone(), now)?;
        }
        let bad = |why: String| Error::InvalidCardUrl(why);
        let allow_private = self.settings.allow_private_urls;
        let url = crate::adapters::net::check_public_url(url, allow_private, false)
            .await
            .map_err(|why| bad(format!("the URL {why}")))?;
        let client = crate::adapters::net::client(allow_private, self.settings.fetch_timeout);
        let mut res = client
            .get(url)
            .header(
                reqwest::header::ACCEPT,
                "text/vcard, application/vcard+json",
            )
            .send()
            .await
            .map_err(|e| bad(format!("cannot fetch it: {}", e.without_url())))?;
        if !res.status().is_success() {
            return Err(bad(format!("the server answered {}", res.status())));
        }
        let media = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !matches!(
            media.as_str(),
            "text/vcard" | "text/x-vcard" | "application/vcard+json"
        ) {
            return Err(bad(format!(
                "it is `{media}`, not text/vcard or application/vcard+json"
            )));
        }
        const MAX: usize = 256 * 1024;
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| bad(format!("the download failed: {}", e.without_url())))?
        {
            if body.len() + chunk.len() > MAX {
                return Err(bad("it is larger than 256 KiB".into()));
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(body).map_err(|_| bad("it is not UTF-8".into()))?;
        let fields = if media == "application/vcard+json" {
            card::vcard::from_jcard(&text)
        } else {
            card::vcard::from_vcard(&text)
        }
        .map_err(card_error)?;
        self.put(p, fields).await
    }

    pub(crate) async fn delete(&self, p: &Principal) -> Result<(), Error> {
        devices_only(p)?;
        self.store
            .apply(vec![Write::Card {
                principal: p.id.clone(),
                card: Card::default(),
            }])
            .await?;
        self.owners
            .write()
            .expect("card owners poisoned")
            .remove(&p.id);
        Ok(())
    }

    pub(crate) async fn audiences(&self, p: &Principal) -> Result<Vec<Audience>, Error> {
        devices_only(p)?;
        Ok(self.store.audiences(p.id.clone()).await?)
    }

    /// Replaces the audiences (at most 32, named uniquely, 1 to 1,000 members each).
    pub(crate) async fn put_audiences(
        &self,
        p: &Principal,
        audiences: Vec<AudienceIn>,
    ) -> Result<Vec<Audience>, Error> {
        devices_only(p)?;
        if audiences.len() > 32 {
            return Err(Error::InvalidAudience("at most 32 audiences".into()));
        }
        let mut names = HashSet::new();
        let mut list = Vec::new();
        for a in audiences {
            let name = a.name.trim().to_owned();
            if name.is_empty() || name.len() > 64 || !names.insert(name.clone()) {
                return Err(Error::InvalidAudience(
                    "audience names are 1-64 characters and unique".into(),
                ));
            }
            if a.members.is_empty() || a.members.len() > 1000 {
                return Err(Error::InvalidAudience(format!(
                    "audience `{name}` needs 1 to 1,000 members"
                )));
            }
            let members = a
                .members
                .iter()
                .map(|m| {
                    // A whole number in any format, or an E.164 prefix.
                    PhoneNumber::parse(m, Some(self.settings.region.of(p)))
                        .map(|n| NumberRange::parse(n.as_str()).expect("E.164 is a range"))
                        .or_else(|_| NumberRange::parse(m))
                        .map_err(|e| Error::InvalidAudience(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut fields = a.fields;
            fields.sort();
            fields.dedup();
            list.push(Audience {
                name,
                members,
                fields,
            });
        }
        self.store
            .apply(vec![Write::Audiences {
                principal: p.id.clone(),
                audiences: list,
            }])
            .await?;
        self.audiences(p).await
    }

    pub(crate) async fn policy(&self, p: &Principal) -> Result<card::ReceivePolicy, Error> {
        devices_only(p)?;
        Ok(self.store.receive_policy(p.id.clone()).await?)
    }

    /// Replaces the receiving policy: block numbers, accept once, keep to known contacts.
    pub(crate) async fn put_policy(
        &self,
        p: &Principal,
        known_only: bool,
        rules: Vec<(String, ContactPolicy)>,
    ) -> Result<card::ReceivePolicy, Error> {
        devices_only(p)?;
        if rules.len() > 10_000 {
            return Err(Error::InvalidPolicy("at most 10,000 contact rules".into()));
        }
        let mut contacts = Vec::with_capacity(rules.len());
        for (number, rule) in rules {
            let n = PhoneNumber::parse(&number, Some(self.settings.region.of(p)))
                .map_err(|e| Error::InvalidPolicy(e.to_string()))?;
            contacts.retain(|(m, _)| m != &n);
            contacts.push((n, rule));
        }
        self.store
            .apply(vec![Write::ReceivePolicy {
                principal: p.id.clone(),
                policy: card::ReceivePolicy {
                    known_only,
                    contacts,
                },
            }])
            .await?;
        self.policy(p).await
    }

    /// The device reports which versions of `sender`'s card it holds (device-side check).
    pub(crate) async fn report_cache(
        &self,
        p: &Principal,
        sender: String,
        has: Vec<(String, u64)>,
    ) -> Result<(), Error> {
        devices_only(p)?;
        if has.len() > card::MAX_FIELDS {
            return Err(Error::InvalidCardCache);
        }
        let sender = PrincipalId(sender);
        if self.store.principal(sender.clone()).await?.is_none() {
            return Err(Error::NoCardOwner);
        }
        self.store
            .apply(vec![Write::ResetLedger {
                sender,
                receiver: p.id.clone(),
                has,
                at: now_ms(),
            }])
            .await?;
        Ok(())
    }
}
