//! Signed caller data (RFC 9795 Rich Call Data PASSporTs, RFC 8225 JWS): callside signs a
//! business's name, logo digest, call reason and jCard with its own ES256 key, publishes the key
//! as a JWK set, and checks PASSporTs that arrive with calls before passing them on.

use crate::app::App;
use crate::clock::now_ms;
use crate::http::error::ApiError;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use callside_proto as proto;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sha2::{Digest, Sha256};
use std::path::Path;

/// How long a signed PASSporT is good for.
const VALIDITY_MS: i64 = 24 * 3600 * 1000;

pub(crate) struct Signer {
    key: SigningKey,
    kid: String,
    jwks: String,
}

impl Signer {
    /// The key from `file` (PKCS#8 PEM), created on first start.
    pub(crate) fn load_or_create(file: &Path) -> Result<Signer, crate::ServerError> {
        let io =
            |e: String| crate::ServerError::Io(format!("caller-data key {}: {e}", file.display()));
        let key = if file.exists() {
            let pem = std::fs::read_to_string(file).map_err(|e| io(e.to_string()))?;
            // The file ends with the newline `write_private` adds after the PEM's own.
            SigningKey::from_pkcs8_pem(&format!("{}\n", pem.trim()))
                .map_err(|e| io(e.to_string()))?
        } else {
            let key = loop {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).expect("the operating system's random source failed");
                if let Ok(k) = SigningKey::from_bytes(&bytes.into()) {
                    break k;
                }
            };
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| io(e.to_string()))?;
            crate::keys::write_private(file, &pem).map_err(|e| io(e.to_string()))?;
            key
        };
        let point = VerifyingKey::from(&key).to_encoded_point(false);
        let (x, y) = (
            URL_SAFE_NO_PAD.encode(point.x().expect("an uncompressed point")),
            URL_SAFE_NO_PAD.encode(point.y().expect("an uncompressed point")),
        );
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(point.as_bytes())[..12]);
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig",
        }]})
        .to_string();
        Ok(Signer { key, kid, jwks })
    }

    pub(crate) fn jwks(&self) -> &str {
        &self.jwks
    }

    fn sign(&self, claims: &proto::rcd::RcdClaims) -> String {
        self.sign_jws(
            serde_json::json!({"alg": "ES256", "typ": "passport", "ppt": "rcd", "kid": self.kid}),
            claims,
        )
    }

    /// A purchase token (S1-F8): typed `callside-purchase+jwt`, so it never passes for a
    /// PASSporT (nor a PASSporT for it).
    pub(crate) fn sign_purchase(&self, claims: &proto::component::PurchaseClaims) -> String {
        self.sign_jws(
            serde_json::json!({
                "alg": "ES256", "typ": proto::component::PURCHASE_TOKEN_TYPE, "kid": self.kid,
            }),
            claims,
        )
    }

    /// A compact JWS (ES256) of `claims` under `header`.
    fn sign_jws(&self, header: serde_json::Value, claims: &impl serde::Serialize) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(serde_json::to_string(claims).expect("claims serialise"))
        );
        let sig: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    /// Checks a PASSporT this server signed; returns its claims.
    pub(crate) fn verify(
        &self,
        token: &str,
        now: i64,
    ) -> Result<proto::rcd::RcdClaims, &'static str> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("is not a compact JWS");
        };
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "has a malformed signature")?;
        let sig = Signature::from_slice(&sig).map_err(|_| "has a malformed signature")?;
        VerifyingKey::from(&self.key)
            .verify(format!("{h}.{c}").as_bytes(), &sig)
            .map_err(|_| "is not signed by this server")?;
        let header: serde_json::Value = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or("has a malformed header")?;
        if header.get("typ").and_then(|t| t.as_str()) != Some("passport") {
            return Err("is not a PASSporT");
        }
        let claims: proto::rcd::RcdClaims = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| "has malformed claims")?,
        )
        .map_err(|_| "has malformed claims")?;
        if claims.exp <= now / 1000 {
            return Err("has expired");
        }
        Ok(claims)
    }
}

fn bad(why: impl ToString) -> ApiError {
    ApiError::bad("invalid_caller_data", why)
}

