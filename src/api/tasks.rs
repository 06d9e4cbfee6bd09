//! Tasks: `/tasks` and `/tasks/{id}`. Every route needs a credential. A
//! user sees their own tasks and those of the projects they own or belong
//! to (`store::tasks` says exactly who sees and changes what); any other
//! task is a 404, and so is a project they cannot see named in
//! `project_id`. A task they see but may not change (a viewer's) is a 403.
//!
//! `PUT` replaces every writable field (an omitted optional field returns to
//! its default); `PATCH` is a JSON Merge Patch (RFC 7396): only the fields
//! present change, and `null` clears a nullable field.

use super::body::{json_body, parse_json_object};
use super::idempotency;
use super::input::{Field, Input};
use super::list::Query;
use super::{ApiResult, Ctx};
use crate::conditional::{Precondition, with_etag};
use crate::error::ApiError;
use crate::http::{Request, Response};
use serde_json::Value;

use crate::model::{Assignee, Entity, ListQuery, NewTask, SortKey, TaskFilter, TaskPatch};
use crate::store::{self, StoreError};
use crate::time;

pub(super) const TITLE_MAX_CHARS: usize = 200;
pub(super) const DESCRIPTION_MAX_CHARS: usize = 10_000;

/// Priorities fit in 32 bits: ample for ordering, and exact in every JSON
/// client (JavaScript numbers are exact only up to 2^53).
const PRIORITY_RANGE: std::ops::RangeInclusive<i64> = -2_147_483_648..=2_147_483_647;

/// The largest id a body may carry: 2^53 - 1, the largest integer every
/// JSON client represents exactly. SQLite hands out ids far below it.
const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// The writable fields; `is_completed` is an input alias of `completed`.
const WRITABLE: &[&str] = &[
    "project_id",
    "title",
    "description",
    "due_date",
    "completed",
    "is_completed",
    "priority",
    "assignee_id",
    "tags",
];

/// A task has at most this many tags, each 1 to [`TAG_MAX_CHARS`]
/// characters.
pub const MAX_TAGS: usize = 20;
pub const TAG_MAX_CHARS: usize = 50;

/// Read-only fields: ignored on input, so a task fetched with GET can be
/// sent straight back with PUT.
const READ_ONLY: &[&str] = &["id", "created_at", "updated_at", "created_by", "version"];

/// The filters of a task list, besides `limit`, `offset` and `sort`.
pub const FILTERS: &[&str] = &[
    "completed",
    "project_id",
    "due_before",
    "due_after",
    "overdue",
    "q",
    "assignee_id",
    "tag",
];

/// `POST /tasks`: create a task. 201 with `Location: /tasks/{id}` and its
/// `ETag`; an `Idempotency-Key` makes a retry safe.
pub fn create(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let task = new_task_from_body(json_body(request)?)?;
    insert(ctx, request, user.id, &task)
}

/// Stores a new task and answers 201; shared with `POST /projects/{id}/tasks`.
pub fn insert(ctx: &mut Ctx, request: &Request, caller: i64, task: &NewTask) -> ApiResult {
    idempotency::create(
        ctx,
        request,
        caller,
        |tx| store::tasks::create_in(tx, caller, task),
        refused_reference(task.project_id),
        |created| {
            let project_id = task.project_id.unwrap_or_default();
            let task = ApiError::refused(created, Entity::Project, project_id)?;
            Ok(with_etag(Response::created(
                format!("/tasks/{}", task.id),
                &task,
            )))
        },
    )
}

/// `GET /tasks`: a page of the caller's tasks, ordered by id unless `sort`
/// says otherwise.
pub fn list(ctx: &mut Ctx, request: &Request) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let query = Query::from_url(request.target(), FILTERS)?;
    let default_sort = vec![SortKey {
        field: "id",
        descending: false,
    }];
    respond_with_page(
        ctx,
        user.id,
        &query,
        read_filter(&query, user.id)?,
        default_sort,
    )
}

/// Runs a task list query and answers with the page; shared with
/// `GET /projects/{id}/tasks`.
pub fn respond_with_page(
    ctx: &Ctx,
    caller: i64,
    query: &Query,
    filter: TaskFilter,
    default_sort: Vec<SortKey>,
) -> ApiResult {
    let page = query.page()?;
    let list_query = ListQuery {
        filter,
        sort: query.sort(store::tasks::SORT_FIELDS, default_sort)?,
        limit: page.0,
        offset: page.1,
    };
    let tasks = store::tasks::list(&ctx.db, caller, &list_query)?;
    Ok(query.respond(&tasks, page))
}

