//! The endpoints: one function per route, grouped by resource.
//!
//! Every handler has the same rhythm: authenticate, read and validate the
//! input, call the store, build the response, with `?` at each step. There
//! is no SQL here and no status code for an error: those live in `store` and
//! `error`.

pub mod auth;
pub mod health;
mod input;
pub mod list;
pub mod projects;
pub mod tasks;

use std::sync::Arc;

use tiny_http::Request;

use crate::auth::{Passwords, Tokens};
use crate::error::{ApiError, AuthFailure};
use crate::http::{self, Response};
use crate::model::User;
use crate::store::{self, Db};

/// What every handler returns.
pub type ApiResult = Result<Response, ApiError>;

/// State shared by all workers; read-only after start-up.
pub struct Shared {
    pub tokens: Tokens,
    pub passwords: Passwords,
}

/// A worker's context: its own database connection and the shared state.
pub struct Ctx {
    pub db: Db,
    pub shared: Arc<Shared>,
}

impl Ctx {
    /// The user a request's bearer token names.
    ///
    /// Any failure (no header, another scheme, a bad, expired or forged token,
    /// a deleted user) is the same 401, so callers learn nothing about why.
    pub fn authenticate(&self, request: &Request) -> Result<User, ApiError> {
        let token =
            bearer_token(request).ok_or(ApiError::Unauthorized(AuthFailure::MissingToken))?;
        let invalid = ApiError::Unauthorized(AuthFailure::InvalidToken);
        let user_id = self.shared.tokens.verify(token).ok_or(invalid)?;
        store::users::get(&self.db, user_id)?
            .ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken))
    }
}

/// The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1;
/// the scheme name is case-insensitive).
fn bearer_token(request: &Request) -> Option<&str> {
    let value = http::header(request, "Authorization")?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
