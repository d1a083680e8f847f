//! Email identities (S2-E): a device asks to use an address, callside mails it a single-use token
//! (kept only as its SHA-256), and the device submits the token — typed by the user, or found in
//! the mailbox by the SDK (S2-V). Validated addresses are endpoint ids for invitations.

use crate::app::{App, AppState};
use crate::clock::now_ms;
use crate::http::error::ApiError;
use callside_core::email::Email;
use callside_core::ratelimit::{Limiter, Rate};
use callside_core::{Millis, Principal, PrincipalId, PrincipalKind, Token};
use callside_proto as proto;
use callside_proto::email::{
    EmailValidationState, TOKEN_PREFIX, VALIDATION_HEADER, VALIDATION_SUBJECT,
};
use callside_store::{EmailValidationRecord, Write};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Mutex;

/// Wrong tokens a validation takes; the last of them fails it.
const MAX_WRONG_TOKENS: u32 = 5;

pub(crate) struct Emails {
    /// Serialises completions: a validation's state and failure count have no lost updates.
    serial: tokio::sync::Mutex<()>,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    per_device: Mutex<Limiter<PrincipalId>>,
}

impl Emails {
    pub(crate) fn new(config: &crate::config::Config) -> Self {
        let transport = config.mail.smtp_url.as_ref().and_then(|url| {
            match AsyncSmtpTransport::<Tokio1Executor>::from_url(url) {
                Ok(b) => Some(b.timeout(Some(std::time::Duration::from_secs(15))).build()),
                Err(e) => {
                    tracing::error!(error = %e, "mail.smtp_url is unusable; email identities are off");
                    None
                }
            }
        });
        Emails {
            serial: tokio::sync::Mutex::new(()),
            transport,
            per_device: Mutex::new(Limiter::new(Rate::per_hour(
                config.limits.emails_per_device_hour,
            ))),
        }
    }

    fn view(app: &App, r: &EmailValidationRecord, now: Millis) -> proto::email::EmailValidation {
        let state = match r.state.as_str() {
            "validated" => EmailValidationState::Validated,
            "failed" => EmailValidationState::Failed,
            _ if r.expires_at <= now => EmailValidationState::Expired,
            _ => EmailValidationState::Sent,
        };
        proto::email::EmailValidation {
            id: r.id.clone(),
            email: r.email.to_string(),
            state,
            from: app.config.mail.from.clone(),
            subject: VALIDATION_SUBJECT.into(),
            expires_at: r.expires_at,
        }
    }

    /// Mails a token to `email` for `device` to submit.
    pub(crate) async fn start(
        &self,
        app: &AppState,
        device: &Principal,
        email: &str,
    ) -> Result<proto::email::EmailValidation, ApiError> {
        if !matches!(device.kind, PrincipalKind::Device { .. }) {
            return Err(ApiError::Forbidden(
                "devices_only",
                "only a device validates an email address".into(),
            ));
        }
        let email =
            Email::parse(email).map_err(|e| ApiError::bad("invalid_email", e.to_string()))?;
        let Some(transport) = &self.transport else {
            return Err(ApiError::Disabled(
                "mail_not_configured",
                "this deployment sends no mail ([mail] smtp_url)".into(),
            ));
        };
        let now = now_ms();
        self.per_device
            .lock()
            .expect("limiter poisoned")
            .check(device.id.clone(), now)?;
        let token = callside_core::secret::random_b64(12);
        let rec = EmailValidationRecord {
            id: callside_core::secret::new_id("ev", now),
            device: device.id.clone(),
            email: email.clone(),
            token_hash: Token::from_presented(&token).hash(),
            state: "sent".into(),
            failures: 0,
            created_at: now,
            expires_at: now + app.config.mail.validation_ttl.as_millis() as Millis,
        };
        let mut body = format!(
            "Someone asked to use this address with callside on the device \"{}\".\n\
             If that was you, the app finds this mail by itself, or enter:\n\n{TOKEN_PREFIX}{token}\n",
            device.name
        );
        if let Some(link) = &app.config.mail.link {
            body.push_str(&format!(
                "\nor open {}\n",
                link.replace("{token}", &token)
                    .replace("{validation}", &rec.id)
            ));
        }
        body.push_str(
            "\nIf it was not you, ignore this mail: nothing happens without the token.\n",
        );
        let bad_mail =
            |e: String| ApiError::Internal(format!("cannot build the validation mail: {e}"));
        let mut message = Message::builder()
            .from(
                app.config
                    .mail
                    .from
                    .parse()
                    .map_err(|e: lettre::address::AddressError| bad_mail(e.to_string()))?,
            )
            .to(email
                .as_str()
                .parse()
                .map_err(|e: lettre::address::AddressError| bad_mail(e.to_string()))?)
            .subject(VALIDATION_SUBJECT)
            .body(body)
            .map_err(|e| bad_mail(e.to_string()))?;
        message.headers_mut().insert_raw(HeaderValue::new(
            HeaderName::new_from_ascii_str(VALIDATION_HEADER),
            rec.id.clone(),
        ));
        // Sent first: a mail the server refused leaves nothing behind.
        transport.send(message).await.map_err(|e| {
            tracing::warn!(error = %e, "the validation mail was not accepted");
            if e.is_permanent() {
                ApiError::bad(
                    "mail_refused",
                    "the mail server refused this address; check it",
                )
            } else {
                ApiError::Disabled(
                    "mail_failed",
                    "the mail server did not take the validation mail; try again later".into(),
                )
            }
        })?;
        app.store
            .apply(vec![Write::EmailValidation(rec.clone())])
            .await?;
        Ok(Self::view(app, &rec, now))
    }

