//! Accounts: registering, logging in and out, `GET /auth/me`, changing the
//! password, deleting the account.
//!
//! Registering and logging in both answer with a *session*: an access token
//! plus the user, so a client that registers is logged in at once. Every
//! password check (login, password change, account deletion) goes through
//! the login throttle, which answers 429 before any hashing.

use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use super::body::{json_body, parse_json_object, parse_urlencoded};
use super::input::{Field, Input};
use super::{ApiResult, Ctx};
use crate::error::{ApiError, AuthFailure};
use crate::http::{Request, Response};
use crate::model::User;
use crate::store::{self, StoreError};
use crate::throttle::Check;

const PASSWORD_MIN_CHARS: usize = 8;
const PASSWORD_MAX_CHARS: usize = 1024;
const USERNAME_MIN_CHARS: usize = 3;
const USERNAME_MAX_CHARS: usize = 64;
const EMAIL_MAX_CHARS: usize = 254;

/// The body of a successful register or login, shaped like an OAuth2 token
/// response (RFC 6749 §5.1) so OAuth2 clients such as Swagger UI accept it.
#[derive(Serialize)]
struct Session {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    user: User,
}

/// `POST /auth/register` (alias `POST /register`): create an account and
/// log in. 201 with a session; 409 if the username or email is taken.
pub fn register(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let Registration {
        username,
        email,
        password,
    } = registration_from_body(json_body(request)?)?;

    // Hash before touching the database: the write lock is never held for
    // the 30-40 ms argon2id takes.
    let hash = ctx
        .shared
        .passwords
        .hash(&password)
        .map_err(ApiError::Internal)?;
    let user = store::users::create(&ctx.db, username.as_deref(), email.as_deref(), &hash)
        .map_err(|error| match error {
            StoreError::Conflict(field) => {
                ApiError::Conflict(format!("that {field} is already taken"))
            }
            other => other.into(),
        })?;
    let mut response = session(ctx, user, 0, 201)?;
    response.set_header("Location", "/auth/me");
    Ok(response)
}

/// A valid registration: a username, an email or both, and a password that
/// meets the policy. (No `Debug`, so the password cannot end up in a log.)
pub struct Registration {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: String,
}

/// Validates the body of `POST /auth/register`, reporting every problem at
/// once as a 422. Pure, and a fuzzing target
/// (`fuzz/fuzz_targets/body_validators.rs`): any bytes get `Ok` or an
/// `ApiError`, never a panic.
pub fn registration_from_body(body: &[u8]) -> Result<Registration, ApiError> {
    let mut input = Input::new(
        parse_json_object(body)?,
        &["username", "email", "password"],
        &[],
    );
    let username = optional_text(&mut input, "username");
    let email = optional_text(&mut input, "email");
    let password = input.string("password");

    if let Some(username) = &username {
        let length = username.chars().count();
        let allowed = |c: char| c.is_ascii_alphanumeric() || "._-@+".contains(c);
        if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&length)
            || !username.chars().all(allowed)
        {
            input.error(
                "username",
                "must be 3 to 64 characters of letters, digits and ._-@+",
            );
        }
    }
    if let Some(email) = &email
        && !is_plausible_email(email)
    {
        input.error(
            "email",
            "must be an address like name@example.com, at most 254 characters",
        );
    }
    if username.is_none()
        && email.is_none()
        && !input.has_error("username")
        && !input.has_error("email")
    {
        input.error("username", "give a username, an email, or both");
    }
    let password = match password {
        Field::Value(password) => {
            check_password_policy(&mut input, "password", &password);
            password
        }
        Field::Absent | Field::Null => {
            input.error("password", "is required");
            String::new()
        }
        Field::Invalid => String::new(),
    };
    input.finish(Registration {
        username,
        email,
        password,
    })
}

