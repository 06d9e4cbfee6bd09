//! `ApiError`: every way a request can fail, and the only place that decides
//! which HTTP status and body each failure gets.
//!
//! Every error leaves as an RFC 9457 problem-details document
//! (`Content-Type: application/problem+json`):
//!
//! ```json
//! {"type":"about:blank","title":"Not Found","status":404,"detail":"task 42 not found"}
//! ```
//!
//! Handlers return `Result<Response, ApiError>` and use `?` everywhere; the
//! server turns the error into a response at the very end. Internal errors are
//! logged with their cause and reach the client only as "internal error".

use serde::Serialize;

use crate::http::Response;
use crate::model::{Change, Entity};
use crate::store::StoreError;

/// A failed request. Each variant's doc names the status it produces.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed (not JSON, bad path id, bad query).
    BadRequest(String),
    /// 401: no usable credentials. The body never says which check failed.
    Unauthorized(AuthFailure),
    /// 403: authenticated, but with a credential that may not do this (an
    /// API key on a route that needs a password login).
    Forbidden(String),
    /// 404: no such route, or no such resource *owned by the caller*.
    NotFound(String),
    /// 405: the path exists but not with this method; carries the `Allow` list.
    MethodNotAllowed(Vec<&'static str>),
    /// 409: the request conflicts with existing data (a taken username).
    Conflict(String),
    /// 410: what the request refers to is gone for good (a change-feed
    /// cursor older than the log keeps).
    Gone(String),
    /// 412: `If-Match` names none of the object's current ETags (or
    /// `If-None-Match` names it, on a write); carries
    /// the entity ("task 7") and its current ETag, which the answer repeats.
    PreconditionFailed { entity: String, etag: String },
    /// 413: the body is larger than the server accepts.
    PayloadTooLarge { limit: usize },
    /// 415: the body is not in a media type this route accepts.
    UnsupportedMediaType(String),
    /// 422: well-formed JSON whose fields fail validation; lists every bad field.
    Validation(Vec<FieldError>),
    /// 429: too many failed password checks; retry after this many seconds.
    TooManyAttempts { retry_after_seconds: u64 },
    /// 500: a bug or a broken database. The text is logged, never sent.
    Internal(String),
    /// 503: the service cannot work right now (the database does not
    /// answer). The text is logged, never sent.
    Unavailable(String),
}

/// Why a request was not authenticated. It selects the `WWW-Authenticate`
/// challenge only: the body is the same for every token failure, so a client
/// cannot probe which check (signature, expiry, audience, user) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No bearer token was sent.
    MissingToken,
    /// A token was sent and rejected (RFC 6750 `error="invalid_token"`).
    InvalidToken,
    /// A login named an unknown user or the wrong password.
    BadCredentials,
}