    async fn own(
        &self,
        app: &App,
        device: &PrincipalId,
        id: String,
    ) -> Result<EmailValidationRecord, ApiError> {
        match app.store.email_validation(id).await? {
            Some(r) if &r.device == device => Ok(r),
            _ => Err(ApiError::NotFound("email validation")),
        }
    }

    pub(crate) async fn get(
        &self,
        app: &App,
        device: &PrincipalId,
        id: String,
    ) -> Result<proto::email::EmailValidation, ApiError> {
        let r = self.own(app, device, id).await?;
        Ok(Self::view(app, &r, now_ms()))
    }

    /// The device submits the token; on a match the address is its.
    pub(crate) async fn complete(
        &self,
        app: &App,
        device: &Principal,
        id: String,
        token: &str,
    ) -> Result<proto::email::ValidatedEmail, ApiError> {
        let _serial = self.serial.lock().await;
        let mut r = self.own(app, &device.id, id).await?;
        let now = now_ms();
        match r.state.as_str() {
            "validated" => {
                return Err(ApiError::Gone(
                    "validation_used",
                    "this validation was already used".into(),
                ))
            }
            "failed" => {
                return Err(ApiError::Gone(
                    "validation_failed",
                    "too many wrong tokens; ask for a new mail".into(),
                ))
            }
            _ if r.expires_at <= now => {
                return Err(ApiError::Gone(
                    "validation_expired",
                    "this validation expired; ask for a new mail".into(),
                ))
            }
            _ => {}
        }
        if Token::from_presented(token).hash() != r.token_hash {
            r.failures += 1;
            let left = MAX_WRONG_TOKENS.saturating_sub(r.failures);
            if left == 0 {
                r.state = "failed".into();
            }
            app.store.apply(vec![Write::EmailValidation(r)]).await?;
            return Err(ApiError::bad(
                "wrong_token",
                format!("the token does not match (tries left: {left})"),
            ));
        }
        r.state = "validated".into();
        let email = r.email.clone();
        app.store
            .apply(vec![
                Write::EmailValidation(r),
                Write::BindEmail {
                    device: device.id.clone(),
                    email: email.clone(),
                    at: now,
                },
            ])
            .await?;
        Ok(proto::email::ValidatedEmail {
            email: email.to_string(),
        })
    }

    pub(crate) async fn remove(
        &self,
        app: &App,
        device: &PrincipalId,
        email: &str,
    ) -> Result<(), ApiError> {
        let email =
            Email::parse(email).map_err(|e| ApiError::bad("invalid_email", e.to_string()))?;
        if !app.store.emails_of(device.clone()).await?.contains(&email) {
            return Err(ApiError::NotFound("email address of this device"));
        }
        app.store
            .apply(vec![Write::UnbindEmail {
                device: device.clone(),
                email,
            }])
            .await?;
        Ok(())
    }

    pub(crate) fn prune(&self, now: Millis) {
        self.per_device.lock().expect("limiter poisoned").prune(now);
    }
}
