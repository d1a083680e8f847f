//! One error type for every handler, mapped to RFC 9457 problem details with stable codes.
//! Server faults are logged with their cause and answered without it.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use callside_proto::problem::{Problem, PROBLEM_JSON};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{1}")]
    BadRequest(&'static str, String),
    #[error("missing or malformed bearer token")]
    Unauthenticated,
    /// 401 with a code of its own (an expired token, a link code that does not work).
    #[error("{1}")]
    Unauthorized(&'static str, String),
    #[error("{1}")]
    Forbidden(&'static str, String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Not found, with a code of its own (e.g. `not_registered`).
    #[error("{1}")]
    Absent(&'static str, String),
    #[error("{1}")]
    Gone(&'static str, String),
    #[error("{1}")]
    Conflict(&'static str, String),
    /// A feature the deployment has not configured.
    #[error("{1}")]
    Disabled(&'static str, String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{1}")]
    TooMany(&'static str, String),
    /// The server's disk is nearly full (uploads wait; messages keep working).
    #[error("{0}")]
    InsufficientStorage(String),
    /// A rate limit: retry after this many seconds (sent as `Retry-After`).
    #[error("too many requests of this kind; retry in {0} s")]
    RateLimited(u64),
    #[error("the server is shutting down or overloaded; retry")]
    Unavailable,
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(..) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated | ApiError::Unauthorized(..) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(..) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::Absent(..) => StatusCode::NOT_FOUND,
            ApiError::Gone(..) => StatusCode::GONE,
            ApiError::Conflict(..) => StatusCode::CONFLICT,
            ApiError::Disabled(..) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooMany(..) | ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine code.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(code, _)
            | ApiError::Forbidden(code, _)
            | ApiError::Gone(code, _)
            | ApiError::Conflict(code, _)
            | ApiError::Absent(code, _)
            | ApiError::Unauthorized(code, _)
            | ApiError::Disabled(code, _)
            | ApiError::TooMany(code, _) => code,
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::NotFound(_) => "not_found",
            ApiError::TooLarge(_) => "too_large",
            ApiError::InsufficientStorage(_) => "storage_full",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// What the client is told: never internals.
    pub(crate) fn detail(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal error; it has been logged".into(),
            other => other.to_string(),
        }
    }

    pub(crate) fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            type_uri: format!("https://callside.dev/problems/{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: Some(self.detail()),
            code: self.code().to_owned(),
        }
    }

    pub(crate) fn bad(code: &'static str, detail: impl ToString) -> Self {
        ApiError::BadRequest(code, detail.to_string())
    }
}

/// The stable code of an error answer, left on the response for the metrics.
#[derive(Clone, Copy)]
pub(crate) struct ErrorCode(pub(crate) &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut res = (self.status(), body).into_response();
        res.extensions_mut().insert(ErrorCode(self.code()));
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(PROBLEM_JSON),
        );
        if let ApiError::RateLimited(secs) = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        if matches!(self, ApiError::Unauthenticated | ApiError::Unauthorized(..)) {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

impl From<callside_store::StoreError> for ApiError {
    fn from(e: callside_store::StoreError) -> Self {
        match e {
            // A conflict: another node numbered the session first; sending again succeeds.
            callside_store::StoreError::Closed
            | callside_store::StoreError::Failed(_)
            | callside_store::StoreError::Conflict => ApiError::Unavailable,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<callside_core::ratelimit::Limited> for ApiError {
    fn from(l: callside_core::ratelimit::Limited) -> Self {
        ApiError::RateLimited(l.retry_after_secs())
    }
}

impl From<callside_core::invitation::InvitationError> for ApiError {
    fn from(e: callside_core::invitation::InvitationError) -> Self {
        use callside_core::invitation::{InvitationError as E, InvitationState as S};
        match e {
            // Someone else's invitation is not revealed.
            E::NotInvitee => ApiError::NotFound("invitation"),
            E::NotInviter => ApiError::Forbidden("not_inviter", e.to_string()),
            E::Expired => ApiError::Gone("invitation_expired", e.to_string()),
            E::Settled(state) => ApiError::Conflict(
                match state {
                    S::Accepted => "invitation_accepted",
                    S::Declined => "invitation_declined",
                    S::Cancelled => "invitation_cancelled",
                    S::Expired | S::Pending => "invitation_expired",
                },
                e.to_string(),
            ),
        }
    }
}

impl From<callside_core::NumberError> for ApiError {
    fn from(e: callside_core::NumberError) -> Self {
        ApiError::BadRequest("invalid_number", e.to_string())
    }
}

impl From<callside_core::session::SessionError> for ApiError {
    fn from(e: callside_core::session::SessionError) -> Self {
        use callside_core::session::SessionError;
        match e {
            SessionError::NotParticipant => ApiError::Forbidden("not_participant", e.to_string()),
            SessionError::AlreadyParticipant => {
                ApiError::Conflict("already_participant", e.to_string())
            }
            SessionError::Closed(_) => ApiError::Gone("session_closed", e.to_string()),
        }
    }
}

impl From<callside_core::message::MessageError> for ApiError {
    fn from(e: callside_core::message::MessageError) -> Self {
        ApiError::BadRequest("invalid_message", e.to_string())
    }
}
