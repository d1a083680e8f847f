//! Identity: who a bearer token belongs to (`auth`), the principal's own view of itself
//! (`/v1/me`), its token, and how devices come to own numbers and addresses — by SMS proof
//! (`proofs`, S2-R), by self-enrolment through an enrolment account, or by mailed token
//! (`emails`, S2-E). Creating principals is shared with `admin`.
//!
//! May touch: the store, the hub (closing a revoked principal's sockets), the SMS and mail
//! adapters. Tells invitations that a device proved a number through a bounded channel
//! ([`NumberBound`]); calls no other service.

pub(crate) mod auth;
pub(crate) mod browsers;
pub(crate) mod emails;
pub(crate) mod http;
pub(crate) mod proofs;
pub(crate) mod systems;

use crate::clock::now_ms;
use crate::hub::Hub;
use crate::Store;
use auth::Auth;
use callside_core::email::Email;
use callside_core::principal::Coupling;
use callside_core::screen::is_bidi_control;
use callside_core::{Millis, PhoneNumber, Principal, PrincipalId, PrincipalKind, Token};
use callside_store::{PrincipalRecord, StoreError, Write};
use std::sync::Arc;

/// How a revoked principal's sockets are told: a last frame, in the wire format only the HTTP
/// edge knows (implemented in `http.rs`).
pub(crate) trait Wire: Send + Sync {
    fn revoked_frame(&self, why: &str) -> Arc<str>;
}

/// A device proved a number by SMS (invitations waiting for that number ring on it too).
#[derive(Debug, Clone)]
pub(crate) struct NumberBound {
    pub(crate) device: PrincipalId,
    pub(crate) number: PhoneNumber,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(
        "name must be 1–100 printable characters, without bidirectional formatting characters"
    )]
    InvalidName,
    #[error("the operator's token lives in its file: delete the file and restart to replace it")]
    AdminTokenFile,
    #[error("only devices are coupled to a phone line")]
    DevicesOnly,
    #[error("near is 1-3600 seconds")]
    InvalidNear,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn devices_only(p: &Principal) -> Result<(), Error> {
    match p.kind {
        PrincipalKind::Device { .. } => Ok(()),
        _ => Err(Error::DevicesOnly),
    }
}

/// A name for a device or account: trimmed, 1–100 printable characters.
pub(crate) fn check_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    // Bidirectional formatting characters would let a name shown to others read backwards
    // ("Bank\u{202E}...") or hide what follows.
    if name.is_empty()
        || name.chars().count() > 100
        || name.chars().any(|c| c.is_control() || is_bidi_control(c))
    {
        return Err(Error::InvalidName);
    }
    Ok(name.to_owned())
}

/// A new principal of `kind` and its first token (`prefix` names the kind in ids and tokens).
pub(crate) fn new_principal(
    name: String,
    prefix: &str,
    kind: PrincipalKind,
) -> (PrincipalRecord, Token) {
    let now = now_ms();
    let rec = PrincipalRecord {
        principal: Principal {
            id: PrincipalId(callside_core::secret::new_id(prefix, now)),
            name,
            kind,
        },
        created_at: now,
    };
    (rec, Token::generate(prefix))
}

/// The token prefix of a principal's kind.
pub(crate) fn token_prefix(kind: &PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::Device { .. } => "dev",
        PrincipalKind::Service { .. } => "svc",
        PrincipalKind::Admin => "adm",
    }
}

/// Principals and their tokens.
pub(crate) struct Identity {
    store: Store,
    auth: Arc<Auth>,
    hub: Arc<Hub>,
    wire: Arc<dyn Wire>,
}

impl Identity {
    pub(crate) fn new(store: Store, auth: Arc<Auth>, hub: Arc<Hub>, wire: Arc<dyn Wire>) -> Self {
        Identity {
            store,
            auth,
            hub,
            wire,
        }
    }

    /// The addresses a device validated (empty for other principals).
    pub(crate) async fn emails(&self, p: &Principal) -> Result<Vec<Email>, Error> {
        match p.kind {
            PrincipalKind::Device { .. } => Ok(self.store.emails_of(p.id.clone()).await?),
            _ => Ok(Vec::new()),
        }
    }

    /// A new token for the principal itself; the old one stops working.
    pub(crate) async fn rotate_own(&self, p: &Principal) -> Result<Token, Error> {
        if p.is_admin() {
            return Err(Error::AdminTokenFile);
        }
        self.replace_token(&p.id, token_prefix(&p.kind)).await
    }

    /// Replaces every token of `id` with a new one and closes its sockets.
    pub(crate) async fn replace_token(
        &self,
        id: &PrincipalId,
        prefix: &str,
    ) -> Result<Token, Error> {
        let token = Token::generate(prefix);
        self.store
            .apply(vec![Write::ReplaceToken(id.clone(), token.hash())])
            .await?;
        self.revoke(id, "the token was replaced; reconnect with the new one");
        Ok(token)
    }

    /// How a device is coupled to its numbers' line (S1-F0), and until when it is near.
    pub(crate) async fn coupling(&self, p: &Principal) -> Result<(Coupling, Millis), Error> {
        devices_only(p)?;
        Ok(self.store.coupling(p.id.clone()).await?)
    }

    /// Sets how a device is coupled to its numbers' line.
    pub(crate) async fn set_coupling(
        &self,
        p: &Principal,
        mode: Coupling,
    ) -> Result<(Coupling, Millis), Error> {
        devices_only(p)?;
        self.store
            .apply(vec![Write::Coupling {
                principal: p.id.clone(),
                mode,
            }])
            .await?;
        self.coupling(p).await
    }

    /// The device is near its phone for the next `secs` seconds (a `when_near` device then gets
    /// network calls' sessions); 0 says it left.
    pub(crate) async fn near(&self, p: &Principal, secs: u64) -> Result<(Coupling, Millis), Error> {
        devices_only(p)?;
        if secs > 3600 {
            return Err(Error::InvalidNear);
        }
        let until = if secs == 0 {
            0
        } else {
            now_ms() + secs as Millis * 1000
        };
        self.store
            .apply(vec![Write::Near {
                principal: p.id.clone(),
                until,
            }])
            .await?;
        self.coupling(p).await
    }

    /// Forgets cached tokens of `id` (its record changed: the next request reads it again).
    pub(crate) fn forget(&self, id: &PrincipalId) {
        self.auth.evict(id);
    }

    /// Forgets cached tokens of `id` and closes its open sockets.
    pub(crate) fn revoke(&self, id: &PrincipalId, why: &str) {
        self.auth.evict(id);
        self.hub.disconnect(id, self.wire.revoked_frame(why));
    }
}
