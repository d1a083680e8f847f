//! Merchants and click-to-call (S4): merchant accounts (tenants) with their links, pages and
//! routing rules; clicks on buttons their servers signed, routed and recorded in the call
//! records only their merchant may read.
//!
//! May touch: the store, sessions (a web call's session) and identity (revoking a visitor's
//! account when its call ends). Every operation on a merchant's data takes the merchant resolved from
//! the caller's account (`of`), so one merchant never reaches another's links, pages, rules or
//! calls; a click carries its merchant's signature instead of a bearer token.

pub(crate) mod centre;
pub(crate) mod hooks;
pub(crate) mod http;

use crate::clock::now_ms;
use crate::identity::{check_name, new_principal, Identity};
use crate::sessions::Sessions;
use crate::Store;
use callside_core::merchant::{self, Click, Decision, MerchantError, Routing};
use callside_core::principal::Scope;
use callside_core::ratelimit::{Limited, Limiter, Rate};
use callside_core::{Millis, PhoneNumber, PrincipalId, PrincipalKind, Token};
use callside_store::{ClickRecord, LinkRecord, MerchantRecord, PageRecord, StoreError, Write};
use std::sync::{Arc, Mutex};

/// Leeway for the button's expiry (clocks differ).
const BUTTON_LEEWAY_SECS: u64 = 30;
/// The digits of a call's channel id.
const CHANNEL_DIGITS: usize = 6;
/// How long after its click a call's channel id can be keyed.
const CHANNEL_MS: Millis = 2 * 3_600_000;
/// What a page may share with the agent.
const MAX_CONTEXT_BYTES: usize = 16 * 1024;
const MAX_RECENT_PAGES: usize = 20;
const MAX_FORM_FIELDS: usize = 50;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Invalid(#[from] MerchantError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("this account is not a merchant's: merchants are created with `callside admin merchant create`")]
    NotMerchant,
    /// Forged, expired, or for another merchant: one answer for all, so a prober learns nothing.
    #[error("the button is not valid (its signature, issuer or expiry does not check out)")]
    BadButton,
    #[error("the button names link `{0}`, which this merchant does not have")]
    UnknownLink(String),
    #[error("the merchant's routing sends this call nowhere: add a rule or a default")]
    NoDestination,
    #[error("a call already ended does not change")]
    Ended,
    #[error("this account is not an agent's: a merchant adds agents with PUT /v1/merchant/agents/{{id}}")]
    NotAgent,
    #[error("the agent is not signed in: set its presence first (POST /v1/agent/presence)")]
    SignedOut,
    #[error("that call is not ringing this agent")]
    NotRinging,
    #[error("that call is not this agent's call in progress")]
    NotTalking,
    #[error(
        "the merchant has no page for code `{0}`: add it with PUT /v1/merchant/pages/{{code}}"
    )]
    UnknownCode(String),
    #[error(
        "no call to the shop's number has channel id {0} (the visitor's call window shows it)"
    )]
    UnknownChannel(String),
    #[error("the agent is on another call: end it first")]
    Busy,
    #[error(transparent)]
    Sessions(#[from] crate::sessions::Error),
    #[error(transparent)]
    RateLimited(#[from] Limited),
    #[error(transparent)]
    Identity(#[from] crate::identity::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a button says, signed by the merchant's server (HS256).
#[derive(Debug, serde::Deserialize)]
struct ButtonClaims {
    iss: String,
    #[allow(dead_code)] // checked by the JWT validation
    exp: u64,
    #[serde(default)]
    lnk: Option<String>,
    #[serde(default)]
    cus: Option<String>,
    #[serde(default)]
    dst: Option<String>,
    #[serde(default)]
    cty: Option<String>,
}

/// A click as the visitor's page sent it.
pub(crate) struct NewClick<'a> {
    pub(crate) merchant: &'a str,
    pub(crate) button: &'a str,
    /// The page's context, already in its wire form (validated here for size).
    pub(crate) context: serde_json::Value,
    pub(crate) source: Option<std::net::IpAddr>,
}

/// A dry run's question.
pub(crate) struct Question {
    pub(crate) link: Option<String>,
    pub(crate) country: Option<String>,
    pub(crate) destination: Option<String>,
    pub(crate) at: Option<Millis>,
    pub(crate) routing: Option<serde_json::Value>,
}

pub(crate) struct Merchants {
    store: Store,
    sessions: Arc<Sessions>,
    identity: Arc<Identity>,
    /// Calls' progress for the merchants' webhooks (`hooks::run` delivers it).
    hooks: tokio::sync::mpsc::Sender<hooks::Hook>,
    /// Whether merchants' URLs may point at private addresses (`cards.allow_private_urls`).
    allow_private_urls: bool,
    centre: centre::CallCentre,
    per_source: Mutex<Limiter<std::net::IpAddr>>,
    per_merchant: Mutex<Limiter<String>>,
}

impl Merchants {
    /// `key`: the server's key, which visitor tokens are derived from. Web calls open their
    /// sessions through `sessions`; a visitor's account is revoked through `identity`.
    pub(crate) fn new(
        store: Store,
        sessions: Arc<Sessions>,
        identity: Arc<Identity>,
        key: [u8; 32],
        limits: &crate::config::Limits,
        hooks: tokio::sync::mpsc::Sender<hooks::Hook>,
        allow_private_urls: bool,
    ) -> Self {
        Merchants {
            store,
            sessions,
            identity,
            hooks,
            allow_private_urls,
            centre: centre::CallCentre::new(key),
            per_source: Mutex::new(Limiter::new(Rate::per_minute(
                limits.clicks_per_source_minute,
            ))),
            per_merchant: Mutex::new(Limiter::new(Rate::per_minute(
                limits.clicks_per_merchant_minute,
            ))),
        }
    }

    /// A new merchant: its API account (scope `merchant`) and its record in one commit; answers
    /// the account's token and the button secret.
    pub(crate) async fn create(&self, name: &str) -> Result<(MerchantRecord, Token), Error> {
        let name = check_name(name)?;
        let (account, token) = new_principal(
            name.clone(),
            "svc",
            PrincipalKind::Service {
                scopes: vec![Scope::Merchant],
                ranges: Vec::new(),
            },
        );
        let now = now_ms();
        let rec = MerchantRecord {
            id: callside_core::secret::new_id("mer", now),
            name,
            principal: account.principal.id.clone(),
            button_secret: callside_core::secret::random_b64(32),
            created_at: now,
        };
        self.store
            .apply(vec![
                Write::Principal(account, token.hash()),
                Write::Merchant(rec.clone()),
            ])
            .await?;
        Ok((rec, token))
    }

    pub(crate) async fn get(&self, id: &str) -> Result<MerchantRecord, Error> {
        self.store
            .merchant(id.to_owned())
            .await?
            .ok_or(Error::NotFound("merchant"))
    }

    /// A new button secret; buttons signed with the old one stop working at once.
    pub(crate) async fn rotate_secret(&self, id: &str) -> Result<String, Error> {
        let m = self.get(id).await?;
        let secret = callside_core::secret::random_b64(32);
        self.store
            .apply(vec![Write::MerchantSecret {
                merchant: m.id,
                secret: secret.clone(),
            }])
            .await?;
        Ok(secret)
    }

    /// The merchant whose API account is calling.
    pub(crate) async fn of(&self, principal: &PrincipalId) -> Result<MerchantRecord, Error> {
        self.store
            .merchant_of(principal.clone())
            .await?
            .ok_or(Error::NotMerchant)
    }

    pub(crate) async fn put_link(
        &self,
        m: &MerchantRecord,
        id: &str,
        name: &str,
    ) -> Result<LinkRecord, Error> {
        merchant::check_id(id)?;
        let name = check_name(name)?;
        let rec = LinkRecord {
            merchant: m.id.clone(),
            id: id.to_owned(),
            name,
        };
        self.store.apply(vec![Write::Link(rec.clone())]).await?;
        Ok(rec)
    }

    pub(crate) async fn delete_link(&self, m: &MerchantRecord, id: &str) -> Result<(), Error> {
        if !self.links(m).await?.iter().any(|l| l.id == id) {
            return Err(Error::NotFound("link"));
        }
        self.store
            .apply(vec![Write::DeleteLink {
                merchant: m.id.clone(),
                id: id.to_owned(),
            }])
            .await?;
        Ok(())
    }

    pub(crate) async fn links(&self, m: &MerchantRecord) -> Result<Vec<LinkRecord>, Error> {
        Ok(self.store.links(m.id.clone()).await?)
    }

    pub(crate) async fn put_page(
        &self,
        m: &MerchantRecord,
        code: &str,
        url: &str,
    ) -> Result<PageRecord, Error> {
        merchant::check_code(code)?;
        merchant::check_url(url)?;
        let rec = PageRecord {
            merchant: m.id.clone(),
            code: code.to_owned(),
            url: url.to_owned(),
        };
        self.store.apply(vec![Write::Page(rec.clone())]).await?;
        Ok(rec)
    }

    pub(crate) async fn delete_page(&self, m: &MerchantRecord, code: &str) -> Result<(), Error> {
        if !self.pages(m).await?.iter().any(|p| p.code == code) {
            return Err(Error::NotFound("page"));
        }
        self.store
            .apply(vec![Write::DeletePage {
                merchant: m.id.clone(),
                code: code.to_owned(),
            }])
            .await?;
        Ok(())
    }

    pub(crate) async fn pages(&self, m: &MerchantRecord) -> Result<Vec<PageRecord>, Error> {
        Ok(self.store.pages(m.id.clone()).await?)
    }

    /// Validates and stores the whole rule list; answers it as stored.
    pub(crate) async fn put_routing(
        &self,
        m: &MerchantRecord,
        rules: &serde_json::Value,
    ) -> Result<Routing, Error> {
        let routing = Routing::from_json(rules)?;
        // Every link a rule names must exist: a misspelt link would silently never match.
        let links = self.links(m).await?;
        for (i, rule) in routing.rules.iter().enumerate() {
            if let Some(l) = rule
                .links
                .iter()
                .find(|l| !links.iter().any(|x| &x.id == *l))
            {
                return Err(MerchantError::Rule {
                    rule: i,
                    reason: format!("link `{l}` does not exist (create it first)"),
                }
                .into());
            }
        }
        self.store
            .apply(vec![Write::Routing {
                merchant: m.id.clone(),
                rules: routing.to_json().to_string(),
                at: now_ms(),
            }])
            .await?;
        Ok(routing)
    }

    /// The stored rules (none yet: an empty list).
    pub(crate) async fn routing(&self, m: &MerchantRecord) -> Result<Routing, Error> {
        match self.store.routing(m.id.clone()).await? {
            None => Ok(Routing::default()),
            Some(text) => {
                let v: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("routing of {}: {e}", m.id)))?;
                Routing::from_json(&v)
                    .map_err(|e| StoreError::Corrupt(format!("routing of {}: {e}", m.id)).into())
            }
        }
    }

    /// Where a click would go — with the stored rules or ones given to try — without recording
    /// anything.
    pub(crate) async fn dry_run(&self, m: &MerchantRecord, q: Question) -> Result<Decision, Error> {
        let routing = match &q.routing {
            Some(v) => Routing::from_json(v)?,
            None => self.routing(m).await?,
        };
        if let Some(l) = &q.link {
            merchant::check_id(l)?;
        }
        let number = q
            .destination
            .as_deref()
            .map(|d| PhoneNumber::parse(d, None))
            .transpose()
            .map_err(|e| Error::BadRequest(format!("destination: {e}")))?;
        let click = Click {
            link: q.link.as_deref(),
            country: q.country.as_deref(),
            button_number: number.as_ref(),
            at: q.at.unwrap_or_else(now_ms),
        };
        routing.route(&click).ok_or(Error::NoDestination)
    }

    /// A visitor's click: the button is checked against its merchant's secret, the call routed
    /// and recorded. Nothing is stored for a button that does not check out.
    pub(crate) async fn click(&self, c: NewClick<'_>) -> Result<ClickRecord, Error> {
        let now = now_ms();
        if let Some(ip) = c.source {
            self.per_source
                .lock()
                .expect("limiter poisoned")
                .check(ip, now)?;
        }
        let m = match self.store.merchant(c.merchant.to_owned()).await? {
            Some(m) => m,
            None => return Err(Error::BadButton),
        };
        let claims = verify_button(c.button, &m)?;
        self.per_merchant
            .lock()
            .expect("limiter poisoned")
            .check(m.id.clone(), now)?;
        if let Some(l) = &claims.lnk {
            if !self.links(&m).await?.iter().any(|x| &x.id == l) {
                return Err(Error::UnknownLink(l.clone()));
            }
        }
        let number = claims
            .dst
            .as_deref()
            .map(|d| PhoneNumber::parse(d, None))
            .transpose()
            .map_err(|_| Error::BadButton)?;
        if claims.cus.as_ref().is_some_and(|c| c.chars().count() > 128) {
            return Err(Error::BadRequest(
                "the button's customer id is over 128 characters".into(),
            ));
        }
        let context = check_context(&c.context)?;
        let decision = self
            .routing(&m)
            .await?
            .route(&Click {
                link: claims.lnk.as_deref(),
                country: claims.cty.as_deref(),
                button_number: number.as_ref(),
                at: now,
            })
            .ok_or(Error::NoDestination)?;
        let rec = ClickRecord {
            id: callside_core::secret::new_id("clk", now),
            merchant: m.id.clone(),
            link: claims.lnk,
            customer: claims.cus,
            button_destination: number.map(|n| n.as_str().to_owned()),
            context,
            destination: decision.target.to_wire(),
            rule: decision.rule.map(|r| r as u32),
            // A call for agents waits in their queue; one for a number is the gateway's.
            state: match decision.target {
                merchant::Target::Agents(_) => "queued".into(),
                merchant::Target::Number(_) => "routed".into(),
            },
            agent: None,
            outcome: None,
            created_at: now,
            answered_at: None,
            ended_at: None,
            session: None,
            // A call to a number gets a channel id the visitor can give an agent, who keys it
            // to join the call's chat.
            channel: matches!(decision.target, merchant::Target::Number(_))
                .then(|| callside_core::secret::random_digits(CHANNEL_DIGITS)),
        };
        self.store.apply(vec![Write::Click(rec.clone())]).await?;
        self.announce(&rec.merchant, "call.created", &rec.id);
        self.enqueue(&rec).await?;
        Ok(rec)
    }

    /// The merchant's calls, newest first.
    pub(crate) async fn calls(
        &self,
        m: &MerchantRecord,
        before: Option<Millis>,
        limit: u32,
    ) -> Result<Vec<ClickRecord>, Error> {
        Ok(self
            .store
            .clicks(m.id.clone(), before, limit.clamp(1, 1000))
            .await?)
    }

    /// One of the merchant's calls; another merchant's is "not found", as an unknown id is.
    pub(crate) async fn call(&self, m: &MerchantRecord, id: &str) -> Result<ClickRecord, Error> {
        match self.store.click(id.to_owned()).await? {
            Some(c) if c.merchant == m.id => Ok(c),
            _ => Err(Error::NotFound("call")),
        }
    }

    /// The call centre reports the call answered (by an agent) or ended (with an outcome).
    pub(crate) async fn set_state(
        &self,
        m: &MerchantRecord,
        id: &str,
        state: &str,
        agent: Option<String>,
        outcome: Option<String>,
    ) -> Result<ClickRecord, Error> {
        let current = self.call(m, id).await?;
        if current.state == "ended" {
            return Err(Error::Ended);
        }
        match state {
            "answered" | "ended" => {}
            other => {
                return Err(Error::BadRequest(format!(
                    "`{other}` is not a call state: use answered or ended"
                )))
            }
        }
        if let Some(o) = &outcome {
            if state != "ended"
                || !matches!(
                    o.as_str(),
                    "completed" | "abandoned" | "no_answer" | "failed"
                )
            {
                return Err(Error::BadRequest(
                    "an outcome goes with `ended`: completed, abandoned, no_answer or failed"
                        .into(),
                ));
            }
        }
        if agent.as_ref().is_some_and(|a| check_name(a).is_err()) {
            return Err(Error::BadRequest(
                "an agent is named in 1-100 characters".into(),
            ));
        }
        self.store
            .apply(vec![Write::ClickState {
                id: id.to_owned(),
                state: state.to_owned(),
                agent,
                outcome,
                at: now_ms(),
            }])
            .await?;
        if state == "ended" {
            self.ended_elsewhere(id).await?;
        }
        self.call(m, id).await
    }

    pub(crate) fn prune(&self, now: Millis) {
        self.per_source.lock().expect("limiter poisoned").prune(now);
        self.per_merchant
            .lock()
            .expect("limiter poisoned")
            .prune(now);
    }
}

