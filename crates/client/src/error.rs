//! The SDK's one error type.

use callside_proto::Problem;

/// Everything that can go wrong talking to a callside server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status (an RFC 9457 problem, or something it could not
    /// describe). `code` is the server's stable machine code, e.g. `not_participant`; when the body
    /// was not a problem document it is `http_<status>`.
    #[error("server refused the request ({status} {code}): {detail}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable machine-readable code.
        code: String,
        /// What went wrong, in words.
        detail: String,
    },
    /// The server refused a frame sent over the WebSocket channel (an `error` frame); nothing changed.
    #[error("server refused the frame ({code}): {detail}")]
    Refused {
        /// Stable machine-readable code.
        code: String,
        /// What went wrong, in words.
        detail: String,
    },
    /// The HTTP request could not be made or its response could not be read.
    #[error("HTTP transport error: {0}")]
    Http(#[from] reqwest::Error),
    /// The WebSocket connection failed.
    #[error("WebSocket error: {0}")]
    WebSocket(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    /// A response or frame did not have the expected shape.
    #[error("could not decode {what}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The underlying JSON error.
        source: serde_json::Error,
    },
    /// Reading or writing a local file failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The base URL is unusable (not http/https, or cannot take a path).
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The token cannot be sent in an HTTP header.
    #[error("the token contains characters not allowed in an HTTP header")]
    InvalidToken,
    /// The channel has been closed (by [`crate::Channel::close`] or a fatal error).
    #[error("the channel is closed")]
    ChannelClosed,
    /// The channel's first connection was lost before the server said `ready`.
    #[error("the connection was lost: {0}")]
    Disconnected(String),
    /// A wait ran past its deadline.
    #[error("timed out")]
    Timeout,
    /// Signed caller data did not verify (signature, key or expiry).
    #[error("caller data not verified: {0}")]
    Unverified(String),

    /// A button could not be signed (`merchants::sign_button`).
    #[error("cannot sign the button: {0}")]
    Sign(String),
    /// The user's mailbox could not be read (IMAP).
    #[error("mailbox: {0}")]
    Mailbox(String),
    /// A received SMS is not a callside number proof.
    #[error("{0}")]
    NotProofSms(#[from] callside_proto::numbers::ProofError),
}

impl Error {
    /// The server's machine code, for [`Error::Api`] and [`Error::Refused`].
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } | Error::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, for [`Error::Api`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Builds [`Error::Api`] from a status and whatever body came with it.
    pub(crate) fn from_response_body(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<Problem>(body) {
            Ok(p) => Error::Api {
                status,
                code: p.code,
                detail: p.detail.unwrap_or(p.title),
            },
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let mut detail: String = text.trim().chars().take(300).collect();
                if detail.is_empty() {
                    detail = format!("HTTP {status}");
                }
                Error::Api {
                    status,
                    code: format!("http_{status}"),
                    detail,
                }
            }
        }
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        Error::WebSocket(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_body_becomes_api_error() {
        let body = br#"{"type":"https://callside.dev/problems/not_participant","title":"Not a participant","status":403,"detail":"you are not in this session","code":"not_participant"}"#;
        let e = Error::from_response_body(403, body);
        assert_eq!(e.status(), Some(403));
        assert_eq!(e.code(), Some("not_participant"));
        assert!(e.to_string().contains("you are not in this session"));
    }

    #[test]
    fn other_body_gets_http_code() {
        let e = Error::from_response_body(502, b"Bad Gateway");
        assert_eq!(e.code(), Some("http_502"));
        let e = Error::from_response_body(500, b"");
        assert!(e.to_string().contains("HTTP 500"));
    }
}
