//! Checking signed caller data (RFC 9795 Rich Call Data PASSporTs) on the receiving side: the
//! signature against the server's JWK set (`GET /.well-known/jwks.json`), the expiry, and the
//! integrity digest of a referenced logo. Data that does not check out is to be shown as
//! unverified, not dropped.

use crate::Error;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use callside_proto::rcd::RcdClaims;
use sha2::{Digest, Sha256};

/// Verifies a PASSporT against a JWK set; returns its claims when the signature (ES256, by the
/// key its `kid` names) holds and it has not expired.
pub fn verify(passport: &str, jwks: &str) -> Result<RcdClaims, Error> {
    verify_jws(passport, jwks, "passport")
}

/// Verifies a compact JWS of type `typ` signed by a key of the set: ES256, not expired.
pub(crate) fn verify_jws<T: serde::de::DeserializeOwned>(
    token: &str,
    jwks: &str,
    typ: &str,
) -> Result<T, Error> {
    let bad = |why: String| Error::Unverified(why);
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(jwks).map_err(|e| bad(format!("the key set does not parse: {e}")))?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| bad(e.to_string()))?;
    if header.alg != jsonwebtoken::Algorithm::ES256 {
        return Err(bad(format!("{:?} is not ES256", header.alg)));
    }
    if header.typ.as_deref() != Some(typ) {
        return Err(bad(format!(
            "the token is of type {:?}, not {typ}",
            header.typ.as_deref().unwrap_or("(none)")
        )));
    }
    let kid = header
        .kid
        .ok_or_else(|| bad("the token names no key".into()))?;
    let jwk = set
        .find(&kid)
        .ok_or_else(|| bad(format!("no key {kid} in the key set")))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| bad(e.to_string()))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.leeway = 60;
    // Audiences are checked by the caller, who knows which participant it is.
    validation.validate_aud = false;
    jsonwebtoken::decode::<T>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| bad(e.to_string()))
}

/// Whether `logo` (the bytes fetched from `rcd.icn`) is what was signed (`rcdi["/icn"]`).
pub fn logo_matches(claims: &RcdClaims, logo: &[u8]) -> bool {
    let Some(digest) = claims.rcdi.get("/icn") else {
        return false;
    };
    digest
        .strip_prefix("sha256-")
        .is_some_and(|d| d == STANDARD.encode(Sha256::digest(logo)))
}
