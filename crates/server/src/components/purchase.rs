//! Paid components (S1-F8): the authorization server states a fee, the requester consents to
//! exactly that fee, the grant is asked, and a purchase token is signed. No charge happens without
//! consent to that very fee, and every grant is audited with the offer it pays for.

use super::{authorization_down, bad, Components, Error, Offered};
use crate::clock::now_ms;
use crate::sessions;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use callside_core::component::{Component, Fee};
use callside_core::{Principal, PrincipalId, SessionKey};
use callside_store::{AuditRecord, ParticipantRecord, SessionRecord, Write};
use sha2::{Digest, Sha256};

/// How long a purchase token is good for.
const TOKEN_VALIDITY_SECS: i64 = 7 * 24 * 3600;

/// What a purchase token grants: this component version, to these participants, in this session,
/// paid by the payer.
pub(crate) struct Claims<'a> {
    pub(crate) component: &'a Component,
    /// The participants the use is granted to.
    pub(crate) audience: Vec<String>,
    pub(crate) payer: &'a PrincipalId,
    pub(crate) fee: &'a Fee,
    pub(crate) reference: Option<String>,
    /// The session, by the SHA-256 of its key.
    pub(crate) sid: String,
    /// The grant id.
    pub(crate) jti: String,
    /// Issued and expiring, in Unix seconds.
    pub(crate) iat: i64,
    pub(crate) exp: i64,
}

/// The grant id of a purchase: the same for the same requester, session, component version and
/// fee, so a retried consent is the same purchase to the authorization server (which must treat a
/// repeated grant id as one charge).
fn grant_id(key: &SessionKey, who: &PrincipalId, c: &Component, fee: &Fee) -> String {
    let digest = Sha256::digest(
        [
            key.as_str(),
            who.as_str(),
            c.id.as_str(),
            &c.version,
            &fee.amount,
            &fee.currency,
        ]
        .join("\n")
        .as_bytes(),
    );
    format!("grant_{}", URL_SAFE_NO_PAD.encode(&digest[..18]))
}

/// What the authorization server decided about an offer.
pub(super) enum Authorized {
    /// No fee: offer it as it is.
    NotRequired,
    /// A fee (now in the answer) the requester has not consented to yet.
    ConsentRequired,
    /// Granted: the purchase token, the fee, and the audit line to commit with the offer.
    Granted {
        token: String,
        fee: Fee,
        audit: Box<Write>,
    },
}

impl Components {
    /// Asks the authorization server about `answer`'s component, with the requester's consent
    /// to a fee if it gave one.
    pub(super) async fn authorize(
        &self,
        who: &Principal,
        key: &SessionKey,
        rec: &SessionRecord,
        others: &[&ParticipantRecord],
        consent: Option<(String, String)>,
        answer: &mut Offered,
    ) -> Result<Authorized, Error> {
        let component = answer.component.clone();
        let Some(authorizer) = &self.authorizer else {
            return Err(Error::AuthorizationUnavailable(format!(
                "{} needs authorization and this server has no authorization server",
                component.id
            )));
        };
        if others.is_empty() {
            return Err(Error::NobodyToOffer);
        }
        let consent = consent
            .map(|(amount, currency)| Fee::new(&amount, &currency).map_err(bad))
            .transpose()?;
        let requester = rec
            .participants
            .iter()
            .find(|p| p.principal == who.id)
            .and_then(|p| p.number.as_ref())
            .map(|n| n.to_string());
        let peers: Vec<serde_json::Value> = others
            .iter()
            .map(|p| {
                serde_json::json!({
                    "participant": p.principal.as_str(),
                    "number": p.number.as_ref().map(|n| n.to_string()),
                })
            })
            .collect();
        let about = serde_json::json!({
            "component": self.wire.component(&component),
            "requester": { "participant": who.id.as_str(), "number": requester },
            "peers": peers,
            "session": key.public_id(),
        });
        let mut payload = about.clone();
        payload["type"] = "requirement".into();
        let need = authorizer
            .requirement(payload)
            .await
            .map_err(authorization_down)?;
        if !need.required {
            return Ok(Authorized::NotRequired);
        }
        let fee = need
            .fee
            .as_ref()
            .and_then(|f| Fee::new(&f.amount, &f.currency).ok())
            .ok_or_else(|| authorization_down("asked for a fee without a valid amount"))?;
        answer.fee = Some(fee.clone());
        answer.description = need.description.map(|d| d.chars().take(500).collect());
        let Some(consent) = consent else {
            answer.consent_required = true;
            return Ok(Authorized::ConsentRequired);
        };
        if !consent.same_as(&fee) {
            return Err(Error::FeeChanged(format!(
                "you consented to {} {} but the fee is {} {}; offer again to see it",
                consent.amount, consent.currency, fee.amount, fee.currency
            )));
        }
        // Still on an open session with the same peers before anyone is charged.
        let now_rec = self.sessions.record_for(key, &who.id).await?;
        now_rec
            .session
            .check_access(&who.id)
            .map_err(sessions::Error::from)?;
        let grant_id = grant_id(key, &who.id, &component, &fee);
        let mut payload = about;
        payload["type"] = "grant".into();
        payload["grant"] = grant_id.clone().into();
        payload["fee"] = self.wire.fee(&fee);
        let grant = authorizer
            .grant(payload)
            .await
            .map_err(authorization_down)?;
        if !grant.granted {
            return Err(Error::AuthorizationRefused(
                grant.reason.unwrap_or_else(|| "no reason given".into()),
            ));
        }
        let now = now_ms();
        let reference: Option<String> = grant.reference.map(|r| r.chars().take(200).collect());
        let claims = Claims {
            component: &component,
            audience: others.iter().map(|p| p.principal.to_string()).collect(),
            payer: &who.id,
            fee: &fee,
            reference: reference.clone(),
            sid: key.public_id(),
            jti: grant_id.clone(),
            iat: now / 1000,
            exp: now / 1000 + TOKEN_VALIDITY_SECS,
        };
        let (typ, claims) = self.wire.purchase_claims(&claims);
        let token = self.signer.sign(typ, &claims);
        let audit = Write::Audit(AuditRecord {
            at: now,
            actor: who.id.clone(),
            action: "purchase".into(),
            subject: component.id.to_string(),
            detail: format!(
                "grant {grant_id}: {} {} (reference {})",
                fee.amount,
                fee.currency,
                reference.as_deref().unwrap_or("-")
            ),
        });
        answer.reference = reference;
        Ok(Authorized::Granted {
            token,
            fee,
            audit: Box::new(audit),
        })
    }
}
