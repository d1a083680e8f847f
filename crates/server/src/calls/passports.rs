//! Signed caller data (RFC 9795 Rich Call Data PASSporTs, RFC 8225 JWS): callside signs a
//! business's name, logo digest, call reason and jCard for a `caller_data` account with its own
//! ES256 key (`keys::Signer`, published as a JWK set), and checks PASSporTs that arrive with
//! calls before passing them on.
//!
//! May touch: the signer, the URL adapter (to fetch the logo once and sign its digest).

use crate::clock::now_ms;
use crate::keys::Signer;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use callside_core::{NumberError, PhoneNumber, Principal};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a signed PASSporT is good for.
const VALIDITY_MS: i64 = 24 * 3600 * 1000;

/// A PASSporT's claims on the wire, a format only the HTTP edge knows (implemented in
/// `http.rs`).
pub(crate) trait Wire: Send + Sync {
    /// The claims of a PASSporT to sign (JSON text).
    fn passport_claims(&self, c: &CallerData) -> String;
    /// The calling number and the called numbers of a PASSporT's claims, if they read as
    /// PASSporT claims.
    fn passport_numbers(&self, claims: serde_json::Value) -> Option<(String, Vec<String>)>;
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    InvalidNumber(#[from] NumberError),
    #[error("this needs a caller_data account whose ranges hold {0}")]
    MayNotSign(PhoneNumber),
    #[error("{0}")]
    Invalid(String),
}

fn bad(why: impl ToString) -> Error {
    Error::Invalid(why.to_string())
}

/// What a business asks to have signed.
pub(crate) struct CallerDataRequest {
    pub(crate) orig: String,
    pub(crate) dest: Vec<String>,
    pub(crate) name: String,
    pub(crate) logo: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) jcard: Option<serde_json::Value>,
}

/// Checked caller data, ready to sign.
pub(crate) struct CallerData {
    /// Issued and expiring, in Unix seconds.
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    pub(crate) orig: PhoneNumber,
    pub(crate) dest: Vec<String>,
    pub(crate) name: String,
    pub(crate) logo: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) jcard: Option<serde_json::Value>,
    /// Digests of what the claims name by URL (RFC 9795 `rcdi`).
    pub(crate) integrity: BTreeMap<String, String>,
}

/// What the passport service needs to know of the deployment.
pub(crate) struct Settings {
    pub(crate) region: crate::numbers::Regions,
    /// Logo URLs may point at private or loopback addresses (tests only).
    pub(crate) allow_private_urls: bool,
    pub(crate) fetch_timeout: Duration,
}

pub(crate) struct Passports {
    signer: Arc<Signer>,
    wire: Arc<dyn Wire>,
    settings: Settings,
}

impl Passports {
    pub(crate) fn new(signer: Arc<Signer>, wire: Arc<dyn Wire>, settings: Settings) -> Self {
        Passports {
            signer,
            wire,
            settings,
        }
    }

    /// Signs caller data for a `caller_data` account; the PASSporT and when it expires.
    pub(crate) async fn sign(
        &self,
        who: &Principal,
        req: CallerDataRequest,
    ) -> Result<(String, i64), Error> {
        let region = Some(self.settings.region.of(who));
        let orig = PhoneNumber::parse(&req.orig, region)?;
        if !who.may_sign_for(&orig) {
            return Err(Error::MayNotSign(orig));
        }
        if req.dest.is_empty() || req.dest.len() > 32 {
            return Err(bad("give 1 to 32 called numbers"));
        }
        let dest = req
            .dest
            .iter()
            .map(|d| PhoneNumber::parse(d, region).map(|n| n.to_string()))
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
            callside_core::card::vcard::from_jcard(&text)
                .map_err(|e| bad(format!("jcard: {e}")))?;
        }
        let mut integrity = BTreeMap::new();
        if let Some(logo) = &req.logo {
            // The logo is fetched once, like any user URL, and its digest signed (RFC 9795
            // rcdi): a receiver that fetches it later can tell whether it changed.
            integrity.insert("/icn".to_owned(), self.logo_digest(logo).await?);
        }
        let now = now_ms();
        let data = CallerData {
            iat: now / 1000,
            exp: (now + VALIDITY_MS) / 1000,
            orig,
            dest,
            name,
            logo: req.logo,
            reason: req.reason,
            jcard: req.jcard,
            integrity,
        };
        let token = self
            .signer
            .sign("passport", &self.wire.passport_claims(&data));
        Ok((token, data.exp * 1000))
    }

    /// The logo's SHA-256 as RFC 9795 writes it (`sha256-<base64>`).
    async fn logo_digest(&self, logo: &str) -> Result<String, Error> {
        let allow_private = self.settings.allow_private_urls;
        let url = crate::adapters::net::check_public_url(logo, allow_private, false)
            .await
            .map_err(|why| bad(format!("the logo URL {why}")))?;
        let client = crate::adapters::net::client(allow_private, self.settings.fetch_timeout);
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
        Ok(format!("sha256-{}", STANDARD.encode(hash.finalize())))
    }

    /// A PASSporT sent with a call must be this server's, unexpired, from the leg's own number
    /// and to its other party.
    pub(crate) fn check_for_leg(
        &self,
        who: &Principal,
        own: &str,
        other: Option<&str>,
        token: Option<&str>,
    ) -> Result<(), Error> {
        let Some(token) = token else {
            return Ok(());
        };
        if token.len() > 32 * 1024 {
            return Err(bad("the passport is at most 32 KiB"));
        }
        let (orig, dest) = self
            .signer
            .verify(token, "passport", now_ms())
            .and_then(|c| self.wire.passport_numbers(c).ok_or("has malformed claims"))
            .map_err(|why| bad(format!("the passport {why}")))?;
        let region = Some(self.settings.region.of(who));
        let own = PhoneNumber::parse(own, region)?;
        if orig != own.as_str() {
            return Err(bad("the passport is for another calling number"));
        }
        let other = other.map(|o| PhoneNumber::parse(o, region)).transpose()?;
        if other.is_none_or(|o| !dest.iter().any(|d| d == o.as_str())) {
            return Err(bad("the passport does not name the called number"));
        }
        Ok(())
    }
}
