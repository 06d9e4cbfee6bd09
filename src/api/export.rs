//! `GET /auth/me/export`: everything the caller owns, as one JSON document
//! to save (what is in it, and why, is in `store::export`).
//!
//! It takes a token from a password login, as the routes that manage
//! credentials do: an API key gets a 403. The document lists the account's
//! API keys, which `GET /auth/api-keys` shows to a password session only,
//! and it is the whole account in one request, the most a leaked key could
//! take away. A script that backs an account up logs in with the password
//! first (`POST /auth/login`).

use crate::api::{ApiResult, Ctx};
use crate::error::{ApiError, AuthFailure};
use crate::http::{Request, Response};
use crate::model::User;
use crate::store;
use crate::time;

/// `GET /auth/me/export`: 200 with the document, as a download
/// (`Content-Disposition: attachment`) that no cache may keep
/// (`Cache-Control: no-store`, RFC 9111 §5.2.2.5): it is all of the
/// account's data, and a browser's disk cache is no place for a copy.
pub fn download(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let user = ctx.authenticate_with_password_session(request)?;
    let exported_at = time::now_rfc3339();
    // The account was there when the token was checked; gone now means it
    // was deleted in between, and the token with it.
    let body = store::export::document(&ctx.db, user.id, &exported_at)?
        .ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken))?;
    let mut response = Response::ok_bytes("application/json", body);
    response.set_header("Cache-Control", "no-store");
    response.set_header(
        "Content-Disposition",
        format!(
            "attachment; filename=\"{}\"",
            file_name(&user, &exported_at)
        ),
    );
    Ok(response)
}

/// `taskapi-export-<username>-<date>.json`, or with the user's id when they
/// have no username (an account may have only an email). A username is
/// letters, digits and `._-@+` (`auth::register`), none of which needs
/// quoting in a `filename` parameter (RFC 6266 §4.1); anything else is
/// left out all the same, so that no stored value can break the header.
fn file_name(user: &User, exported_at: &str) -> String {
    let who = user
        .username
        .as_deref()
        .map(|name| {
            name.chars()
                .filter(|c| c.is_ascii_alphanumeric() || "._-@+".contains(*c))
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| user.id.to_string());
    let date = exported_at
        .split_once('T')
        .map_or(exported_at, |(date, _)| date);
    format!("taskapi-export-{who}-{date}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(username: Option<&str>) -> User {
        User {
            id: 42,
            username: username.map(str::to_owned),
            email: Some("ann@example.com".to_owned()),
            created_at: "2026-01-01T00:00:00Z".to_owned(),
        }
    }

    #[test]
    fn the_file_is_named_after_the_username_or_else_the_id_and_the_date() {
        let at = "2026-11-22T09:30:00Z";
        assert_eq!(
            file_name(&user(Some("ann.b-c@x+y")), at),
            "taskapi-export-ann.b-c@x+y-2026-11-22.json"
        );
        assert_eq!(
            file_name(&user(None), at),
            "taskapi-export-42-2026-11-22.json"
        );
        // Not a username registration accepts, but never a broken header.
        assert_eq!(
            file_name(&user(Some("a\"b\r\nc")), at),
            "taskapi-export-abc-2026-11-22.json"
        );
        assert_eq!(
            file_name(&user(Some("\"")), at),
            "taskapi-export-42-2026-11-22.json"
        );
    }
}
