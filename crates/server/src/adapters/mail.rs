//! Outgoing mail through an SMTP server (`lettre`): the validation mails of email identities.

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Why a mail did not go out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MailError {
    /// The server refused the address for good.
    #[error("the mail server refused the mail: {0}")]
    Refused(String),
    /// Anything else: the server is down, busy, or refused for now.
    #[error("the mail server did not take the mail: {0}")]
    Failed(String),
    /// The mail could not be built (an address that does not parse).
    #[error("cannot build the mail: {0}")]
    Build(String),
}

/// One mail: sender and recipient as `Name <address>` or bare addresses, and one extra header.
pub(crate) struct Mail<'a> {
    pub(crate) from: &'a str,
    pub(crate) to: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) body: String,
    pub(crate) header: Option<(&'static str, String)>,
}

/// An SMTP client for `mail.smtp_url`.
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Mailer {
    /// A client for `url`, or `None` (logged) when the URL is unusable: mail is then off.
    pub(crate) fn from_url(url: &str) -> Option<Self> {
        match AsyncSmtpTransport::<Tokio1Executor>::from_url(url) {
            Ok(b) => Some(Mailer {
                transport: b.timeout(Some(std::time::Duration::from_secs(15))).build(),
            }),
            Err(e) => {
                tracing::error!(error = %e, "mail.smtp_url is unusable; email identities are off");
                None
            }
        }
    }

    pub(crate) async fn send(&self, mail: Mail<'_>) -> Result<(), MailError> {
        let bad = |e: String| MailError::Build(e);
        let mut message = Message::builder()
            .from(
                mail.from
                    .parse()
                    .map_err(|e: lettre::address::AddressError| bad(e.to_string()))?,
            )
            .to(mail
                .to
                .parse()
                .map_err(|e: lettre::address::AddressError| bad(e.to_string()))?)
            .subject(mail.subject)
            .body(mail.body)
            .map_err(|e| bad(e.to_string()))?;
        if let Some((name, value)) = mail.header {
            message.headers_mut().insert_raw(HeaderValue::new(
                HeaderName::new_from_ascii_str(name),
                value,
            ));
        }
        self.transport.send(message).await.map_err(|e| {
            if e.is_permanent() {
                MailError::Refused(e.to_string())
            } else {
                MailError::Failed(e.to_string())
            }
        })?;
        Ok(())
    }
}
