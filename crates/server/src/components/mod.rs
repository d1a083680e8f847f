//! Software components, capabilities and authorization (S1-F6–F8).
//!
//! The operator keeps a catalogue (component id → name, current version, download location).
//! Devices declare what they can do — features and installed components — in the registry, so a
//! capability check is answered from the store (`GET /v1/sessions/{key}/capabilities`) or by
//! asking the devices (`capability/query` messages, see `sessions`). Offering a component in a
//! session appends a `system/component` message that names it and says who needs to install it;
//! the installation confirmation appends `system/component_installed` and updates the registry.
//!
//! A component marked `authorization` goes through the operator's authorization server (a
//! webhook signed like transformer calls, `adapters::authorization`): it states a fee, the
//! requester consents to exactly that fee, the server asks for the grant, and the offer carries a
//! purchase token — a compact JWS signed with the key published at `/.well-known/jwks.json` —
//! that the peer's SDK verifies.
//!
//! May touch: the store, sessions (to read a session and append to it), the signer, the
//! authorization adapter. Used by invitations (a component riding on an invitation).

pub(crate) mod http;
mod purchase;

use crate::adapters::authorization::Authorizer;
use crate::clock::now_ms;
use crate::keys::Signer;
use crate::sessions::{self, Notice, Sessions};
use crate::Store;
use callside_core::component::{
    Capabilities, Component, ComponentError, ComponentId, Fee, Installed,
};
use callside_core::ratelimit::{Limited, Limiter, Rate};
use callside_core::{Principal, PrincipalId, SessionKey};
use callside_store::{InvitationRecord, StoreError, Write};
use purchase::Authorized;
use std::sync::{Arc, Mutex};

