//! Automatic email validation (S2-V): the app finds callside's validation mail in the user's own
//! mailbox over IMAP — by sender, recipient, subject and the validation id in its header — reads
//! the token, and submits it, so the user never copies anything.

use crate::Error;
use callside_proto::email::{EmailValidation, TOKEN_PREFIX, VALIDATION_HEADER};
use futures_util::TryStreamExt;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where the user's mail is read.
#[derive(Clone)]
pub struct ImapAccount {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// TLS from the first byte (IMAPS, usually port 993); `false` only for a server on this
    /// machine.
    pub tls: bool,
}

impl std::fmt::Debug for ImapAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapAccount")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

fn imap_err(e: impl std::fmt::Display) -> Error {
    Error::Mailbox(e.to_string())
}

/// Waits up to `timeout` for the validation mail of `validation` to reach the mailbox and returns
/// its token. Only a mail from the validation's sender, to its address, carrying its id, counts.
pub async fn find_token(
    account: &ImapAccount,
    validation: &EmailValidation,
    timeout: Duration,
) -> Result<String, Error> {
    let tcp = tokio::net::TcpStream::connect((account.host.as_str(), account.port))
        .await
        .map_err(imap_err)?;
    if account.tls {
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(
            std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider()),
        )
        .with_safe_default_protocol_versions()
        .map_err(imap_err)?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(account.host.clone())
            .map_err(imap_err)?;
        let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(imap_err)?;
        search(stream, account, validation, timeout).await
    } else {
        search(tcp, account, validation, timeout).await
    }
}

/// The token in a validation mail (as fetched over IMAP: headers and body), if the mail is the
/// one for `validation`. Read with a MIME parser, so a mail a server re-encoded (quoted-printable,
/// base64) or wrapped in a multipart still gives its token.
pub fn token_in_mail(raw: &[u8], validation: &str) -> Option<String> {
    let mail = mail_parser::MessageParser::default().parse(raw)?;
    if mail.header_raw(VALIDATION_HEADER)?.trim() != validation {
        return None;
    }
    (0..mail.text_body_count())
        .filter_map(|i| mail.body_text(i))
        .find_map(|text| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(TOKEN_PREFIX))
                .map(|t| t.trim().to_owned())
        })
        .filter(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

async fn search<T>(
    stream: T,
    account: &ImapAccount,
    validation: &EmailValidation,
    timeout: Duration,
) -> Result<String, Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug,
{
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .map_err(imap_err)?
        .ok_or_else(|| imap_err("the IMAP server closed the connection"))?;
    let mut session = client
        .login(&account.user, &account.password)
        .await
        .map_err(|(e, _)| imap_err(format!("IMAP login failed: {e}")))?;
    // The address part of "callside <noreply@…>".
    let from = validation
        .from
        .rsplit_once('<')
        .map(|(_, a)| a.trim_end_matches('>'))
        .unwrap_or(&validation.from);
    let query = format!(
        "FROM {} TO {} SUBJECT {}",
        quoted(from),
        quoted(&validation.email),
        quoted("callside")
    );
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // A fresh SELECT each round: a selected mailbox does not show new mail by itself.
        session.select("INBOX").await.map_err(imap_err)?;
        let mut found: Vec<u32> = session
            .search(&query)
            .await
            .map_err(imap_err)?
            .into_iter()
            .collect();
        found.sort_unstable();
        // Newest first; BODY.PEEK leaves the mail unread for the user.
        for seq in found.into_iter().rev() {
            let fetches: Vec<_> = session
                .fetch(seq.to_string(), "BODY.PEEK[]")
                .await
                .map_err(imap_err)?
                .try_collect()
                .await
                .map_err(imap_err)?;
            for f in &fetches {
                if let Some(token) = f.body().and_then(|b| token_in_mail(b, &validation.id)) {
                    let _ = session.logout().await;
                    return Ok(token);
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = session.logout().await;
            return Err(Error::Timeout);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::token_in_mail;

    #[test]
    fn the_token_is_read_only_from_the_right_mail() {
        let mail = b"From: callside <noreply@callside.test>\r\nX-Callside-Validation: ev_1\r\nSubject: x\r\n\r\nHello\r\nToken: AbC-_123\r\n";
        assert_eq!(token_in_mail(mail, "ev_1").as_deref(), Some("AbC-_123"));
        assert_eq!(token_in_mail(mail, "ev_2"), None);
        assert_eq!(
            token_in_mail(b"X-Callside-Validation: ev_1\n\nno token here", "ev_1"),
            None
        );
        assert_eq!(
            token_in_mail(b"X-Callside-Validation: ev_1\n\nToken: <script>", "ev_1"),
            None
        );
    }

    #[test]
    fn a_re_encoded_or_multipart_mail_still_gives_its_token() {
        // Quoted-printable, as a relay may re-encode it (a soft line break inside the token).
        let qp = b"X-Callside-Validation: ev_1\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\nHello =E2=80=94 someone asked\r\nToken: AbC-=\r\n_123\r\n";
        assert_eq!(token_in_mail(qp, "ev_1").as_deref(), Some("AbC-_123"));
        // Base64 inside multipart/alternative with an HTML twin, the header folded.
        let multipart = b"X-Callside-Validation:\r\n ev_1\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
SGVsbG8KVG9rZW46IEFiQy1fMTIzCg==\r\n--b1\r\nContent-Type: text/html\r\n\r\n\
<p>Token: AbC-_123</p>\r\n--b1--\r\n";
        assert_eq!(
            token_in_mail(multipart, "ev_1").as_deref(),
            Some("AbC-_123")
        );
        assert_eq!(token_in_mail(multipart, "ev_9"), None);
    }
}