/// An id in a query parameter: ASCII digits only (no sign, no spaces) for
/// a positive number that fits in 64 bits.
fn positive_id(text: &str) -> Option<i64> {
    let digits = !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    text.parse::<i64>().ok().filter(|id| digits && *id > 0)
}

/// The task filters of a list query; `assignee_id=me` is `caller`.
pub fn read_filter(query: &Query, caller: i64) -> Result<TaskFilter, ApiError> {
    let assignee = match query.get("assignee_id") {
        None => None,
        Some("none") => Some(Assignee::Nobody),
        Some("me") => Some(Assignee::User(caller)),
        Some(text) => match positive_id(text) {
            Some(id) => Some(Assignee::User(id)),
            None => {
                return Err(ApiError::BadRequest(format!(
                    "query parameter assignee_id must be a user id, me or none, not {text:?}"
                )));
            }
        },
    };
    let tag = query.text("tag")?;
    if let Some(tag) = &tag
        && tag.chars().count() > TAG_MAX_CHARS
    {
        return Err(ApiError::BadRequest(format!(
            "query parameter tag must be at most {TAG_MAX_CHARS} characters"
        )));
    }
    let project_id = match query.get("project_id") {
        None => None,
        Some("none") => Some(None),
        Some(text) => match positive_id(text) {
            Some(id) => Some(Some(id)),
            None => {
                return Err(ApiError::BadRequest(format!(
                    "query parameter project_id must be a project id or none, not {text:?}"
                )));
            }
        },
    };
    Ok(TaskFilter {
        completed: query.boolean("completed")?,
        project_id,
        due_before: query.date("due_before")?,
        due_after: query.date("due_after")?,
        overdue: query.boolean("overdue")?,
        text: query.text("q")?,
        assignee,
        tag,
    })
}

/// `GET /tasks/{id}`.
pub fn get(ctx: &mut Ctx, request: &Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let task =
        store::tasks::get(&ctx.db, user.id, id)?.ok_or(ApiError::not_found(Entity::Task, id))?;
    Ok(with_etag(Response::json(200, &task)))
}

/// The precondition of a write's `If-Match`; a malformed one is a 400.
pub fn precondition(request: &Request) -> Result<Precondition, ApiError> {
    Precondition::of(request).map_err(ApiError::BadRequest)
}

/// `PUT /tasks/{id}`: replace every writable field (if `If-Match` holds).
pub fn replace(ctx: &mut Ctx, request: &Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let condition = precondition(request)?;
    let task = new_task_from_body(json_body(request)?)?;
    let changed = store::tasks::replace(&ctx.db, user.id, id, &task, &condition)
        .map_err(refused_reference(task.project_id))?;
    let task = ApiError::refused(changed, Entity::Task, id)?;
    Ok(with_etag(Response::json(200, &task)))
}

/// `PATCH /tasks/{id}`: change only the fields present (if `If-Match`
/// holds).
pub fn patch(ctx: &mut Ctx, request: &Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let condition = precondition(request)?;
    let patch = task_patch_from_body(json_body(request)?)?;
    let changed = store::tasks::patch_task(&ctx.db, user.id, id, &patch, &condition)
        .map_err(refused_reference(patch.project_id.flatten()))?;
    let task = ApiError::refused(changed, Entity::Task, id)?;
    Ok(with_etag(Response::json(200, &task)))
}

/// `DELETE /tasks/{id}`: 204 (if `If-Match` holds).
pub fn delete(ctx: &mut Ctx, request: &Request, id: i64) -> ApiResult {
    let user = ctx.authenticate(request)?;
    let condition = precondition(request)?;
    let deleted = store::tasks::delete(&ctx.db, user.id, id, &condition)?;
    ApiError::refused(deleted, Entity::Task, id)?;
    Ok(Response::no_content())
}

/// A refused project reference is a 404 naming the project, exactly as if
/// the client had asked for that project directly; a refused assignee is a
/// 422 saying who may be one.
fn refused_reference(project_id: Option<i64>) -> impl FnOnce(StoreError) -> ApiError {
    move |error| match (error, project_id) {
        (StoreError::NotFound(Entity::Project), Some(project_id)) => {
            ApiError::not_found(Entity::Project, project_id)
        }
        (StoreError::Invalid("assignee_id"), _) => ApiError::invalid(
            "assignee_id",
            "must be someone who can see the task: its owner or a member of its project",
        ),
        (error, _) => error.into(),
    }
}