/// `POST /v1/passports`: signs caller data for a `caller_data` account.
pub(crate) async fn sign(
    app: &App,
    who: &callside_core::Principal,
    req: proto::rcd::SignCallerData,
) -> Result<proto::rcd::Passport, ApiError> {
    let region = Some(app.config.default_region);
    let orig = callside_core::PhoneNumber::parse(&req.orig, region)?;
    if !who.may_sign_for(&orig) {
        return Err(ApiError::Forbidden(
            "may_not_sign",
            format!("this needs a caller_data account whose ranges hold {orig}"),
        ));
    }
    if req.dest.is_empty() || req.dest.len() > 32 {
        return Err(bad("give 1 to 32 called numbers"));
    }
    let dest = req
        .dest
        .iter()
        .map(|d| callside_core::PhoneNumber::parse(d, region).map(|n| n.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(bad("the name is 1-100 printable characters"));
    }
    if let Some(r) = &req.reason {
        if r.trim().is_empty() || r.chars().count() > 200 || r.chars().any(char::is_control) {
            return Err(bad("the reason is 1-200 printable characters"));
        }
    }
    if let Some(j) = &req.jcard {
        let text = j.to_string();
        if text.len() > 16 * 1024 {
            return Err(bad("the jCard is at most 16 KiB"));
        }
        callside_core::card::vcard::from_jcard(&text).map_err(|e| bad(format!("jcard: {e}")))?;
    }
    let mut rcdi = std::collections::BTreeMap::new();
    if let Some(logo) = &req.logo {
        // The logo is fetched once, like any user URL, and its digest signed (RFC 9795 rcdi):
        // a receiver that fetches it later can tell whether it changed.
        let url = crate::adapters::net::check_public_url(
            logo,
            app.config.cards_allow_private_urls,
            false,
        )
        .await
        .map_err(|why| bad(format!("the logo URL {why}")))?;
        let client = crate::adapters::net::client(
            app.config.cards_allow_private_urls,
            app.config.cards_fetch_timeout,
        );
        let mut res = client
            .get(url)
            .send()
            .await
            .map_err(|e| bad(format!("cannot fetch the logo: {}", e.without_url())))?;
        if !res.status().is_success() {
            return Err(bad(format!("the logo URL answered {}", res.status())));
        }
        let mut hash = Sha256::new();
        let mut size = 0usize;
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| bad(format!("the logo download failed: {}", e.without_url())))?
        {
            size += chunk.len();
            if size > 1024 * 1024 {
                return Err(bad("the logo is larger than 1 MiB"));
            }
            hash.update(&chunk);
        }
        rcdi.insert(
            "/icn".to_owned(),
            format!("sha256-{}", STANDARD.encode(hash.finalize())),
        );
    }
    let now = now_ms();
    let claims = proto::rcd::RcdClaims {
        iat: now / 1000,
        exp: (now + VALIDITY_MS) / 1000,
        orig: proto::rcd::TelephoneNumber {
            tn: orig.to_string(),
        },
        dest: proto::rcd::Destinations { tn: dest },
        rcd: proto::rcd::RcdClaim {
            nam: name,
            icn: req.logo,
            crn: req.reason,
            jcd: req.jcard,
        },
        rcdi,
    };
    Ok(proto::rcd::Passport {
        passport: app.rcd.sign(&claims),
        expires_at: claims.exp * 1000,
    })
}

/// A PASSporT sent with a call must be this server's, unexpired, from the leg's own number and to
/// its other party.
pub(crate) fn check_for_leg(app: &App, leg: &proto::call::ReportLeg) -> Result<(), ApiError> {
    let Some(token) = &leg.passport else {
        return Ok(());
    };
    if token.len() > 32 * 1024 {
        return Err(bad("the passport is at most 32 KiB"));
    }
    let claims = app
        .rcd
        .verify(token, now_ms())
        .map_err(|why| bad(format!("the passport {why}")))?;
    let region = Some(app.config.default_region);
    let own = callside_core::PhoneNumber::parse(&leg.own, region)?;
    if claims.orig.tn != own.as_str() {
        return Err(bad("the passport is for another calling number"));
    }
    let other = leg
        .other
        .as_deref()
        .map(|o| callside_core::PhoneNumber::parse(o, region))
        .transpose()?;
    if other.is_none_or(|o| !claims.dest.tn.iter().any(|d| d == o.as_str())) {
        return Err(bad("the passport does not name the called number"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_kept_across_restarts_and_signatures_check() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rcd.pem");
        let first = Signer::load_or_create(&file).unwrap();
        let again = Signer::load_or_create(&file).unwrap();
        assert_eq!(first.jwks(), again.jwks(), "the same key after a restart");
        let claims = proto::rcd::RcdClaims {
            iat: 1,
            exp: 4_000_000_000,
            orig: proto::rcd::TelephoneNumber {
                tn: "+442079460001".into(),
            },
            dest: proto::rcd::Destinations {
                tn: vec!["+442079460002".into()],
            },
            rcd: proto::rcd::RcdClaim {
                nam: "ACME".into(),
                icn: None,
                crn: None,
                jcd: None,
            },
            rcdi: Default::default(),
        };
        let token = first.sign(&claims);
        assert_eq!(again.verify(&token, 0).unwrap(), claims);
        // The same claims, signed by the same key but typed as a purchase token, are no
        // PASSporT.
        let typed = first.sign_jws(
            serde_json::json!({
                "alg": "ES256", "typ": proto::component::PURCHASE_TOKEN_TYPE, "kid": first.kid,
            }),
            &claims,
        );
        assert_eq!(again.verify(&typed, 0), Err("is not a PASSporT"));
        assert_eq!(again.verify(&token, 4_000_000_000_000), Err("has expired"));
        let other = Signer::load_or_create(&dir.path().join("other.pem")).unwrap();
        assert_eq!(other.verify(&token, 0), Err("is not signed by this server"));
        assert!(first.verify("a.b", 0).is_err());
    }
}
