//! Tasks: `/tasks` and `/tasks/{id}`. Every route needs a bearer token, and a
//! user only ever sees their own tasks: another user's task is a 404.
//!
//! `PUT` replaces every writable field (an omitted optional field returns to
//! its default); `PATCH` is a JSON Merge Patch (RFC 7396): only the fields
//! present change, and `null` clears a nullable field.

use tiny_http::Request;

use super::input::{Field, Input};
use super::{ApiResult, Ctx};
use crate::error::ApiError;
use crate::http::{self, Response};
use crate::model::{NewTask, TaskPatch};
use crate::store;
use crate::time;

const TITLE_MAX_CHARS: usize = 200;
const DESCRIPTION_MAX_CHARS: usize = 10_000;

/// The writable fields; `is_completed` is an input alias of `completed`.
const WRITABLE: &[&str] = &[
    "title",
    "description",
    "due_date",
    "completed",
    "is_completed",
    "priority",
];

/// Read-only fields: ignored on input, so a task fetched with GET can be
/// sent straight back with PUT.
const READ_ONLY: &[&str] = &["id", "created_at", "updated_at"];

/// `POST /tasks`: create a task. 201 with `Location: /tasks/{id}`.
pub fn create(ctx: &mut Ctx, request: &mut Request) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let task = read_new_task(request)?;
    let task = store::tasks::create(&ctx.db, user.id, &task)?;
    Ok(Response::created(format!("/tasks/{}", task.id), &task))
}

/// `GET /tasks`: the caller's tasks, ordered by id.
pub fn list(ctx: &mut Ctx, request: &mut Request) -> ApiResult {
    let user = ctx.authenticate(request)?;
    // No query parameters are defined yet; a typo such as `?completd=true`
    // must not silently return an unfiltered list.
    if let Some((name, _)) = http::query_pairs(request.url())?.first() {
        return Err(ApiError::BadRequest(format!(
            "unknown query parameter {name:?}"
        )));
    }
    let tasks = store::tasks::list(&ctx.db, user.id)?;
    Ok(Response::json(200, &tasks))
}

/// `GET /tasks/{id}`.
pub fn get(ctx: &mut Ctx, request: &mut Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let task = store::tasks::get(&ctx.db, user.id, id)?.ok_or(ApiError::not_found("task", id))?;
    Ok(Response::json(200, &task))
}

/// `PUT /tasks/{id}`: replace every writable field.
pub fn replace(ctx: &mut Ctx, request: &mut Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let task = read_new_task(request)?;
    let task = store::tasks::replace(&ctx.db, user.id, id, &task)?
        .ok_or(ApiError::not_found("task", id))?;
    Ok(Response::json(200, &task))
}

/// `PATCH /tasks/{id}`: change only the fields present.
pub fn patch(ctx: &mut Ctx, request: &mut Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let patch = read_patch(request)?;
    let task = store::tasks::patch(&ctx.db, user.id, id, &patch)?
        .ok_or(ApiError::not_found("task", id))?;
    Ok(Response::json(200, &task))
}

/// `DELETE /tasks/{id}`: 204.
pub fn delete(ctx: &mut Ctx, request: &mut Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    if !store::tasks::delete(&ctx.db, user.id, id)? {
        return Err(ApiError::not_found("task", id));
    }
    Ok(Response::no_content())
}

/// A full task body (POST, PUT): `title` required, the rest defaulted.
fn read_new_task(request: &mut Request) -> Result<NewTask, ApiError> {
    let mut input = Input::new(http::read_json_object(request)?, WRITABLE, READ_ONLY);
    let fields = read_fields(&mut input);
    if fields.title.is_none() && !input.has_error("title") {
        input.error("title", "is required");
    }
    input.finish(NewTask {
        title: fields.title.unwrap_or_default(),
        description: fields.description.flatten(),
        due_date: fields.due_date.flatten(),
        completed: fields.completed.unwrap_or(false),
        priority: fields.priority.unwrap_or(0),
    })
}

/// A merge patch body (PATCH).
fn read_patch(request: &mut Request) -> Result<TaskPatch, ApiError> {
    let mut input = Input::new(http::read_json_object(request)?, WRITABLE, READ_ONLY);
    let fields = read_fields(&mut input);
    input.finish(fields)
}

/// Reads and validates the writable fields that are present, as a patch;
/// problems are recorded in `input`.
fn read_fields(input: &mut Input) -> TaskPatch {
    let title = match input.string("title") {
        Field::Value(title) => {
            if title.trim().is_empty() {
                input.error("title", "must not be blank");
            } else if title.chars().count() > TITLE_MAX_CHARS {
                input.error("title", "must be at most 200 characters");
            }
            Some(title)
        }
        Field::Null => {
            input.error("title", "must not be null");
            None
        }
        Field::Absent | Field::Invalid => None,
    };

    let description = match input.string("description") {
        Field::Value(text) => {
            if text.chars().count() > DESCRIPTION_MAX_CHARS {
                input.error("description", "must be at most 10000 characters");
            }
            Some(Some(text))
        }
        Field::Null => Some(None),
        Field::Absent | Field::Invalid => None,
    };

    let due_date = match input.string("due_date") {
        Field::Value(date) => {
            if !time::is_valid_date(&date) {
                input.error(
                    "due_date",
                    "must be a real calendar date written YYYY-MM-DD",
                );
            }
            Some(Some(date))
        }
        Field::Null => Some(None),
        Field::Absent | Field::Invalid => None,
    };

    let completed = match (input.boolean("completed"), input.boolean("is_completed")) {
        (Field::Value(_), Field::Value(_)) => {
            input.error(
                "is_completed",
                "give completed or its alias is_completed, not both",
            );
            None
        }
        (Field::Value(flag), _) | (_, Field::Value(flag)) => Some(flag),
        (Field::Null, _) => null_flag(input, "completed"),
        (_, Field::Null) => null_flag(input, "is_completed"),
        _ => None,
    };

    let priority = match input.integer("priority") {
        Field::Value(priority) => Some(priority),
        Field::Null => {
            input.error("priority", "must be a whole number, not null");
            None
        }
        Field::Absent | Field::Invalid => None,
    };

    TaskPatch {
        title,
        description,
        due_date,
        completed,
        priority,
    }
}

fn null_flag(input: &mut Input, field: &str) -> Option<bool> {
    input.error(field, "must be true or false, not null");
    None
}