/// One invalid field of a request body.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl ApiError {
    /// `404` for a resource the caller cannot see, named as in
    /// `"task 42 not found"`. Used alike for "does not exist" and "belongs to
    /// someone else", so ids cannot be probed.
    pub fn not_found(entity: Entity, id: i64) -> ApiError {
        ApiError::NotFound(format!("{entity} {id} not found"))
    }

    /// `422` for a single field.
    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    /// The HTTP status code of this error.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Conflict(_) => 409,
            ApiError::Gone(_) => 410,
            ApiError::PreconditionFailed { .. } => 412,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Validation(_) => 422,
            ApiError::TooManyAttempts { .. } => 429,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
        }
    }

    /// The problem-details response for this error. An internal error's
    /// cause is written to stderr here, the one place every 500 passes.
    pub fn into_response(self) -> Response {
        let status = self.status();
        let mut headers = Vec::new();
        let mut errors = None;
        let detail = match self {
            ApiError::BadRequest(detail)
            | ApiError::Forbidden(detail)
            | ApiError::NotFound(detail)
            | ApiError::Conflict(detail)
            | ApiError::Gone(detail)
            | ApiError::UnsupportedMediaType(detail) => detail,
            ApiError::Unauthorized(failure) => {
                // RFC 9110 §15.5.2: a 401 must carry a challenge. RFC 6750 §3.1
                // adds the error code only when a token was actually presented.
                let challenge = match failure {
                    AuthFailure::InvalidToken => "Bearer error=\"invalid_token\"",
                    AuthFailure::MissingToken | AuthFailure::BadCredentials => "Bearer",
                };
                headers.push(("WWW-Authenticate", challenge.to_owned()));
                match failure {
                    AuthFailure::BadCredentials => "incorrect username or password".to_owned(),
                    _ => "missing or invalid bearer token".to_owned(),
                }
            }
            ApiError::MethodNotAllowed(allowed) => {
                let allow = allowed.join(", ");
                headers.push(("Allow", allow.clone()));
                format!("method not allowed here; allowed: {allow}")
            }
            ApiError::TooManyAttempts {
                retry_after_seconds,
            } => {
                // RFC 9110 §10.2.3: the delay in seconds.
                headers.push(("Retry-After", retry_after_seconds.to_string()));
                format!("too many failed attempts; try again in {retry_after_seconds} seconds")
            }
            ApiError::PreconditionFailed { entity, etag } => {
                let detail = format!(
                    "the If-Match (or If-None-Match) condition does not hold for {entity}: \
                     its ETag is now {etag}, it changed since you read it; nothing was changed"
                );
                headers.push(("ETag", etag));
                detail
            }
            ApiError::PayloadTooLarge { limit } => {
                format!("request body is larger than {limit} bytes")
            }
            ApiError::Validation(list) => {
                let names: Vec<&str> = list.iter().map(|error| error.field.as_str()).collect();
                let detail = format!("invalid fields: {}", names.join(", "));
                errors = Some(list);
                detail
            }
            ApiError::Internal(cause) => {
                eprintln!("internal error: {cause}");
                "internal error".to_owned()
            }
            ApiError::Unavailable(cause) => {
                eprintln!("unavailable: {cause}");
                // The conditions behind a 503 (a database restarting or
                // failing over, a full disk) are worth a retry soon: a
                // worker tries its database connection again within
                // 250 ms.
                headers.push(("Retry-After", RETRY_UNAVAILABLE_AFTER_SECONDS.to_string()));
                "service unavailable".to_owned()
            }
        };
        let mut response = Response::problem_listing(status, &detail, errors.as_ref());
        for (name, value) in headers {
            response.set_header(name, value);
        }
        response
    }
}

/// The `Retry-After` of a 503 from the database.
const RETRY_UNAVAILABLE_AFTER_SECONDS: u64 = 1;

impl ApiError {
    /// The answer to a change the store refused: `NotFound` is this
    /// entity's 404 (the caller may not even see it), `Forbidden` a 403
    /// naming what the change needs, `PreconditionFailed` a 412.
    pub fn refused<T>(change: Change<T>, entity: Entity, id: i64) -> Result<T, ApiError> {
        match change {
            Change::Done(value) => Ok(value),
            Change::NotFound => Err(ApiError::not_found(entity, id)),
            Change::Forbidden(needed) => Err(ApiError::Forbidden(format!(
                "you may see this {entity} but not change it: that needs {needed}"
            ))),
            Change::PreconditionFailed(etag) => Err(ApiError::PreconditionFailed {
                entity: format!("{entity} {id}"),
                etag,
            }),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            // The database cannot serve now (a full disk, a read-only file,
            // PostgreSQL restarting or out of reach): 503, and the client
            // may retry.
            StoreError::Unavailable(cause) => {
                crate::metrics::record_database_error(true);
                ApiError::Unavailable(format!("database: {cause}"))
            }
            StoreError::Invalid(field) => {
                ApiError::invalid(field, "is not allowed here by the database's rules")
            }
            // A conflict or missing reference the handler did not expect is
            // a bug on our side: handlers that expect one map it themselves.
            other => {
                crate::metrics::record_database_error(false);
                ApiError::Internal(format!("database: {other}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_not_found_message_names_the_entity_and_its_id() {
        let detail = |entity, id| match ApiError::not_found(entity, id) {
            ApiError::NotFound(detail) => detail,
            other => panic!("not a 404: {other:?}"),
        };
        assert_eq!(detail(Entity::Task, 42), "task 42 not found");
        assert_eq!(detail(Entity::Project, 7), "project 7 not found");
        assert_eq!(detail(Entity::ApiKey, 3), "API key 3 not found");
    }
}
