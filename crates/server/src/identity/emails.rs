//! Email identities (S2-E): a device asks to use an address, callside mails it a single-use token
//! (kept only as its SHA-256), and the device submits the token — typed by the user, or found in
//! the mailbox by the SDK (S2-V). Validated addresses are endpoint ids for invitations.

use crate::adapters::mail::{Mail, MailError, Mailer};
use crate::clock::now_ms;
use crate::Store;
use callside_core::email::Email;
use callside_core::ratelimit::{Limited, Limiter, Rate};
use callside_core::{Millis, Principal, PrincipalId, PrincipalKind, Token};
use callside_store::{EmailValidationRecord, StoreError, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Wrong tokens a validation takes; the last of them fails it.
const MAX_WRONG_TOKENS: u32 = 5;

/// How a validation mail is recognised by the SDK (S2-V), a format only the wire knows
/// (implemented in `http.rs`).
pub(crate) trait Wire: Send + Sync {
    /// The subject, the header naming the validation, and the text before the token.
    fn validation_mail(&self) -> (&'static str, &'static str, &'static str);
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("only a device validates an email address")]
    DevicesOnly,
    #[error("{0}")]
    InvalidEmail(String),
    #[error("this deployment sends no mail ([mail] smtp_url)")]
    NotConfigured,
    #[error(transparent)]
    RateLimited(#[from] Limited),
    #[error("the mail server refused this address; check it")]
    Refused,
    #[error("the mail server did not take the validation mail; try again later")]
    MailFailed,
    #[error("cannot build the validation mail: {0}")]
    Build(String),
    #[error("email validation not found")]
    NotFound,
    #[error("this validation was already used")]
    Used,
    #[error("too many wrong tokens; ask for a new mail")]
    Failed,
    #[error("this validation expired; ask for a new mail")]
    Expired,
    #[error("the token does not match (tries left: {0})")]
    WrongToken(u32),
    #[error("email address of this device not found")]
    NotYourAddress,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the mail service needs to know of the deployment.
pub(crate) struct Settings {
    /// The validation mail's sender.
    pub(crate) from: String,
    pub(crate) validation_ttl: Duration,
    /// A link put in the mail; `{token}` and `{validation}` are replaced.
    pub(crate) link: Option<String>,
    pub(crate) per_device_hour: u32,
    /// Validation mails one address may receive a day, whoever asks (many devices could
    /// otherwise mail one inbox without end).
    pub(crate) per_address_day: u32,
}

pub(crate) struct Emails {
    store: Store,
    mailer: Option<Mailer>,
    wire: Arc<dyn Wire>,
    settings: Settings,
    /// Serialises completions: a validation's state and failure count have no lost updates.
    serial: tokio::sync::Mutex<()>,
    per_device: Mutex<Limiter<PrincipalId>>,
    per_address: Mutex<Limiter<String>>,
}

fn parse(email: &str) -> Result<Email, Error> {
    Email::parse(email).map_err(|e| Error::InvalidEmail(e.to_string()))
}

impl Emails {
    pub(crate) fn new(
        store: Store,
        mailer: Option<Mailer>,
        wire: Arc<dyn Wire>,
        settings: Settings,
    ) -> Self {
        let per_device = Limiter::new(Rate::per_hour(settings.per_device_hour));
        let per_address = Limiter::new(Rate::per_day(settings.per_address_day));
        Emails {
            store,
            mailer,
            wire,
            settings,
            serial: tokio::sync::Mutex::new(()),
            per_device: Mutex::new(per_device),
            per_address: Mutex::new(per_address),
        }
    }

    /// The validation mail's sender (devices show it, so the user knows what to look for).
    pub(crate) fn sender(&self) -> &str {
        &self.settings.from
    }

    /// Mails a token to `email` for `device` to submit.
    pub(crate) async fn start(
        &self,
        device: &Principal,
        email: &str,
    ) -> Result<EmailValidationRecord, Error> {
        if !matches!(device.kind, PrincipalKind::Device { .. }) {
            return Err(Error::DevicesOnly);
        }
        let email = parse(email)?;
        let Some(mailer) = &self.mailer else {
            return Err(Error::NotConfigured);
        };
        let now = now_ms();
        {
            let mut per_address = self.per_address.lock().expect("limiter poisoned");
            let mut per_device = self.per_device.lock().expect("limiter poisoned");
            let address = email.to_string();
            if !per_address.would_allow(&address, now) {
                return Err(per_address.check(address, now).unwrap_err().into());
            }
            per_device.check(device.id.clone(), now)?;
            per_address.check(address, now)?;
        }
        let token = callside_core::secret::random_b64(12);
        let rec = EmailValidationRecord {
            id: callside_core::secret::new_id("ev", now),
            device: device.id.clone(),
            email: email.clone(),
            token_hash: Token::from_presented(&token).hash(),
            state: "sent".into(),
            failures: 0,
            created_at: now,
            expires_at: now + self.settings.validation_ttl.as_millis() as Millis,
        };
        let (subject, header, token_prefix) = self.wire.validation_mail();
        let mut body = format!(
            "Someone asked to use this address with callside on the device \"{}\".\n\
             If that was you, the app finds this mail by itself, or enter:\n\n{token_prefix}{token}\n",
            device.name
        );
        if let Some(link) = &self.settings.link {
            body.push_str(&format!(
                "\nor open {}\n",
                link.replace("{token}", &token)
                    .replace("{validation}", &rec.id)
            ));
        }
        body.push_str(
            "\nIf it was not you, ignore this mail: nothing happens without the token.\n",
        );
        let mail = Mail {
            from: &self.settings.from,
            to: email.as_str(),
            subject,
            body,
            header: Some((header, rec.id.clone())),
        };
        // Sent first: a mail the server refused leaves nothing behind.
        mailer.send(mail).await.map_err(|e| {
            if let MailError::Build(why) = e {
                return Error::Build(why);
            }
            tracing::warn!(error = %e, "the validation mail was not accepted");
            match e {
                MailError::Refused(_) => Error::Refused,
                _ => Error::MailFailed,
            }
        })?;
        self.store
            .apply(vec![Write::EmailValidation(rec.clone())])
            .await?;
        Ok(rec)
    }

    pub(crate) async fn get(
        &self,
        device: &PrincipalId,
        id: String,
    ) -> Result<EmailValidationRecord, Error> {
        match self.store.email_validation(id).await? {
            Some(r) if &r.device == device => Ok(r),
            _ => Err(Error::NotFound),
        }
    }

    /// The device submits the token; on a match the address is its.
    pub(crate) async fn complete(
        &self,
        device: &Principal,
        id: String,
        token: &str,
    ) -> Result<Email, Error> {
        let _serial = self.serial.lock().await;
        let mut r = self.get(&device.id, id).await?;
        let now = now_ms();
        match r.state.as_str() {
            "validated" => return Err(Error::Used),
            "failed" => return Err(Error::Failed),
            _ if r.expires_at <= now => return Err(Error::Expired),
            _ => {}
        }
        if Token::from_presented(token).hash() != r.token_hash {
            r.failures += 1;
            let left = MAX_WRONG_TOKENS.saturating_sub(r.failures);
            if left == 0 {
                r.state = "failed".into();
            }
            self.store.apply(vec![Write::EmailValidation(r)]).await?;
            return Err(Error::WrongToken(left));
        }
        r.state = "validated".into();
        let email = r.email.clone();
        self.store
            .apply(vec![
                Write::EmailValidation(r),
                Write::BindEmail {
                    device: device.id.clone(),
                    email: email.clone(),
                    at: now,
                },
            ])
            .await?;
        Ok(email)
    }

    pub(crate) async fn remove(&self, device: &PrincipalId, email: &str) -> Result<(), Error> {
        let email = parse(email)?;
        if !self.store.emails_of(device.clone()).await?.contains(&email) {
            return Err(Error::NotYourAddress);
        }
        self.store
            .apply(vec![Write::UnbindEmail {
                device: device.clone(),
                email,
            }])
            .await?;
        Ok(())
    }

    pub(crate) fn prune(&self, now: Millis) {
        self.per_device.lock().expect("limiter poisoned").prune(now);
        self.per_address
            .lock()
            .expect("limiter poisoned")
            .prune(now);
    }
}
