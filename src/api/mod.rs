//! The endpoints: one function per route, grouped by resource.
//!
//! Every handler has the same rhythm: authenticate, read and validate the
//! input, call the store, build the response, with `?` at each step. There
//! is no SQL here and no status code for an error: those live in `store` and
//! `error`.

pub mod api_keys;
pub mod auth;
pub mod body;
pub mod changes;
pub mod docs;
pub mod export;
pub mod health;
pub mod idempotency;
mod input;
pub mod list;
pub mod members;
pub mod projects;
pub mod tasks;

use std::cell::RefCell;
use std::sync::Arc;

use crate::credentials::{API_KEY_PREFIX, Passwords, Tokens, VerifiedTokens, hash_api_key};
use crate::error::{ApiError, AuthFailure};
use crate::http::{Request, Response};
use crate::model::User;
use crate::store::{self, Db};
use crate::throttle::LoginThrottle;
use crate::time;

/// What every handler returns.
pub type ApiResult = Result<Response, ApiError>;

/// State shared by all workers; read-only after start-up.
pub struct Shared {
    pub tokens: Tokens,
    pub passwords: Passwords,
    pub throttle: LoginThrottle,
    /// Where `/docs` loads Swagger UI from; `None` turns the docs off.
    pub docs_assets_url: Option<String>,
    /// The `Idempotency-Key`s being run now.
    pub in_flight: idempotency::InFlight,
    /// Where each request's `X-Request-Id` comes from, and how the access
    /// log is written.
    pub request_ids: crate::access_log::RequestIds,
    pub log_format: crate::access_log::LogFormat,
}

/// A worker's context: its database access, the shared state, and the
/// tokens this worker has already verified.
pub struct Ctx {
    pub db: Db,
    pub shared: Arc<Shared>,
    /// A `RefCell` because authenticating only reads the context otherwise,
    /// and each worker has its own `Ctx`, so the cell is never shared.
    verified: RefCell<VerifiedTokens>,
}

/// How a caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// An access token from registering or logging in with a password.
    Token,
    /// An API key.
    ApiKey,
}

impl Ctx {
    /// A worker's context on `db`.
    pub fn new(db: Db, shared: Arc<Shared>) -> Ctx {
        Ctx {
            db,
            shared,
            verified: RefCell::default(),
        }
    }

    /// The user a request's token or API key names.
    ///
    /// Any failure (no credential, another scheme, a bad, expired, revoked
    /// or forged token or key, a deleted user) is the same 401, so callers
    /// learn nothing about why.
    pub fn authenticate(&self, request: &Request) -> Result<User, ApiError> {
        Ok(self.caller(request)?.0)
    }

    /// Like [`Ctx::authenticate`], for the routes that manage credentials
    /// (API keys, the password, logout, deleting the account): these need a
    /// token from a password login, so a leaked API key cannot entrench
    /// itself or take the account over. An API key gets a 403.
    pub fn authenticate_with_password_session(&self, request: &Request) -> Result<User, ApiError> {
        match self.caller(request)? {
            (user, Credential::Token) => Ok(user),
            (_, Credential::ApiKey) => Err(ApiError::Forbidden(
                "API keys cannot do this; log in with a password and use that token".to_owned(),
            )),
        }
    }

    fn caller(&self, request: &Request) -> Result<(User, Credential), ApiError> {
        let presented =
            credential_from_headers(request.header("Authorization"), request.header("X-API-Key"))
                .ok_or(ApiError::Unauthorized(AuthFailure::MissingToken))?;
        let invalid = || ApiError::Unauthorized(AuthFailure::InvalidToken);
        if presented.starts_with(API_KEY_PREFIX) {
            let hash = hash_api_key(presented);
            let (user, _key_id) = store::api_keys::authenticate(&self.db, &hash, time::unix_now())?
                .ok_or_else(invalid)?;
            return Ok((user, Credential::ApiKey));
        }
        let (user_id, generation) = self
            .verified
            .borrow_mut()
            .verify(&self.shared.tokens, presented, time::unix_now())
            .ok_or_else(invalid)?;
        match store::users::get_with_generation(&self.db, user_id)? {
            Some((user, current)) if current == generation => Ok((user, Credential::Token)),
            _ => Err(invalid()),
        }
    }
}

/// The credential a request presents, given the values of its
/// `Authorization` and `X-API-Key` headers: the token of
/// `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme name is
/// case-insensitive), else the `X-API-Key`. A bearer "token" that starts
/// with `tk_` is an API key.
///
/// When an `Authorization` header is present it alone decides: one that is
/// not a bearer token means no credential, even with an `X-API-Key` beside
/// it.
///
/// Pure, and a fuzzing target (`fuzz/fuzz_targets/authorization.rs`): the
/// credential, when there is one, is a non-empty slice of a header value
/// with no whitespace around it.
pub fn credential_from_headers<'a>(
    authorization: Option<&'a str>,
    api_key: Option<&'a str>,
) -> Option<&'a str> {
    if let Some(value) = authorization {
        let (scheme, token) = value.trim().split_once(' ')?;
        let token = token.trim();
        return (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token);
    }
    api_key.map(str::trim).filter(|key| !key.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_comes_first_and_an_api_key_only_without_authorization() {
        let cases = [
            (Some("Bearer abc"), None, Some("abc")),
            (Some("  bearer   abc  "), Some("tk_1"), Some("abc")),
            (None, Some(" tk_1 "), Some("tk_1")),
            (Some("Basic YWJj"), Some("tk_1"), None),
            (Some("Bearer"), None, None),
            (Some("Bearer  "), None, None),
            (None, Some("  "), None),
            (None, None, None),
        ];
        for (authorization, api_key, expected) in cases {
            assert_eq!(
                credential_from_headers(authorization, api_key),
                expected,
                "{authorization:?} {api_key:?}"
            );
        }
    }
}