/// How components and purchases look on the wire, a format only the HTTP edge knows
/// (implemented in `http.rs`).
pub(crate) trait Wire: Send + Sync {
    /// A catalogue entry as the authorization server is told about it.
    fn component(&self, c: &Component) -> serde_json::Value;
    /// A fee as the authorization server is told about it.
    fn fee(&self, f: &Fee) -> serde_json::Value;
    /// A purchase token's JWS type and claims (JSON text).
    fn purchase_claims(&self, p: &purchase::Claims<'_>) -> (&'static str, String);
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("component not found")]
    NotFound,
    #[error(transparent)]
    RateLimited(#[from] Limited),
    #[error("{0}")]
    AuthorizationUnavailable(String),
    #[error("nobody else is on the session: a paid component is offered to someone")]
    NobodyToOffer,
    #[error("{0}")]
    FeeChanged(String),
    #[error("the authorization server refused: {0}")]
    AuthorizationRefused(String),
    #[error("{0}")]
    SessionClosed(&'static str),
    #[error("{0}")]
    AuthorizationNeedsSession(String),
    #[error(transparent)]
    Session(#[from] sessions::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn bad(e: ComponentError) -> Error {
    Error::Invalid(e.to_string())
}

fn authorization_down(why: impl std::fmt::Display) -> Error {
    Error::AuthorizationUnavailable(format!("the authorization server {why}; try again later"))
}

/// A catalogue entry as the operator publishes it.
pub(crate) struct NewComponent {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) url: String,
    pub(crate) sha256: Option<String>,
    pub(crate) authorization: bool,
}

/// What another participant declared, for the capability check by registry.
pub(crate) struct ParticipantCapabilities {
    pub(crate) participant: PrincipalId,
    pub(crate) number: Option<String>,
    /// Whether the registry has an entry for it at all.
    pub(crate) declared: bool,
    pub(crate) capabilities: Capabilities,
}

/// How an offer went: offered (with its message), or waiting for consent to a fee.
pub(crate) struct Offered {
    pub(crate) consent_required: bool,
    pub(crate) component: Component,
    /// The offer's id and sequence number on the log, once offered.
    pub(crate) offer: Option<(String, u64)>,
    pub(crate) installed: Vec<String>,
    pub(crate) needs_install: Vec<String>,
    pub(crate) fee: Option<Fee>,
    pub(crate) description: Option<String>,
    pub(crate) reference: Option<String>,
}

pub(crate) struct Components {
    store: Store,
    sessions: Arc<Sessions>,
    signer: Arc<Signer>,
    authorizer: Option<Authorizer>,
    wire: Arc<dyn Wire>,
    /// Component offers per principal (each may call the authorization server).
    offers: Mutex<Limiter<PrincipalId>>,
}

impl Components {
    pub(crate) fn new(
        store: Store,
        sessions: Arc<Sessions>,
        signer: Arc<Signer>,
        authorizer: Option<Authorizer>,
        wire: Arc<dyn Wire>,
    ) -> Self {
        Components {
            store,
            sessions,
            signer,
            authorizer,
            wire,
            offers: Mutex::new(Limiter::new(Rate::per_minute(30))),
        }
    }

    /// A catalogue entry.
    pub(crate) async fn lookup(&self, id: &str) -> Result<Component, Error> {
        let id = ComponentId::parse(id).map_err(bad)?;
        self.store
            .component(id.to_string())
            .await?
            .ok_or(Error::NotFound)
    }

    /// Publishes or updates a catalogue entry.
    pub(crate) async fn put(&self, id: &str, new: NewComponent) -> Result<Component, Error> {
        let url = reqwest::Url::parse(&new.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| Error::Invalid(format!("`{}` is not an http(s) URL", new.url)))?;
        if url.scheme() == "http" && new.sha256.is_none() {
            return Err(Error::Invalid(
                "a component served over plain http needs its sha256, so devices can check the download".into(),
            ));
        }
        let c = Component {
            id: ComponentId::parse(id).map_err(bad)?,
            name: new.name,
            version: new.version,
            url: url.to_string(),
            sha256: new.sha256,
            authorization: new.authorization,
        };
        c.validate().map_err(bad)?;
        self.store
            .apply(vec![Write::Component {
                component: c.clone(),
                at: now_ms(),
            }])
            .await?;
        Ok(c)
    }

    /// Takes a component out of the catalogue.
    pub(crate) async fn delete(&self, id: &str) -> Result<(), Error> {
        let c = self.lookup(id).await?;
        self.store.apply(vec![Write::DeleteComponent(c.id)]).await?;
        Ok(())
    }

    /// The whole catalogue.
    pub(crate) async fn list(&self) -> Result<Vec<Component>, Error> {
        Ok(self.store.components().await?)
    }

    /// Replaces what this principal declares: features, and installed components by id and
    /// version.
    pub(crate) async fn declare(
        &self,
        who: &PrincipalId,
        features: Vec<String>,
        components: Vec<(String, String)>,
    ) -> Result<Capabilities, Error> {
        let caps = Capabilities::new(features, components).map_err(bad)?;
        self.store
            .apply(vec![Write::Capabilities {
                principal: who.clone(),
                capabilities: caps.clone(),
                at: now_ms(),
            }])
            .await?;
        Ok(caps)
    }

    /// What this principal declared (empty if nothing).
    pub(crate) async fn declared(&self, who: &PrincipalId) -> Result<Capabilities, Error> {
        Ok(self
            .store
            .capabilities(who.clone())
            .await?
            .unwrap_or_default())
    }

    /// The capability check by registry: the other participants' declarations.
    pub(crate) async fn of_session(
        &self,
        who: &PrincipalId,
        key: &SessionKey,
    ) -> Result<Vec<ParticipantCapabilities>, Error> {
        let rec = self.sessions.record_for(key, who).await?;
        let mut participants = Vec::new();
        for p in rec.participants.iter().filter(|p| &p.principal != who) {
            let caps = self.store.capabilities(p.principal.clone()).await?;
            participants.push(ParticipantCapabilities {
                participant: p.principal.clone(),
                number: p.number.as_ref().map(|n| n.to_string()),
                declared: caps.is_some(),
                capabilities: caps.unwrap_or_default(),
            });
        }
        Ok(participants)
    }

    /// Offers a catalogue component to the others on a session (S1-F6), through the
    /// authorization server when it needs a grant (S1-F8). `consent` is the fee the requester
    /// agreed to. The HTTP handler runs it as a task of its own, so once started it finishes even
    /// if the requester goes away: a grant is always audited and offered.
    pub(crate) async fn offer(
        &self,
        who: &Principal,
        key: &SessionKey,
        component: &str,
        consent: Option<(String, String)>,
    ) -> Result<Offered, Error> {
        let rec = self.sessions.record_for(key, &who.id).await?;
        rec.session
            .check_access(&who.id)
            .map_err(sessions::Error::from)?;
        let component = self.lookup(component).await?;
        self.offers
            .lock()
            .expect("limiter poisoned")
            .check(who.id.clone(), now_ms())?;
        let others: Vec<&callside_store::ParticipantRecord> = rec
            .participants
            .iter()
            .filter(|p| p.principal != who.id)
            .collect();
        let (mut installed, mut needs_install) = (Vec::new(), Vec::new());
        for p in &others {
            let caps = self
                .store
                .capabilities(p.principal.clone())
                .await?
                .unwrap_or_default();
            match caps.installed(&component) {
                Installed::Current => installed.push(p.principal.to_string()),
                _ => needs_install.push(p.principal.to_string()),
            }
        }
        let mut answer = Offered {
            consent_required: false,
            component,
            offer: None,
            installed,
            needs_install,
            fee: None,
            description: None,
            reference: None,
        };
        let mut authorization = None;
        let mut audit = Vec::new();
        if answer.component.authorization {
            let decided = self
                .authorize(who, key, &rec, &others, consent, &mut answer)
                .await?;
            match decided {
                Authorized::NotRequired => {}
                Authorized::ConsentRequired => return Ok(answer),
                Authorized::Granted {
                    token,
                    fee,
                    audit: line,
                } => {
                    authorization = Some((token, fee));
                    audit.push(*line);
                }
            }
        }
        let offer = callside_core::secret::new_id("offer", now_ms());
        let notice = Notice::ComponentOffered {
            offer: &offer,
            component: &answer.component,
            by: &who.id,
            needs_install: &answer.needs_install,
            authorization: authorization.as_ref().map(|(t, f)| (t.as_str(), f)),
        };
        // The purchase's audit line commits with the offer.
        let seq = self
            .sessions
            .append_notice(key, &notice, audit)
            .await?
            .ok_or(Error::SessionClosed("the session closed before the offer"))?;
        answer.offer = Some((offer, seq));
        Ok(answer)
    }

    /// The installation confirmation: the registry records the version and the session hears
    /// `system/component_installed`; its sequence number.
    pub(crate) async fn confirm_installed(
        &self,
        who: &PrincipalId,
        key: &SessionKey,
        id: &str,
        version: String,
    ) -> Result<u64, Error> {
        let rec = self.sessions.record_for(key, who).await?;
        rec.session
            .check_access(who)
            .map_err(sessions::Error::from)?;
        let component = self.lookup(id).await?;
        callside_core::component::check_version(&version).map_err(bad)?;
        let caps = self
            .store
            .capabilities(who.clone())
            .await?
            .unwrap_or_default();
        if caps.components.len() >= callside_core::component::MAX_COMPONENTS
            && !caps.components.contains_key(&component.id)
        {
            return Err(bad(ComponentError::TooMany));
        }
        let notice = Notice::ComponentInstalled {
            component: &component.id,
            version: &version,
            by: who,
        };
        let installed = Write::Installed {
            principal: who.clone(),
            component: component.id.clone(),
            version: version.clone(),
            at: now_ms(),
        };
        // The registry changes with the confirmation on the log, or not at all.
        self.sessions
            .append_notice(key, &notice, vec![installed])
            .await?
            .ok_or(Error::SessionClosed("the session is closed"))
    }

    /// A component that may ride on an invitation: in the catalogue, and free (one that needs
    /// authorization is offered in the session, where the requester can consent to its fee).
    pub(crate) async fn for_invitation(&self, id: &str) -> Result<Component, Error> {
        let c = self.lookup(id).await?;
        if c.authorization {
            return Err(Error::AuthorizationNeedsSession(format!(
                "{} needs authorization: offer it in the session (POST /v1/sessions/{{key}}/components) once it is up",
                c.id
            )));
        }
        Ok(c)
    }

    /// An accepted invitation that carried a component: the inviter's offer goes on the session.
    pub(crate) async fn offer_after_accept(&self, rec: &InvitationRecord) {
        let (Some(id), Some(key)) = (&rec.component, &rec.invitation.session) else {
            return;
        };
        // The catalogue may have changed since: a component that now needs authorization (or is
        // gone) is not offered here.
        if let Err(e) = self.for_invitation(id).await {
            tracing::warn!(session = %key, component = %id, error = %e, "the invitation's component is no longer offered");
            return;
        }
        let inviter = match self.store.principal(rec.invitation.inviter.clone()).await {
            Ok(Some(p)) => p,
            _ => return,
        };
        if let Err(e) = self.offer(&inviter.principal, key, id, None).await {
            tracing::warn!(session = %key, component = %id, error = %e, "could not offer the invitation's component");
        }
    }
}