/// `POST /auth/login` (aliases `POST /login`, `POST /auth`): exchange a login
/// name and password for a session.
///
/// Takes JSON `{"username"|"email", "password"}` or an OAuth2 password-grant
/// form (`username`, `password`, optional `grant_type=password`, `scope`,
/// `client_id`, `client_secret`), which is what Swagger UI's Authorize
/// button and `curl -d` send. The `username` may hold a username or an email.
pub fn login(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let (login, password) = match request.media_type().as_deref() {
        Some("application/x-www-form-urlencoded") => login_from_form(request.body())?,
        _ => login_from_json(json_body(request)?)?,
    };
    let found = store::users::find_for_login(&ctx.db, &login)?;
    // Throttle by the account when it exists (so that its username and its
    // email share one count), else by the name tried: unknown names are
    // throttled the same way and look the same from outside.
    let account = match &found {
        Some(found) => account_key(found.user.id),
        None => format!("login:{}", login.to_lowercase()),
    };
    let hash = found.as_ref().map(|found| found.password_hash.as_str());
    check_password(ctx, request, &account, &password, hash)?;
    match found {
        Some(found) => session(ctx, found.user, found.token_generation, 200),
        // `check_password` never succeeds without a hash.
        None => Err(ApiError::Unauthorized(AuthFailure::BadCredentials)),
    }
}

/// `GET /auth/me`: the caller's account.
pub fn me(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let user = ctx.authenticate(request)?;
    Ok(Response::json(200, &user))
}

/// `PUT /auth/password` `{"current_password", "new_password"}`: 204. Every
/// token issued before is revoked (API keys are not); the client logs in
/// again. A wrong current password is a 401, throttled like a login.
pub fn change_password(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let user = ctx.authenticate_with_password_session(request)?;
    let mut input = Input::new(
        parse_json_object(json_body(request)?)?,
        &["current_password", "new_password"],
        &[],
    );
    let current = required_text(&mut input, "current_password");
    let new = required_text(&mut input, "new_password");
    if let Some(new) = &new {
        check_password_policy(&mut input, "new_password", new);
    }
    let (current, new) = input.finish((current.unwrap_or_default(), new.unwrap_or_default()))?;
    confirm_own_password(ctx, request, user.id, &current)?;
    let hash = ctx
        .shared
        .passwords
        .hash(&new)
        .map_err(ApiError::Internal)?;
    store::users::change_password(&ctx.db, user.id, &hash)?;
    Ok(Response::no_content())
}

/// `POST /auth/logout`: revoke every token the caller holds (all devices,
/// since tokens are not tracked one by one); API keys stay valid. 204.
pub fn logout(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let user = ctx.authenticate_with_password_session(request)?;
    store::users::end_sessions(&ctx.db, user.id)?;
    Ok(Response::no_content())
}

/// `DELETE /auth/me` `{"password"}`: delete the account with its projects,
/// tasks and API keys, in one transaction. 204; its tokens and keys are
/// refused from then on.
pub fn delete_me(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let user = ctx.authenticate_with_password_session(request)?;
    let mut input = Input::new(parse_json_object(json_body(request)?)?, &["password"], &[]);
    let password = required_text(&mut input, "password");
    let password = input.finish(password.unwrap_or_default())?;
    confirm_own_password(ctx, request, user.id, &password)?;
    store::users::delete(&ctx.db, user.id)?;
    Ok(Response::no_content())
}

/// Checks that `password` is the signed-in user's own, under the login
/// throttle (a password change and an account deletion re-confirm it).
fn confirm_own_password(
    ctx: &Ctx,
    request: &Request,
    user_id: i64,
    password: &str,
) -> Result<(), ApiError> {
    let found = store::users::credentials(&ctx.db, user_id)?
        .ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken))?;
    check_password(
        ctx,
        request,
        &account_key(user_id),
        password,
        Some(&found.password_hash),
    )
}

/// The throttle's name for an existing account.
fn account_key(user_id: i64) -> String {
    format!("user:{user_id}")
}

/// Checks a password under the login throttle: 429 (before any hashing) if
/// the account or the client's address has failed too often; otherwise the
/// hash is checked (against a dummy hash for an unknown user, so timing does
/// not reveal whether the account exists) and the outcome recorded.
fn check_password(
    ctx: &Ctx,
    request: &Request,
    account: &str,
    password: &str,
    hash: Option<&str>,
) -> Result<(), ApiError> {
    let throttle = &ctx.shared.throttle;
    // A request without a peer address (not on TCP) counts as one client.
    let address = request
        .peer()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    let attempt = match throttle.check(&ctx.db, account, address)? {
        Check::Allowed(attempt) => attempt,
        Check::Wait(retry_after_seconds) => {
            return Err(ApiError::TooManyAttempts {
                retry_after_seconds,
            });
        }
    };
    // A password longer than any we accept cannot match: skip the hash.
    let plausible = password.chars().count() <= PASSWORD_MAX_CHARS;
    if plausible && ctx.shared.passwords.verify(password, hash) {
        throttle.record_success(&ctx.db, &attempt)?;
        Ok(())
    } else {
        throttle.record_failure(&ctx.db, &attempt)?;
        Err(ApiError::Unauthorized(AuthFailure::BadCredentials))
    }
}

