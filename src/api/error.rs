//! The one place where errors become HTTP: status code + OperationOutcome.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use hms_fhir::outcome::{Issue, Severity};

use crate::error::{Error, issue};
use crate::fhir::outcome::operation_outcome;
use crate::store::StoreError;

use super::negotiate::FHIR_JSON;

/// Wrapper so actix can render our error type.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError(Error::Store(e))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Status and FHIR issue code for each error kind.
pub fn classify(e: &Error) -> (StatusCode, &'static str) {
    match e {
        Error::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
        Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "login"),
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        Error::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
        Error::Gone(_) => (StatusCode::GONE, "deleted"),
        Error::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "not-supported"),
        Error::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "not-supported"),
        Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        Error::PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, "conflict"),
        Error::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too-costly"),
        Error::UriTooLong(_) => (StatusCode::URI_TOO_LONG, "too-costly"),
        Error::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported"),
        Error::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
        Error::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "business-rule"),
        Error::NotImplemented(_) => (StatusCode::NOT_IMPLEMENTED, "not-supported"),
        Error::Unavailable(_)
        | Error::AuditUnavailable(_)
        | Error::Store(StoreError::Connect(_)) => (StatusCode::SERVICE_UNAVAILABLE, "transient"),
        Error::Internal(_) | Error::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "exception"),
    }
}

pub fn issues_of(e: &Error) -> Vec<Issue> {
    let (status, code) = classify(e);
    match e {
        Error::Invalid(issues) | Error::Unprocessable(issues) => issues.clone(),
        // Never leak SQL or internals: the detail goes to the log only.
        Error::Internal(_) | Error::Store(_) if status.is_server_error() => {
            vec![issue(
                Severity::Fatal,
                code,
                None,
                "internal server error; see the server log for details",
            )]
        }
        Error::AuditUnavailable(_) => vec![issue(
            Severity::Error,
            code,
            None,
            "the audit log cannot be written, so the request was refused; try again later",
        )],
        Error::Unavailable(_) | Error::Store(_) => {
            vec![issue(
                Severity::Error,
                code,
                None,
                "the database is unavailable; try again later",
            )]
        }
        other => vec![issue(Severity::Error, code, None, message_of(other))],
    }
}

fn message_of(e: &Error) -> String {
    match e {
        Error::NotFound(m)
        | Error::Unauthorized(m)
        | Error::Forbidden(m)
        | Error::Gone(m)
        | Error::MethodNotAllowed(m)
        | Error::NotAcceptable(m)
        | Error::Conflict(m)
        | Error::PreconditionFailed(m)
        | Error::PayloadTooLarge(m)
        | Error::UriTooLong(m)
        | Error::UnsupportedMediaType(m)
        | Error::NotImplemented(m)
        | Error::Unavailable(m)
        | Error::Internal(m)
        | Error::TooManyRequests { message: m, .. } => m.clone(),
        other => other.to_string(),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        classify(&self.0).0
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self.0, status = status.as_u16(), "request failed");
        } else {
            tracing::debug!(error = %self.0, status = status.as_u16(), "request rejected");
        }
        let body = operation_outcome(&issues_of(&self.0));
        let mut resp = HttpResponse::build(status);
        resp.content_type(FHIR_JSON);
        if status == StatusCode::METHOD_NOT_ALLOWED {
            // Allow is required with 405; our routes accept these at most.
            resp.insert_header(("Allow", "GET, HEAD, POST, PUT, DELETE, PATCH"));
        }
        if let Error::TooManyRequests {
            retry_after_secs, ..
        } = &self.0
        {
            resp.insert_header(("Retry-After", retry_after_secs.to_string()));
        }
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750: a 401 names the scheme; a rejected token (vs. none) says invalid_token.
            let value = match &self.0 {
                Error::Unauthorized(m) if m.starts_with("invalid token") => {
                    "Bearer error=\"invalid_token\""
                }
                _ => "Bearer",
            };
            resp.insert_header(("WWW-Authenticate", value));
        }
        resp.body(serde_json::to_vec(&body).unwrap_or_default())
    }
}
