//! The one error type that crosses modules. Each variant names the FHIR/HTTP outcome it stands for;
//! `api::error` turns it into a status + OperationOutcome in one place.

use hms_fhir::outcome::{Issue, Severity};

use crate::store::{AsStoreError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request or resource is invalid; the issues name each element and reason.
    #[error("invalid request: {}", summary(.0))]
    Invalid(Vec<Issue>),
    /// 401: no, or no valid, access token. The message never includes the token.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403: a valid token whose scopes do not allow this interaction.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404
    #[error("not found: {0}")]
    NotFound(String),
    /// 410: the resource existed and was deleted.
    #[error("gone: {0}")]
    Gone(String),
    /// 405
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    /// 406
    #[error("not acceptable: {0}")]
    NotAcceptable(String),
    /// 409
    #[error("conflict: {0}")]
    Conflict(String),
    /// 412
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// 413
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),

    #[error("URI too long: {0}")]
    UriTooLong(String),
    /// 429: a rate limit was exceeded; try again after `retry_after_secs`.
    #[error("too many requests: {message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// 415
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// 422: valid FHIR that breaks a business rule.
    #[error("unprocessable: {}", summary(.0))]
    Unprocessable(Vec<Issue>),
    /// 501
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// 503: the database (or another dependency) cannot be reached right now.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 503: the audit log cannot be written, so the request fails closed (no data is returned,
    /// nothing is written).
    #[error("audit log unavailable: {0}")]
    AuditUnavailable(String),
    /// 500: a fault of ours. The detail is logged, never sent to the client.
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn summary(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(|i| i.diagnostics.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// A single-issue 400 naming the element (or parameter) at fault.
    pub fn invalid(expression: Option<&str>, diagnostics: impl Into<String>) -> Error {
        Error::Invalid(vec![issue(
            Severity::Error,
            "invalid",
            expression,
            diagnostics,
        )])
    }
}

pub fn issue(
    severity: Severity,
    code: &'static str,
    expression: Option<&str>,
    diagnostics: impl Into<String>,
) -> Issue {
    Issue {
        severity,
        code,
        expression: expression.map(str::to_string),
        diagnostics: diagnostics.into(),
    }
}

impl AsStoreError for Error {
    fn as_store_error(&self) -> Option<&StoreError> {
        match self {
            Error::Store(e) => Some(e),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
