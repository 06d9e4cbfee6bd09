//! Accounts: `POST /auth/register`, `POST /auth/login` and `GET /auth/me`.
//!
//! Registering and logging in both answer with a *session*: an access token
//! plus the user, so a client that registers is logged in at once.

use serde::Serialize;
use tiny_http::Request;

use super::input::{Field, Input};
use super::{ApiResult, Ctx};
use crate::error::{ApiError, AuthFailure};
use crate::http::{self, Response};
use crate::model::User;
use crate::store::{self, StoreError};

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
pub fn register(ctx: &mut Ctx, request: &mut Request) -> ApiResult {
    let mut input = Input::new(
        http::read_json_object(request)?,
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
            let length = password.chars().count();
            if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&length) {
                input.error("password", "must be 8 to 1024 characters");
            }
            password
        }
        Field::Absent | Field::Null => {
            input.error("password", "is required");
            String::new()
        }
        Field::Invalid => String::new(),
    };
    input.finish(())?;

    // Hash before touching the database: the write lock is never held for
    // the 30-40 ms argon2id takes.
    let hash = ctx
        .shared
        .passwords
        .hash(&password)
        .map_err(ApiError::Internal)?;
    let user = store::users::create(&mut ctx.db, username.as_deref(), email.as_deref(), &hash)
        .map_err(|error| match error {
            StoreError::Conflict(field) => {
                ApiError::Conflict(format!("that {field} is already taken"))
            }
            other => other.into(),
        })?;
    let mut response = session(ctx, user, 201)?;
    response.set_header("Location", "/auth/me");
    Ok(response)
}

/// `POST /auth/login` (aliases `POST /login`, `POST /auth`): exchange a login
/// name and password for a session.
///
/// Takes JSON `{"username"|"email", "password"}` or an OAuth2 password-grant
/// form (`username`, `password`, optional `grant_type=password`, `scope`,
/// `client_id`, `client_secret`), which is what Swagger UI's Authorize
/// button and `curl -d` send. The `username` may hold a username or an email.
pub fn login(ctx: &mut Ctx, request: &mut Request) -> ApiResult {
    let (login, password) = match http::media_type(request).as_deref() {
        Some("application/x-www-form-urlencoded") => read_login_form(request)?,
        _ => read_login_json(request)?,
    };
    let credentials = store::users::find_for_login(&ctx.db, &login)?;
    // A password longer than any we accept cannot match: skip the hash.
    let plausible = password.chars().count() <= PASSWORD_MAX_CHARS;
    let passwords = &ctx.shared.passwords;
    match credentials {
        Some(found) if plausible && passwords.verify(&password, Some(&found.password_hash)) => {
            session(ctx, found.user, 200)
        }
        found => {
            // An unknown user is checked against a dummy hash, so the time
            // taken does not reveal whether the account exists.
            if found.is_none() && plausible {
                passwords.verify(&password, None);
            }
            Err(ApiError::Unauthorized(AuthFailure::BadCredentials))
        }
    }
}

/// `GET /auth/me`: the caller's account.
pub fn me(ctx: &mut Ctx, request: &mut Request) -> ApiResult {
    let user = ctx.authenticate(request)?;
    Ok(Response::json(200, &user))
}

fn session(ctx: &Ctx, user: User, status: u16) -> ApiResult {
    let tokens = &ctx.shared.tokens;
    let access_token = tokens.issue(user.id).map_err(ApiError::Internal)?;
    Ok(Response::json(
        status,
        &Session {
            access_token,
            token_type: "bearer",
            expires_in: tokens.ttl_seconds(),
            user,
        },
    ))
}

/// A JSON login: `{"username": ..., "password": ...}` or with `email`.
fn read_login_json(request: &mut Request) -> Result<(String, String), ApiError> {
    let mut input = Input::new(
        http::read_json_object(request)?,
        &["username", "email", "password"],
        &[],
    );
    let username = required_text(&mut input, "username", false);
    let email = required_text(&mut input, "email", false);
    let password = required_text(&mut input, "password", true);
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

/// An OAuth2 password-grant form (RFC 6749 §4.3.2). Fields other than the
/// ones below are ignored: OAuth2 clients add their own.
fn read_login_form(request: &mut Request) -> Result<(String, String), ApiError> {
    let body = http::read_body(request)?;
    let body = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("form body is not valid UTF-8".to_owned()))?;
    let pairs = http::parse_urlencoded(body)?;
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

/// A string field for login: `required` means absence is an error here;
/// otherwise the caller decides.
fn required_text(input: &mut Input, field: &str, required: bool) -> Option<String> {
    match input.string(field) {
        Field::Value(text) => Some(text),
        Field::Absent | Field::Null if required => {
            input.error(field, "is required");
            None
        }
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
