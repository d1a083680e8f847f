//! Signed caller data (RFC 9795 Rich Call Data PASSporTs, RFC 8225 JWS): callside signs a
//! business's name, logo digest, call reason and jCard with its own ES256 key, publishes the key
//! as a JWK set, and checks PASSporTs that arrive with calls before passing them on.

use crate::app::App;
use crate::clock::now_ms;
use crate::http::error::ApiError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use callside_proto as proto;

use sha2::{Digest, Sha256};

/// How long a signed PASSporT is good for.
const VALIDITY_MS: i64 = 24 * 3600 * 1000;

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
        passport: app.signer.sign(
            "passport",
            &serde_json::to_string(&claims).expect("claims serialise"),
        ),
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
        .signer
        .verify(token, "passport", now_ms())
        .and_then(|c| {
            serde_json::from_value::<proto::rcd::RcdClaims>(c).map_err(|_| "has malformed claims")
        })
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
