//! Automatic email validation (S2-V): the app finds callside's validation mail in the user's own
//! mailbox over IMAP — by sender, recipient, subject and the validation id in its header — reads
//! the token, and submits it, so the user never copies anything.

use crate::Error;
use callside_proto::email::{token_in_mail, EmailValidation};
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
                if let Some(token) = f
                    .body()
                    .and_then(|b| token_in_mail(&String::from_utf8_lossy(b), &validation.id))
                {
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