fn session(ctx: &Ctx, user: User, generation: i64, status: u16) -> ApiResult {
    let tokens = &ctx.shared.tokens;
    let access_token = tokens
        .issue(user.id, generation)
        .map_err(ApiError::Internal)?;
    let mut response = Response::json(
        status,
        &Session {
            access_token,
            token_type: "bearer",
            expires_in: tokens.ttl_seconds(),
            user,
        },
    );
    // A response carrying a credential must not be stored by any cache
    // (RFC 6749 §5.1).
    response.set_header("Cache-Control", "no-store");
    Ok(response)
}

/// Validates a JSON login, `{"username": ..., "password": ...}` or with
/// `email`, into the login name and the password. Pure, and a fuzzing target
/// like [`registration_from_body`].
pub fn login_from_json(body: &[u8]) -> Result<(String, String), ApiError> {
    let mut input = Input::new(
        parse_json_object(body)?,
        &["username", "email", "password"],
        &[],
    );
    let username = optional_string(&mut input, "username");
    let email = optional_string(&mut input, "email");
    let password = required_text(&mut input, "password");
    let login = match (username, email) {
        (Some(username), None) => username,
        (None, Some(email)) => email,
        (Some(_), Some(_)) => {
            input.error("email", "give either username or email, not both");
            String::new()
        }
        (None, None) => {
            input.error("username", "give a username or an email");
            String::new()
        }
    };
    input.finish((login, password.unwrap_or_default()))
}

/// Validates an OAuth2 password-grant form (RFC 6749 §4.3.2) into the login
/// name and the password. Fields other than the ones below are ignored:
/// OAuth2 clients add their own. Pure, and a fuzzing target like
/// [`registration_from_body`].
pub fn login_from_form(body: &[u8]) -> Result<(String, String), ApiError> {
    let body = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("form body is not valid UTF-8".to_owned()))?;
    let pairs = parse_urlencoded(body)?;
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let mut errors = Vec::new();
    if let Some(grant_type) = field("grant_type")
        && grant_type != "password"
    {
        errors.push(crate::error::FieldError::new(
            "grant_type",
            "only the password grant is supported",
        ));
    }
    let username = field("username").filter(|value| !value.is_empty());
    let password = field("password").filter(|value| !value.is_empty());
    if username.is_none() {
        errors.push(crate::error::FieldError::new("username", "is required"));
    }
    if password.is_none() {
        errors.push(crate::error::FieldError::new("password", "is required"));
    }
    match (username, password) {
        (Some(username), Some(password)) if errors.is_empty() => Ok((username, password)),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// The password policy: 8 to 1024 characters (Unicode characters, not
/// bytes), nothing else. Long passphrases are welcome; composition rules
/// are not (NIST SP 800-63B §5.1.1).
fn check_password_policy(input: &mut Input, field: &str, password: &str) {
    let length = password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&length) {
        input.error(field, "must be 8 to 1024 characters");
    }
}

/// A string field that may be absent or null; blank counts as absent.
fn optional_text(input: &mut Input, field: &str) -> Option<String> {
    match input.string(field) {
        Field::Value(text) if !text.is_empty() => Some(text),
        Field::Value(_) => {
            input.error(field, "must not be empty");
            None
        }
        _ => None,
    }
}

/// A string field that must be present.
fn required_text(input: &mut Input, field: &str) -> Option<String> {
    match input.string(field) {
        Field::Value(text) => Some(text),
        Field::Absent | Field::Null => {
            input.error(field, "is required");
            None
        }
        Field::Invalid => None,
    }
}

/// A string field that may be absent (or null); the caller decides.
fn optional_string(input: &mut Input, field: &str) -> Option<String> {
    match input.string(field) {
        Field::Value(text) => Some(text),
        _ => None,
    }
}

/// One `@` with something on each side, no spaces or control characters,
/// at most 254 characters (RFC 5321's path limit). Whether the address
/// receives mail is not ours to check.
fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.chars().count() <= EMAIL_MAX_CHARS
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}
