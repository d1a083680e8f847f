//! Checking purchase tokens (S1-F8) on the receiving side: a component that needed
//! authorization arrives in a `system/component` message with a token the server signed with
//! the key it publishes at `/.well-known/jwks.json`. The app verifies it before using the
//! component without asking its user to pay again.

use crate::Error;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use callside_proto::component::{PurchaseClaims, PURCHASE_TOKEN_TYPE};
use sha2::{Digest, Sha256};

/// What a purchase token must be about.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The component id.
    pub component: &'a str,
    /// The session the component was offered in (its key, as the app knows it).
    pub session: &'a str,
    /// The participant using it (this device's principal id): the grant must name it.
    pub participant: &'a str,
}

/// The SHA-256 of a session key, base64url: how tokens name a session (`sid`).
pub fn session_id(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(key.as_bytes()))
}

/// Verifies a purchase token against a JWK set: signature (ES256, typed
/// `callside-purchase+jwt`), expiry, and that it grants `expect.component` in
/// `expect.session` to `expect.participant`, issued by callside. Returns its claims.
pub fn verify_purchase(
    token: &str,
    jwks: &str,
    expect: Expect<'_>,
) -> Result<PurchaseClaims, Error> {
    let claims: PurchaseClaims = crate::rcd::verify_jws(token, jwks, PURCHASE_TOKEN_TYPE)?;
    let bad = |why: String| Err(Error::Unverified(why));
    if claims.iss != "callside" {
        return bad(format!(
            "the token is issued by {}, not callside",
            claims.iss
        ));
    }
    if claims.sub != expect.component {
        return bad(format!(
            "the token grants {}, not {}",
            claims.sub, expect.component
        ));
    }
    if claims.sid != session_id(expect.session) {
        return bad("the token belongs to another session".into());
    }
    if !claims.aud.iter().any(|a| a == expect.participant) {
        return bad(format!(
            "the token does not grant use to {}",
            expect.participant
        ));
    }
    Ok(claims)
}
