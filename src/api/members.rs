//! The people in a project: `/projects/{id}/members` and
//! `/projects/{id}/members/{user_id}`. Anyone in the project lists them; the
//! owner adds members, changes their roles and removes them; a member may
//! remove themself (leave). Who may do what is decided in `store::members`.
//!
//! Adding someone names them by username or email. An unknown one is a
//! 404; that tells the owner no more than registration already tells
//! anyone (whether a name is taken), and nothing about the account.

use super::body::{json_body, parse_json_object};
use super::idempotency;
use super::input::{Field, Input};
use super::{ApiResult, Ctx};
use crate::error::ApiError;
use crate::http::{Request, Response};
use crate::model::{Entity, Role};
use crate::store::{self, StoreError};

/// What a request may set: the member's login name (on `POST`) and role.
const ADD_FIELDS: &[&str] = &["user", "role"];
const ROLE_FIELDS: &[&str] = &["role"];
/// Shown in a member object and ignored on input, so one can be sent back.
const READ_ONLY: &[&str] = &["user_id", "username", "joined_at"];

/// `POST /projects/{id}/members` `{"user", "role"}`: 201 with the member.
pub fn add(ctx: &mut Ctx, request: &Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let (login, role) = new_member_from_body(json_body(request)?)?;
    idempotency::create(
        ctx,
        request,
        user.id,
        |tx| store::members::add_in(tx, user.id, id, &login, role),
        refused,
        |added| {
            let member = ApiError::refused(added, Entity::Project, id)?;
            let location = format!("/projects/{id}/members/{}", member.user_id);
            Ok(Response::created(location, &member))
        },
    )
}

/// `GET /projects/{id}/members`: the owner and every member.
pub fn list(ctx: &mut Ctx, request: &Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let members = store::members::list(&ctx.db, user.id, id)?
        .ok_or(ApiError::not_found(Entity::Project, id))?;
    Ok(Response::json(200, &members))
}

/// `GET /projects/{id}/members/{user_id}`: one person in the project.
pub fn get(ctx: &mut Ctx, request: &Request, id: i64, user_id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let member = store::members::get(&ctx.db, user.id, id, user_id)
        .map_err(refused)?
        .ok_or(ApiError::not_found(Entity::Project, id))?;
    Ok(Response::json(200, &member))
}

/// `PATCH /projects/{id}/members/{user_id}` `{"role"}`: the owner only.
pub fn change_role(ctx: &mut Ctx, request: &Request, id: i64, user_id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let role = role_from_body(json_body(request)?)?;
    let changed = store::members::set_role(&ctx.db, user.id, id, user_id, role).map_err(refused)?;
    Ok(Response::json(
        200,
        &ApiError::refused(changed, Entity::Project, id)?,
    ))
}

/// `DELETE /projects/{id}/members/{user_id}`: 204. The owner removes a
/// member; a member removes themself.
pub fn remove(ctx: &mut Ctx, request: &Request, id: i64, user_id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let removed = store::members::remove(&ctx.db, user.id, id, user_id).map_err(refused)?;
    ApiError::refused(removed, Entity::Project, id)?;
    Ok(Response::no_content())
}

fn refused(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound(Entity::User) => {
            ApiError::NotFound("no account has that username or email".to_owned())
        }
        StoreError::NotFound(Entity::Member) => {
            ApiError::NotFound("that user is not a member of this project".to_owned())
        }
        StoreError::Conflict("member") => {
            ApiError::Conflict("that user is already in this project".to_owned())
        }
        StoreError::Conflict("owner") => ApiError::Conflict(
            "the project's owner is always its owner: they can be neither removed nor given \
             another role"
                .to_owned(),
        ),
        other => other.into(),
    }
}

/// Validates `{"user": "<username or email>", "role": "viewer"|"editor"}`.
/// Pure, like every `*_from_body` validator.
pub fn new_member_from_body(body: &[u8]) -> Result<(String, Role), ApiError> {
    let mut input = Input::new(parse_json_object(body)?, ADD_FIELDS, READ_ONLY);
    let login = match input.string("user") {
        Field::Value(login) if !login.trim().is_empty() && login.chars().count() <= 254 => {
            Some(login)
        }
        Field::Value(_) => {
            input.error(
                "user",
                "must be a username or an email, 1 to 254 characters",
            );
            None
        }
        Field::Absent | Field::Null => {
            input.error("user", "is required: a username or an email");
            None
        }
        Field::Invalid => None,
    };
    let role = read_role(&mut input);
    let (login, role) = (login.unwrap_or_default(), role.unwrap_or(Role::Viewer));
    input.finish((login, role))
}

/// Validates `{"role": "viewer"|"editor"}`.
pub fn role_from_body(body: &[u8]) -> Result<Role, ApiError> {
    let mut input = Input::new(parse_json_object(body)?, ROLE_FIELDS, READ_ONLY);
    let role = read_role(&mut input);
    input.finish(role.unwrap_or(Role::Viewer))
}

/// The required `role`: a member is a viewer or an editor (a project has
/// one owner, its creator).
fn read_role(input: &mut Input) -> Option<Role> {
    match input.string("role") {
        Field::Value(text) => match Role::of_member(&text) {
            Some(role) => Some(role),
            None => {
                input.error("role", "must be \"viewer\" or \"editor\"");
                None
            }
        },
        Field::Absent | Field::Null => {
            input.error("role", "is required: \"viewer\" or \"editor\"");
            None
        }
        Field::Invalid => None,
    }
}
