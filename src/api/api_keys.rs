//! API keys: `POST /auth/api-keys`, `GET /auth/api-keys`,
//! `DELETE /auth/api-keys/{id}`.
//!
//! A key authenticates like a token, sent as `Authorization: Bearer tk_...`
//! or `X-API-Key: tk_...`, and lives until it expires or is revoked, which
//! suits scripts and cron jobs. Managing keys needs a password-login token:
//! a key cannot mint, list or revoke keys.

use serde::Serialize;

use super::body::{json_body, parse_json_object};
use super::input::{Field, Input};
use super::tasks::TITLE_MAX_CHARS;
use super::{ApiResult, Ctx};
use crate::credentials;
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::model::{ApiKey, Entity, NewApiKey};
use crate::store;
use crate::time;

/// A new key: the listing fields plus the secret, shown only this once.
#[derive(Serialize)]
struct CreatedKey {
    #[serde(flatten)]
    listed: ApiKey,
    key: String,
}

/// `POST /auth/api-keys` `{"name", "expires_at"?}`: 201 with the key.
pub fn create(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let user = ctx.authenticate_with_password_session(request)?;
    let new_key = new_api_key_from_body(json_body(request)?, time::unix_now())?;

    let secret = credentials::generate_api_key().map_err(ApiError::Internal)?;
    let listed = store::api_keys::create(&ctx.db, user.id, &new_key, &secret.prefix, &secret.hash)?;
    let mut response = Response::json(
        201,
        &CreatedKey {
            listed,
            key: secret.key,
        },
    );
    // The key is in this body and nowhere else: no cache may keep it.
    response.set_header("Cache-Control", "no-store");
    Ok(response)
}

/// Validates the body of `POST /auth/api-keys`: a `name`, and an optional
/// `expires_at` after `now` (seconds since the epoch, a parameter so that the
/// function stays pure). Every problem is reported at once, as a 422. A
/// fuzzing target (`fuzz/fuzz_targets/body_validators.rs`): any bytes get
/// `Ok` or an `ApiError`, never a panic.
pub fn new_api_key_from_body(body: &[u8], now: i64) -> Result<NewApiKey, ApiError> {
    let mut input = Input::new(parse_json_object(body)?, &["name", "expires_at"], &[]);
    let name = input.name("name", TITLE_MAX_CHARS);
    if name.is_none() && !input.has_error("name") {
        input.error("name", "is required");
    }
    let expires_at = match input.string("expires_at") {
        Field::Value(text) => match time::parse_rfc3339(&text) {
            Some(at) if at > now => Some(at),
            Some(_) => {
                input.error("expires_at", "must be in the future");
                None
            }
            None => {
                input.error(
                    "expires_at",
                    "must be an RFC 3339 timestamp like 2027-01-31T12:00:00Z",
                );
                None
            }
        },
        Field::Absent | Field::Null | Field::Invalid => None,
    };
    input.finish(NewApiKey {
        name: name.unwrap_or_default(),
        expires_at,
    })
}

/// `GET /auth/api-keys`: the caller's keys, without their secrets.
pub fn list(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let user = ctx.authenticate_with_password_session(request)?;
    let keys = store::api_keys::list(&ctx.db, user.id)?;
    Ok(Response::json(200, &keys))
}

/// `DELETE /auth/api-keys/{id}`: revoke a key at once. 204.
pub fn delete(ctx: &mut Ctx, request: &Request, id: i64) -> ApiResult {
    let user = ctx.authenticate_with_password_session(request)?;
    if !store::api_keys::delete(&ctx.db, user.id, id)? {
        return Err(ApiError::not_found(Entity::ApiKey, id));
    }
    Ok(Response::no_content())
}