/// Validates a full task body (POST, PUT): `title` required, the rest
/// defaulted. Every problem is reported at once, as a 422; bytes that are not
/// a JSON object are a 400.
///
/// Like every `*_from_body` validator this is pure, a fuzzing target
/// (`fuzz/fuzz_targets/body_validators.rs`): it must answer any bytes at all
/// with `Ok` or an `ApiError`, never a panic.
pub fn new_task_from_body(body: &[u8]) -> Result<NewTask, ApiError> {
    let mut input = Input::new(parse_json_object(body)?, WRITABLE, READ_ONLY);
    let fields = read_fields(&mut input);
    if fields.title.is_none() && !input.has_error("title") {
        input.error("title", "is required");
    }
    input.finish(NewTask {
        project_id: fields.project_id.flatten(),
        title: fields.title.unwrap_or_default(),
        description: fields.description.flatten(),
        due_date: fields.due_date.flatten(),
        completed: fields.completed.unwrap_or(false),
        priority: fields.priority.unwrap_or(0),
        assignee_id: fields.assignee_id.flatten(),
        tags: fields.tags.unwrap_or_default(),
    })
}

/// Validates a merge patch body (PATCH): the fields present, each checked
/// as in [`new_task_from_body`].
pub fn task_patch_from_body(body: &[u8]) -> Result<TaskPatch, ApiError> {
    let mut input = Input::new(parse_json_object(body)?, WRITABLE, READ_ONLY);
    let fields = read_fields(&mut input);
    input.finish(fields)
}

/// Reads and validates the writable fields that are present, as a patch;
/// problems are recorded in `input`.
fn read_fields(input: &mut Input) -> TaskPatch {
    let project_id = match input.integer("project_id") {
        Field::Value(id) if (1..=MAX_SAFE_INTEGER).contains(&id) => Some(Some(id)),
        Field::Value(_) => {
            input.error(
                "project_id",
                "must be a project id (a positive whole number) or null",
            );
            None
        }
        Field::Null => Some(None),
        Field::Absent | Field::Invalid => None,
    };
    let title = input.name("title", TITLE_MAX_CHARS);
    let description = input.nullable_text("description", DESCRIPTION_MAX_CHARS);
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
        Field::Value(priority) if PRIORITY_RANGE.contains(&priority) => Some(priority),
        Field::Value(_) => {
            input.error(
                "priority",
                "must be a whole number from -2147483648 to 2147483647",
            );
            None
        }
        Field::Null => {
            input.error("priority", "must be a whole number, not null");
            None
        }
        Field::Absent | Field::Invalid => None,
    };

    let assignee_id = match input.integer("assignee_id") {
        Field::Value(id) if (1..=MAX_SAFE_INTEGER).contains(&id) => Some(Some(id)),
        Field::Value(_) => {
            input.error(
                "assignee_id",
                "must be a user id (a positive whole number) or null",
            );
            None
        }
        Field::Null => Some(None),
        Field::Absent | Field::Invalid => None,
    };
    let tags = read_tags(input);

    TaskPatch {
        project_id,
        title,
        description,
        due_date,
        completed,
        priority,
        assignee_id,
        tags,
    }
}

/// `tags`: an array of at most [`MAX_TAGS`] strings of 1 to
/// [`TAG_MAX_CHARS`] characters, distinct ignoring case, kept in the order
/// given. `null` is an error (`[]` clears them).
fn read_tags(input: &mut Input) -> Option<Vec<String>> {
    let values = match input.array("tags") {
        Field::Value(values) => values,
        Field::Null => {
            input.error("tags", "must be an array of strings, not null");
            return None;
        }
        Field::Absent | Field::Invalid => return None,
    };
    let mut tags: Vec<String> = Vec::with_capacity(values.len());
    let mut problem = None;
    if values.len() > MAX_TAGS {
        problem = Some(format!("must have at most {MAX_TAGS} tags"));
    }
    for value in values {
        let Value::String(tag) = value else {
            problem = Some("must be an array of strings".to_owned());
            break;
        };
        let length = tag.chars().count();
        if tag.trim().is_empty() || length > TAG_MAX_CHARS || tag.contains('\0') {
            problem = Some(format!(
                "each tag must be 1 to {TAG_MAX_CHARS} characters, not blank"
            ));
            break;
        }
        let key = store::tasks::tag_key(&tag);
        if tags.iter().any(|seen| store::tasks::tag_key(seen) == key) {
            problem = Some(format!("{tag:?} is there twice (tags ignore case)"));
            break;
        }
        tags.push(tag);
    }
    match problem {
        Some(message) => {
            input.error("tags", message);
            None
        }
        None => Some(tags),
    }
}

fn null_flag(input: &mut Input, field: &str) -> Option<bool> {
    input.error(field, "must be true or false, not null");
    None
}