/// Checks a button's HS256 signature with its merchant's secret, its expiry, and that it names
/// that merchant as its issuer.
fn verify_button(token: &str, m: &MerchantRecord) -> Result<ButtonClaims, Error> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = BUTTON_LEEWAY_SECS;
    v.set_required_spec_claims(&["exp", "iss"]);
    v.set_issuer(&[m.id.as_str()]);
    v.validate_aud = false;
    let data = jsonwebtoken::decode::<ButtonClaims>(
        token,
        &DecodingKey::from_secret(m.button_secret.as_bytes()),
        &v,
    )
    .map_err(|_| Error::BadButton)?;
    if data.claims.iss != m.id {
        return Err(Error::BadButton);
    }
    Ok(data.claims)
}

/// The page's context: bounded in size, page addresses http(s); stored as JSON.
fn check_context(v: &serde_json::Value) -> Result<String, Error> {
    let text = v.to_string();
    if text.len() > MAX_CONTEXT_BYTES {
        return Err(Error::BadRequest(format!(
            "the page context is over {MAX_CONTEXT_BYTES} bytes"
        )));
    }
    let pages = v["recent_pages"].as_array().map_or(0, Vec::len);
    let fields = v["form"].as_object().map_or(0, |f| f.len());
    if pages > MAX_RECENT_PAGES || fields > MAX_FORM_FIELDS {
        return Err(Error::BadRequest(format!(
            "share at most {MAX_RECENT_PAGES} recent pages and {MAX_FORM_FIELDS} form fields"
        )));
    }
    let urls = ["page", "referrer"]
        .iter()
        .filter_map(|k| v[*k].as_str())
        .chain(
            v["recent_pages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str()),
        );
    for u in urls {
        merchant::check_url(u)
            .map_err(|_| Error::BadRequest(format!("`{u}` is not an http(s) page address")))?;
    }
    Ok(text)
}
